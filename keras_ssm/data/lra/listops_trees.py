"""ListOps trees: the operators, their values, and random trees drawn level by level.

Shared by the two ListOps generators: `keras_ssm.data.lra.listops` (LRA's classification
task, in its released text format) and `keras_ssm.data.synthetic.listops_subtrees` (the
DLR paper's targets at every closing bracket). A tree is an int digit (0-9) or
``(op, children)`` with ``op`` in `OPERATORS` and ``children`` a tuple of trees.

The generators draw a tree's shape first, one level at a time (`draw_shape`: a node
below ``max_depth`` is an operator with probability `OPERATOR_PROBABILITY`, with
``Uniform{2, ..., max_args}`` children), reject it by length, and only then draw its
operators and digits and build it (`assemble_tree`): the distribution of drawing node
by node, at the cost of at most ``cap`` nodes per rejected tree.
"""

import numpy as np

OPERATORS = ("MIN", "MAX", "MED", "SM")
"""Operator names; the token of ``op`` is ``"[" + op``."""

OPERATOR_PROBABILITY = 0.25
"""P(node is an operator) below ``max_depth`` (the LRA generator's ``VALUE_P``)."""


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


def check_tree_args(max_depth, max_args):
    """``(max_depth, max_args)`` as ints, checked: max_depth >= 1, max_args >= 2.

    Args:
        max_depth: nodes at this depth are digits (the root has depth 1).
        max_args: operators have ``Uniform{2, ..., max_args}`` children.

    Returns:
        ``(int, int)``.

    Example:

    >>> check_tree_args(10.0, 5)
    (10, 5)
    """
    max_depth, max_args = int(max_depth), int(max_args)
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}.")
    if max_args < 2:
        raise ValueError(f"max_args must be >= 2, got {max_args}.")
    return max_depth, max_args


def draw_shape(rng, max_depth, max_args, cap):
    """Draws a tree's shape level by level, stopping once it reaches ``cap`` tokens.

    Its length counts one token per node and one more (``]``) per operator.

    Args:
        rng: a `numpy.random.Generator`.
        max_depth: int, nodes at this depth are digits (the root has depth 1).
        max_args: int, operators have ``Uniform{2, ..., max_args}`` children.
        cap: int or ``np.inf``, the length at which the draw stops.

    Returns:
        ``(levels, length)``: levels a list over depths 1, 2, ... of
        ``(is_operator bool (width,), num_args int (operators,))``, the children
        of a level's operators being the next level's nodes in order; levels is
        None when the length reached ``cap`` (length then counts the levels drawn).

    Example:

    >>> levels, length = draw_shape(np.random.default_rng(0), 4, 3, cap=np.inf)
    >>> length == sum(len(ops) + int(ops.sum()) for ops, _ in levels)
    True
    """
    levels, width, length, depth = [], 1, 0, 1
    while width:
        if depth < max_depth:
            is_operator = rng.random(width) < OPERATOR_PROBABILITY
        else:
            is_operator = np.zeros(width, dtype=bool)
        num_args = rng.integers(2, max_args + 1, size=int(np.count_nonzero(is_operator)))
        length += width + len(num_args)  # each node one token, each operator also "]"
        if length >= cap:
            return None, length
        levels.append((is_operator, num_args))
        width = int(num_args.sum())
        depth += 1
    return levels, length


def assemble_tree(labelled):
    """The nested tree of a labelled shape, built bottom-up.

    Args:
        labelled: a list over depths of ``(is_operator, num_args, ops, digits)``:
            `draw_shape`'s two arrays of a level, the index in `OPERATORS` of each
            of its operators, and the digit of each of its leaves (in order).

    Returns:
        A tree: an int digit, or ``(op, children)``.

    Example:

    >>> assemble_tree([([True], [2], [1], []), ([False, False], [], [], [4, 7])])
    ('MAX', (4, 7))
    """
    below = []
    for is_operator, num_args, ops, digits in reversed(labelled):
        num_args, ops, digits = (np.asarray(x).tolist() for x in (num_args, ops, digits))
        nodes, start, k, j = [], 0, 0, 0
        for operator in np.asarray(is_operator).tolist():
            if operator:
                stop = start + num_args[k]
                nodes.append((OPERATORS[ops[k]], tuple(below[start:stop])))
                start, k = stop, k + 1
            else:
                nodes.append(digits[j])
                j += 1
        below = nodes
    return below[0]


def tree_depth(tree):
    """Depth of a tree: 1 for a digit, 1 + the deepest child for an operator.

    Example:

    ```python
    tree_depth(("MAX", (2, ("MIN", (1, 3)))))    # 3
    ```
    """
    if isinstance(tree, (int, np.integer)):
        return 1
    return 1 + max(tree_depth(child) for child in tree[1])


def tree_length(tree):
    """Token count of a tree without parentheses (the generators' ``length``).

    Example:

    ```python
    tree_length(("MAX", (2, ("MIN", (1, 3)))))   # 7
    ```
    """
    if isinstance(tree, (int, np.integer)):
        return 1
    return 2 + sum(tree_length(child) for child in tree[1])
