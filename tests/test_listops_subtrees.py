"""Tests for keras_ssm.data.synthetic.listops_subtrees (spec C.12).

Targets are recomputed by a stack evaluator over the token strings written
here, independent of the module's tree code.
"""

import os
import runpy
import sys

import numpy as np
import pytest

from keras_ssm.data.synthetic import listops_subtrees as lo
from keras_ssm.data.synthetic import listops_subtrees_build as lob

SMALL = lo.ListOpsSetting(max_depth=5, max_args=5, min_length=20, max_length=48, l_max=48)
# Few templates: depth 3, two or three arguments, lengths 5..8.
TINY = lo.ListOpsSetting(max_depth=3, max_args=3, min_length=4, max_length=9, l_max=8)

EXPECTED_VOCAB = (
    ["<pad>", "<unk>", "[MIN", "[MAX", "[MED", "[SM"] + [str(d) for d in range(10)] + ["]"]
)


def reference_operator(op, values):
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        return int(np.median(values))  # median truncated to an int
    if op == "[SM":
        return sum(values) % 10
    raise AssertionError(op)


def parse(tokens):
    """Stack evaluation of a prefix token list.

    Returns (targets, stats): targets -100 except the subtree value at each
    "]"; stats has the number of children of every operator, the maximum
    depth reached, and the depth of every digit.
    """
    targets = [-100] * len(tokens)
    stack = []  # [operator, child values]
    children, digit_depths, max_depth = [], [], 0
    root_value = None
    for position, token in enumerate(tokens):
        assert root_value is None, "tokens after the root closed"
        if token in ("[MIN", "[MAX", "[MED", "[SM"):
            stack.append([token, []])
            max_depth = max(max_depth, len(stack))
            continue
        if token == "]":
            assert stack, "unbalanced ]"
            op, values = stack.pop()
            value = reference_operator(op, values)
            targets[position] = value
            children.append(len(values))
        else:
            assert token in [str(d) for d in range(10)], token
            value = int(token)
            digit_depths.append(len(stack) + 1)
            max_depth = max(max_depth, len(stack) + 1)
        if stack:
            stack[-1][1].append(value)
        else:
            root_value = value
    assert not stack, "unclosed operator"
    assert root_value is not None
    return targets, {"children": children, "max_depth": max_depth, "digit_depths": digit_depths}


def split_row(ids):
    ids = [int(i) for i in ids]
    length = next((i for i, v in enumerate(ids) if v == 0), len(ids))
    assert all(v == 0 for v in ids[length:]), "padding must be trailing"
    return [EXPECTED_VOCAB[v] for v in ids[:length]], length


def test_vocabulary():
    assert list(lo.VOCAB) == EXPECTED_VOCAB
    assert lo.PAD_ID == 0 and lo.IGNORE_INDEX == -100
    assert lo.VOCAB[lo.PAD_ID] == "<pad>"


@pytest.mark.parametrize(
    "seq_len, setting, count",
    [
        (48, SMALL, 40),
        (64, None, 20),
        (300, None, 8),
        (2048, None, 3),
        (8192, "paper", 2),
    ],
)
def test_generate_against_stack_evaluator(seq_len, setting, count):
    inputs, targets = lo.generate(count, seq_len, seed=1, setting=setting)
    assert inputs.shape == targets.shape == (count, seq_len)
    assert inputs.dtype == np.int32 and targets.dtype == np.int32
    resolved = (
        lo.SETTINGS[setting]
        if isinstance(setting, str)
        else setting or lo.setting_for_length(seq_len)
    )
    for row_ids, row_targets in zip(inputs, targets):
        tokens, length = split_row(row_ids)
        assert resolved.min_length < length < resolved.max_length
        expected, stats = parse(tokens)
        np.testing.assert_array_equal(row_targets[:length], expected)
        assert np.all(row_targets[length:] == -100)
        assert tokens[0] != "]" and tokens[-1] == "]"
        assert stats["max_depth"] <= resolved.max_depth
        assert all(2 <= c <= resolved.max_args for c in stats["children"])
        assert "(" not in tokens and ")" not in tokens


