"""Tests for keras_ssm.data.synthetic (suite, atomic) against plain numpy definitions (spec C)."""

import ast
import math
import pathlib
import sys
import types

import keras
import numpy as np
import pytest

import keras_ssm.data
from keras_ssm.data import synthetic
from keras_ssm.data.synthetic import suite

L = 64
N_SAMPLES = 3
M = 32

ATOMIC = [
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
]


def plain_solve_size(length):
    """Largest N with N^2 + 2N <= L, by counting up."""
    size = 0
    while (size + 1) ** 2 + 2 * (size + 1) <= length:
        size += 1
    return size


# (input_length, d_in, output_length, d_out) written out from the spec.
def expected_shapes(task, length):
    n_s = plain_solve_size(length)
    return {
        "shift": (length, 3, length, 8),
        "context_shift": (length, 3, length, 1),
        "cumsum": (length, 3, length, 1),
        "cummax": (length, 3, length, 1),
        "reverse": (2 * length, 3, length, 1),
        "sort": (2 * length, 3, length, 1),
        "masked_select": (length + 2 * M, 4, M, 1),
        "masked_select_fixed": (length + 2 * M, 4, M, 1),
        "solve": (length, 3, n_s, 1),
        "solve_fixed": (length, 3, n_s, 1),
        "mips": (length, 14, length, 4),
    }[task]


# ---------------------------------------------------------------------------
# Plain reference definitions: targets recomputed from the inputs alone.
# ---------------------------------------------------------------------------


