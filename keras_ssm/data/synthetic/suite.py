"""The suite of the DLR paper's 13 synthetic tasks: their shapes, checks and dispatch.

Reference: Gupta, Mehta, Berant, "Simplifying and Understanding State Space
Models with Diagonal Linear RNNs" (arXiv 2212.00768), section on the synthetic
task suite; facts restated in shared/spec/dss_dlr.md, section C.

The 11 *atomic* tasks (C.1-C.11) are generated in `keras_ssm.data.synthetic.atomic`,
vectorized over samples; this module validates the arguments, describes each task and
dispatches. `listops_subtrees` and `pathfinder_segmentation` (C.12, C.13) live in their
own modules of `keras_ssm.data.synthetic`, imported on their first use.

Common protocol of the atomic tasks (C.0):

- Random values are i.i.d. N(0, 1) divided by the sequence's maximum |value|
  (L-infinity normalization), so they lie in [-1, 1] and the largest is +-1.
- `inputs` has shape (num_samples, input_length, d_in): the task's value
  channel(s) first, then the two position features cos(2*pi*t/L'),
  sin(2*pi*t/L'), where L' = input_length is the actual input length.
- `targets` has shape (num_samples, output_length, d_out); they are read from
  the LAST `output_length` positions of the model's output (decoder
  ``mode=last``). Loss: MSE.

`seq_len` is always the paper's L for the task, which is not always the input
length: reverse and sort read 2L inputs, masked_select reads L + 2M (see
`task_info`).

Example:

>>> from keras_ssm.data import synthetic
>>> x, y = synthetic.generate("cumsum", num_samples=4, seq_len=64, seed=1)
>>> x.shape, y.shape
((4, 64, 3), (4, 64, 1))
"""

import dataclasses
import numbers

import keras
import numpy as np

from keras_ssm.data.synthetic import selective
from keras_ssm.data.synthetic.atomic import _GENERATORS
from keras_ssm.data.synthetic.atomic import MASKED_SELECT_M
from keras_ssm.data.synthetic.atomic import MIPS_D
from keras_ssm.data.synthetic.atomic import NUM_SHIFTS
from keras_ssm.data.synthetic.atomic import _check_seq_len
from keras_ssm.data.synthetic.atomic import _solve_size

TASKS = (
    "shift",
    "context_shift",
    "cumsum",
    "cummax",
    "reverse",
    "sort",
    "masked_select",
    "masked_select_fixed",
    "solve",
    "solve_fixed",
    "mips",
    "listops_subtrees",
    "pathfinder_segmentation",
    "selective_copying",
    "induction_heads",
)
"""Code names of all tasks: the DLR paper's 13 in the order of its spec (C.1-C.13), then
the Mamba paper's two selection tasks (`MAMBA_TASKS`)."""

ATOMIC_TASKS = TASKS[:11]
"""The 11 atomic tasks (generated in `keras_ssm.data.synthetic.atomic`)."""

MAMBA_TASKS = selective.TASKS
"""Selective copying and induction heads (`keras_ssm.data.synthetic.selective`): token
inputs, a class per target position."""

LISTOPS_NUM_CLASSES = 10
PATHFINDER_NUM_CLASSES = 3

