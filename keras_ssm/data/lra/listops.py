"""Long Range Arena ListOps, generated: the published generator's distribution.

The ListOps files of LRA (``lra_release/listops-1000/basic_{train,val,test}.tsv``)
were written by ``lra_benchmarks/data/listops.py`` of google-research/long-range-arena.
This module draws from the same distribution with a seeded numpy Generator, and
`keras_ssm.data.lra.listops_release` writes the same files, so
``keras_ssm.data.lra.load("listops", folder, split)`` reads them unchanged. Only the
distribution is reproduced, not the released samples (those came from Python's
``random`` with an unrecorded seed).

The generator, as published (defaults ``max_depth=10``, ``max_args=10``):

- A node at depth d (the root has d = 1) is an operator with probability 0.25
  when d < max_depth (``random.random() > 0.25`` makes it a value), else a
  value. Values are uniform over the digits 0-9.
- An operator is uniform over ``[MIN``, ``[MAX``, ``[MED``, ``[SM`` and has
  ``Uniform{2, ..., max_args}`` arguments (``random.randint(2, max_args)``).
- The length of a tree is its token count without parentheses (operators,
  digits, ``]``); a tree is kept when ``min_length < length < max_length``
  (500 and 2000: 501 to 1999 tokens), else drawn again.
- Identical trees are kept once (the generator fills a Python ``set`` until it
  holds 96,000 + 2,000 + 2,000 trees), then the set is cut into train, val and
  test: the three splits never share an expression.
- Values: MIN, MAX, MED = ``int(np.median(args))`` (the mean of the two middle
  values, truncated, for an even count: MED(2, 5) = 3, MED(5, 6) = 5) and
  SM = sum mod 10.
- Text: each binary node of the generator's left-nested tuples
  ``((((op, a1), a2), ...), "]")`` is written ``( left right )``, so an operator
  with k arguments reads ``( ( ( [MAX 2 ) 9 ) ] )`` for k = 2: k + 1 opening
  parentheses, the operator, each argument followed by ``)``, then ``] )``.
- Files: ``csv.writer(delimiter="\\t")``: a ``Source<TAB>Target`` header, one
  ``source<TAB>label`` row per sample, ``\\r\\n`` line ends (the csv module's
  default), no quoting (no field holds a tab or a quote).

Here a tree's shape is drawn level by level and rejected as soon as it reaches
``max_length`` tokens; operators and digits are drawn once the shape is
accepted. The distribution is the one above (every draw is independent), and a
rejected tree costs at most ``max_length`` nodes. Samples are kept in the
order they are drawn, duplicates dropped, and cut into train, val and test in
that order (the published script cuts its set in hash order: both are
independent of the samples' content).

Speed: one process draws about 1,500 samples per second (mean about 1,030
tokens); ``listops_release.write_release`` of the full 96,000 / 2,000 / 2,000 release took
68 s on one CPU core (64 s drawing, 4 s writing 660 MB of text).

Example:

```python
import numpy as np
from keras_ssm.data.lra import listops

tree = listops.generate_expression(np.random.default_rng(0), max_depth=4, max_args=3,
                                   min_length=5, max_length=30)
# ('MIN', (4, ('MAX', (('MAX', (0, 1, 0)), 4, 0))))
source = listops.to_source(tree)
# '( ( ( [MIN 4 ) ( ( ( ( [MAX ( ( ( ( [MAX 0 ) 1 ) 0 ) ] ) ) 4 ) 0 ) ] ) ) ] )'
label = listops.evaluate(source)       # 4
sources, labels = listops.generate_split(3, seed=0, min_length=10, max_length=60)
```
"""

import hashlib

import numpy as np

from keras_ssm.data import _shared
from keras_ssm.data.lra import listops_trees

# The trees, their operators and their shape sampler are shared with ListOpsSubTrees.
from keras_ssm.data.lra.listops_trees import OPERATOR_PROBABILITY  # noqa: F401  (re-exported)
from keras_ssm.data.lra.listops_trees import OPERATORS
from keras_ssm.data.lra.listops_trees import assemble_tree
from keras_ssm.data.lra.listops_trees import check_tree_args
from keras_ssm.data.lra.listops_trees import draw_shape
from keras_ssm.data.lra.listops_trees import tree_depth  # noqa: F401
from keras_ssm.data.lra.listops_trees import tree_length  # noqa: F401

MAX_DEPTH = 10
MAX_ARGS = 10
MIN_LENGTH = 500
MAX_LENGTH = 2000
"""The published generator's defaults: lengths ``MIN_LENGTH < n < MAX_LENGTH``."""

