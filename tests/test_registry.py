"""Tests for the op registry (keras_ssm.ops.registry) and implementation selection
(keras_ssm.config: set_implementation, use_implementation, KERAS_SSM_IMPL).

Precedence and automatic selection are checked with small dummy implementations
registered through the public `keras_ssm.ops.register` and removed after each test.
"""

import importlib
import threading

import keras
import numpy as np
import pytest
from keras import ops

import keras_ssm
from keras_ssm import config
from keras_ssm.ops import registry

OPS = ("linear_recurrence", "causal_conv", "vandermonde_kernel", "selective_scan")
ENV = "KERAS_SSM_IMPL"


def example_args(op):
    """Valid (canonical) arguments for each op."""
    if op == "linear_recurrence":
        a = (ops.full((4,), 0.9), ops.full((4,), 0.1))
        b = (ops.ones((2, 16, 4)), ops.zeros((2, 16, 4)))
        return (a, b), {}
    if op == "causal_conv":
        return (ops.ones((2, 16, 4)), ops.ones((4, 8))), {}
    if op == "selective_scan":
        u, ab = ops.ones((2, 16, 4)), ops.ones((2, 16, 3))
        return (u, u, ops.full((4, 3), -1.0), ab, ab), {}
    pair = (ops.full((3, 4), -0.1), ops.ones((3, 4)))
    return (pair, pair, 16), {}


def resolve(op):
    args, kwargs = example_args(op)
    return keras_ssm.ops.resolve(op, *args, **kwargs)


def applies(op, name):
    args, kwargs = example_args(op)
    if op == "linear_recurrence":
        kwargs = dict(initial_state=None, reverse=False, return_final_state=False)
    if op == "selective_scan":
        module = importlib.import_module("keras_ssm.ops.selective_scan")
        args, kwargs = module.canonical_arguments(*args)
    return registry.get(op, name).reason_not_applicable(*args, **kwargs) is None


def enter_scope(op, name):
    with config.use_implementation(op, name):
        pass


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture
def dummies():
    """Register dummy causal_conv implementations; yields a dict name -> call log."""
    calls = {}
    added = []

    def add(name, *, priority=None, supports=None, backends=None):
        calls[name] = []

        def fn(u, kernel):
            calls[name].append(1)
            return ops.zeros_like(u) + 7.0

        keras_ssm.ops.register(
            "causal_conv",
            name,
            backends=backends,
            supports=supports,
            priority=(lambda *a, **k: priority) if priority is not None else None,
        )(fn)
        added.append(name)

    add("dummy_low", priority=-5.0)
    add("dummy_high", priority=1e9)
    add("dummy_never", priority=2e9, supports=lambda u, kernel: "never applies (test)")
    add("dummy_elsewhere", priority=3e9, backends=("no_such_backend",))
    yield calls
    for name in added:
        registry._registry["causal_conv"].pop(name, None)


# --------------------------------------------------------------------------------------
# Listing and resolving


@pytest.mark.parametrize("op", OPS)
def test_implementations_include_reference(op):
    names = keras_ssm.ops.implementations(op)
    assert names[0] == "reference"
    assert len(set(names)) == len(names)


def test_ops_constant():
    assert tuple(keras_ssm.ops.OPS) == OPS


@pytest.mark.parametrize("op", OPS)
def test_resolve_returns_registered_name(op):
    assert resolve(op) in keras_ssm.ops.implementations(op)


@pytest.mark.parametrize(
    "call",
    [
        lambda: keras_ssm.ops.implementations("no_such_op"),
        lambda: keras_ssm.ops.resolve("no_such_op"),
        lambda: config.set_implementation("no_such_op", "reference"),
        lambda: enter_scope("no_such_op", "reference"),
        lambda: keras_ssm.ops.register("no_such_op", "x"),
    ],
    ids=["implementations", "resolve", "set_implementation", "use_implementation", "register"],
)
def test_unknown_op_lists_valid_ops(call):
    with pytest.raises(ValueError, match="no_such_op") as info:
        call()
    for op in OPS:
        assert op in str(info.value)