def ref_shift(inputs):
    n, length, _ = inputs.shape
    shifts = [j * length // 8 for j in range(8)]
    y = np.zeros((n, length, 8))
    for b in range(n):
        for t in range(length):
            for j, s in enumerate(shifts):
                if t >= s:
                    y[b, t, j] = inputs[b, t - s, 0]
    return y


def ref_context_shift(inputs):
    n, length, _ = inputs.shape
    y = np.zeros((n, length, 1))
    for b in range(n):
        u = inputs[b, :, 0].astype(np.float64)
        angle = math.atan2(u[1], u[0]) % (2 * math.pi)
        s = round(angle * length / (2 * math.pi)) % length
        assert 0 <= s <= length - 3
        assert abs(math.cos(2 * math.pi * s / length) - u[0]) < 1e-6
        assert abs(math.sin(2 * math.pi * s / length) - u[1]) < 1e-6
        for t in range(length):
            y[b, t, 0] = u[t - s] if t >= s else 0.0
    return y


def ref_cumsum(inputs):
    n, length, _ = inputs.shape
    y = np.zeros((n, length, 1))
    for b in range(n):
        total = 0.0
        for t in range(length):
            total += float(inputs[b, t, 0])
            y[b, t, 0] = total / math.sqrt(t + 1)
    return y


def ref_cummax(inputs):
    n, length, _ = inputs.shape
    y = np.zeros((n, length, 1))
    for b in range(n):
        best = -math.inf
        for t in range(length):
            best = max(best, float(inputs[b, t, 0]))
            y[b, t, 0] = best
    return y


def ref_reverse(inputs):
    n, two_l, _ = inputs.shape
    length = two_l // 2
    assert np.all(inputs[:, length:, 0] == 0)
    y = np.zeros((n, length, 1))
    for b in range(n):
        for t in range(length):
            y[b, t, 0] = inputs[b, length - 1 - t, 0]
    return y


def ref_sort(inputs):
    n, two_l, _ = inputs.shape
    length = two_l // 2
    assert np.all(inputs[:, length:, 0] == 0)
    y = np.zeros((n, length, 1))
    for b in range(n):
        x = [float(v) for v in inputs[b, :length, 0]]
        order = sorted(range(length), key=lambda i: (abs(x[i] - x[0]), i))
        for t, i in enumerate(order):
            y[b, t, 0] = x[i]
    return y


def ref_masked_select(inputs):
    n, total, _ = inputs.shape
    length = total - 2 * M
    assert np.all(inputs[:, length + M :, 0] == 0)
    y = np.zeros((n, M, 1))
    for b in range(n):
        marked = [t for t in range(total) if inputs[b, t, 1] == 1.0]
        assert len(marked) == M
        assert all(t < M + length for t in marked)
        assert set(np.unique(inputs[b, :, 1]).tolist()) == {0.0, 1.0}
        for k, t in enumerate(marked):
            y[b, k, 0] = inputs[b, t, 0]
    return y


def ref_solve(inputs):
    n, length, _ = inputs.shape
    size = plain_solve_size(length)
    y = np.zeros((n, size, 1))
    for b in range(n):
        flat = inputs[b, :, 0].astype(np.float64)
        assert np.all(flat[size * (size + 1) :] == 0)
        system = flat[: size * (size + 1)].reshape(size, size + 1)
        a, rhs = system[:, :size], system[:, size]
        np.testing.assert_allclose(a @ a.T, np.eye(size), atol=1e-5)
        y[b, :, 0] = np.linalg.solve(a, rhs)
        assert abs(np.linalg.norm(y[b, :, 0]) - 1.0) < 1e-5
    return y


def ref_mips(inputs):
    n, length, _ = inputs.shape
    q, k, v = inputs[..., 0:4], inputs[..., 4:8], inputs[..., 8:12]
    for vectors in (q, k, v):
        np.testing.assert_allclose(
            np.linalg.norm(vectors.astype(np.float64), axis=-1), 1.0, atol=1e-6
        )
    y = np.zeros((n, length, 4))
    for b in range(n):
        for i in range(length):
            best_j, best = 0, -math.inf
            for j in range(i + 1):
                score = sum(float(q[b, i, d]) * float(k[b, j, d]) for d in range(4))
                if score > best:
                    best_j, best = j, score
            y[b, i] = v[b, best_j]
    return y


REFERENCES = {
    "shift": ref_shift,
    "context_shift": ref_context_shift,
    "cumsum": ref_cumsum,
    "cummax": ref_cummax,
    "reverse": ref_reverse,
    "sort": ref_sort,
    "masked_select": ref_masked_select,
    "masked_select_fixed": ref_masked_select,
    "solve": ref_solve,
    "solve_fixed": ref_solve,
    "mips": ref_mips,
}

# Tolerances: exact copies for index tasks; float32 rounding for cumsum/solve.
ATOL = {"cumsum": 1e-6, "solve": 1e-5, "solve_fixed": 1e-5}


def noise_segment(task, inputs):
    """The L-infinity normalized random values of each sample, (n, length)."""
    values = inputs[..., 0]
    if task == "context_shift":
        return values[:, 2:]
    if task in ("reverse", "sort"):
        return values[:, : values.shape[1] // 2]
    if task.startswith("masked_select"):
        return values[:, : values.shape[1] - M]
    return values


NORMALIZED_TASKS = [
    "shift",
    "context_shift",
    "cumsum",
    "cummax",
    "reverse",
    "sort",
    "masked_select",
    "masked_select_fixed",
]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_task_names():
    assert synthetic.TASKS == tuple(ATOMIC) + (
        "listops_subtrees",
        "pathfinder_segmentation",
        "selective_copying",
        "induction_heads",
    )
    assert synthetic.ATOMIC_TASKS == tuple(ATOMIC)
    assert synthetic.MAMBA_TASKS == ("selective_copying", "induction_heads")


def test_selective_copying_and_induction_heads():
    """The Mamba paper's tasks (spec mamba.md E): recomputed from the token ids."""
    x, y = synthetic.generate("selective_copying", 8, 40, seed=3)
    info = synthetic.task_info("selective_copying", 40)
    assert x.shape == (8, info.input_length) == (8, 56) and y.shape == (8, 16)
    assert (info.kind, info.num_classes, info.vocab_size) == ("classification", 16, 16)
    assert (x[:, 40:] == 15).all() and not (x[:, :40] == 15).any()  # 16 markers at the end
    for row, target in zip(x, y):
        data = row[:40][row[:40] != 0]  # the non-noise tokens, in order
        np.testing.assert_array_equal(data, target)
        assert ((target >= 1) & (target <= 14)).all()
    x, y = synthetic.generate("induction_heads", 8, 20, seed=3)
    assert x.shape == (8, 20) and y.shape == (8, 1)
    assert synthetic.task_info("induction_heads", 20).output_length == 1
    for row, target in zip(x, y):
        (triggers,) = np.nonzero(row == 15)
        assert len(triggers) == 2 and triggers[1] == 19 and triggers[0] < 18
        assert target[0] == row[triggers[0] + 1] != 15
    again = synthetic.generate("induction_heads", 8, 20, seed=3)
    np.testing.assert_array_equal(again[0], x)
    with pytest.raises(ValueError, match="seq_len >= 16"):
        synthetic.generate("selective_copying", 2, 8)


@pytest.mark.parametrize("task", ATOMIC)
@pytest.mark.parametrize("length", [64, 128])
def test_targets_match_plain_definition(task, length):
    inputs, targets = synthetic.generate(task, N_SAMPLES, length, seed=7)
    expected = REFERENCES[task](inputs)
    assert targets.shape == expected.shape
    np.testing.assert_allclose(targets, expected, rtol=0, atol=ATOL.get(task, 0))


@pytest.mark.parametrize("task", ATOMIC)
@pytest.mark.parametrize("length", [64, 72])
def test_shapes_dtypes_and_task_info(task, length):
    if task == "shift" and length % 8:
        length = 80
    input_length, d_in, out_length, d_out = expected_shapes(task, length)
    inputs, targets = synthetic.generate(task, 2, length, seed=0)
    assert inputs.shape == (2, input_length, d_in)
    assert targets.shape == (2, out_length, d_out)
    assert inputs.dtype == np.float32 and targets.dtype == np.float32
    assert np.all(np.isfinite(inputs)) and np.all(np.isfinite(targets))
    info = synthetic.task_info(task, length)
    assert (info.input_length, info.d_in, info.output_length, info.d_out) == (
        input_length,
        d_in,
        out_length,
        d_out,
    )
    assert info.task == task and info.seq_len == length
    assert info.kind == "regression" and info.num_classes is None


@pytest.mark.parametrize(
    "task, classes",
    [("listops_subtrees", 10), ("pathfinder_segmentation", 3)],
)
def test_task_info_of_structured_tasks(task, classes):
    info = synthetic.task_info(task, 4096)
    assert info.kind == "classification"
    assert info.num_classes == classes and info.d_out == classes
    assert info.input_length == info.output_length == 4096 and info.d_in == 1


def test_spec_constants():
    assert synthetic.shift_amounts(4096).tolist() == [
        0,
        512,
        1024,
        1536,
        2048,
        2560,
        3072,
        3584,
    ]
    assert synthetic.solve_size(4096) == 63
    assert synthetic.solve_size(512) == 21
    for length in [3, 7, 8, 64, 99, 100, 4096]:
        assert synthetic.solve_size(length) == plain_solve_size(length)
    info = synthetic.task_info("masked_select", 4096)
    assert (info.input_length, info.output_length) == (4160, 32)


@pytest.mark.parametrize("task", ATOMIC)
def test_position_features_are_last(task):
    inputs, _ = synthetic.generate(task, 2, L, seed=3)
    length = inputs.shape[1]
    t = np.arange(length)
    for b in range(2):
        np.testing.assert_allclose(inputs[b, :, -2], np.cos(2 * np.pi * t / length), atol=1e-6)
        np.testing.assert_allclose(inputs[b, :, -1], np.sin(2 * np.pi * t / length), atol=1e-6)


@pytest.mark.parametrize("task", NORMALIZED_TASKS)
def test_values_are_linf_normalized(task):
    inputs, _ = synthetic.generate(task, 4, 256, seed=5)
    noise = noise_segment(task, inputs)
    peak = np.max(np.abs(noise), axis=1)
    np.testing.assert_array_equal(peak, np.ones(4, np.float32))
    # Still Gaussian-looking: not constant, roughly symmetric.
    assert np.all(np.std(noise, axis=1) > 0.1)
    assert abs(np.mean(noise)) < 0.1


def test_sort_starts_with_first_element():
    inputs, targets = synthetic.generate("sort", 4, L, seed=2)
    np.testing.assert_array_equal(targets[:, 0, 0], inputs[:, 0, 0])


@pytest.mark.parametrize("task", ATOMIC)
def test_deterministic_per_seed(task):
    first = synthetic.generate(task, 2, L, seed=11)
    again = synthetic.generate(task, 2, L, seed=11)
    other = synthetic.generate(task, 2, L, seed=12)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])


