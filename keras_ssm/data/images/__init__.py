"""Sequential image classification: each image read pixel by pixel, as numpy arrays.

`load(task, data_dir=None)` returns the train, validation and test splits of one of
`TASKS` (sMNIST, psMNIST, sFashion, psFashion, sCIFAR in colour and in grey levels),
read through `keras.datasets` (`load_images`; local copies of the released files are
linked into Keras' cache first). The work is in `sequential`.

Example:

```python
from keras_ssm.data import images

images.TASK_INFO["psmnist"]["seq_len"]      # 784
images.pixel_permutation(784)[:3]           # the fixed permutation of psMNIST
```
"""

from keras_ssm.data.images.sequential import DEBIAN_FASHION_DIR
from keras_ssm.data.images.sequential import FASHION_FILES
from keras_ssm.data.images.sequential import INSTALL_HINT
from keras_ssm.data.images.sequential import NORMALIZATION
from keras_ssm.data.images.sequential import PERMUTATION_SEED
from keras_ssm.data.images.sequential import SPLIT_SEED
from keras_ssm.data.images.sequential import TASK_INFO
from keras_ssm.data.images.sequential import TASKS
from keras_ssm.data.images.sequential import VALIDATION_FRACTION
from keras_ssm.data.images.sequential import keras_datasets_dir
from keras_ssm.data.images.sequential import link_into_keras_cache
from keras_ssm.data.images.sequential import load
from keras_ssm.data.images.sequential import load_images
from keras_ssm.data.images.sequential import normalization
from keras_ssm.data.images.sequential import pixel_permutation
from keras_ssm.data.images.sequential import split_validation
from keras_ssm.data.images.sequential import to_sequences

__all__ = [
    "DEBIAN_FASHION_DIR",
    "FASHION_FILES",
    "INSTALL_HINT",
    "NORMALIZATION",
    "PERMUTATION_SEED",
    "SPLIT_SEED",
    "TASKS",
    "TASK_INFO",
    "VALIDATION_FRACTION",
    "keras_datasets_dir",
    "link_into_keras_cache",
    "load",
    "load_images",
    "normalization",
    "pixel_permutation",
    "split_validation",
    "to_sequences",
]
