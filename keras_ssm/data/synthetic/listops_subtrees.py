"""ListOpsSubTrees: ListOps expressions with a target at every closing bracket.

The DLR paper's sequence-to-sequence variant of ListOps (spec C.12). A random
expression tree over the operators MIN, MAX, MED (median, truncated to an
int) and SM (sum mod 10) on the digits 0-9 is written in prefix form without
parentheses, e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]``. At every closing bracket the
target is the value (0-9) of the subtree that closes there (the root's value
sits at the last ``]``); every other position, and the padding, carries
`IGNORE_INDEX`.

Trees (spec C.12): a node at depth d < max_depth (the root has d = 1) is an
operator with probability 0.25, otherwise a digit drawn uniformly from 0-9;
nodes at max_depth are digits. An operator is drawn uniformly from the four
and has Uniform{2, ..., max_args} children. Trees are rejected until their
token count lies strictly inside the setting's (min_length, max_length).

Choices where the spec is silent:
- The closing bracket is the vocabulary symbol ``"]"`` (the reference maps
  it to ``"X"`` in its tokenizer; only the name differs). Ids: 0 <pad>,
  1 <unk>, 2-5 the operators, 6-15 the digits 0-9, 16 ``"]"``.
- `generate` with a length other than 8192 or 2048 uses `scaled_setting`:
  window (3L // 4, L + 1) and a (max_depth, max_args) picked so that a few
  percent of trees land in the window.
- Random numbers come from a numpy Generator; the reference's Python
  `random` stream is not reproduced, only its distribution. A tree's shape
  is drawn level by level and rejected by length before its operators and
  digits are drawn (same distribution, far cheaper: about 9 ms of CPU per
  accepted paper-setting sample, 2.6 ms for the LRA setting).
- A "template" is the token sequence with the digits removed (as in the
  reference); a sample whose template was already kept is dropped, which
  also drops exact duplicates.
- Fixed splits are stored compactly (uint8 ids, int8 targets): the paper's
  100000 x 8192 splits take about 1.6 GB on disk and in memory while built.

Fixed splits on disk (``{train,val,test}.npz``) are built by
`keras_ssm.data.synthetic.listops_subtrees_build` (command line: ``python
tools/build_listops_subtrees.py``) and read back with `load_split`.
"""

import numpy as np

from keras_ssm.data._shared import check_count

# The trees, their operators and their shape sampler are shared with LRA ListOps.
from keras_ssm.data.lra.listops_trees import OPERATOR_PROBABILITY  # noqa: F401  (re-exported)
from keras_ssm.data.lra.listops_trees import OPERATORS
from keras_ssm.data.lra.listops_trees import apply_operator
from keras_ssm.data.lra.listops_trees import assemble_tree
from keras_ssm.data.lra.listops_trees import check_tree_args
from keras_ssm.data.lra.listops_trees import draw_shape

# The settings live in their own module; re-exported here.
from keras_ssm.data.synthetic.listops_subtrees_settings import LRA_SETTING  # noqa: F401
from keras_ssm.data.synthetic.listops_subtrees_settings import MIN_SEQ_LEN
from keras_ssm.data.synthetic.listops_subtrees_settings import PAPER_SETTING  # noqa: F401
from keras_ssm.data.synthetic.listops_subtrees_settings import SETTINGS
from keras_ssm.data.synthetic.listops_subtrees_settings import ListOpsSetting
from keras_ssm.data.synthetic.listops_subtrees_settings import scaled_setting  # noqa: F401
from keras_ssm.data.synthetic.listops_subtrees_settings import setting_for_length

CLOSE_TOKEN = "]"
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"
VOCAB = (
    (PAD_TOKEN, UNK_TOKEN)
    + tuple("[" + op for op in OPERATORS)
    + tuple(str(d) for d in range(10))
    + (CLOSE_TOKEN,)
)
TOKEN_TO_ID = {token: i for i, token in enumerate(VOCAB)}
PAD_ID = 0
UNK_ID = 1
IGNORE_INDEX = -100
NUM_CLASSES = 10

_FIRST_OPERATOR_ID = TOKEN_TO_ID["[MIN"]
_FIRST_DIGIT_ID = TOKEN_TO_ID["0"]
_CLOSE_ID = TOKEN_TO_ID[CLOSE_TOKEN]


# ----------------------------------------------------------------- the trees


def _label_shape(rng, levels):
    """Draws the operators and digits of a shape; returns the nested tree.

    Operators are uniform over `OPERATORS` and digits uniform over 0-9, drawn
    for all nodes of a level at once (a digit per node, operators included:
    this generator's random stream; only the leaves' digits are used).
    """
    labelled = []
    for is_operator, num_children in levels:
        ops = rng.integers(0, len(OPERATORS), size=len(num_children))
        digits = rng.integers(0, 10, size=len(is_operator))
        labelled.append((is_operator, num_children, ops, digits[~is_operator]))
    return assemble_tree(labelled)