def test_masked_select_fixed_positions_are_fixed():
    marks = [synthetic.generate("masked_select_fixed", 4, L, seed=s)[0][..., 1] for s in (0, 1, 2)]
    for m in marks:
        assert np.all(m == marks[0][0])
    positions = np.flatnonzero(marks[0][0])
    np.testing.assert_array_equal(positions, synthetic.fixed_masked_positions(L))
    # Tokens still vary between samples.
    tokens = synthetic.generate("masked_select_fixed", 4, L, seed=0)[1]
    assert not np.array_equal(tokens[0], tokens[1])


def test_context_shift_amounts_cover_zero_to_l_minus_3():
    length = 8
    inputs, _ = synthetic.generate("context_shift", 3000, length, seed=0)
    angle = np.arctan2(inputs[:, 1, 0], inputs[:, 0, 0]) % (2 * np.pi)
    amounts = np.rint(angle * length / (2 * np.pi)).astype(int) % length
    assert set(amounts.tolist()) == set(range(length - 2))


def test_masked_select_positions_uniform():
    length = 32  # M + L = 64 candidates, each marked with probability 1/2
    marks = synthetic.generate("masked_select", 2000, length, seed=0)[0][..., 1]
    frequency = marks.mean(axis=0)
    assert np.all(np.abs(frequency[: M + length] - 0.5) < 0.06)
    assert np.all(frequency[M + length :] == 0)


