"""Tests for keras_ssm.data.lra.listops (LRA's ListOps generator) and `examples/lra.py --generate`.

Every expression is parsed here from its text as the published generator writes it: each
binary node of its left-nested tuples ``((((op, a1), a2), ...), "]")`` is ``( left right )``.
The parse rebuilds those tuples and folds them into a value with the generator's formulas
(``int(np.median(args))``, ``sum % 10``), independently of the module. The shape of the
distribution is compared with a node-by-node recursive sampler written here from the
published description (operator with probability 0.25 below max_depth,
``randint(2, max_args)`` arguments, uniform operator and digit).
"""

import ast
import inspect
import json
import re
import tempfile
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from examples import lra as script
from keras_ssm.data import lra
from keras_ssm.data.lra import listops
from keras_ssm.data.lra import listops_release

OPERATOR_TOKENS = ("[MIN", "[MAX", "[MED", "[SM")
DIGITS = [str(d) for d in range(10)]
ALLOWED = set(OPERATOR_TOKENS) | set(DIGITS) | {"(", ")", "]"}

# ---------------------------------------------------------------------------
# The independent reference: parse the released text, fold it, measure it.


def parse_released(source):
    """The generator's nested pair tuples from the text; asserts the grammar."""
    tokens = source.split(" ")
    assert all(token in ALLOWED for token in tokens), source[:80]

    def node(i):
        if tokens[i] == "(":
            left, i = node(i + 1)
            right, i = node(i)
            assert tokens[i] == ")", (i, source[:80])
            return (left, right), i + 1
        assert tokens[i] != ")", (i, source[:80])
        return tokens[i], i + 1

    tree, end = node(0)
    assert end == len(tokens), "trailing tokens"
    return tree


