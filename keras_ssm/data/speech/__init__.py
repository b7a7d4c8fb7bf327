"""Speech: Speech Commands v0.02 read from its released WAV folders, as numpy arrays.

`load(data_dir, split)` returns one-second waveforms and labels in the S4/S5 "SC35"
setting (or 10 words), at 16 kHz or 8 kHz, normalized with the train split's
statistics and cached as memory-mapped ``.npy`` files. The work is in
`speech_commands`. `speech_commands_release` (imported by name) speaks the 35 words with
espeak-ng and sox into the released folder layout: a stand-in for the 2.3 GB download.

Example:

```python
from keras_ssm.data import speech

speech.class_names(10)[:3]          # ('yes', 'no', 'up')
len(speech.CLASSES_35)              # 35
```
"""

from keras_ssm.data.speech.speech_commands import CACHE_VERSION
from keras_ssm.data.speech.speech_commands import CLASSES_10
from keras_ssm.data.speech.speech_commands import CLASSES_35
from keras_ssm.data.speech.speech_commands import CLIP_SAMPLES
from keras_ssm.data.speech.speech_commands import SAMPLE_RATES
from keras_ssm.data.speech.speech_commands import SPLITS
from keras_ssm.data.speech.speech_commands import class_names
from keras_ssm.data.speech.speech_commands import find_root
from keras_ssm.data.speech.speech_commands import load
from keras_ssm.data.speech.speech_commands import normalization_stats
from keras_ssm.data.speech.speech_commands import read_wav_int16

__all__ = [
    "CACHE_VERSION",
    "CLASSES_10",
    "CLASSES_35",
    "CLIP_SAMPLES",
    "SAMPLE_RATES",
    "SPLITS",
    "class_names",
    "find_root",
    "load",
    "normalization_stats",
    "read_wav_int16",
]