_DELEGATED_TASKS = ("listops_subtrees", "pathfinder_segmentation")
_POSITION_FEATURES = 2


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """Shapes and kind of one synthetic task at one length.

    Attributes:
        task: the task's code name.
        seq_len: the paper's L for the task (the `seq_len` asked for).
        input_length: L', the number of input positions.
        d_in: input features per position (value channels + 2 position
            features for the atomic tasks).
        output_length: l_out, the number of (last) output positions that
            carry a target.
        d_out: decoder outputs per position (num_classes logits for
            classification tasks).
        kind: "regression" (MSE) or "classification" (cross-entropy).
        num_classes: number of classes, or None for regression.
        vocab_size: the vocabulary of token inputs (the Mamba tasks), else None.
    """

    task: str
    seq_len: int
    input_length: int
    d_in: int
    output_length: int
    d_out: int
    kind: str
    num_classes: int | None = None
    vocab_size: int | None = None


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _check_task(task):
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}. `task` must be one of: {', '.join(TASKS)}.")
    return task


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
    return int(value)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer; got {seed!r}.")
    return int(seed)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def task_info(task, seq_len):
    """Shapes and kind of `task` at length `seq_len`.

    Choices where the spec leaves one:
    - `seq_len` is always the paper's L. For reverse and sort the input is
      [x, 0_L] (2L positions); for masked_select(_fixed) L counts the noise
      tokens, as in the reference code, so the input has L + 2M = L + 64
      positions and the target the last M = 32.
    - listops_subtrees and pathfinder_segmentation are described from the
      spec (one token/pixel feature per position, one class per position;
      d_out = num_classes logits); their own modules define the arrays and
      validate `seq_len`.

    Args:
        task: one of `TASKS`.
        seq_len: the task's L.

    Returns:
        `TaskInfo`.

    Raises:
        ValueError: unknown task, or `seq_len` invalid for the task.

    Example:

    >>> info = task_info("masked_select", 4096)
    >>> info.input_length, info.d_in, info.output_length, info.d_out
    (4160, 4, 32, 1)
    """
    _check_task(task)
    if task in MAMBA_TASKS:
        seq_len = selective.check_seq_len(task, seq_len)
        input_length, output_length = selective.shapes(task, seq_len)
        v = selective.VOCABULARY_SIZE
        return TaskInfo(task, seq_len, input_length, 1, output_length, v, "classification", v, v)
    if task in _DELEGATED_TASKS:
        seq_len = _check_positive_int("seq_len", seq_len)
        classes = LISTOPS_NUM_CLASSES if task == "listops_subtrees" else PATHFINDER_NUM_CLASSES
        return TaskInfo(
            task,
            seq_len,
            seq_len,
            1,
            seq_len,
            classes,
            "classification",
            classes,
        )
    seq_len = _check_seq_len(task, seq_len)
    value_channels, input_length, output_length, d_out = {
        "shift": (1, seq_len, seq_len, NUM_SHIFTS),
        "context_shift": (1, seq_len, seq_len, 1),
        "cumsum": (1, seq_len, seq_len, 1),
        "cummax": (1, seq_len, seq_len, 1),
        "reverse": (1, 2 * seq_len, seq_len, 1),
        "sort": (1, 2 * seq_len, seq_len, 1),
        "masked_select": (2, seq_len + 2 * MASKED_SELECT_M, MASKED_SELECT_M, 1),
        "masked_select_fixed": (2, seq_len + 2 * MASKED_SELECT_M, MASKED_SELECT_M, 1),
        "solve": (1, seq_len, _solve_size(seq_len), 1),
        "solve_fixed": (1, seq_len, _solve_size(seq_len), 1),
        "mips": (3 * MIPS_D, seq_len, seq_len, MIPS_D),
    }[task]
    return TaskInfo(
        task=task,
        seq_len=seq_len,
        input_length=input_length,
        d_in=value_channels + _POSITION_FEATURES,
        output_length=output_length,
        d_out=d_out,
        kind="regression",
        num_classes=None,
    )