@pytest.mark.parametrize("op", OPS)
def test_unknown_name_lists_valid_names(op):
    for call in (
        lambda: config.set_implementation(op, "no_such_impl"),
        lambda: enter_scope(op, "no_such_impl"),
    ):
        with pytest.raises(ValueError, match="no_such_impl") as info:
            call()
        for name in keras_ssm.ops.implementations(op):
            assert name in str(info.value)
    assert config.get_implementation(op) is None


def test_automatic_selection_takes_highest_applicable_priority(dummies):
    # dummy_never (higher priority) does not apply; dummy_elsewhere is for another backend.
    assert "dummy_elsewhere" not in keras_ssm.ops.implementations("causal_conv")
    assert resolve("causal_conv") == "dummy_high"
    args, _ = example_args("causal_conv")
    y = keras_ssm.ops.causal_conv(*args)
    np.testing.assert_array_equal(ops.convert_to_numpy(y), 7.0)
    assert len(dummies["dummy_high"]) == 1 and not dummies["dummy_never"]


def test_forced_implementation_runs(dummies):
    args, _ = example_args("causal_conv")
    with config.use_implementation("causal_conv", "dummy_low"):
        keras_ssm.ops.causal_conv(*args)
    assert len(dummies["dummy_low"]) == 1 and not dummies["dummy_high"]


def test_forced_not_applicable_raises_with_reason(dummies):
    args, _ = example_args("causal_conv")
    with config.use_implementation("causal_conv", "dummy_never"):
        with pytest.raises(ValueError, match="never applies \\(test\\)"):
            keras_ssm.ops.causal_conv(*args)
        with pytest.raises(ValueError, match="dummy_never"):
            resolve("causal_conv")
    assert not dummies["dummy_never"]


def test_implementation_of_another_backend_cannot_be_forced(dummies):
    with pytest.raises(ValueError, match="'dummy_elsewhere'.*only on the no_such_backend backend"):
        config.set_implementation("causal_conv", "dummy_elsewhere")


@pytest.mark.parametrize("this_backend_first", [True, False])
def test_a_name_shared_with_another_backend_keeps_this_backends_function(this_backend_first):
    # What importing another backend's package does: the same name, for other backends.
    def here(u, kernel):
        return ops.zeros_like(u) + 1.0

    def elsewhere(u, kernel):
        return ops.zeros_like(u) + 2.0

    mine = ("causal_conv", "dummy_shared", here, (keras.config.backend(),))
    other = ("causal_conv", "dummy_shared", elsewhere, ("no_such_backend",))
    try:
        for op, name, fn, backends in (mine, other) if this_backend_first else (other, mine):
            keras_ssm.ops.register(op, name, backends=backends)(fn)
        with config.use_implementation("causal_conv", "dummy_shared"):
            y = keras_ssm.ops.causal_conv(np.ones((1, 4, 2), "float32"), np.ones((2, 4), "float32"))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(y), 1.0)
    finally:
        registry._registry["causal_conv"].pop("dummy_shared", None)


def test_declared_backend_implementations_match_the_registrations():
    """BACKEND_IMPLEMENTATIONS (used for errors about other backends) lists exactly what
    this backend's module registers (paths for every backend, like `reference` and the
    keras.ops `factorized` kernel, are not backend paths)."""
    backend = keras.config.backend()
    for op in OPS:
        registered = {
            n
            for n in keras_ssm.ops.implementations(op)
            if registry.get(op, n).backends is not None and not n.startswith("dummy")
        }
        declared = set(registry.BACKEND_IMPLEMENTATIONS[backend].get(op, ()))
        assert registered == declared, op


def test_another_backends_path_is_named_with_its_backend():
    backend = keras.config.backend()
    others = {b: names for b, names in registry.BACKEND_IMPLEMENTATIONS.items() if b != backend}
    for other, names in others.items():
        for name in names["linear_recurrence"]:
            if name in keras_ssm.ops.implementations("linear_recurrence"):
                continue
            with pytest.raises(
                ValueError, match=rf"'{name}'.*only on the .*{other}.*not on the {backend}"
            ):
                config.set_implementation("linear_recurrence", name)


# --------------------------------------------------------------------------------------
# set_implementation / use_implementation


@pytest.mark.parametrize("op", OPS)
def test_set_implementation_each_name(op):
    for name in keras_ssm.ops.implementations(op):
        config.set_implementation(op, name)
        assert config.get_implementation(op) == name
        if applies(op, name):
            assert resolve(op) == name
        else:
            with pytest.raises(ValueError, match=name):
                resolve(op)