SPLITS = ("train", "val", "test")
RELEASE_SIZES = (96000, 2000, 2000)
RELEASE_FOLDER = "listops-1000"
TASK_NAME = "basic"
MARKER_FILE = "generated.json"
"""Written beside the TSVs by `listops_release.write_release`, last: the generation settings."""

FORMAT_VERSION = 1

CLOSE_TOKEN = "]"
_OPEN_TOKENS = {"[" + op: op for op in OPERATORS}
_DIGITS = frozenset(str(digit) for digit in range(10))
_MAX_ATTEMPTS = 1_000_000  # trees drawn per accepted sample before giving up


# --------------------------------------------------------------------------
# Evaluation of a source string (independent of the trees)


def apply_operator(op, values):
    """The value of one ListOps operator on its arguments, as the generator computes it.

    Args:
        op: one of `OPERATORS` ("MIN", "MAX", "MED", "SM"; a leading "[" is allowed).
        values: non-empty sequence of ints in 0-9.

    Returns:
        int in 0-9: min, max, ``int(np.median(values))`` (for an even count the
        mean of the two middle values, truncated), or ``sum(values) % 10``.

    Example:

    ```python
    apply_operator("MED", [5, 6])       # 5  (median 5.5, truncated)
    apply_operator("[SM", [7, 8, 9])    # 4
    ```
    """
    op = op[1:] if op.startswith("[") else op
    if not len(values):
        raise ValueError(f"{op} needs at least one argument, got none.")
    return listops_trees.apply_operator(op, list(values))


def tokens(source):
    """The tokens of a source string without parentheses (what LRA's tokenizer keeps).

    Args:
        source: str in the released format, e.g. ``"( ( ( [MAX 2 ) 9 ) ] )"``
            (parentheses optional), or an iterable of token strings.

    Returns:
        list of str: operators (``"[MAX"`` ...), digits and ``"]"``.

    Example:

    ```python
    tokens("( ( ( [MAX 2 ) 9 ) ] )")    # ['[MAX', '2', '9', ']']
    ```
    """
    if isinstance(source, str):
        source = source.split()
    return [token for token in source if token not in ("(", ")")]


def evaluate(expression):
    """The value of an expression, read from its tokens with a stack.

    Independent of the generator's trees: it parses the text that is written
    to the files (the ``Source`` column).

    Args:
        expression: str in the released format (parentheses optional), or a
            sequence of tokens.

    Returns:
        int in 0-9.

    Raises:
        ValueError: unknown token, unbalanced ``]``, an operator without
            arguments, or tokens after the end of the expression.

    Example:

    ```python
    evaluate("( ( ( [MAX 2 ) 9 ) ] )")                          # 9
    evaluate("[SM [MED 6 5 ] 1 1 ]")                            # 7
    ```
    """
    stack, result = [], None
    for token in tokens(expression):
        if result is not None:
            raise ValueError(f"Tokens after the end of the expression: {token!r}.")
        if token in _OPEN_TOKENS:
            stack.append((_OPEN_TOKENS[token], []))
            continue
        if token in _DIGITS:
            value = int(token)
        elif token == CLOSE_TOKEN:
            if not stack:
                raise ValueError("Unbalanced ']' in the expression.")
            op, values = stack.pop()
            value = apply_operator(op, values)
        else:
            raise ValueError(f"Unknown ListOps token {token!r}.")
        if stack:
            stack[-1][1].append(value)
        else:
            result = value
    if stack or result is None:
        raise ValueError("Incomplete expression: an operator is not closed by ']'.")
    return result


# --------------------------------------------------------------------------
# Trees


def to_source(tree):
    """A tree in the released text format.

    Args:
        tree: an int digit, or ``(op, children)`` with ``op`` in `OPERATORS`
            and ``children`` a sequence of at least one tree.

    Returns:
        str: each operator with k arguments is written as k + 1 ``(``, the
        operator token, each argument followed by ``)``, then ``] )``; a bare
        digit is written as itself.

    Example:

    ```python
    to_source(("MAX", (2, 9)))                 # '( ( ( [MAX 2 ) 9 ) ] )'
    to_source(("SM", (("MIN", (4, 7)), 5)))    # '( ( ( [SM ( ( ( [MIN 4 ) 7 ) ] ) ) 5 ) ] )'
    ```
    """
    pieces = []
    _write_tree(tree, pieces)
    return " ".join(pieces)


