"""Mamba: the selective state-space mixer of Gu and Dao (2023), as its reference code builds it.

For an input u (batch, L, H), with E·H = DI inner channels, N states, R = dt_rank:

    [x | z]      = u W_in (+ b_in)                            x, z: (batch, L, DI)
    x            = silu(causal_depthwise_conv_K(x) + b_conv)  (batch, L, DI)
    [δ | B | C]  = x W_x                                      (R), (N), (N) per step
    Δ            = softplus(δ W_Δ + b_Δ)                      (batch, L, DI)
    A            = -exp(A_log)                                (DI, N)
    h_t          = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t          (batch, DI, N)
    y_t          = (C_t · h_t + D ⊙ x_t) ⊙ silu(z_t)
    out          = y W_out (+ b_out)                          (batch, L, H)

The scan is `keras_ssm.ops.selective_scan` (the registry picks each backend's path).
Δ, B and C depend on the input, so the layer chooses what to keep: it has no
convolution mode and no time-invariant `discrete_system()`.
"""

import contextlib
import math

import keras
import numpy as np
from keras import ops

from keras_ssm import config as ssm_config
from keras_ssm import ops as ssm_ops
from keras_ssm.layers import families
from keras_ssm.layers.parameters import check_implementation
from keras_ssm.layers.parameters import check_step_range
from keras_ssm.layers.parameters import derived_seed
from keras_ssm.layers.parameters import draw_default_seed
from keras_ssm.layers.parameters import inputs_spec


def _numpy_initializer(draw):
    """A Keras initializer from `draw(shape) -> numpy array`: the same values on every
    backend for the same seed (the layer's weights do not depend on the backend)."""

    def initializer(shape, dtype=None):
        return ops.convert_to_tensor(np.asarray(draw(tuple(shape)), "float32"), dtype=dtype)

    return initializer


def _uniform(seed, limit):
    """U(-limit, limit), torch's nn.Linear / nn.Conv1d default with limit = fan_in^-1/2."""
    return _numpy_initializer(
        lambda shape: np.random.default_rng(seed).uniform(-limit, limit, shape)
    )


def dt_bias_values(channels, dt_min, dt_max, dt_init_floor, seed):
    """The reference Δ bias: softplus⁻¹(Δ₀), Δ₀ log-uniform in [dt_min, dt_max] per channel.

    Δ₀ = exp(U(0, 1) · (ln dt_max − ln dt_min) + ln dt_min), clamped below at
    `dt_init_floor`; bias = Δ₀ + ln(−expm1(−Δ₀)), so that softplus(bias) = Δ₀.

    Args:
        channels: int, DI.
        dt_min, dt_max, dt_init_floor: floats.
        seed: int, numpy's seed.

    Returns:
        float32 numpy array (channels,).

    Example:

    ```python
    from keras_ssm.layers.mamba import dt_bias_values
    bias = dt_bias_values(4, 1e-3, 1e-1, 1e-4, seed=0)    # in [-6.91, -2.25]
    ```
    """
    u = np.random.default_rng(seed).uniform(0.0, 1.0, channels)
    dt = np.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    dt = np.maximum(dt, dt_init_floor)
    return (dt + np.log(-np.expm1(-dt))).astype("float32")


