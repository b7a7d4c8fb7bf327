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
- `build_fixed_splits` seeds chunk i with (seed, i), so the data do not
  depend on the number of workers (the reference seeds per worker).

Command line (writes ``{train,val,test}.npz``)::

    python -m keras_ssm.data.listops_subtrees --out DIR --train 96000 \\
        --val 2000 --test 2000 --setting paper --workers 8
"""

import argparse
import dataclasses
import hashlib
import multiprocessing
import os
import sys
import time

import numpy as np

OPERATORS = ("MIN", "MAX", "MED", "SM")
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
OPERATOR_PROBABILITY = 0.25

_FIRST_OPERATOR_ID = TOKEN_TO_ID["[MIN"]
_FIRST_DIGIT_ID = TOKEN_TO_ID["0"]
_CLOSE_ID = TOKEN_TO_ID[CLOSE_TOKEN]


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
        raise ValueError(
            f"seq_len must be >= {MIN_SEQ_LEN} for ListOpsSubTrees, "
            f"got {seq_len}."
        )
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


# ----------------------------------------------------------------- the trees


def apply_operator(op, values):
    """Applies a ListOps operator to its children's values.

    Args:
        op: one of `OPERATORS`.
        values: sequence of ints in 0-9 (at least one).

    Returns:
        int in 0-9: min, max, the median truncated to an int (the mean of
        the two middle values, floored, for an even count), or the sum
        mod 10.

    Example:

    >>> apply_operator("MED", [1, 2, 7, 9])
    4
    """
    if op == "MIN":
        return min(values)
    if op == "MAX":
        return max(values)
    if op == "MED":
        ordered = sorted(values)
        mid = len(ordered) // 2
        if len(ordered) % 2:
            return ordered[mid]
        return (ordered[mid - 1] + ordered[mid]) // 2
    if op == "SM":
        return sum(values) % 10
    raise ValueError(f"op must be one of {OPERATORS}, got {op!r}.")


def _draw_shape(rng, max_depth, max_args, cap):
    """Draws a tree's shape level by level; None once it reaches `cap` tokens.

    Returns a list over depths 1, 2, ... of (is_operator bool array,
    num_children int array over that level's operators). The children of a
    level's operators are the next level's nodes, in order.
    """
    levels = []
    width, length, depth = 1, 0, 1
    while width:
        if depth < max_depth:
            is_operator = rng.random(width) < OPERATOR_PROBABILITY
        else:
            is_operator = np.zeros(width, dtype=bool)
        num_operators = int(is_operator.sum())
        num_children = rng.integers(2, max_args + 1, size=num_operators)
        length += width + num_operators  # "[OP" ... "]" or one digit
        if length >= cap:
            return None
        levels.append((is_operator, num_children))
        width = int(num_children.sum())
        depth += 1
    return levels


def _label_shape(rng, levels):
    """Draws the operators and digits of a shape; returns the nested tree.

    Operators are uniform over `OPERATORS` and digits uniform over 0-9,
    drawn for all nodes of a level at once.
    """
    labelled = []
    for is_operator, num_children in levels:
        ops = rng.integers(0, len(OPERATORS), size=len(num_children))
        digits = rng.integers(0, 10, size=len(is_operator))
        labelled.append((is_operator.tolist(), num_children.tolist(),
                         ops.tolist(), digits.tolist()))
    # Assemble bottom-up: level d's operators take the next level's nodes.
    below = []
    for is_operator, num_children, ops, digits in reversed(labelled):
        nodes, start, k = [], 0, 0
        for j, operator in enumerate(is_operator):
            if operator:
                stop = start + num_children[k]
                nodes.append((OPERATORS[ops[k]], tuple(below[start:stop])))
                start, k = stop, k + 1
            else:
                nodes.append(digits[j])
        below = nodes
    return below[0]


def _check_tree_args(max_depth, max_args):
    if int(max_depth) < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}.")
    if int(max_args) < 2:
        raise ValueError(f"max_args must be >= 2, got {max_args}.")


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
    _check_tree_args(max_depth, max_args)
    levels = _draw_shape(rng, int(max_depth), int(max_args), cap=np.inf)
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
    return np.asarray(
        [TOKEN_TO_ID.get(token, UNK_ID) for token in tokens], dtype=np.int32
    )


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
        levels = _draw_shape(
            rng, setting.max_depth, setting.max_args, setting.max_length
        )
        if levels is None:
            continue
        length = sum(len(op) + int(op.sum()) for op, _ in levels)
        if length > setting.min_length:
            return encode_tree(_label_shape(rng, levels))


def _check_count(name, value, minimum):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


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
    num_samples = _check_count("num_samples", num_samples, 1)
    seq_len = _check_count("seq_len", seq_len, MIN_SEQ_LEN)
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
                f"setting must be one of {sorted(SETTINGS)} or a "
                f"ListOpsSetting, got {setting!r}."
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


def _digest(ids):
    return hashlib.blake2b(
        np.ascontiguousarray(ids, dtype=np.uint8).tobytes(), digest_size=16
    ).digest()


def _chunk_task(args):
    """Worker: one chunk of samples with its keys for deduplication."""
    seed, chunk_index, chunk_size, setting = args
    rng = np.random.default_rng([seed, chunk_index])
    samples = []
    for _ in range(chunk_size):
        ids, targets = sample_in_window(rng, setting)
        ids = ids.astype(np.uint8)
        samples.append(
            (ids, targets.astype(np.int8), _digest(ids),
             _digest(template_ids(ids)))
        )
    return samples


class _Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total, label, stream=None, width=30):
        self.total, self.label, self.width = total, label, width
        self.stream = sys.stderr if stream is None else stream
        self.count = 0
        self.start = time.time()
        self._last = 0.0

    def update(self, count, extra=""):
        self.count = count
        now = time.time()
        if count < self.total and now - self._last < 0.2:
            return
        self._last = now
        done = int(self.width * count / max(self.total, 1))
        elapsed = now - self.start
        eta = elapsed / count * (self.total - count) if count else 0.0
        self.stream.write(
            f"\r{self.label} [{'=' * done}{'.' * (self.width - done)}] "
            f"{count}/{self.total} {elapsed:.0f}s eta {eta:.0f}s {extra}"
        )
        if count >= self.total:
            self.stream.write("\n")
        self.stream.flush()


def build_fixed_splits(
    out_dir,
    num_train,
    num_val,
    num_test,
    setting="paper",
    seed=0,
    workers=1,
    chunk_size=64,
    verbose=True,
    max_chunks=None,
):
    """Builds the fixed train/val/test sets with duplicate filtering.

    Chunk i of `chunk_size` samples is drawn with seed (seed, i) by a pool of
    `workers` processes; chunks are consumed in order, so the result does not
    depend on `workers`. A sample is dropped when its ids, or its template
    (`template_ids`), were already kept in any split. Kept samples fill
    train, then val, then test.

    Writes ``{out_dir}/{train,val,test}.npz`` with arrays ``inputs`` (uint8
    ids, shape (n, l_max), `PAD_ID`-padded) and ``targets`` (int8, -100
    ignored), plus ``setting.json``. Use `load_split` to read them as int32.

    Args:
        out_dir: output folder (created).
        num_train, num_val, num_test: split sizes (>= 0, total >= 1).
        setting: `ListOpsSetting` or "paper"/"lra".
        seed: base seed.
        workers: number of processes (1 runs in this process).
        chunk_size: samples per task.
        verbose: show a progress bar on stderr.
        max_chunks: give up with RuntimeError after this many chunks
            (default: enough for 20x the requested samples).

    Returns:
        dict with the split sizes and the counts of dropped duplicates and
        template duplicates.

    Example:

    >>> import tempfile
    >>> s = ListOpsSetting(5, 5, 20, 40, 40)
    >>> stats = build_fixed_splits(tempfile.mkdtemp(), 8, 2, 2, s, verbose=False)
    >>> stats["train"], stats["test"]
    (8, 2)
    """
    import json

    setting = _resolve_setting(setting)
    sizes = {
        "train": _check_count("num_train", num_train, 0),
        "val": _check_count("num_val", num_val, 0),
        "test": _check_count("num_test", num_test, 0),
    }
    total = sum(sizes.values())
    if total < 1:
        raise ValueError("Ask for at least one sample in num_train/val/test.")
    workers = _check_count("workers", workers, 1)
    chunk_size = _check_count("chunk_size", chunk_size, 1)
    if max_chunks is None:
        max_chunks = 20 * (-(-total // chunk_size)) + 10
    l_max = setting.l_max
    inputs = np.full((total, l_max), PAD_ID, dtype=np.uint8)
    targets = np.full((total, l_max), IGNORE_INDEX, dtype=np.int8)
    seen, seen_templates = set(), set()
    stats = {"duplicates": 0, "template_duplicates": 0, "drawn": 0}
    progress = _Progress(total, "listops_subtrees") if verbose else None
    tasks = ((seed, i, chunk_size, setting) for i in range(max_chunks))
    kept = 0
    pool = None
    try:
        if workers > 1:
            pool = multiprocessing.get_context().Pool(workers)
            chunks = pool.imap(_chunk_task, tasks)
        else:
            chunks = map(_chunk_task, tasks)
        for chunk in chunks:
            for ids, target, key, template_key in chunk:
                stats["drawn"] += 1
                if key in seen:
                    stats["duplicates"] += 1
                    continue
                if template_key in seen_templates:
                    stats["template_duplicates"] += 1
                    continue
                seen.add(key)
                seen_templates.add(template_key)
                inputs[kept, : len(ids)] = ids
                targets[kept, : len(ids)] = target
                kept += 1
                if kept == total:
                    break
            if progress:
                progress.update(
                    kept,
                    f"dup {stats['duplicates']} tmpl "
                    f"{stats['template_duplicates']}",
                )
            if kept == total:
                break
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if kept < total:
        raise RuntimeError(
            f"Only {kept} distinct samples of {total} after {max_chunks} "
            "chunks: the setting has too few distinct templates; widen its "
            "length window or raise max_chunks."
        )
    os.makedirs(out_dir, exist_ok=True)
    start = 0
    for name in ("train", "val", "test"):
        stop = start + sizes[name]
        np.savez(
            os.path.join(out_dir, f"{name}.npz"),
            inputs=inputs[start:stop],
            targets=targets[start:stop],
        )
        start = stop
    with open(os.path.join(out_dir, "setting.json"), "w") as f:
        json.dump(
            {"setting": dataclasses.asdict(setting), "seed": seed, **stats},
            f, indent=1,
        )
    stats.update(sizes)
    return stats


def load_split(path):
    """Reads one split written by `build_fixed_splits`.

    Args:
        path: the .npz file.

    Returns:
        (inputs, targets): int32 arrays of shape (n, l_max).

    Example:

    >>> import tempfile, os
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


def main(argv=None):
    """Command line: build the fixed splits. See the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m keras_ssm.data.listops_subtrees",
        description="Build the ListOpsSubTrees train/val/test .npz files.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=96000)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument(
        "--setting", default="paper",
        help="paper | lra | a custom 'max_depth,max_args,min_length,"
        "max_length,l_max'",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.setting in SETTINGS:
        setting = SETTINGS[args.setting]
    else:
        try:
            setting = ListOpsSetting(*(int(v) for v in args.setting.split(",")))
        except (TypeError, ValueError) as error:
            parser.error(f"--setting: {error}")
    stats = build_fixed_splits(
        args.out, args.train, args.val, args.test, setting, args.seed,
        args.workers, args.chunk_size, verbose=not args.quiet,
    )
    print(
        f"wrote {args.out}: train {stats['train']} val {stats['val']} "
        f"test {stats['test']} (dropped {stats['duplicates']} duplicates, "
        f"{stats['template_duplicates']} template duplicates)"
    )


if __name__ == "__main__":
    main()
