"""`jit_compile=True` on torch: Keras compiles the train, test and predict steps with torch.compile.

For every layer family (`keras_ssm.layers.families.names()`, so a new family is covered
without an edit here), a model of two `SSMBlock`s behind a `Masking` layer (bidirectional
in the family's automatic mode and causal in the recurrence, where the family has those
options) with the paper's optimizer (`ssm_optimizer`) must:

- trace with no graph break inside keras-ssm code, counted by `torch._dynamo.explain`
  with the batch and length axes dynamic: the forward pass and loss in the default run,
  Keras' whole train step in the slow run (Keras' own breaks, at `loss.backward()` and in
  its optimizers, do not pass through keras-ssm);
- (slow) give the eager model's losses, weights, evaluation and predictions within
  float32 tolerance, at batch sizes and lengths that change between calls, and not
  recompile from one batch to the next at a fixed shape. These run torch.compile with
  the ``aot_eager`` backend (dynamo, AOT autograd and functionalization: the parts that
  see keras-ssm's code); a family costs about 2 minutes of CPU, mostly dynamo tracing
  Keras' steps.

Inductor itself, Keras' default backend, runs in the default run on the reported crash:
a bidirectional S5 classifier from the builders, compiled with `jit_compile=True`, saved
as `.keras` and loaded, then `fit` and `predict` at batch 4 and 1 (it raised
``NameError: name 's1' is not defined`` in inductor's code for S5.call(), from the
chunked scan's Python loop traced step by step). The scans now reach torch.compile as
single ``torch.library`` ops (their opcheck and fullgraph tests: test_ops_torch_paths.py,
test_triton_scan.py). On jax and TensorFlow, a slow test saves such a model there and
predicts with it on torch.
"""

import contextlib
import functools
import inspect
import logging
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_ssm import models
from keras_ssm import optimizers
from keras_ssm.layers import SSMBlock
from keras_ssm.layers import families

TORCH = keras.config.backend() == "torch"
torch_only = pytest.mark.skipif(not TORCH, reason="torch.compile runs on the torch backend")

if TORCH:
    import torch

FEATURES = 3
# (batch, length) of the calls: a second shape makes dynamo recompile once with dynamic
# sizes; batch 1 is a size that dynamo specializes.
FIT_SHAPES = ((2, 6), (3, 9))
PREDICT_SHAPES = ((3, 9), (1, 7))
TOLERANCE = dict(rtol=2e-5, atol=2e-5)


def ssm_configs(name):
    """The family's block configurations: bidirectional (automatic mode) and causal in the
    recurrence, each where the family's constructor has that argument."""
    params = inspect.signature(families.layer_class(name).__init__).parameters
    base = {"class_name": name, "state_size": 4}
    configs = []
    if "bidirectional" in params:
        configs.append(dict(base, bidirectional=True))
    if "mode" in params:
        configs.append(dict(base, mode="recurrence"))
    return configs or [base, base]


def build(name, jit_compile):
    """Masking -> Dense -> two SSMBlocks -> Dense(2) per step, the paper's optimizer."""
    inputs = keras.Input((None, FEATURES))
    x = keras.layers.Masking(0.0)(inputs)
    x = keras.layers.Dense(8)(x)
    for i, config in enumerate(ssm_configs(name)):
        x = SSMBlock(config, seed=10 + i, name=f"block_{i}")(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    optimizer = optimizers.ssm_optimizer(model, paper=name, lr=1e-2, ssm_lr=1e-2)
    model.compile(optimizer, loss="mse", jit_compile=jit_compile)
    return model


def batch(rng, size, length):
    """Inputs with the last step of the first row masked (all zeros), and targets."""
    x = rng.normal(size=(size, length, FEATURES)).astype("float32")
    x[0, -1] = 0.0
    return x, rng.normal(size=(size, length, 2)).astype("float32")


def frames_compiled():
    return torch._dynamo.utils.counters["frames"]["ok"]


def run_schedule(model, rng_seed=0):
    """fit at two shapes (the first for 3 steps, then 2 more steps at the same shape, whose
    recompilations are counted), evaluate, predict at two shapes. Returns the records."""
    rng = np.random.default_rng(rng_seed)
    records = {"loss": [], "predict": []}
    (b1, l1), (b2, l2) = FIT_SHAPES
    x, y = batch(rng, 3 * b1, l1)
    records["loss"].append(model.fit(x, y, batch_size=b1, shuffle=False, verbose=0).history)
    before = frames_compiled()
    x, y = batch(rng, 2 * b1, l1)
    records["loss"].append(model.fit(x, y, batch_size=b1, shuffle=False, verbose=0).history)
    records["recompiled_at_fixed_shape"] = frames_compiled() - before
    x, y = batch(rng, b2, l2)
    records["loss"].append(model.fit(x, y, batch_size=b2, shuffle=False, verbose=0).history)
    records["evaluate"] = model.evaluate(x, y, batch_size=b2, verbose=0)
    for size, length in PREDICT_SHAPES:
        x, _ = batch(rng, size, length)
        records["predict"].append(model.predict(x, batch_size=size, verbose=0))
    records["weights"] = [keras.ops.convert_to_numpy(w) for w in model.weights]
    return records


@pytest.fixture(scope="module")
def aot_eager():
    """Keras' torch.compile calls with the aot_eager backend, for this module's fixtures."""
    original = torch.compile
    torch.compile = functools.partial(original, backend="aot_eager")
    yield
    torch.compile = original


@pytest.fixture(scope="module", params=families.names())
def family_runs(request, aot_eager):
    """(eager records, compiled records, eager model) of one family, built once per module."""
    torch._dynamo.reset()
    eager, compiled = build(request.param, False), build(request.param, True)
    compiled.set_weights(eager.get_weights())
    return run_schedule(eager), run_schedule(compiled), eager


@pytest.mark.slow
@torch_only
def test_compiled_training_matches_eager(family_runs):
    eager, compiled, _ = family_runs
    for got, want in zip(compiled["loss"], eager["loss"]):
        np.testing.assert_allclose(got["loss"], want["loss"], **TOLERANCE)
    np.testing.assert_allclose(compiled["evaluate"], eager["evaluate"], **TOLERANCE)
    for got, want in zip(compiled["predict"], eager["predict"]):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, **TOLERANCE)
    for got, want in zip(compiled["weights"], eager["weights"]):
        np.testing.assert_allclose(got, want, **TOLERANCE)