def reference_operator(op, args):
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[MED":
        return int(np.median(args))
    assert op == "[SM"
    return int(np.sum(args) % 10)


def fold(pair_tree):
    """Value of the generator's pair tuples: an operator collects arguments until "]"."""
    if isinstance(pair_tree, str):
        return int(pair_tree) if pair_tree in DIGITS else pair_tree
    left, right = fold(pair_tree[0]), fold(pair_tree[1])
    if isinstance(left, str):
        assert left in OPERATOR_TOKENS
        return (left, [right])
    op, args = left
    if right == "]":
        return reference_operator(op, args)
    assert isinstance(right, int)
    return (op, args + [right])


def measure(pair_tree):
    """(depth, [argument count per operator], tokens without parentheses) of pair tuples."""
    counts = []

    def walk(t):  # returns (depth of an operator subtree or digit, tokens)
        if isinstance(t, str):
            return 1, 1
        # unwind ((((op, a1), a2) ...), "]")
        assert t[1] == "]"
        args, node = [], t[0]
        while isinstance(node, tuple):
            args.append(node[1])
            node = node[0]
        assert node in OPERATOR_TOKENS
        counts.append(len(args))
        measured = [walk(a) for a in args]
        return 1 + max(d for d, _ in measured), 2 + sum(n for _, n in measured)

    depth, length = walk(pair_tree)
    return depth, counts, length


def reference_tree(rng, depth, max_depth, max_args):
    """Node-by-node sampler from the published description; (op, children) or digit."""
    if depth < max_depth and rng.random() <= 0.25:
        children = [
            reference_tree(rng, depth + 1, max_depth, max_args)
            for _ in range(rng.integers(2, max_args + 1))
        ]
        return (OPERATOR_TOKENS[rng.integers(4)], children)
    return int(rng.integers(10))


def reference_length(tree):
    return 1 if isinstance(tree, int) else 2 + sum(map(reference_length, tree[1]))


def reference_depth(tree):
    return 1 if isinstance(tree, int) else 1 + max(map(reference_depth, tree[1]))


def reference_value(tree):
    if isinstance(tree, int):
        return tree
    return reference_operator(tree[0], [reference_value(c) for c in tree[1]])


# ---------------------------------------------------------------------------
# Hand-checked values and text


def test_text_format_of_hand_trees():
    assert listops.to_source(("MAX", (2, 9))) == "( ( ( [MAX 2 ) 9 ) ] )"
    # An operator as an argument, in the released format (as public ListOps readers quote it).
    released = "( ( ( ( ( [MAX ( ( ( ( ( ( [MED 4 ) 6 ) 6 ) 0 ) 8 ) ] ) ) 6 ) 6 ) 0 ) ] )"
    tree = ("MAX", (("MED", (4, 6, 6, 0, 8)), 6, 6, 0))
    assert listops.to_source(tree) == released
    assert listops.evaluate(released) == fold(parse_released(released)) == 6
    assert listops.to_source(7) == "7"
    assert listops.tree_length(tree) == 12 and listops.tree_depth(tree) == 3


@pytest.mark.parametrize(
    "op, args, value",
    [
        ("MED", [5, 6], 5),
        ("MED", [2, 5], 3),
        ("MED", [9, 0, 4, 1], 2),
        ("MED", [3, 1, 2], 2),
        ("SM", [7, 8, 9], 4),
        ("MIN", [4, 0, 7], 0),
        ("MAX", [4, 0, 7], 7),
    ],
)
def test_apply_operator_matches_the_generators_formulas(op, args, value):
    assert listops.apply_operator(op, args) == value
    assert reference_operator("[" + op, args) == value


def test_evaluate_rejects_malformed_expressions():
    for bad in ("( [MAX 2 )", "[MAX 2 ] 3", "] ", "[MAX ]", "[FIRST 1 ]", ""):
        with pytest.raises(ValueError):
            listops.evaluate(bad)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_length"):
        listops.generate_split(2, 0, min_length=10, max_length=11)
    with pytest.raises(ValueError, match="min_length"):
        listops.generate_split(2, 0, min_length=100, max_depth=2, max_args=3)
    with pytest.raises(ValueError, match="sizes"):
        listops_release.release_settings(0, sizes=(10, 0, 1))


# ---------------------------------------------------------------------------
# Statistics of the LRA setting (500 < tokens < 2000, depth 10, 10 arguments)


@pytest.fixture(scope="module")
def lra_split():
    return listops.generate_split(300, seed=11)


def test_lra_setting_samples_are_valid_and_exactly_evaluated(lra_split):
    sources, labels = lra_split
    assert len(sources) == len(set(sources)) == 300
    assert labels.dtype == np.int32 and labels.shape == (300,)
    depths, counts, lengths = [], [], []
    for source, label in zip(sources, labels):
        pair_tree = parse_released(source)
        assert fold(pair_tree) == label
        assert listops.evaluate(source) == label
        depth, arg_counts, length = measure(pair_tree)
        depths.append(depth)
        counts.extend(arg_counts)
        lengths.append(length)
        assert length == sum(token not in "()" for token in source.split())
    assert 500 < min(lengths) and max(lengths) < 2000
    assert max(depths) == 10  # the depth limit is reached, never passed
    assert min(counts) == 2 and max(counts) == 10
    histogram = np.bincount(labels, minlength=10)
    assert (histogram > 0).all() and histogram.max() / len(labels) < 0.3
    assert 700 < np.mean(lengths) < 1400  # 1,033 over 2,000 samples


def test_operators_and_digits_are_uniform(lra_split):
    sources, _ = lra_split
    counted = Counter(token for source in sources for token in source.split())
    ops = np.array([counted[t] for t in OPERATOR_TOKENS])
    digits = np.array([counted[t] for t in DIGITS])
    assert stats.chisquare(ops).pvalue > 1e-3
    assert stats.chisquare(digits).pvalue > 1e-3
    assert counted["]"] == ops.sum()


def _table(a, b, minimum=5):
    """2 x K contingency table of two samples, sparse bins merged."""
    keys = sorted(set(a) | set(b))
    ca, cb = Counter(a), Counter(b)
    rows, current = [], [0, 0]
    for key in keys:
        current = [current[0] + ca[key], current[1] + cb[key]]
        if min(current) >= minimum:
            rows.append(current)
            current = [0, 0]
    if current != [0, 0]:
        rows[-1] = [rows[-1][0] + current[0], rows[-1][1] + current[1]]
    return np.array(rows).T


@pytest.mark.parametrize(
    "settings",
    [
        dict(max_depth=4, max_args=4, min_length=0, max_length=None),
        dict(max_depth=6, max_args=5, min_length=20, max_length=120),
    ],
)
def test_distribution_matches_a_node_by_node_sampler(settings):
    """The level-by-level sampler against the published recursion (with its rejection)."""
    n = 3000
    rng = np.random.default_rng(5)
    ours = [listops.generate_expression(rng, **settings) for _ in range(n)]
    reference, rng = [], np.random.default_rng(6)
    cap = settings["max_length"] or np.inf
    while len(reference) < n:
        tree = reference_tree(rng, 1, settings["max_depth"], settings["max_args"])
        if settings["min_length"] < reference_length(tree) < cap:
            reference.append(tree)
    ours_sources = [listops.to_source(t) for t in ours]
    ours_lengths = [listops.tree_length(t) for t in ours]
    ref_lengths = [reference_length(t) for t in reference]
    ours_values = [listops.evaluate(s) for s in ours_sources]
    ref_values = [reference_value(t) for t in reference]
    ours_depths = [listops.tree_depth(t) for t in ours]
    ref_depths = [reference_depth(t) for t in reference]
    for a, b in ((ours_lengths, ref_lengths), (ours_values, ref_values), (ours_depths, ref_depths)):
        assert stats.chi2_contingency(_table(a, b)).pvalue > 1e-3
    # Every one of our trees evaluates as the reference fold says.
    assert ours_values == [fold(parse_released(s)) for s in ours_sources]


# ---------------------------------------------------------------------------
# Determinism, duplicates, the stream


@pytest.mark.parametrize(
    "settings, duplicates",
    [
        (dict(min_length=3, max_length=16, max_depth=3, max_args=3), False),
        (dict(min_length=3, max_length=5, max_depth=2, max_args=2), True),  # 400 distinct trees
    ],
)
def test_generate_split_is_seeded_and_drops_duplicates(settings, duplicates):
    sources, labels = listops.generate_split(60, seed=2, **settings)
    again, labels_again = listops.generate_split(60, seed=2, **settings)
    assert sources == again and labels.tolist() == labels_again.tolist()
    assert listops.generate_split(60, seed=3, **settings)[0] != sources
    assert len(set(sources)) == 60
    # The same stream as generate_expression, first occurrences kept in draw order.
    rng, expected, drawn = np.random.default_rng(2), [], 0
    while len(expected) < 60:
        source = listops.to_source(listops.generate_expression(rng, **settings))
        drawn += 1
        if source not in expected:
            expected.append(source)
    assert sources == expected
    assert (drawn > 60) == duplicates
    assert labels.tolist() == [fold(parse_released(s)) for s in sources]


# ---------------------------------------------------------------------------
# Files


def test_write_release_is_read_by_the_lra_reader(tmp_path):
    folder = tmp_path / "generated"
    settings = dict(min_length=20, max_length=200, max_depth=6, max_args=5)
    paths = listops_release.write_release(folder, seed=4, sizes=(30, 5, 7), **settings)
    assert paths == listops_release.release_paths(folder)
    assert paths["val"] == folder / "listops-1000" / "basic_val.tsv"
    pool, pool_labels = listops.generate_split(42, seed=4, **settings)
    marker = json.loads((folder / "listops-1000" / "generated.json").read_text())
    assert (
        marker
        == listops_release.read_marker(folder)
        == listops_release.release_settings(4, (30, 5, 7), **settings)
    )
    start = 0
    for split, size in zip(("train", "val", "test"), (30, 5, 7)):
        raw = paths[split].read_bytes()
        lines = raw.split(b"\r\n")
        assert lines[0] == b"Source\tTarget" and lines[-1] == b"" and len(lines) == size + 2
        rows = [line.decode("ascii").split("\t") for line in lines[1:-1]]
        assert [r[0] for r in rows] == pool[start : start + size]
        assert [int(r[1]) for r in rows] == pool_labels[start : start + size].tolist()

        inputs, labels = lra.load("listops", folder, split, cache_dir=tmp_path / "cache", verbose=0)
        assert inputs.shape == (size, 2048)
        np.testing.assert_array_equal(labels, [fold(parse_released(r[0])) for r in rows])
        for ids, (source, _) in zip(inputs, rows):
            kept = [t if t != "]" else "X" for t in source.split() if t not in "()"]
            assert [lra.LISTOPS_VOCAB[i] for i in ids[: len(kept) + 1]] == kept + ["<eos>"]
            assert not ids[len(kept) + 1 :].any()
        start += size
    assert len(set(pool)) == 42  # no expression in two splits


def test_docstring_examples_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    blocks = []
    for module in (listops, listops_release):
        members = [("module", module)] + inspect.getmembers(module, inspect.isfunction)
        for _, member in members:
            if getattr(member, "__module__", module.__name__) != module.__name__:
                continue
            found = re.findall(r"```python\n(.*?)```", inspect.getdoc(member) or "", re.S)
            blocks += [(block, module) for block in found]
    assert len(blocks) >= 10
    for block, module in blocks:
        ast.parse(block)
        exec(compile(block, "<docstring>", "exec"), dict(vars(module)))


# ---------------------------------------------------------------------------
# examples/lra.py --generate


def _run(data_dir, output, *extra):
    argv = [
        "--task",
        "listops",
        "--generate",
        "--generate-sizes",
        "40",
        "8",
        "8",
        "--generate-min-length",
        "20",
        "--generate-max-length",
        "200",
        "--model",
        "s5",
        "--preset",
        "small",
        "--epochs",
        "1",
        "--verbose",
        "0",
        "--output",
        str(output),
        *extra,
    ]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    return script.main(argv)


def test_lra_script_generates_listops_and_trains(tmp_path):
    data_dir = tmp_path / "listops_data"
    results = _run(data_dir, tmp_path / "run")
    assert results["data"] == "generated"
    assert results["samples"] == {"train": 40, "val": 8, "test": 8}
    expected = listops_release.release_settings(0, (40, 8, 8), min_length=20, max_length=200)
    assert results["generated"] == dict(expected, data_dir=str(data_dir), status="generated")
    assert any("Generated ListOps" in note for note in results["notes"])
    assert results == json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["epochs_completed"] == 1 and 0.0 <= results["test_accuracy"] <= 1.0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"] == dict(expected, source="generated")
    assert "(generated data)" in script.summary_line(results)
    assert listops_release.read_marker(data_dir) == expected

    # Preparing again reuses the files (main() reports the status it returns, above);
    # other settings in the same folder are an error.
    train = listops_release.release_paths(data_dir)["train"]
    written = train.stat().st_mtime_ns
    assert script.prepare_generated_listops(data_dir, expected, verbose=0) == "reused"
    assert train.stat().st_mtime_ns == written
    with pytest.raises(ValueError, match="other settings"):
        _run(data_dir, tmp_path / "run3", "--generate-seed", "1")


def test_lra_script_generate_arguments(tmp_path, monkeypatch):
    args = script.parse_args(["--task", "listops", "--generate", "--output", "x"])
    assert args.data_dir == script.GENERATED_DATA_DIR == "runs/listops_generated"
    assert script.generation_settings(args) == listops_release.release_settings(0)
    assert script.generation_settings(args)["sizes"] == [96000, 2000, 2000]
    assert script.generation_settings(script.parse_args(["--output", "x"])) is None
    for argv in (
        ["--task", "pathfinder", "--generate"],
        ["--generate-sizes", "4", "2", "2"],
        ["--generate", "--generate-sizes", "4", "0", "2"],
        ["--generate", "--generate-min-length", "50", "--generate-max-length", "51"],
    ):
        with pytest.raises(SystemExit):
            script.parse_args(argv + ["--output", "x"])
    # Released (not generated) files in --data-dir are never overwritten.
    released = tmp_path / "lra_release" / "listops-1000"
    released.mkdir(parents=True)
    (released / "basic_train.tsv").write_text("Source\tTarget\n")
    with pytest.raises(ValueError, match="did not generate"):
        _run(tmp_path / "lra_release", tmp_path / "run")


def test_release_writer_lives_in_listops_release_only():
    # The deprecated alias keras_ssm.data.listops.write_release is gone (0.x, CHANGELOG).
    assert not hasattr(listops, "write_release")
    assert callable(listops_release.write_release)