def test_fixed_draws_reproducible():
    positions = synthetic.fixed_masked_positions(L).copy()
    matrix = synthetic.fixed_solve_matrix(L).copy()
    synthetic.fixed_masked_positions.cache_clear()
    synthetic.fixed_solve_matrix.cache_clear()
    np.testing.assert_array_equal(synthetic.fixed_masked_positions(L), positions)
    np.testing.assert_array_equal(synthetic.fixed_solve_matrix(L), matrix)
    assert not synthetic.fixed_masked_positions(L).flags.writeable
    assert not synthetic.fixed_solve_matrix(L).flags.writeable


def test_masked_select_positions_vary():
    marks = synthetic.generate("masked_select", 4, L, seed=0)[0][..., 1]
    assert len({tuple(np.flatnonzero(m)) for m in marks}) == 4


def system_matrices(inputs):
    size = plain_solve_size(inputs.shape[1])
    flat = inputs[:, : size * (size + 1), 0]
    return flat.reshape(len(inputs), size, size + 1)[:, :, :size]


def test_solve_fixed_matrix_is_fixed():
    matrices = [system_matrices(synthetic.generate("solve_fixed", 3, L, seed=s)[0]) for s in (0, 1)]
    for a in matrices:
        assert np.all(a == matrices[0][0])
    np.testing.assert_allclose(matrices[0][0], synthetic.fixed_solve_matrix(L), atol=1e-7)
    solutions = synthetic.generate("solve_fixed", 3, L, seed=0)[1]
    assert not np.array_equal(solutions[0], solutions[1])


def test_solve_matrix_varies():
    a = system_matrices(synthetic.generate("solve", 3, L, seed=0)[0])
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize("max_elements", [1, 5 * 2 * 40, 10**9])
def test_causal_argmax_any_chunk_size(max_elements):
    # rows per chunk: 1, 5 (not a divisor of 40), all 40.
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 40, 4)).astype(np.float32)
    k = rng.standard_normal((2, 40, 4)).astype(np.float32)
    best = synthetic.causal_argmax(q, k, max_elements=max_elements)
    for b in range(2):
        for i in range(40):
            scores = [float(np.dot(q[b, i].astype(np.float64), k[b, j])) for j in range(i + 1)]
            assert best[b, i] == int(np.argmax(scores))


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_unknown_task_lists_tasks():
    with pytest.raises(ValueError, match="Unknown task 'copy'") as error:
        synthetic.generate("copy", 2, L)
    for name in synthetic.TASKS:
        assert name in str(error.value)
    with pytest.raises(ValueError, match="Unknown task"):
        synthetic.task_info("copy", L)


