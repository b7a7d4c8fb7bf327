"""The tree and length settings of ListOpsSubTrees: the paper's, LRA's, and scaled ones.

Re-exported by `keras_ssm.data.synthetic.listops_subtrees`.
"""

import dataclasses

import numpy as np

__all__ = [
    "ListOpsSetting",
    "PAPER_SETTING",
    "LRA_SETTING",
    "SETTINGS",
    "MIN_SEQ_LEN",
    "scaled_setting",
    "setting_for_length",
]


@dataclasses.dataclass(frozen=True)
class ListOpsSetting:
    """Tree and length parameters of one ListOpsSubTrees variant.

    Args:
        max_depth: depth at which nodes are forced to be digits (root = 1).
        max_args: largest number of children of an operator (>= 2).
        min_length: accepted token counts are > min_length ...
        max_length: ... and < max_length.
        l_max: padded sequence length (>= max_length - 1).

    Example:

    >>> ListOpsSetting(4, 4, 10, 30, 32).max_length
    30
    """

    max_depth: int
    max_args: int
    min_length: int
    max_length: int
    l_max: int

    def __post_init__(self):
        if self.max_depth < 1:
            raise ValueError(f"max_depth must be >= 1, got {self.max_depth}.")
        if self.max_args < 2:
            raise ValueError(f"max_args must be >= 2, got {self.max_args}.")
        if not 0 <= self.min_length < self.max_length - 1:
            raise ValueError(
                "Need 0 <= min_length < max_length - 1 so that some length "
                f"fits; got min_length={self.min_length}, "
                f"max_length={self.max_length}."
            )
        if self.l_max < self.max_length - 1:
            raise ValueError(
                f"l_max={self.l_max} is shorter than the longest accepted "
                f"sequence ({self.max_length - 1} tokens); raise l_max or "
                "lower max_length."
            )


PAPER_SETTING = ListOpsSetting(
    max_depth=15, max_args=9, min_length=7000, max_length=8180, l_max=8192
)
LRA_SETTING = ListOpsSetting(
    max_depth=10, max_args=10, min_length=1500, max_length=2000, l_max=2048
)
SETTINGS = {"paper": PAPER_SETTING, "lra": LRA_SETTING}
MIN_SEQ_LEN = 8


def scaled_setting(seq_len):
    """A setting whose sequences fill a fraction of `seq_len` tokens.

    Window (3L // 4, L + 1), i.e. lengths in (3L/4, L]. Trees: max_args 5 and
    max_depth 5 below L = 64; above, max_args 10 and max_depth
    round(log2 L) - 1 (6 at 128, 9 at 1024, 11 at 4096), which keeps about
    1-3% of the sampled trees.

    Args:
        seq_len: L, the padded length (>= 8).

    Returns:
        `ListOpsSetting` with l_max = L.

    Example:

    >>> scaled_setting(128)
    ListOpsSetting(max_depth=6, max_args=10, min_length=96, max_length=129, l_max=128)
    """
    seq_len = int(seq_len)
    if seq_len < MIN_SEQ_LEN:
        raise ValueError(f"seq_len must be >= {MIN_SEQ_LEN} for ListOpsSubTrees, got {seq_len}.")
    if seq_len < 64:
        max_depth, max_args = 5, 5
    else:
        max_depth, max_args = int(round(np.log2(seq_len))) - 1, 10
    return ListOpsSetting(
        max_depth=max_depth,
        max_args=max_args,
        min_length=(3 * seq_len) // 4,
        max_length=seq_len + 1,
        l_max=seq_len,
    )


def setting_for_length(seq_len):
    """The setting `generate` uses for `seq_len` when none is given.

    Args:
        seq_len: L.

    Returns:
        `PAPER_SETTING` for 8192, `LRA_SETTING` for 2048, else
        `scaled_setting(seq_len)`.

    Example:

    >>> setting_for_length(2048) == LRA_SETTING
    True
    """
    if seq_len == PAPER_SETTING.l_max:
        return PAPER_SETTING
    if seq_len == LRA_SETTING.l_max:
        return LRA_SETTING
    return scaled_setting(seq_len)