def sample_tree(rng, max_depth, max_args):
    """Draws one random ListOps tree (no length condition).

    The shape is drawn first, level by level (operator with probability
    0.25 below max_depth, Uniform{2..max_args} children), then the operators
    and digits; this is the same distribution as drawing node by node.

    Args:
        rng: `numpy.random.Generator`.
        max_depth: nodes at this depth are digits (root depth 1).
        max_args: operators have Uniform{2..max_args} children.

    Returns:
        A tree: an int (a digit leaf) or a tuple (op, children) with op in
        `OPERATORS` and children a tuple of trees.

    Example:

    >>> tree = sample_tree(np.random.default_rng(3), max_depth=4, max_args=3)
    >>> to_tokens(tree)[-1] in [CLOSE_TOKEN] + [str(d) for d in range(10)]
    True
    """
    max_depth, max_args = check_tree_args(max_depth, max_args)
    levels, _ = draw_shape(rng, max_depth, max_args, cap=np.inf)
    return _label_shape(rng, levels)


def evaluate(tree):
    """The value of a tree.

    Args:
        tree: as returned by `sample_tree`.

    Returns:
        int in 0-9.

    Example:

    >>> evaluate(("SM", (7, ("MAX", (1, 5)))))
    2
    """
    if isinstance(tree, (int, np.integer)):
        return int(tree)
    op, children = tree
    return apply_operator(op, [evaluate(child) for child in children])


def to_tokens(tree):
    """The token strings of a tree in prefix form, without parentheses.

    Args:
        tree: as returned by `sample_tree`.

    Returns:
        list of str, each in `VOCAB`.

    Example:

    >>> to_tokens(("MIN", (3, ("SM", (4, 8)))))
    ['[MIN', '3', '[SM', '4', '8', ']', ']']
    """
    if isinstance(tree, (int, np.integer)):
        return [str(int(tree))]
    op, children = tree
    tokens = ["[" + op]
    for child in children:
        tokens.extend(to_tokens(child))
    tokens.append(CLOSE_TOKEN)
    return tokens


def to_targets(tree):
    """Per-token targets of a tree: subtree values at every ``]``.

    Args:
        tree: as returned by `sample_tree`.

    Returns:
        list of int aligned with `to_tokens(tree)`: the value (0-9) of the
        subtree closing at each ``]``, `IGNORE_INDEX` elsewhere.

    Example:

    >>> to_targets(("MIN", (3, ("SM", (4, 8)))))
    [-100, -100, -100, -100, -100, 2, 2]
    """
    if isinstance(tree, (int, np.integer)):
        return [IGNORE_INDEX]
    op, children = tree
    targets = [IGNORE_INDEX]
    for child in children:
        targets.extend(to_targets(child))
    targets.append(evaluate(tree))
    return targets


def encode(tokens):
    """Token strings to ids (unknown strings map to `UNK_ID`).

    Args:
        tokens: iterable of str.

    Returns:
        int32 array of ids.

    Example:

    >>> encode(["[MAX", "1", "]"]).tolist()
    [3, 7, 16]
    """
    return np.asarray([TOKEN_TO_ID.get(token, UNK_ID) for token in tokens], dtype=np.int32)


def decode(ids):
    """Ids to token strings, dropping padding.

    Args:
        ids: iterable of ints.

    Returns:
        list of str.

    Example:

    >>> decode([3, 7, 16, 0, 0])
    ['[MAX', '1', ']']
    """
    return [VOCAB[int(i)] for i in ids if int(i) != PAD_ID]


def encode_tree(tree):
    """Ids and targets of a tree in one pass.

    Args:
        tree: as returned by `sample_tree`.

    Returns:
        (ids, targets): int32 arrays, `encode(to_tokens(tree))` and
        `to_targets(tree)`.

    Example:

    >>> ids, targets = encode_tree(("MAX", (1, 4)))
    >>> ids.tolist(), targets.tolist()
    ([3, 7, 10, 16], [-100, -100, -100, 4])
    """
    ids, targets = [], []

    def walk(node):
        if not isinstance(node, tuple):
            ids.append(_FIRST_DIGIT_ID + int(node))
            targets.append(IGNORE_INDEX)
            return int(node)
        op, children = node
        ids.append(_FIRST_OPERATOR_ID + OPERATORS.index(op))
        targets.append(IGNORE_INDEX)
        value = apply_operator(op, [walk(child) for child in children])
        ids.append(_CLOSE_ID)
        targets.append(value)
        return value

    walk(tree)
    return np.asarray(ids, dtype=np.int32), np.asarray(targets, dtype=np.int32)