def _write_tree(tree, pieces):
    if isinstance(tree, (int, np.integer)):
        pieces.append(str(int(tree)))
        return
    op, children = tree
    if op not in OPERATORS:
        raise ValueError(f"op must be one of {OPERATORS}, got {op!r}.")
    if not len(children):
        raise ValueError(f"Operator {op} without arguments.")
    pieces.extend(["("] * (len(children) + 1))
    pieces.append("[" + op)
    for child in children:
        _write_tree(child, pieces)
        pieces.append(")")
    pieces.extend([CLOSE_TOKEN, ")"])


# --------------------------------------------------------------------------
# Sampling


def _check_settings(max_depth, max_args, min_length, max_length):
    """Validated ints (max_depth, max_args, min_length, cap); cap may be inf."""
    max_depth, max_args = check_tree_args(max_depth, max_args)
    min_length = 0 if min_length is None else int(min_length)
    cap = np.inf if max_length is None else int(max_length)
    if min_length < 0 or cap <= min_length + 1:
        raise ValueError(
            "Lengths are kept when min_length < length < max_length; need "
            f"0 <= min_length and max_length >= min_length + 2, got "
            f"min_length={min_length}, max_length={max_length}."
        )
    longest = sum(2 * max_args**level for level in range(max_depth - 1))
    longest += max_args ** (max_depth - 1)
    if longest <= min_length:
        raise ValueError(
            f"No tree with max_depth={max_depth}, max_args={max_args} has more than "
            f"min_length={min_length} tokens (at most {longest}); lower min_length or "
            "raise max_depth / max_args."
        )
    return max_depth, max_args, min_length, cap


def _label_shape(rng, levels):
    """Draws operators and digits: list of (is_operator, num_args, ops, digits)."""
    labelled = []
    for is_operator, num_args in levels:
        ops = rng.integers(0, len(OPERATORS), size=len(num_args))
        digits = rng.integers(0, 10, size=len(is_operator) - len(num_args))
        labelled.append((is_operator, num_args, ops, digits))
    return labelled


def _draw_labelled(rng, max_depth, max_args, min_length, cap):
    """(labelled levels, length) of one tree in the length window."""
    for _ in range(_MAX_ATTEMPTS):
        levels, length = draw_shape(rng, max_depth, max_args, cap)
        if levels is not None and length > min_length:
            return _label_shape(rng, levels), length
    raise RuntimeError(
        f"No tree with {min_length} < length < {cap} in {_MAX_ATTEMPTS} draws "
        f"(max_depth={max_depth}, max_args={max_args}); widen the length window."
    )


def _segment_starts(num_args):
    starts = np.zeros(len(num_args), dtype=np.int64)
    np.cumsum(num_args[:-1], out=starts[1:])
    return starts


def generate_expression(
    rng, max_depth=MAX_DEPTH, max_args=MAX_ARGS, min_length=MIN_LENGTH, max_length=MAX_LENGTH
):
    """Draws one ListOps tree from the LRA generator's distribution.

    Args:
        rng: a `numpy.random.Generator` (e.g. ``np.random.default_rng(seed)``).
        max_depth: nodes at this depth are digits (the root has depth 1).
        max_args: operators have ``Uniform{2, ..., max_args}`` arguments.
        min_length: keep trees of more than ``min_length`` tokens (None: 0).
        max_length: ... and fewer than ``max_length`` (None: no bound).
            Tokens are operators, digits and ``]`` (no parentheses).

    Returns:
        A tree: an int digit, or ``(op, children)`` with ``op`` in `OPERATORS`
        and ``children`` a tuple of trees. `to_source` writes it,
        `tree_length` and `tree_depth` measure it.

    Example:

    ```python
    rng = np.random.default_rng(0)
    tree = generate_expression(rng, max_depth=4, max_args=3, min_length=5, max_length=30)
    5 < tree_length(tree) < 30 and tree_depth(tree) <= 4     # True
    ```
    """
    max_depth, max_args, min_length, cap = _check_settings(
        max_depth, max_args, min_length, max_length
    )
    labelled, _ = _draw_labelled(rng, max_depth, max_args, min_length, cap)
    return assemble_tree(labelled)


def _piece_table(max_args):
    """Text pieces: digits 0-9 as arguments, ``( ... ( [OP`` per (op, k), the closings.

    Index layout: 0-9 digit d followed by its ``)``; 10 + op * (max_args + 1) + k
    an operator with k arguments; then ``] ) )`` (an operator that is an
    argument) and ``] )`` (the root).
    """
    table = [f"{digit} ) " for digit in range(10)]
    for op in OPERATORS:
        table.extend("( " * (k + 1) + f"[{op} " for k in range(max_args + 1))
    table.extend(["] ) ) ", "] )"])
    return table


