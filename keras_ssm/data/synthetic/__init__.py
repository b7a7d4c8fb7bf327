"""The DLR paper's 13 synthetic sequence tasks and the Mamba paper's two, as seeded numpy
generators for any length.

`generate(task, num_samples, seq_len, seed)` draws fresh samples of any task in
`TASKS`, `task_info(task, seq_len)` gives their shapes and kind, and
`SyntheticSequence` serves new batches every epoch to ``model.fit``. One job a module:

- `suite`: the tasks' names, shapes, argument checks and dispatch, and the
  `keras.utils.PyDataset`;
- `atomic`: the 11 atomic tasks (C.1-C.11: shift ... mips), vectorized over samples;
- `listops_subtrees` (C.12, with `listops_subtrees_settings`): ListOps with a target at
  every closing bracket; `listops_subtrees_build` writes its fixed splits on disk;
- `pathfinder_segmentation` (C.13): which pixels join two markers;
  `pathfinder_segmentation_build` renders its shards on disk, and `pathfinder_release`
  writes its images (with their connected / not-connected labels) in the LRA Pathfinder
  release layout that `keras_ssm.data.lra.load` reads;
- `selective`: the Mamba paper's selective copying and induction heads (`MAMBA_TASKS`),
  token ids in, a class per target position out.

The two structured tasks are imported on their first use (``generate`` dispatches to
them; ``from keras_ssm.data.synthetic import listops_subtrees``). They draw their trees
and snakes with `keras_ssm.data.lra.listops_trees` and `keras_ssm.data.lra.pathfinder_drawing`.

Example:

>>> from keras_ssm.data import synthetic
>>> x, y = synthetic.generate("reverse", num_samples=2, seq_len=16, seed=0)
>>> x.shape, y.shape
((2, 32, 3), (2, 16, 1))
>>> synthetic.task_info("solve", 64).output_length
7
"""

from keras_ssm.data.synthetic.atomic import FIXED_SEED
from keras_ssm.data.synthetic.atomic import MASKED_SELECT_M
from keras_ssm.data.synthetic.atomic import MIPS_D
from keras_ssm.data.synthetic.atomic import NUM_SHIFTS
from keras_ssm.data.synthetic.atomic import causal_argmax
from keras_ssm.data.synthetic.atomic import fixed_masked_positions
from keras_ssm.data.synthetic.atomic import fixed_solve_matrix
from keras_ssm.data.synthetic.atomic import shift_amounts
from keras_ssm.data.synthetic.atomic import solve_size
from keras_ssm.data.synthetic.suite import ATOMIC_TASKS
from keras_ssm.data.synthetic.suite import LISTOPS_NUM_CLASSES
from keras_ssm.data.synthetic.suite import MAMBA_TASKS
from keras_ssm.data.synthetic.suite import PATHFINDER_NUM_CLASSES
from keras_ssm.data.synthetic.suite import TASKS
from keras_ssm.data.synthetic.suite import SyntheticSequence
from keras_ssm.data.synthetic.suite import TaskInfo
from keras_ssm.data.synthetic.suite import generate
from keras_ssm.data.synthetic.suite import task_info

__all__ = [
    "ATOMIC_TASKS",
    "FIXED_SEED",
    "LISTOPS_NUM_CLASSES",
    "MAMBA_TASKS",
    "MASKED_SELECT_M",
    "MIPS_D",
    "NUM_SHIFTS",
    "PATHFINDER_NUM_CLASSES",
    "TASKS",
    "SyntheticSequence",
    "TaskInfo",
    "causal_argmax",
    "fixed_masked_positions",
    "fixed_solve_matrix",
    "generate",
    "shift_amounts",
    "solve_size",
    "task_info",
]
