"""Long Range Arena: the released files as numpy arrays, and ListOps drawn like LRA's.

`load(task, data_dir, split)` reads one split of one of the six LRA tasks ("listops",
"text", "retrieval", "image", "pathfinder", "pathx") from the extracted
``lra_release`` archive; this package exports it with the tasks' shapes
(`TASK_INFO`) and the fixed encodings. One job a module:

- `reader`: the entry point `load` (and IMDB / CIFAR-10, which the archive lacks);
- `archive`: the archive's TSVs and PNGs to memory-mapped ``.npy`` caches;
- `encoding`: the ListOps vocabulary, byte-level text, grey-level images;
- `listops`: LRA's ListOps generator (trees in the released text format), and
  `listops_release`, which writes its samples as the released TSVs;
- `listops_trees`: ListOps operators and trees drawn level by level (shared with
  `keras_ssm.data.synthetic.listops_subtrees`);
- `pathfinder_drawing`: snakes of dashes and their rasterisation (drawn by
  `keras_ssm.data.synthetic.pathfinder_segmentation`).

Import the generator modules by name (``from keras_ssm.data.lra import listops``).

Example:

```python
from keras_ssm.data import lra

lra.TASK_INFO["listops"]["seq_len"]          # 2048
lra.encode_bytes(b"hi", seq_len=4)           # array([107, 108, 2, 0], dtype=int32)
```
"""

from keras_ssm.data.lra.archive import CACHE_VERSION
from keras_ssm.data.lra.archive import KNOWN_EMPTY_FILES
from keras_ssm.data.lra.archive import PATHFINDER_DIFFICULTY
from keras_ssm.data.lra.archive import PATHFINDER_FOLDERS
from keras_ssm.data.lra.archive import PATHFINDER_SPLIT_SEED
from keras_ssm.data.lra.encoding import BYTE_OFFSET
from keras_ssm.data.lra.encoding import BYTE_VOCAB_SIZE
from keras_ssm.data.lra.encoding import EOS_ID
from keras_ssm.data.lra.encoding import LISTOPS_VOCAB
from keras_ssm.data.lra.encoding import PAD_ID
from keras_ssm.data.lra.encoding import UNK_ID
from keras_ssm.data.lra.encoding import decode_png_gray
from keras_ssm.data.lra.encoding import encode_bytes
from keras_ssm.data.lra.encoding import encode_listops
from keras_ssm.data.lra.encoding import read_png_gray
from keras_ssm.data.lra.encoding import rgb_to_grayscale
from keras_ssm.data.lra.reader import SPLITS
from keras_ssm.data.lra.reader import TASK_INFO
from keras_ssm.data.lra.reader import TASKS
from keras_ssm.data.lra.reader import find_lra_root
from keras_ssm.data.lra.reader import load

__all__ = [
    "BYTE_OFFSET",
    "BYTE_VOCAB_SIZE",
    "CACHE_VERSION",
    "EOS_ID",
    "KNOWN_EMPTY_FILES",
    "LISTOPS_VOCAB",
    "PAD_ID",
    "PATHFINDER_DIFFICULTY",
    "PATHFINDER_FOLDERS",
    "PATHFINDER_SPLIT_SEED",
    "SPLITS",
    "TASKS",
    "TASK_INFO",
    "UNK_ID",
    "decode_png_gray",
    "encode_bytes",
    "encode_listops",
    "find_lra_root",
    "load",
    "read_png_gray",
    "rgb_to_grayscale",
]