@families.register("mamba", ssm_lr=None)
@keras.saving.register_keras_serializable(package="keras_ssm")
class Mamba(keras.layers.Layer):
    """The Mamba mixer: a selective SSM (Δ, B, C from the input) between two projections.

    Maps (batch, length, H) to (batch, length, H) as `Mamba` in the authors'
    `mamba_simple.py` (module docstring for the equations), with their initialization:
    A_log[c, n] = ln(n + 1) (S4D-Real, A = −(n+1)), D = 1, the Δ bias the inverse softplus
    of a log-uniform Δ in [dt_min, dt_max] (`dt_bias_values`), W_Δ ~ U(±dt_rank^-½), and
    torch's defaults U(±fan_in^-½) for the other projections and the convolution.
    A_log, D and the Δ bias are float32 variables used in float32 under any dtype
    policy (the authors' advice against NaNs in half precision); the projections follow
    the policy (bfloat16 activations under "mixed_bfloat16"), the scan runs in float32.
    A_log and D are the family's SSM group (`ssm_group_roles`): no weight decay in
    `keras_ssm.optimizers.ssm_optimizer(paper="mamba")`, at the model's rate.

    Args:
        state_size: int, N, states per channel (16).
        expand: number, E: DI = round(E · H) inner channels (2).
        conv_kernel: int >= 2, K, the taps of the depthwise causal convolution (4).
        dt_rank: int or "auto" (= ceil(H / 16)), R, the rank of Δ's projection.
        dt_min, dt_max: floats, the range of the initial Δ (1e-3, 1e-1).
        dt_init_floor: float, the smallest initial Δ (1e-4).
        use_conv_bias: bool, the convolution's bias (True).
        use_bias: bool, biases of the input and output projections (False).
        seed: int or None, seeds every initializer (None: drawn from Python's `random`,
            which `keras.utils.set_random_seed` seeds).
        implementation: None or {"selective_scan": name}, the scan's implementation for
            this layer (`keras_ssm.ops.implementations("selective_scan")`).
        **kwargs: forwarded to `keras.layers.Layer` (name, dtype, ...).

    Call arguments:
        inputs: (batch, length, H).
        mask: optional (batch, length) boolean. A padded position enters the
            convolution as a zero input and leaves the SSM state as it is (Δ = 0), so
            the valid outputs of a batch padded on the right, or on the left from a
            zero state, are those of the sequences alone.
        initial_state: optional `(conv_window, ssm_state)` from `get_initial_state` or
            a previous call: conv_window (batch, K − 1, DI), the last K − 1 inputs of
            the convolution; ssm_state (batch, DI, N), h.
        return_state: if True, return `(outputs, state)`, the state after the last
            valid position.
        segment_ids: optional int (batch, length): packed documents. Where the id
            changes, the SSM state and the convolution window restart at zero, so each
            document gives exactly its outputs alone; `initial_state` belongs to the
            document at position 0.

    Input shape: (batch, length, H). Output shape: the same (and the state with
    `return_state=True`).

    Example:

    ```python
    layer = keras_ssm.layers.Mamba(state_size=4, seed=0)
    x = np.random.rand(2, 10, 8).astype("float32")
    y = layer(x)                                          # (2, 10, 8)
    state = layer.get_initial_state(2)
    y1, state = layer(x[:, :6], initial_state=state, return_state=True)
    y2, state = layer(x[:, 6:], initial_state=state, return_state=True)
    # concatenate([y1, y2], axis=1) equals y
    ```

    References:
        Gu and Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces
        (2023), arXiv 2312.00752, Alg. 2 and §3.6; the code state-spaces/mamba.
    """

    # A_log (the eigenvalues) and D (the feedthrough): no weight decay, as the authors.
    ssm_group_roles = ("eigenvalues", "feedthrough")

    def __init__(
        self,
        state_size=16,
        expand=2,
        conv_kernel=4,
        dt_rank="auto",
        dt_min=1e-3,
        dt_max=1e-1,
        dt_init_floor=1e-4,
        use_conv_bias=True,
        use_bias=False,
        seed=None,
        implementation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(state_size, bool) or not isinstance(state_size, (int, np.integer)):
            raise ValueError(f"`state_size` must be a positive int, got {state_size!r}.")
        if state_size < 1:
            raise ValueError(f"`state_size` must be a positive int, got {state_size!r}.")
        if isinstance(expand, bool) or not isinstance(expand, (int, float)) or expand <= 0:
            raise ValueError(f"`expand` must be a positive number such as 2, got {expand!r}.")
        if isinstance(conv_kernel, bool) or not isinstance(conv_kernel, (int, np.integer)):
            raise ValueError(f"`conv_kernel` must be an int >= 2 (4), got {conv_kernel!r}.")
        if conv_kernel < 2:
            raise ValueError(f"`conv_kernel` must be an int >= 2 (4), got {conv_kernel!r}.")
        if dt_rank != "auto" and (
            isinstance(dt_rank, bool) or not isinstance(dt_rank, (int, np.integer)) or dt_rank < 1
        ):
            raise ValueError(f"`dt_rank` must be 'auto' or a positive int, got {dt_rank!r}.")
        check_step_range(dt_min, dt_max)
        if not dt_init_floor >= 0:
            raise ValueError(f"`dt_init_floor` must be >= 0, got {dt_init_floor!r}.")
        self.state_size = int(state_size)
        self.expand = expand
        self.conv_kernel = int(conv_kernel)
        self.dt_rank = dt_rank if dt_rank == "auto" else int(dt_rank)
        self.dt_min = float(dt_min)
        self.dt_max = float(dt_max)
        self.dt_init_floor = float(dt_init_floor)
        self.use_conv_bias = bool(use_conv_bias)
        self.use_bias = bool(use_bias)
        self.seed = seed
        self._default_seed = draw_default_seed() if seed is None else None
        self.implementation = check_implementation(implementation)
        self.supports_masking = True
        self.input_spec = inputs_spec()
        self.features = None
        self.inner_size = None
        self.rank = None

    # ----------------------------------------------------------------------------
    # weights

    def _seed_for(self, index):
        return derived_seed(self._default_seed if self.seed is None else self.seed, index)

    def _weight(self, name, shape, initializer, role=None):
        """A weight of the policy's dtype; with a `role`, an SSM parameter: float32, never
        autocast, tagged for the optimizers (the projections are ordinary weights)."""
        variable = self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            dtype=None if role is None else "float32",
            autocast=role is None,
        )
        return variable if role is None else families.tag_weight(variable, self, role)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"Mamba expects inputs of shape (batch, length, features) with known "
                f"features, got shape {input_shape}."
            )
        h = self.features = int(input_shape[-1])
        di = self.inner_size = int(round(self.expand * h))
        if di < 1:
            raise ValueError(f"`expand` * features must be >= 1, got {self.expand} * {h}.")
        r = self.rank = math.ceil(h / 16) if self.dt_rank == "auto" else self.dt_rank
        n, k = self.state_size, self.conv_kernel
        self.input_spec = inputs_spec(h)
        w, u = self._weight, lambda i, limit: _uniform(self._seed_for(i), limit)  # noqa: E731
        use_bias = self.use_bias
        self.in_proj_kernel = w("in_proj_kernel", (h, 2 * di), u(0, h**-0.5))
        self.in_proj_bias = w("in_proj_bias", (2 * di,), "zeros") if use_bias else None
        self.conv1d_kernel = w("conv1d_kernel", (k, di), u(1, k**-0.5))
        conv_bias = self.use_conv_bias
        self.conv1d_bias = w("conv1d_bias", (di,), u(2, k**-0.5)) if conv_bias else None
        self.x_proj_kernel = w("x_proj_kernel", (di, r + 2 * n), u(3, di**-0.5))
        self.dt_proj_kernel = w("dt_proj_kernel", (r, di), u(4, r**-0.5))
        bias = dt_bias_values(di, self.dt_min, self.dt_max, self.dt_init_floor, self._seed_for(5))
        self.dt_bias = w("dt_bias", (di,), _numpy_initializer(lambda s: bias), "step")
        a_log = np.log(np.broadcast_to(np.arange(1, n + 1, dtype="float64"), (di, n)))
        self.A_log = w("A_log", (di, n), _numpy_initializer(lambda s: a_log), "eigenvalues")
        self.D = w("D", (di,), "ones", "feedthrough")
        self.out_proj_kernel = w("out_proj_kernel", (di, h), u(6, di**-0.5))
        self.out_proj_bias = w("out_proj_bias", (h,), "zeros") if use_bias else None
        self.built = True

    # ----------------------------------------------------------------------------
    # the mixer

    @contextlib.contextmanager
    def _implementation_scope(self):
        with contextlib.ExitStack() as stack:
            for op, name in (self.implementation or {}).items():
                stack.enter_context(ssm_config.use_implementation(op, name))
            yield

    def call(
        self,
        inputs,
        mask=None,
        initial_state=None,
        return_state=False,
        segment_ids=None,
        training=None,
    ):
        with self._implementation_scope():
            return self._mix(inputs, mask, initial_state, return_state, segment_ids)

    def _mix(self, u, mask, initial_state, return_state, segment_ids):
        di, n, r = self.inner_size, self.state_size, self.rank
        batch = ops.shape(u)[0]
        xz = ops.matmul(u, self.in_proj_kernel)
        if self.in_proj_bias is not None:
            xz = xz + self.in_proj_bias
        x, z = xz[..., :di], xz[..., di:]
        valid = None
        if mask is not None:
            valid = ops.cast(mask, "bool")
            x = x * ops.cast(valid, x.dtype)[..., None]
        if initial_state is None:
            window = ops.zeros((batch, self.conv_kernel - 1, di), x.dtype)
            h0 = None
        else:
            window = ops.cast(initial_state[0], x.dtype)
            h0 = ops.cast(initial_state[1], "float32")
        inputs = ops.concatenate([window, x], axis=1)  # (batch, K - 1 + L, DI)
        x = ops.silu(self._convolve(inputs, segment_ids))
        x_dbl = ops.matmul(x, self.x_proj_kernel)
        dt = ops.matmul(x_dbl[..., :r], self.dt_proj_kernel)
        B, C = x_dbl[..., r : r + n], x_dbl[..., r + n :]
        A = -ops.exp(self.A_log)
        f32 = lambda t: ops.cast(t, "float32")  # noqa: E731
        if h0 is not None and u.shape[1] == 1 and valid is None and segment_ids is None:
            # One token (generation): the authors' `step`, one update of h, no scan.
            delta = ops.softplus(f32(dt[:, 0]) + self.dt_bias)  # (batch, DI)
            x_t = f32(x[:, 0])
            h = ops.exp(delta[..., None] * A) * h0 + (delta * x_t)[..., None] * f32(B)
            y = ops.sum(h * f32(C), axis=-1) + self.D * x_t
            return self._output((y * ops.silu(f32(z[:, 0])))[:, None], h, inputs, return_state)
        if valid is None:  # softplus(δ W_Δ + b_Δ) inside the scan
            delta, softplus = f32(dt), dict(delta_bias=self.dt_bias, delta_softplus=True)
        else:  # Δ = 0 at padded positions: exp(0·A) = 1 keeps h, Δ B x = 0 adds nothing.
            delta = ops.softplus(f32(dt) + self.dt_bias) * ops.cast(valid, "float32")[..., None]
            softplus = dict(delta_bias=None, delta_softplus=False)
        result = ssm_ops.selective_scan(
            f32(x),
            delta,
            A,
            f32(B),
            f32(C),
            D=self.D,
            z=f32(z),
            initial_state=h0,
            return_final_state=return_state,
            segment_ids=segment_ids,
            **softplus,
        )
        y, h = result if return_state else (result, None)
        return self._output(y, h, inputs, return_state, valid, segment_ids)

    def _output(self, y, h, inputs, return_state, valid=None, segment_ids=None):
        """The output projection of y, and the state (window, h) with `return_state`."""
        out = ops.matmul(ops.cast(y, self.compute_dtype), self.out_proj_kernel)
        if self.out_proj_bias is not None:
            out = out + self.out_proj_bias
        if not return_state:
            return out
        window = self._last_inputs(inputs, valid, segment_ids)
        return out, (ops.cast(window, "float32"), h)

    def _convolve(self, inputs, segment_ids):
        """The depthwise causal convolution (+ bias) of the window and the chunk,
        (batch, K − 1 + L, DI) -> (batch, L, DI); no tap crosses a segment boundary."""
        k = self.conv_kernel
        total = ops.shape(inputs)[1]
        w = self.conv1d_kernel  # (K, DI): y_t = Σ_j w[j] x_{t-K+1+j}
        ids = None
        if segment_ids is not None:
            ids = ops.cast(segment_ids, "int32")
            ids = ops.concatenate([ops.repeat(ids[:, :1], k - 1, axis=1), ids], axis=1)
        y = None
        for lag in range(k):
            x = inputs[:, k - 1 - lag : total - lag]
            if ids is not None and lag:
                same = ops.equal(ids[:, k - 1 :], ids[:, k - 1 - lag : total - lag])
                x = x * ops.cast(same, x.dtype)[..., None]
            term = x * w[k - 1 - lag]
            y = term if y is None else y + term
        if self.conv1d_bias is not None:
            y = y + self.conv1d_bias
        return y

    def _last_inputs(self, inputs, valid, segment_ids):
        """The convolution window after the chunk: the last K − 1 valid inputs of
        `inputs` (the previous window, then the chunk), zero before the document of the
        last valid position. (batch, K − 1, DI)."""
        k1 = self.conv_kernel - 1
        if valid is None and segment_ids is None:
            return inputs[:, -k1:]
        total = ops.shape(inputs)[1]
        length = total - k1
        if valid is None:
            count = ops.full((ops.shape(inputs)[0],), length, "int32")
            end = count
        else:
            steps = ops.cast(valid, "int32")
            count = ops.sum(steps, axis=1)
            end = ops.max(steps * ops.arange(1, length + 1, dtype="int32")[None], axis=1)
        latest = ops.arange(k1, 0, -1, dtype="int32")[None]  # slot j holds the m-th latest
        in_chunk = latest <= count[:, None]
        index = ops.where(in_chunk, k1 + end[:, None] - latest, k1 - (latest - count[:, None]))
        window = ops.take_along_axis(inputs, index[..., None], axis=1)
        if segment_ids is None:
            return window
        ids = ops.cast(segment_ids, "int32")
        ids = ops.concatenate([ops.repeat(ids[:, :1], k1, axis=1), ids], axis=1)
        last = ops.take_along_axis(ids, ops.maximum(end + k1 - 1, 0)[:, None], axis=1)
        same = ops.equal(ops.take_along_axis(ids, index, axis=1), last)
        return window * ops.cast(same, window.dtype)[..., None]

    # ----------------------------------------------------------------------------
    # shapes and streaming

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self,
        inputs,
        mask=None,
        initial_state=None,
        return_state=False,
        segment_ids=None,
        training=None,
    ):
        """The outputs' KerasTensor, and `(outputs, state)` with `return_state=True`."""
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if return_state:
            return outputs, self.state_spec(inputs.shape[0])
        return outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def _require_built(self):
        if not self.built:
            raise ValueError("Build the layer first (call it once, or layer.build(shape)).")

    def state_spec(self, batch_size=None):
        """The state `(conv_window, ssm_state)` as float32 KerasTensors:
        (batch_size, K − 1, DI) and (batch_size, DI, N)."""
        self._require_built()
        return (
            keras.KerasTensor((batch_size, self.conv_kernel - 1, self.inner_size), "float32"),
            keras.KerasTensor((batch_size, self.inner_size, self.state_size), "float32"),
        )

    def get_initial_state(self, batch_size):
        """The zero state of `batch_size` streams: (conv_window, ssm_state), float32.

        Example:

        ```python
        layer = keras_ssm.layers.Mamba(state_size=4)
        layer.build((None, None, 8))
        window, h = layer.get_initial_state(2)     # (2, 3, 16), (2, 16, 4)
        ```
        """
        self._require_built()
        return (
            ops.zeros((batch_size, self.conv_kernel - 1, self.inner_size), "float32"),
            ops.zeros((batch_size, self.inner_size, self.state_size), "float32"),
        )

    def step(self, inputs_t, state):
        """One time step: (outputs_t (batch, H), new state), as the reference `step`.

        Example:

        ```python
        layer = keras_ssm.layers.Mamba(state_size=4, seed=0)
        x = np.random.rand(2, 5, 8).astype("float32")
        layer.build(x.shape)
        state = layer.get_initial_state(2)
        for t in range(5):
            y_t, state = layer.step(x[:, t], state)   # (2, 8)
        ```
        """
        y, state = self(inputs_t[:, None, :], initial_state=state, return_state=True)
        return y[:, 0], state

    # ----------------------------------------------------------------------------
    # serialization

    def get_config(self):
        config = super().get_config()
        config.update(
            state_size=self.state_size,
            expand=self.expand,
            conv_kernel=self.conv_kernel,
            dt_rank=self.dt_rank,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            dt_init_floor=self.dt_init_floor,
            use_conv_bias=self.use_conv_bias,
            use_bias=self.use_bias,
            seed=self.seed,
            implementation=dict(self.implementation) if self.implementation else None,
        )
        return config