def _render_and_evaluate(labelled, length, table, max_args):
    """(source str, label int) of labelled levels, vectorized level by level."""
    if not labelled[0][0][0]:  # the root is a digit
        digit = int(labelled[0][3][0])
        return str(digit), digit
    depth = len(labelled)
    close_child, close_root = len(table) - 2, len(table) - 1
    sizes, values, starts = [None] * depth, [None] * depth, [None] * depth
    below_sizes = below_values = None
    for d in range(depth - 1, -1, -1):  # bottom-up: subtree sizes and values
        is_operator, num_args, ops, digits = labelled[d]
        size = np.ones(len(is_operator), dtype=np.int64)
        value = np.empty(len(is_operator), dtype=np.int64)
        value[~is_operator] = digits
        if len(num_args):
            start = starts[d] = _segment_starts(num_args)
            size[is_operator] = 2 + np.add.reduceat(below_sizes, start)
            segment = np.repeat(np.arange(len(num_args)), num_args)
            ordered = np.sort(segment * 10 + below_values) % 10
            median = (ordered[start + (num_args - 1) // 2] + ordered[start + num_args // 2]) // 2
            results = np.stack(
                [
                    np.minimum.reduceat(below_values, start),
                    np.maximum.reduceat(below_values, start),
                    median,
                    np.add.reduceat(below_values, start) % 10,
                ]
            )
            value[is_operator] = results[ops, np.arange(len(ops))]
        sizes[d], values[d] = size, value
        below_sizes, below_values = size, value
    pieces = np.empty(length, dtype=np.int64)
    position = np.zeros(1, dtype=np.int64)
    for d in range(depth):  # top-down: prefix positions
        is_operator, num_args, ops, digits = labelled[d]
        pieces[position[~is_operator]] = digits
        if not len(num_args):
            continue
        op_position = position[is_operator]
        pieces[op_position] = 10 + ops * (max_args + 1) + num_args
        pieces[op_position + sizes[d][is_operator] - 1] = close_child
        child_sizes = sizes[d + 1]
        before = np.cumsum(child_sizes) - child_sizes  # tokens before each child, per level
        offset = op_position + 1 - before[starts[d]]
        position = np.repeat(offset, num_args) + before
    pieces[length - 1] = close_root
    return "".join(map(table.__getitem__, pieces.tolist())), int(values[0][0])


def _digest(source):
    return hashlib.blake2b(source.encode("ascii"), digest_size=16).digest()


def generate_split(
    n,
    seed,
    min_length=MIN_LENGTH,
    max_length=MAX_LENGTH,
    max_depth=MAX_DEPTH,
    max_args=MAX_ARGS,
    verbose=0,
):
    """Draws ``n`` distinct ListOps samples: released-format sources and labels.

    Samples are drawn one after the other from ``np.random.default_rng(seed)``
    (a sample's source equals ``to_source(generate_expression(rng, ...))`` for
    the same stream), duplicates dropped. About 1,500 samples per second with
    the default settings (mean about 1,030 tokens).

    Args:
        n: number of samples.
        seed: int seed of ``numpy.random.default_rng``.
        min_length, max_length: kept lengths are ``min_length < tokens <
            max_length`` (tokens without parentheses); max_length None: no bound.
        max_depth: nodes at this depth are digits (the root has depth 1).
        max_args: operators have ``Uniform{2, ..., max_args}`` arguments.
        verbose: 0 silent, 1 a progress bar.

    Returns:
        ``(sources, labels)``: a list of ``n`` distinct str in the released
        format, and int32 labels (n,) in 0-9.

    Example:

    ```python
    sources, labels = generate_split(4, seed=0, min_length=10, max_length=60)
    len(sources), labels.shape                  # (4, (4,))
    ```
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    max_depth, max_args, min_length, cap = _check_settings(
        max_depth, max_args, min_length, max_length
    )
    rng = np.random.default_rng(seed)
    table = _piece_table(max_args)
    sources, labels, seen = [], np.zeros(n, dtype=np.int32), set()
    progress = _shared.progress_bar(n, verbose)
    duplicates = 0
    while len(sources) < n:
        labelled, length = _draw_labelled(rng, max_depth, max_args, min_length, cap)
        source, label = _render_and_evaluate(labelled, length, table, max_args)
        digest = _digest(source)
        if digest in seen:
            duplicates += 1
            if duplicates > _MAX_ATTEMPTS:
                raise RuntimeError(
                    f"Only {len(sources)} distinct expressions found for n={n}; the "
                    "settings allow too few distinct trees."
                )
            continue
        seen.add(digest)
        labels[len(sources)] = label
        sources.append(source)
        progress.update(len(sources))
    progress.update(n, finalize=True)
    return sources, labels