@pytest.mark.slow
@torch_only
def test_no_recompilation_between_batches_of_one_shape(family_runs):
    _, compiled, _ = family_runs
    assert compiled["recompiled_at_fixed_shape"] == 0


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(models.__file__)))


def keras_ssm_breaks(explanation):
    """The graph breaks whose user stack passes through keras-ssm's own files."""
    found = []
    for reason in explanation.break_reasons:
        frames = [f for f in reason.user_stack if f.filename.startswith(ROOT)]
        if frames:
            where = ", ".join(f"{os.path.relpath(f.filename, ROOT)}:{f.lineno}" for f in frames)
            found.append(f"{reason.reason.splitlines()[0]} at {where}")
    return found


def dynamic_batch(size, length):
    x, y = batch(np.random.default_rng(5), size, length)
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    for axis in (0, 1):
        torch._dynamo.maybe_mark_dynamic(x, axis)
    return x, y


@pytest.mark.parametrize("name", families.names())
@torch_only
def test_no_graph_break_in_keras_ssm_code(name):
    """The forward pass in training mode and the loss, with dynamic batch and length axes
    (about 8 s of CPU per family; the optimizer's part is traced in the slow test below
    and under inductor in the S5 test)."""
    model = build(name, False)
    x, y = dynamic_batch(2, 8)
    model(x[:, :4])  # builds every sublayer outside the trace
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda x, y: ((model(x, training=True) - y) ** 2).mean())(
        x, y
    )
    assert keras_ssm_breaks(explanation) == []


@torch_only
def test_batch_norm_builder_has_no_graph_break():
    """The builders' papers' models: BatchNorm blocks (pre-norm, with a final norm), in
    training mode, with padding masks (the unmasked BatchNorm model is the inductor tests'
    S5 classifier below). Keras' own BatchNormalization breaks the graph here (its
    reduction axes are a tracked list); MaskedBatchNormalization computes the training
    moments itself."""
    model = models.build_classifier(
        2,
        input_features=FEATURES,
        hidden_size=8,
        num_layers=2,
        ssm="s5",
        ssm_kwargs={"state_size": 4},
        bidirectional=True,
        norm="batch",
        final_norm=True,
        mask_value=0.0,
        seed=0,
    )
    x, _ = dynamic_batch(2, 8)
    model(x[:, :4])
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(lambda x: model(x, training=True).sum())(x)
    assert keras_ssm_breaks(explanation) == []


@pytest.mark.slow
@torch_only
def test_train_step_has_no_graph_break_in_keras_ssm_code(family_runs):
    """Keras' whole train step (forward, loss, backward, the paper's GroupedOptimizer)
    with dynamic batch and length axes; Keras' own breaks (loss.backward(), .item() in
    its optimizers) do not pass through keras-ssm's code."""
    _, _, model = family_runs
    torch._dynamo.reset()
    explanation = torch._dynamo.explain(model.train_step)(dynamic_batch(2, 8))
    assert keras_ssm_breaks(explanation) == []