@pytest.mark.parametrize(
    "task, seq_len, fix",
    [
        ("shift", 100, "multiple of 8"),
        ("shift", 4, "multiple of 8"),
        ("context_shift", 3, "seq_len >= 4"),
        ("cumsum", 1, "seq_len >= 2"),
        ("masked_select", 1, "seq_len >= 2"),
        ("solve", 2, "seq_len >= 3"),
        ("solve_fixed", 2, "seq_len >= 3"),
        ("mips", 1, "seq_len >= 2"),
    ],
)
def test_bad_seq_len(task, seq_len, fix):
    with pytest.raises(ValueError, match=f"seq_len={seq_len}") as error:
        synthetic.generate(task, 2, seq_len)
    assert fix in str(error.value)
    with pytest.raises(ValueError, match="seq_len"):
        synthetic.task_info(task, seq_len)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"seq_len": 64.0}, "seq_len"),
        ({"seq_len": True}, "seq_len"),
        ({"num_samples": 0}, "num_samples"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments(kwargs, name):
    args = {"task": "cumsum", "num_samples": 2, "seq_len": L, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"`?{name}`?"):
        synthetic.generate(**args)


# ---------------------------------------------------------------------------
# Dispatch to the structured tasks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["listops_subtrees", "pathfinder_segmentation"])
def test_structured_tasks_dispatch_lazily(task, monkeypatch):
    calls = []

    def fake_generate(num_samples, seq_len, seed):
        calls.append((num_samples, seq_len, seed))
        return "inputs", "targets"

    fake = types.ModuleType(f"keras_ssm.data.synthetic.{task}")
    fake.generate = fake_generate
    monkeypatch.setitem(sys.modules, f"keras_ssm.data.synthetic.{task}", fake)
    monkeypatch.setattr(synthetic, task, fake, raising=False)
    assert synthetic.generate(task, 5, 1024, seed=9) == ("inputs", "targets")
    assert calls == [(5, 1024, 9)]


def top_level_imports(path):
    tree = ast.parse(pathlib.Path(path).read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_eager_import_of_other_data_modules():
    for path in [synthetic.__file__, suite.__file__, keras_ssm.data.__file__]:
        imported = " ".join(top_level_imports(path))
        for other in ["lra", "speech_commands", "listops_subtrees", "pathfinder"]:
            assert other not in imported, (path, other)


# ---------------------------------------------------------------------------
# PyDataset
# ---------------------------------------------------------------------------


def test_sequence_batches_and_fresh_epochs():
    data = synthetic.SyntheticSequence(
        "masked_select", seq_len=L, batch_size=4, batches_per_epoch=3, seed=1
    )
    assert isinstance(data, keras.utils.PyDataset)
    assert len(data) == 3
    batches = [data[i] for i in range(3)]
    for x, y in batches:
        assert x.shape == (4, L + 2 * M, 4) and y.shape == (4, M, 1)
        assert x.dtype == np.float32 and y.dtype == np.float32
        np.testing.assert_array_equal(y, ref_masked_select(x))
    # Deterministic within an epoch and across instances with the same seed.
    np.testing.assert_array_equal(data[1][0], batches[1][0])
    twin = synthetic.SyntheticSequence("masked_select", L, 4, 3, seed=1)
    np.testing.assert_array_equal(twin[2][1], batches[2][1])
    # Batches differ within an epoch.
    assert not np.array_equal(batches[0][0], batches[1][0])
    # Fresh samples after on_epoch_end, still deterministic.
    data.on_epoch_end()
    fresh = [data[i] for i in range(3)]
    for old, new in zip(batches, fresh):
        assert not np.array_equal(old[0], new[0])
    twin.on_epoch_end()
    np.testing.assert_array_equal(twin[0][0], fresh[0][0])
    # A different base seed gives different batches.
    other = synthetic.SyntheticSequence("masked_select", L, 4, 3, seed=2)
    assert not np.array_equal(other[0][0], batches[0][0])
    with pytest.raises(IndexError):
        data[3]


def test_sequence_fixed_epochs():
    data = synthetic.SyntheticSequence("cumsum", L, 2, 2, seed=0, fresh_each_epoch=False)
    before = data[0][0]
    data.on_epoch_end()
    np.testing.assert_array_equal(data[0][0], before)


def test_sequence_with_model_fit():
    class Recording(synthetic.SyntheticSequence):
        def __getitem__(self, index):
            batch = super().__getitem__(index)
            seen.append((self.epoch, index, float(batch[0][0, 0, 0])))
            return batch

    seen = []
    data = Recording("cumsum", seq_len=16, batch_size=4, batches_per_epoch=2)
    model = keras.Sequential([keras.Input((16, 3)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data, epochs=2, verbose=0)
    # Keras may also call on_epoch_end once after peeking a batch to build
    # the model, so only require that training saw >= 2 different epochs
    # and that a batch index carries new data in each of them.
    assert data.epoch >= 2
    by_index = {}
    for epoch, index, value in seen:
        by_index.setdefault(index, {})[epoch] = value
    assert len({epoch for epoch, _, _ in seen}) >= 2
    for values in by_index.values():
        assert len(set(values.values())) == len(values)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batches_per_epoch": -1}, "batches_per_epoch"),
        ({"seq_len": 12, "task": "shift"}, "seq_len"),
        ({"task": "copy"}, "Unknown task"),
    ],
)
def test_sequence_bad_arguments(kwargs, name):
    args = {"task": "cumsum", "seq_len": L, "batch_size": 2, "batches_per_epoch": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        synthetic.SyntheticSequence(**args)
