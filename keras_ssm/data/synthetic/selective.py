"""The Mamba paper's two selection tasks: selective copying and induction heads.

Gu and Dao (2023), §4.1 and App. E.1 (shared/spec/mamba.md, E): tasks that a
time-invariant SSM cannot solve at any size, because where the tokens to keep are
depends on the input. Token ids in, a class per target position out (cross-entropy);
the targets sit at the last `output_length` positions. The authors publish no generator
for either; these follow the paper's text:

- Selective copying (Fig. 2): `SELECTIVE_COPYING_TOKENS` = 16 data tokens at random
  positions of a length-L sequence of noise, then as many marker tokens; at each marker
  the model outputs the next data token, in order. Vocabulary 16: noise 0, data symbols
  1 ... 14, marker 15.
- Induction heads: L random tokens in which a trigger token appears once, followed by a
  random token x; the sequence ends with the trigger again and the model outputs x
  (associative recall). Vocabulary 16: content symbols 0 ... 14, trigger 15.

Example:

>>> import numpy as np
>>> from keras_ssm.data.synthetic import selective
>>> x, y = selective.selective_copying(np.random.default_rng(0), 2, 32)
>>> x.shape, y.shape        # L noise/data positions + 16 markers; 16 targets
((2, 48), (2, 16))
>>> x, y = selective.induction_heads(np.random.default_rng(0), 2, 32)
>>> x.shape, y.shape, bool((x[:, -1] == selective.TRIGGER).all())
((2, 32), (2, 1), True)
"""

import numpy as np

VOCABULARY_SIZE = 16
"""Both tasks' vocabulary (the paper's 16 tokens)."""
NOISE = 0
"""Selective copying's noise ("white") token."""
MARKER = VOCABULARY_SIZE - 1
"""Selective copying's marker: output the next data token here."""
TRIGGER = VOCABULARY_SIZE - 1
"""Induction heads' trigger token."""
SELECTIVE_COPYING_TOKENS = 16
"""The data tokens to copy (the paper's 16)."""

TASKS = ("selective_copying", "induction_heads")


def check_seq_len(task, seq_len):
    """`seq_len` as an int, or a ValueError naming the smallest one the task takes."""
    smallest = SELECTIVE_COPYING_TOKENS if task == "selective_copying" else 4
    if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)):
        raise ValueError(f"`seq_len` must be an int, got {seq_len!r}.")
    if seq_len < smallest:
        raise ValueError(f"{task} needs seq_len >= {smallest}; got seq_len={seq_len}.")
    return int(seq_len)


def shapes(task, seq_len):
    """(input_length, output_length) of `task` at length L."""
    if task == "selective_copying":
        return seq_len + SELECTIVE_COPYING_TOKENS, SELECTIVE_COPYING_TOKENS
    return seq_len, 1


def selective_copying(rng, num_samples, seq_len):
    """`num_samples` selective-copying sequences of L noise/data positions + 16 markers.

    Args:
        rng: a `numpy.random.Generator`.
        num_samples: n.
        seq_len: L >= 16, the positions among which the data tokens are placed.

    Returns:
        (inputs (n, L + 16) int32, targets (n, 16) int32): the data tokens in order.
    """
    m = SELECTIVE_COPYING_TOKENS
    # Distinct positions: the m smallest of L uniform keys, sorted.
    positions = np.sort(np.argsort(rng.random((num_samples, seq_len)), axis=1)[:, :m], axis=1)
    data = rng.integers(NOISE + 1, MARKER, (num_samples, m)).astype(np.int32)
    inputs = np.full((num_samples, seq_len + m), NOISE, np.int32)
    np.put_along_axis(inputs, positions, data, axis=1)
    inputs[:, seq_len:] = MARKER
    return inputs, data


def induction_heads(rng, num_samples, seq_len):
    """`num_samples` induction-head sequences: ... trigger x ... trigger → x.

    Args:
        rng: a `numpy.random.Generator`.
        num_samples: n.
        seq_len: L >= 4, the input length (the last position holds the trigger).

    Returns:
        (inputs (n, L) int32, targets (n, 1) int32): x, the token after the first trigger.
    """
    inputs = rng.integers(0, TRIGGER, (num_samples, seq_len)).astype(np.int32)
    first = rng.integers(0, seq_len - 2, num_samples)  # the trigger, then x before L - 1
    rows = np.arange(num_samples)
    inputs[rows, first] = TRIGGER
    inputs[:, -1] = TRIGGER
    return inputs, inputs[rows, first + 1][:, None].copy()


GENERATORS = {"selective_copying": selective_copying, "induction_heads": induction_heads}