@contextlib.contextmanager
def graph_breaks_through_keras_ssm():
    """The graph-break log records (torch._logging) whose user stack names keras-ssm."""
    found = []

    class Collect(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if ROOT + os.sep + "keras_ssm" in message:
                found.append(message[:3000])

    logger = logging.getLogger("torch._dynamo.symbolic_convert.__graph_breaks")
    handler = Collect()
    torch._logging.set_logs(graph_breaks=True)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        torch._logging.set_logs()


def s5_classifier():
    model = models.build_classifier(
        3,
        input_features=8,
        hidden_size=8,
        num_layers=1,
        ssm="s5",
        ssm_kwargs={"state_size": 4},
        bidirectional=True,
        norm="batch",  # the paper's model: BatchNorm blocks
        seed=0,
    )
    model.compile(
        optimizers.ssm_optimizer(model, paper="s5"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    return model


def saved_and_loaded_s5(tmp_path):
    torch._dynamo.reset()
    path = os.path.join(str(tmp_path), "s5.keras")
    s5_classifier().save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.jit_compile is True
    return loaded, path


def check_inductor_predictions(model, path, x, sizes):
    """predict at each batch size, then at the first again, against the eager model with
    the same weights: no graph break through keras-ssm, no recompilation the last time.
    One eager call first: Keras sets layer state on a model's first call (`_parent_path`)
    that dynamo guards on, which would cost one more compilation."""
    model(x[:2])
    sizes = (*sizes, sizes[0])
    with graph_breaks_through_keras_ssm() as breaks:
        predictions = [model.predict(x[:n], batch_size=n, verbose=0) for n in sizes[:-1]]
        before = frames_compiled()
        predictions.append(model.predict(x[: sizes[-1]], batch_size=sizes[-1], verbose=0))
    assert frames_compiled() == before
    assert breaks == []
    eager = keras.saving.load_model(path)
    eager.set_weights(model.get_weights())
    for got, n in zip(predictions, sizes):
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(eager(x[:n])), **TOLERANCE)


@torch_only
def test_inductor_bidirectional_s5_saved_and_loaded_predicts(tmp_path):
    """The reported crash, with Keras' default torch.compile backend (inductor): a
    bidirectional S5 classifier of the builders, compiled with jit_compile=True, saved as
    .keras and loaded (the compile settings carry jit_compile=True), predicts at batch 4
    and 1 what the eager model predicts (about 40 s of CPU, inductor's C++ included)."""
    model, path = saved_and_loaded_s5(tmp_path)
    x = np.random.default_rng(0).normal(size=(4, 16, 8)).astype("float32")
    check_inductor_predictions(model, path, x, (4, 1))


@pytest.mark.slow
@torch_only
def test_inductor_bidirectional_s5_fits_then_predicts(tmp_path):
    """The same model trained by its inductor-compiled train step (the paper's optimizer),
    then predicting; no graph break passes through keras-ssm in either."""
    model, path = saved_and_loaded_s5(tmp_path)
    x = np.random.default_rng(0).normal(size=(4, 16, 8)).astype("float32")
    with graph_breaks_through_keras_ssm() as breaks:
        model.fit(x, np.arange(4) % 3, batch_size=2, epochs=2, verbose=0)
    assert breaks == []
    check_inductor_predictions(model, path, x, (4, 1))


@pytest.mark.slow
@pytest.mark.skipif(TORCH, reason="saves on jax or tensorflow, loads on torch")
def test_saved_here_with_jit_compile_predicts_on_torch(tmp_path):
    """A bidirectional S5 classifier compiled with jit_compile=True and saved as .keras on
    jax or TensorFlow loads on torch (the compile settings carry jit_compile=True, so
    torch.compile with inductor runs) and predicts what it predicted here, at batch 4 and 1."""
    model = s5_classifier()
    path = os.path.join(str(tmp_path), "s5.keras")
    model.save(path)
    x = np.random.default_rng(0).normal(size=(4, 16, 8)).astype("float32")
    np.save(os.path.join(str(tmp_path), "x.npy"), x)
    script = textwrap.dedent(
        """
        import sys, numpy as np, keras
        import keras_ssm  # registers the layers
        model = keras.saving.load_model(sys.argv[1])
        assert model.jit_compile is True
        x = np.load(sys.argv[2])
        np.save(sys.argv[3], np.concatenate([model.predict(x[:n], batch_size=n, verbose=0)
                                             for n in (4, 1)]))
        """
    )
    out = os.path.join(str(tmp_path), "torch.npy")
    env = dict(os.environ, KERAS_BACKEND="torch", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.run(
        [sys.executable, "-c", script, path, os.path.join(str(tmp_path), "x.npy"), out],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    want = np.concatenate([keras.ops.convert_to_numpy(model(x[:n])) for n in (4, 1)])
    np.testing.assert_allclose(np.load(out), want, rtol=1e-4, atol=1e-4)