def test_settings():
    assert (lo.PAPER_SETTING.max_depth, lo.PAPER_SETTING.max_args) == (15, 9)
    assert (lo.PAPER_SETTING.min_length, lo.PAPER_SETTING.max_length) == (7000, 8180)
    assert lo.PAPER_SETTING.l_max == 8192
    assert (lo.LRA_SETTING.max_depth, lo.LRA_SETTING.max_args) == (10, 10)
    assert (lo.LRA_SETTING.min_length, lo.LRA_SETTING.max_length) == (1500, 2000)
    assert lo.LRA_SETTING.l_max == 2048
    assert lo.setting_for_length(8192) == lo.PAPER_SETTING
    assert lo.setting_for_length(2048) == lo.LRA_SETTING
    for seq_len in (8, 16, 100, 512, 4096):
        s = lo.setting_for_length(seq_len)
        assert s.max_length - 1 <= seq_len == s.l_max
        assert s.min_length >= seq_len // 2


def test_tree_functions_agree_with_stack_evaluator():
    rng = np.random.default_rng(5)
    seen_operator_root = False
    for _ in range(200):
        tree = lo.sample_tree(rng, max_depth=4, max_args=4)
        tokens = lo.to_tokens(tree)
        expected, _ = parse(tokens)
        assert lo.to_targets(tree) == expected
        ids, targets = lo.encode_tree(tree)
        assert ids.tolist() == [EXPECTED_VOCAB.index(t) for t in tokens]
        assert targets.tolist() == expected
        value = expected[-1] if tokens[-1] == "]" else int(tokens[0])
        assert lo.evaluate(tree) == value
        seen_operator_root |= len(tokens) > 1
    assert seen_operator_root


@pytest.mark.parametrize(
    "op, values",
    [
        ("MIN", [4, 2, 9]),
        ("MAX", [4, 2, 9]),
        ("MED", [4, 2, 9]),
        ("MED", [1, 2, 7, 9]),
        ("MED", [3, 4]),
        ("SM", [9, 8, 7]),
    ],
)
def test_apply_operator(op, values):
    assert lo.apply_operator(op, values) == reference_operator("[" + op, values)