@pytest.mark.parametrize("op", OPS)
def test_none_restores_automatic(op):
    automatic = resolve(op)
    config.set_implementation(op, "reference")
    assert resolve(op) == "reference"
    config.set_implementation(op, None)
    assert config.get_implementation(op) is None
    assert resolve(op) == automatic


def test_set_implementation_is_per_op():
    config.set_implementation("causal_conv", "reference")
    assert config.get_implementation("linear_recurrence") is None
    assert config.get_implementation("vandermonde_kernel") is None


def test_use_implementation_is_scoped_and_nests(dummies):
    assert resolve("causal_conv") == "dummy_high"
    with config.use_implementation("causal_conv", "reference"):
        assert resolve("causal_conv") == "reference"
        with config.use_implementation("causal_conv", "dummy_low"):
            assert resolve("causal_conv") == "dummy_low"
        assert resolve("causal_conv") == "reference"
    assert config.get_implementation("causal_conv") is None
    assert resolve("causal_conv") == "dummy_high"


def test_use_implementation_restores_after_error():
    with pytest.raises(RuntimeError):
        with config.use_implementation("causal_conv", "reference"):
            raise RuntimeError("boom")
    assert config.get_implementation("causal_conv") is None


def test_use_implementation_none_means_automatic_inside(dummies):
    config.set_implementation("causal_conv", "reference")
    with config.use_implementation("causal_conv", None):
        assert config.get_implementation("causal_conv") is None
        assert resolve("causal_conv") == "dummy_high"
    assert resolve("causal_conv") == "reference"


def test_use_implementation_is_thread_local():
    seen = []
    with config.use_implementation("causal_conv", "reference"):
        worker = threading.Thread(
            target=lambda: seen.append(config.get_implementation("causal_conv"))
        )
        worker.start()
        worker.join()
    assert seen == [None]


# --------------------------------------------------------------------------------------
# KERAS_SSM_IMPL


def test_env_reference_forces_every_op(monkeypatch):
    monkeypatch.setenv(ENV, "reference")
    for op in OPS:
        assert config.get_implementation(op) == "reference"
        assert resolve(op) == "reference"


def test_env_op_list(monkeypatch, dummies):
    monkeypatch.setenv(ENV, " causal_conv=dummy_low , linear_recurrence=reference")
    assert resolve("causal_conv") == "dummy_low"
    assert resolve("linear_recurrence") == "reference"
    assert config.get_implementation("vandermonde_kernel") is None


def test_env_single_name_applies_to_ops_having_it(monkeypatch, dummies):
    monkeypatch.setenv(ENV, "dummy_low")
    assert resolve("causal_conv") == "dummy_low"
    assert config.get_implementation("linear_recurrence") is None


def test_env_takes_effect_without_reimport(monkeypatch):
    monkeypatch.setenv(ENV, "causal_conv=reference")
    assert config.get_implementation("causal_conv") == "reference"
    monkeypatch.delenv(ENV)
    assert config.get_implementation("causal_conv") is None


@pytest.mark.parametrize(
    "value,fragment",
    [
        ("no_such_impl", "reference"),
        ("causal_conv=no_such_impl", "reference"),
        ("no_such_op=reference", "causal_conv"),
        ("causal_conv=reference,oops", "op=name"),
    ],
)
def test_env_errors_list_valid_choices(monkeypatch, value, fragment):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ValueError, match=fragment):
        resolve("causal_conv")


def test_precedence_context_over_set_over_env(monkeypatch, dummies):
    monkeypatch.setenv(ENV, "causal_conv=dummy_low")
    assert resolve("causal_conv") == "dummy_low"
    config.set_implementation("causal_conv", "dummy_high")
    assert resolve("causal_conv") == "dummy_high"
    with config.use_implementation("causal_conv", "reference"):
        assert resolve("causal_conv") == "reference"
    assert resolve("causal_conv") == "dummy_high"
    config.set_implementation("causal_conv", None)
    assert resolve("causal_conv") == "dummy_low"
    monkeypatch.delenv(ENV)
    assert resolve("causal_conv") == "dummy_high"  # automatic: highest priority