def sample_in_window(rng, setting):
    """Draws trees until one has min_length < length < max_length.

    Shapes are drawn first and rejected by length, before any operator or
    digit is drawn (lengths depend on the shape only).

    Args:
        rng: `numpy.random.Generator`.
        setting: `ListOpsSetting`.

    Returns:
        (ids, targets): int32 arrays of the accepted tree's length, as
        `encode_tree` gives them.

    Example:

    >>> s = ListOpsSetting(5, 5, 10, 20, 20)
    >>> ids, targets = sample_in_window(np.random.default_rng(0), s)
    >>> bool(10 < len(ids) < 20 and targets[-1] >= 0)
    True
    """
    while True:
        levels, length = draw_shape(rng, setting.max_depth, setting.max_args, setting.max_length)
        if levels is not None and length > setting.min_length:
            return encode_tree(_label_shape(rng, levels))


def _fill(rng, setting, num_samples, seq_len):
    inputs = np.full((num_samples, seq_len), PAD_ID, dtype=np.int32)
    targets = np.full((num_samples, seq_len), IGNORE_INDEX, dtype=np.int32)
    for i in range(num_samples):
        ids, target = sample_in_window(rng, setting)
        inputs[i, : len(ids)] = ids
        targets[i, : len(ids)] = target
    return inputs, targets


def generate(num_samples, seq_len, seed=0, setting=None):
    """Draws ListOpsSubTrees samples, padded to `seq_len`.

    Args:
        num_samples: n (>= 1).
        seq_len: L, the padded length; must be >= setting.max_length - 1.
        seed: int seed; equal arguments give equal arrays.
        setting: `ListOpsSetting`, or "paper"/"lra", or None for
            `setting_for_length(seq_len)` (8192 -> paper, 2048 -> LRA,
            otherwise `scaled_setting`).

    Returns:
        (inputs, targets): int32 arrays of shape (n, L). inputs are token ids
        padded with `PAD_ID` at the end; targets hold 0-9 at the closing
        brackets and `IGNORE_INDEX` everywhere else.

    Example:

    >>> x, y = generate(2, 64, seed=0)
    >>> x.shape, y.dtype.name, int((y[0] >= 0).sum()) == int((x[0] == 16).sum())
    ((2, 64), 'int32', True)
    """
    num_samples = check_count("num_samples", num_samples, 1)
    seq_len = check_count("seq_len", seq_len, MIN_SEQ_LEN)
    setting = _resolve_setting(setting, seq_len)
    if setting.max_length - 1 > seq_len:
        raise ValueError(
            f"seq_len={seq_len} cannot hold sequences of up to "
            f"{setting.max_length - 1} tokens; pass seq_len >= "
            f"{setting.max_length - 1} or a setting with a smaller max_length."
        )
    rng = np.random.default_rng(seed)
    return _fill(rng, setting, num_samples, seq_len)


def _resolve_setting(setting, seq_len=None):
    if setting is None:
        return setting_for_length(seq_len)
    if isinstance(setting, str):
        if setting not in SETTINGS:
            raise ValueError(
                f"setting must be one of {sorted(SETTINGS)} or a ListOpsSetting, got {setting!r}."
            )
        return SETTINGS[setting]
    if not isinstance(setting, ListOpsSetting):
        raise ValueError(
            f"setting must be a ListOpsSetting, a name in {sorted(SETTINGS)} "
            f"or None, got {setting!r}."
        )
    return setting


# ------------------------------------------------------------ fixed splits


def template_ids(ids):
    """The template of a sequence: its ids with the digit tokens removed.

    Two expressions with the same template differ only in their digits and
    in how the digits sit among the operators (the reference's definition:
    the expression with digits removed).

    Args:
        ids: 1-D int array of token ids (padding allowed).

    Returns:
        1-D int array.

    Example:

    >>> template_ids(encode(["[MIN", "3", "[SM", "4", "]", "]"])).tolist()
    [2, 5, 16, 16]
    """
    ids = np.asarray(ids)
    keep = (ids != PAD_ID) & ((ids < _FIRST_DIGIT_ID) | (ids > _FIRST_DIGIT_ID + 9))
    return ids[keep]


def load_split(path):
    """Reads one split written by `listops_subtrees_build.build_fixed_splits`.

    Args:
        path: the .npz file.

    Returns:
        (inputs, targets): int32 arrays of shape (n, l_max).

    Example:

    >>> import tempfile, os
    >>> from keras_ssm.data.synthetic.listops_subtrees_build import build_fixed_splits
    >>> d = tempfile.mkdtemp()
    >>> _ = build_fixed_splits(d, 3, 1, 1, ListOpsSetting(5, 5, 20, 40, 40),
    ...                        verbose=False)
    >>> load_split(os.path.join(d, "val.npz"))[0].shape
    (1, 40)
    """
    with np.load(path) as data:
        return (
            data["inputs"].astype(np.int32),
            data["targets"].astype(np.int32),
        )