def test_tree_distribution():
    """Root is an operator w.p. 0.25; uniform children count and operators."""
    rng = np.random.default_rng(0)
    n = 4000
    roots = [lo.sample_tree(rng, max_depth=2, max_args=4) for _ in range(n)]
    operator_roots = [t for t in roots if isinstance(t, tuple)]
    p = len(operator_roots) / n
    assert abs(p - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    counts = np.bincount([len(t[1]) for t in operator_roots], minlength=5)[2:]
    ops = [t[0] for t in operator_roots]
    m = len(operator_roots)
    for c in counts:  # Uniform{2, 3, 4}
        assert abs(c / m - 1 / 3) < 4 * np.sqrt(2 / 9 / m)
    for op in lo.OPERATORS:
        assert abs(ops.count(op) / m - 0.25) < 4 * np.sqrt(0.25 * 0.75 / m)
    # depth 2 = max_depth: children are digits
    assert all(isinstance(c, int) for t in operator_roots for c in t[1])
    assert all(
        isinstance(t, int)
        for t in (lo.sample_tree(rng, max_depth=1, max_args=9) for _ in range(50))
    )


def test_deterministic():
    a = lo.generate(5, 48, seed=3, setting=SMALL)
    b = lo.generate(5, 48, seed=3, setting=SMALL)
    c = lo.generate(5, 48, seed=4, setting=SMALL)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_samples": 0, "seq_len": 64},
        {"num_samples": 2, "seq_len": 4},
        {"num_samples": 2, "seq_len": 1998, "setting": "lra"},
        {"num_samples": 2, "seq_len": 64, "setting": "huge"},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        lo.generate(**kwargs)


def test_invalid_setting():
    with pytest.raises(ValueError, match="l_max"):
        lo.ListOpsSetting(5, 5, 10, 40, 20)
    with pytest.raises(ValueError, match="max_args"):
        lo.ListOpsSetting(5, 1, 10, 40, 40)


def template(tokens):
    return tuple(t for t in tokens if t not in [str(d) for d in range(10)])


def read_splits(out_dir):
    splits = {}
    for name in ("train", "val", "test"):
        with np.load(os.path.join(out_dir, f"{name}.npz")) as data:
            splits[name] = (data["inputs"], data["targets"])
    return splits


def check_splits(splits, setting, sizes):
    all_tokens = []
    for name, (inputs, targets) in splits.items():
        assert inputs.shape == targets.shape == (sizes[name], setting.l_max)
        for row_ids, row_targets in zip(inputs, targets):
            tokens, length = split_row(row_ids)
            assert setting.min_length < length < setting.max_length
            expected, _ = parse(tokens)
            np.testing.assert_array_equal(row_targets[:length], expected)
            all_tokens.append(tuple(tokens))
    assert len(set(all_tokens)) == len(all_tokens), "exact duplicate"
    templates = [template(t) for t in all_tokens]
    assert len(set(templates)) == len(templates), "template duplicate"


def test_fixed_splits_filter_duplicates(tmp_path):
    sizes = {"train": 14, "val": 3, "test": 3}
    # Unfiltered draws from this setting do repeat templates ...
    inputs, _ = lo.generate(sum(sizes.values()), 8, seed=0, setting=TINY)
    drawn = [template(split_row(r)[0]) for r in inputs]
    assert len(set(drawn)) < len(drawn)
    # ... the fixed splits do not, across all three splits.
    stats = lob.build_fixed_splits(
        tmp_path,
        sizes["train"],
        sizes["val"],
        sizes["test"],
        TINY,
        seed=0,
        workers=1,
        chunk_size=8,
        verbose=False,
    )
    assert stats["template_duplicates"] + stats["duplicates"] > 0
    assert stats["drawn"] == 20 + stats["template_duplicates"] + stats["duplicates"]
    splits = read_splits(tmp_path)
    check_splits(splits, TINY, sizes)
    loaded = lo.load_split(os.path.join(tmp_path, "val.npz"))
    assert loaded[0].dtype == np.int32 and loaded[1].dtype == np.int32
    np.testing.assert_array_equal(loaded[0], splits["val"][0])


def test_fixed_splits_independent_of_workers(tmp_path):
    sizes = dict(num_train=30, num_val=5, num_test=5)
    lob.build_fixed_splits(
        tmp_path / "one", **sizes, setting=SMALL, seed=2, workers=1, chunk_size=4, verbose=False
    )
    lob.build_fixed_splits(
        tmp_path / "two", **sizes, setting=SMALL, seed=2, workers=2, chunk_size=4, verbose=False
    )
    one, two = read_splits(tmp_path / "one"), read_splits(tmp_path / "two")
    for name in one:
        np.testing.assert_array_equal(one[name][0], two[name][0])
        np.testing.assert_array_equal(one[name][1], two[name][1])
    check_splits(one, SMALL, {"train": 30, "val": 5, "test": 5})


def test_fixed_splits_too_few_templates(tmp_path):
    # depth 2, two arguments: only the four templates "[OP ]" exist.
    setting = lo.ListOpsSetting(2, 2, 3, 5, 4)
    with pytest.raises(RuntimeError, match="distinct"):
        lob.build_fixed_splits(
            tmp_path, 5, 0, 0, setting, verbose=False, chunk_size=4, max_chunks=20
        )
    stats = lob.build_fixed_splits(tmp_path, 2, 1, 1, setting, verbose=False, chunk_size=4)
    assert stats["train"] == 2


def test_cli(tmp_path, monkeypatch, capsys):
    """The command line as `python tools/build_listops_subtrees.py ...` runs it (in this
    process: a subprocess would import numpy and keras_ssm once more)."""
    out = tmp_path / "listops"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    argv = ["--out", str(out), "--train", "12", "--val", "2", "--test", "2"]
    argv += ["--setting", "5,5,20,48,48", "--workers", "1"]
    monkeypatch.setattr(sys, "argv", ["tools/build_listops_subtrees.py", *argv])
    runpy.run_path(os.path.join(root, "tools", "build_listops_subtrees.py"), run_name="__main__")
    assert "wrote" in capsys.readouterr().out
    check_splits(read_splits(out), SMALL, {"train": 12, "val": 2, "test": 2})


def test_builder_lives_in_the_build_module_only():
    # The deprecated alias listops_subtrees.build_fixed_splits is gone (0.x, CHANGELOG).
    assert not hasattr(lo, "build_fixed_splits")
    assert callable(lob.build_fixed_splits)