def generate(task, num_samples, seq_len, seed=0):
    """Draws `num_samples` fresh samples of a synthetic task, deterministically.

    The atomic tasks follow spec C.1-C.11 (see `task_info` for shapes).
    Choices where the spec leaves one:
    - Values are drawn in float32 and L-infinity normalized in float32;
      targets are computed from those float32 values (cumsum sums in float64,
      solve builds A, b and X in float64 and rounds them to float32 at the
      end, mips compares similarities in float64).
    - context_shift draws s uniform in {0, ..., L-3} and encodes it with
      angle 2*pi*s/L; its targets are the whole value channel (context
      tokens included) delayed by s.
    - masked_select draws M distinct positions uniformly among the first
      M + L (the M smallest of M + L uniform keys), sorted.
    - solve: A = U V^T (SVD of a Gaussian), X uniform on the unit sphere,
      b = A X; [A | b] row-major in positions 0..N_s^2+N_s-1, zeros after.
      The *_fixed variants reuse the draw of seed 0 (`fixed_masked_positions`,
      `fixed_solve_matrix`) for every sample and every `seed`.
    - mips: 3L unit vectors in R^4, the first L are queries, the next L keys,
      the last L values; input features [q_t, k_t, v_t, cos, sin].

    For listops_subtrees and pathfinder_segmentation this imports and calls
    `keras_ssm.data.synthetic.<task>.generate(num_samples, seq_len, seed)` and returns
    its arrays unchanged. selective_copying and induction_heads (`selective`) give int32
    token ids (n, input_length) and target classes (n, output_length).

    Args:
        task: one of `TASKS`.
        num_samples: n, the number of samples (>= 1).
        seq_len: the task's L (see `task_info`).
        seed: non-negative int; equal seeds give equal arrays.

    Returns:
        (inputs, targets) for atomic tasks: float32 arrays of shapes
        (n, input_length, d_in) and (n, output_length, d_out). Position
        features are the last two input channels; targets align with the
        last `output_length` positions.

    Raises:
        ValueError: unknown task, bad `num_samples`, `seq_len` or `seed`.

    Example:

    >>> x, y = generate("reverse", num_samples=2, seq_len=16, seed=0)
    >>> x.shape, y.shape
    ((2, 32, 3), (2, 16, 1))
    >>> bool((y[:, :, 0] == x[:, 15::-1, 0]).all())
    True
    """
    _check_task(task)
    if task == "listops_subtrees":
        from keras_ssm.data.synthetic import listops_subtrees

        return listops_subtrees.generate(num_samples, seq_len, seed)
    if task == "pathfinder_segmentation":
        from keras_ssm.data.synthetic import pathfinder_segmentation

        return pathfinder_segmentation.generate(num_samples, seq_len, seed)
    num_samples = _check_positive_int("num_samples", num_samples)
    if task in MAMBA_TASKS:
        seq_len = selective.check_seq_len(task, seq_len)
        rng = np.random.default_rng(_check_seed(seed))
        return selective.GENERATORS[task](rng, num_samples, seq_len)
    seq_len = _check_seq_len(task, seq_len)
    rng = np.random.default_rng(_check_seed(seed))
    return _GENERATORS[task](rng, num_samples, seq_len)


class SyntheticSequence(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` of fresh synthetic batches every epoch.

    Batch `index` of epoch `e` is `generate(task, batch_size, seq_len,
    seed=s)` with s derived from (seed, e, index) by
    `numpy.random.SeedSequence`: deterministic, yet new each epoch.
    `on_epoch_end` advances the epoch (Keras calls it after every epoch; the
    multi-worker enqueuer re-sends the dataset at each epoch start, so
    workers see the new epoch too).

    Args:
        task: one of `TASKS`.
        seq_len: the task's L (see `task_info`).
        batch_size: samples per batch.
        batches_per_epoch: batches per epoch (`len(dataset)`).
        seed: non-negative int, the base seed.
        fresh_each_epoch: if False, `on_epoch_end` keeps the epoch at 0 so
            every epoch repeats the same batches (a fixed validation set).
        **kwargs: `workers`, `use_multiprocessing`, `max_queue_size` for
            `keras.utils.PyDataset`.

    Example:

    >>> train = SyntheticSequence("cumsum", seq_len=64, batch_size=8,
    ...                           batches_per_epoch=10, seed=0)
    >>> x, y = train[0]
    >>> x.shape, y.shape
    ((8, 64, 3), (8, 64, 1))
    """

    def __init__(
        self,
        task,
        seq_len,
        batch_size,
        batches_per_epoch,
        seed=0,
        fresh_each_epoch=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.info = task_info(task, seq_len)
        self.task = task
        self.seq_len = int(seq_len)
        self.batch_size = _check_positive_int("batch_size", batch_size)
        self.batches_per_epoch = _check_positive_int("batches_per_epoch", batches_per_epoch)
        self.seed = _check_seed(seed)
        self.fresh_each_epoch = bool(fresh_each_epoch)
        self.epoch = 0

    def __len__(self):
        return self.batches_per_epoch

    def batch_seed(self, index, epoch=None):
        """The `generate` seed of batch `index` in `epoch` (default: current)."""
        epoch = self.epoch if epoch is None else epoch
        state = np.random.SeedSequence([self.seed, epoch, index])
        return int(state.generate_state(1)[0])

    def __getitem__(self, index):
        if not 0 <= index < self.batches_per_epoch:
            raise IndexError(
                f"Batch index {index} out of range for batches_per_epoch={self.batches_per_epoch}."
            )
        return generate(self.task, self.batch_size, self.seq_len, self.batch_seed(index))

    def on_epoch_end(self):
        """Moves to the next epoch's batches (unless `fresh_each_epoch=False`)."""
        if self.fresh_each_epoch:
            self.epoch += 1
