"""DSS: the Diagonal State Space layer of Gupta, Gu and Berant (arXiv 2203.14343)."""

import keras
import numpy as np
from keras import ops

from keras_ssm import initializers
from keras_ssm import ops as ssm_ops
from keras_ssm.layers import families
from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.base import DiagonalSystem
from keras_ssm.layers.parameters import check_choice
from keras_ssm.layers.parameters import check_step_range
from keras_ssm.ops import segments
from keras_ssm.ops.common import cexp
from keras_ssm.ops.common import cexpm1
from keras_ssm.ops.common import cmul

VARIANTS = ("exp", "softmax")
LAMBDA_INITS = initializers.DSSLambdaImag.OPTIONS
# The ε of reciprocal_ε and reciprocal_clamp (the DSS implementation's value).
EPSILON = 1e-7


def _reciprocal_eps(x, eps=EPSILON):
    """reciprocal_ε(x) = conj(x) / (|x|² + ε), the DSS paper's safe inverse."""
    den = x[0] * x[0] + x[1] * x[1] + eps
    return (x[0] / den, -x[1] / den)


def _reciprocal_clamp(x, eps=EPSILON):
    """reciprocal_clamp(x) = conj(x) / max(|x|², ε) (DSS_EXP's 1/λ)."""
    den = ops.maximum(x[0] * x[0] + x[1] * x[1], eps)
    return (x[0] / den, -x[1] / den)


def _batched_causal_conv(u, kernel, backward_kernel=None):
    """Causal (or two-sided) convolution of each sequence with its own kernels.

    Args:
        u: (batch, length, H) with a static batch size B.
        kernel: (batch, H, length).
        backward_kernel: optional (batch, H, length), as `keras_ssm.ops.causal_conv`'s.

    Returns:
        (batch, length, H).
    """
    batch, length, features = u.shape
    x = ops.reshape(ops.transpose(u, (1, 0, 2)), (1, length, batch * features))
    flat = lambda k: None if k is None else ops.reshape(k, (batch * features, length))
    y = ssm_ops.causal_conv(x, flat(kernel), backward_kernel=flat(backward_kernel))
    return ops.transpose(ops.reshape(y, (length, batch, features)), (1, 0, 2))


def _document_lengths(segment_ids, valid):
    """(batch, length) float32: the valid steps of each step's document (at least 1)."""
    index = ops.arange(segment_ids.shape[1], dtype="int32")[None, :]
    start = index - segments.positions(segment_ids)
    end = index + segments.positions(segment_ids, reverse=True)
    count = ops.cumsum(valid, axis=1)
    at = lambda x, i: ops.take_along_axis(x, i, axis=1)
    return ops.maximum(at(count, end) - at(count, start) + at(valid, start), 1.0)


class SoftmaxSystem(DiagonalSystem):
    """The DSS_SOFTMAX system of one call, with what its kernel needs.

    Beside a = e^Z and b̄ (the `DiagonalSystem` of the recurrence):

    Attributes:
        z_neg: (re, im) pair (H, N), Z⁻ = Z on rows with Re λ <= 0 and -Z on rows
            with Re λ > 0, so Re Z⁻ <= 0 everywhere.
        b_unshifted: (re, im) pair (H, N), or (batch, H, N) for per-sequence lengths,
            b̃ = (e^{Z⁻} - 1) reciprocal_ε((e^{n Z⁻} - 1) λ)
            (b̄ = b̃ on rows with Re λ <= 0, b̄ = b̃ e^{-(n-1)Z} on the others).
        reversed_rows: (N,) bool, Re λ > 0 (those kernel rows are computed in
            reversed time).
        length: the length n the softmax normalizes over: an int, a scalar tensor,
            or a (batch, 1, 1) tensor of per-sequence lengths.
    """

    def __init__(self, a, b, log_a, z_neg, b_unshifted, reversed_rows, length):
        super().__init__(a, b, log_a)
        self.z_neg = z_neg
        self.b_unshifted = b_unshifted
        self.reversed_rows = reversed_rows
        self.length = length


@families.register("dss", ssm_lr=1e-3)
@keras.saving.register_keras_serializable(package="keras_ssm")
class DSS(DiagonalSSMLayer):
    """Diagonal state space: K_k = Re Σ_n W_n (e^{Δλ_n} - 1)/λ_n e^{kΔλ_n}, y = K ∗ u + D u.

    Each of the H features h runs N complex states with the eigenvalues Λ = (λ_n)
    shared by all features and its own step Δ_h. With Z[h, n] = Δ_h λ_n
    (times `step_scale`), the two variants of the paper are

        DSS_EXP:      K[h, k] = Re Σ_n W[h, n] (e^{Z} - 1) / λ_n · e^{kZ},
                      with Re λ_n = -exp(·) < 0;
        DSS_SOFTMAX:  K[h, k] = Re Σ_n W[h, n] / λ_n · softmax_ε(Z·0, ..., Z·(L-1))_k,
                      Re λ_n unconstrained, where
                      softmax_ε(x)_k = e^{x_k - m} reciprocal_ε(Σ_r e^{x_r - m}),
                      m = the x_r of largest real part, reciprocal_ε(x) = x̄/(|x|² + ε).

    and y[:, t, h] = Σ_{k<=t} K[h, k] u[:, t-k, h] + D_h u[:, t, h]. As a discrete
    diagonal system (state (H, N), `discrete_system()`): a = e^Z, c = W and

        DSS_EXP:      b̄ = (e^Z - 1) · reciprocal_clamp(λ),
        DSS_SOFTMAX:  b̄ = (e^Z - 1) · reciprocal_ε((e^{LZ} - 1) λ)       if Re λ <= 0,
                      b̄ = (e^{-Z} - 1) · reciprocal_ε((e^{-LZ} - 1) λ)
                          · e^{-(L-1)Z}                                  if Re λ > 0,

    with reciprocal_clamp(x) = x̄/max(|x|², ε) and ε = 1e-7 (the last line is the
    closed-form max shift m = (L-1)Z).
    DSS_SOFTMAX depends on the total length L: it cannot stream and has no step();
    with a mask, each sequence is normalized over its own valid length.

    Numerics of DSS_SOFTMAX when Re λ > 0: the kernel of those rows grows like
    e^{kZ}; it is computed in reversed time (e^{-jZ}, j = L-1-k, never above 1 in
    magnitude) and flipped, so the convolution path (the default) never overflows.
    The recurrence (mode="recurrence") and `discrete_system()` use b̄ above, whose
    factor e^{-(L-1)Z} underflows float32 once (L-1)·Δ·Re λ exceeds about 87; use
    the convolution there.

    Initialization (the paper's): λ_n = -0.5 + iω_n with ω from `lambda_init`
    ("hippo_skew": the positive-imaginary eigenvalues of the skew-symmetric part
    of the 2N×2N HiPPO-LegS magnitude matrix, "lin": ω_n = πn, "randn": ω_n ~
    N(0, 1)); log Δ_h uniform in [log dt_min, log dt_max]; W complex normal with
    N(0, 1) real and imaginary parts; D standard normal.

    Parameters (float32 variables): DSS_EXP: `lambda_log_neg_re` (N,) with
    Re λ = -exp(·) and `lambda_imag` (N,); DSS_SOFTMAX: `lambda_re`, `lambda_im`
    (N,) (Λ itself); both: `log_dt` (H,), `w` (H, N, 2) as (re, im),
    `w_backward` (H, N, 2) when bidirectional, `d` (H,).

    Args:
        state_size: int, N, the number of complex states per feature.
        variant: "exp" (DSS_EXP) or "softmax" (DSS_SOFTMAX).
        bidirectional: bool, add a backward system (the same Λ and Δ, its own W,
            no D) on strictly future inputs, as the authors' code: its kernel K_b
            sits at lags -1..-L, y_t = Σ_{s<=t} K[t-s] u_s + D u_t
            + Σ_{s>t} K_b[s-t-1] u_s (lag 0 only in K and D).
        mode: "auto" (convolution unless the call streams or has a per-step
            `step_scale`), "convolution" (kernel + FFT) or "recurrence" (scan).
        dt_min, dt_max: range of the initial steps Δ (log-uniform).
        lambda_init: "hippo_skew", "lin" or "randn", the initial Im Λ.
        seed: int or None, seeds every initializer (None: a seed drawn at
            construction, reproducible under `keras.utils.set_random_seed`).
        implementation: None or {op: name}, this layer's op implementations,
            e.g. {"causal_conv": "reference"} (see `DiagonalSSMLayer`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, length, features).
        mask: optional (batch, length) boolean.
        initial_state, return_state: streaming (variant "exp", causal only).
        step_scale: float multiplying Δ (2.0 runs a 16 kHz model on 8 kHz
            audio), or (variant "exp") a (batch, length) tensor of per-step factors.

    Input shape: (batch, length, features). Output shape: the same.

    Bidirectional layers before config version 2 counted lag 0 in both directions;
    `from_config` refuses such saved bidirectional configs (a clear ValueError).

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((1024, 8))
    outputs = keras_ssm.layers.DSS(state_size=16, variant="softmax")(inputs)
    model = keras.Model(inputs, outputs)
    kernel = model.layers[-1].convolution_kernel(1024)   # (8, 1024)
    ```

    References:
        Gupta, Gu, Berant. Diagonal State Spaces are as Effective as Structured
        State Spaces. NeurIPS 2022, arXiv:2203.14343.
    """

    backward_lag = 1
    config_version = 2
    # Version-1 bidirectional configs had lag 0: `check_config_version` refuses them.
    backward_lag_since_version = 2
    # DSS trains Λ, Δ (log_dt) and W at the SSM rate without weight decay; D with the model.
    ssm_group_roles = ("eigenvalues", "step", "output")

    def __init__(
        self,
        state_size=64,
        variant="exp",
        bidirectional=False,
        mode="auto",
        dt_min=1e-3,
        dt_max=0.1,
        lambda_init="hippo_skew",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_size=state_size, bidirectional=bidirectional, mode=mode, seed=seed, **kwargs
        )
        self.variant = check_choice("variant", variant, VARIANTS)
        self.lambda_init = check_choice("lambda_init", lambda_init, LAMBDA_INITS)
        self.dt_min, self.dt_max = check_step_range(dt_min, dt_max)

    def _build_ssm(self, features):
        n = self.state_size
        imag = initializers.DSSLambdaImag(self.lambda_init, seed=self._seed_for(0))
        if self.variant == "exp":
            self.lambda_log_neg_re = self.add_float32_weight(
                "lambda_log_neg_re", (n,), initializers.DSSLambdaLogNegReal()
            )
            self.lambda_imag = self.add_float32_weight("lambda_imag", (n,), imag)
        else:
            self.lambda_re = self.add_float32_weight(
                "lambda_re", (n,), keras.initializers.Constant(-0.5)
            )
            self.lambda_im = self.add_float32_weight("lambda_im", (n,), imag)
        self.log_dt = self.add_float32_weight(
            "log_dt",
            (features,),
            initializers.LogUniform(self.dt_min, self.dt_max, log=True, seed=self._seed_for(4)),
        )
        self.w = self.add_float32_weight(
            "w", (features, n, 2), initializers.ComplexNormal(1.0, seed=self._seed_for(1))
        )
        if self.bidirectional:
            self.w_backward = self.add_float32_weight(
                "w_backward",
                (features, n, 2),
                initializers.ComplexNormal(1.0, seed=self._seed_for(2)),
            )
        self.d = self.add_float32_weight(
            "d", (features,), keras.initializers.RandomNormal(stddev=1.0, seed=self._seed_for(3))
        )

    # ----------------------------------------------------------------------------
    # the system

    def _lambda(self):
        """Λ as a pair of (N,) tensors."""
        if self.variant == "exp":
            return (-ops.exp(self.lambda_log_neg_re), self.lambda_imag)
        return (self.lambda_re, self.lambda_im)

    def _step(self, step_scale):
        """Δ: (H,) for a float step_scale, (batch, length, H) for a tensor one."""
        dt = ops.exp(self.log_dt)
        if isinstance(step_scale, float):
            return dt * step_scale
        return step_scale[..., None] * dt

    def _length_dependent(self):
        return self.variant == "softmax"

    def _length_dependence_note(self):
        return "(variant='softmax') normalizes its kernel over the whole sequence length"

    def _discretize(self, step_scale, length):
        if self.variant == "softmax" and not isinstance(step_scale, float):
            raise ValueError(
                "DSS(variant='softmax') normalizes its kernel over the whole sequence, so "
                "`step_scale` must be a float (per-step factors need variant='exp')."
            )
        lam = self._lambda()
        dt = self._step(step_scale)[..., None]
        z = (dt * lam[0], dt * lam[1])  # Z = Δλ: (H, N) or (batch, length, H, N)
        a = cexp(z)
        if self.variant == "exp":
            b = cmul(cexpm1(z), _reciprocal_clamp(lam))
            return DiagonalSystem(a=a, b=b, log_a=z if isinstance(step_scale, float) else None)
        return self._softmax_system(lam, z, a, length)

    def _softmax_system(self, lam, z, a, length):
        """DSS_SOFTMAX's b̄ with the closed-form max shift (see the class docstring).

        `length` is an int, a scalar tensor, or a (batch, 1, 1) tensor of per-sequence
        lengths (then b̄ is (batch, H, N)).
        """
        if length is None:
            raise ValueError(
                "DSS(variant='softmax') needs a known sequence length (inputs with a "
                "static length axis, or `length=` for discrete_system())."
            )
        if isinstance(length, (int, np.integer)):
            n = length = int(length)
        else:
            n = ops.cast(length, "float32")
        positive = lam[0] > 0.0  # (N,)
        sign = ops.where(positive, -1.0, 1.0)
        z_neg = (sign * z[0], sign * z[1])  # Z⁻, Re Z⁻ <= 0
        total = cexpm1((n * z_neg[0], n * z_neg[1]))  # e^{n Z⁻} - 1
        b_unshifted = cmul(cexpm1(z_neg), _reciprocal_eps(cmul(total, lam)))
        # The max shift e^{-(n-1)Z} (magnitude <= 1) on rows with Re λ > 0.
        shift = cexp(
            (ops.where(positive, -(n - 1) * z[0], 0.0), ops.where(positive, -(n - 1) * z[1], 0.0))
        )
        b = cmul(b_unshifted, shift)
        return SoftmaxSystem(
            a=a,
            b=b,
            log_a=z,
            z_neg=z_neg,
            b_unshifted=b_unshifted,
            reversed_rows=positive,
            length=length,
        )

    def _readout(self, direction):
        w = self.w if direction == "forward" else self.w_backward
        return (w[..., 0], w[..., 1])

    def _kernel_from_system(self, system, c, length):
        if self.variant == "exp":
            return super()._kernel_from_system(system, c, length)
        return self._softmax_kernel(system, c, length)

    def _softmax_kernel(self, system, c, length):
        """The DSS_SOFTMAX kernel without ever forming e^{kZ} with Re Z > 0.

        Rows with Re λ <= 0: K_k = Re Σ_n W b̃ e^{kZ}. Rows with Re λ > 0:
        K_k = Re Σ_n W b̃ e^{-(n-1-k)Z} = V_{n-1-k} with V_j = Re Σ_n W b̃ e^{jZ⁻}
        (|e^{jZ⁻}| <= 1), and K_k = 0 for k >= n.

        Returns:
            (H, length), or (batch, H, length) for per-sequence lengths (b̃ of
            shape (batch, H, N)).
        """
        cb = cmul(c, system.b_unshifted)  # (H, N) or (batch, H, N)
        lead = tuple(cb[0].shape[:-1])
        states = cb[0].shape[-1]
        rows = int(np.prod(lead))
        rev = ops.cast(system.reversed_rows, "float32")
        flat = lambda x: ops.reshape(x, (rows, states))
        log = tuple(flat(ops.zeros_like(q) + p) for p, q in zip(system.z_neg, cb))
        log = tuple(ops.concatenate([p, p], axis=0) for p in log)
        coef = tuple(ops.concatenate([flat(p * (1.0 - rev)), flat(p * rev)], axis=0) for p in cb)
        both = ssm_ops.vandermonde_kernel(log, coef, length)  # (2 rows, length)
        forward = ops.reshape(both[:rows], lead + (length,))
        reversed_time = ops.reshape(both[rows:], lead + (length,))
        n = system.length
        if isinstance(n, int) and n == length:
            return forward + ops.flip(reversed_time, axis=-1)
        # tap k reads V at j = n - 1 - k (one n per sequence when batched)
        n = ops.reshape(ops.cast(n, "int32"), (-1, 1))
        index = n - 1 - ops.arange(length, dtype="int32")[None, :]  # (batch or 1, length)
        if len(lead) == 1:
            index = index[0]
            taps = ops.take(reversed_time, ops.maximum(index, 0), axis=1)
        else:
            index = ops.broadcast_to(index[:, None, :], lead + (length,))
            taps = ops.take_along_axis(reversed_time, ops.maximum(index, 0), axis=2)
        return forward + taps * ops.cast(index >= 0, "float32")

    # ----------------------------------------------------------------------------
    # masking with a length-dependent kernel

    def call(
        self,
        inputs,
        mask=None,
        initial_state=None,
        return_state=False,
        step_scale=1.0,
        training=None,
        segment_ids=None,
    ):
        whole = initial_state is None and not return_state
        if self.variant == "softmax" and whole and segment_ids is not None:
            with self._implementation_scope():
                return self._call_softmax_packed(inputs, mask, step_scale, segment_ids)
        if self.variant == "softmax" and whole and mask is not None:
            with self._implementation_scope():
                return self._call_softmax_masked(inputs, mask, step_scale)
        return super().call(
            inputs,
            mask=mask,
            initial_state=initial_state,
            return_state=return_state,
            step_scale=step_scale,
            training=training,
            segment_ids=segment_ids,
        )

    def _call_softmax_masked(self, inputs, mask, step_scale):
        """DSS_SOFTMAX on a padded batch: each sequence normalized over its valid length.

        The valid positions of each sequence (contiguous, left or right padded) give
        exactly the outputs of the unpadded sequence alone.
        """
        u = ops.cast(inputs, "float32")
        step_scale = self._check_step_scale(step_scale)
        valid = ops.cast(mask, "float32")
        u = u * valid[..., None]
        lengths = ops.maximum(ops.sum(valid, axis=1), 1.0)  # (batch,)
        if self._choose_mode(False) == "recurrence":
            system = self._discretize(step_scale, lengths[:, None, None])
            a = self._broadcast_a(system.a)
            bu = self._project_in(u, (system.b[0][:, None], system.b[1][:, None]))
            y = self._read_out(ssm_ops.linear_recurrence(a, bu), a, bu)
        else:
            y = self._per_sequence_convolution(u, lengths, step_scale)
        return self._with_feedthrough(y, u)

    def _call_softmax_packed(self, inputs, mask, step_scale, segment_ids):
        """DSS_SOFTMAX on packed rows: each document normalized over its own (valid)
        length, by the recurrence with a per-step b̄ (that of the step's document),
        whatever the mode (one convolution kernel cannot have every document's length)."""
        u = ops.cast(inputs, "float32")
        segment_ids = self._check_segment_ids(segment_ids, u)
        step_scale = self._check_step_scale(step_scale)
        valid = ops.ones_like(u[..., 0]) if mask is None else ops.cast(mask, "float32")
        u = u * valid[..., None]
        lengths = _document_lengths(segment_ids, valid)  # (batch, length)
        system = self._discretize(step_scale, lengths[:, :, None, None])
        a = self._broadcast_a(system.a)
        bu = self._project_in(u, system.b)
        x = ssm_ops.linear_recurrence(a, bu, segment_ids=segment_ids)
        return self._with_feedthrough(self._read_out(x, a, bu, segment_ids), u)

    def _per_sequence_convolution(self, u, lengths, step_scale, one_at_a_time=None):
        """Both directions' convolutions, each sequence with the kernel of its length.

        Args:
            u: (batch, length, H), zero at padded positions.
            lengths: (batch,) float, the valid lengths n.
            step_scale: float.
            one_at_a_time: map over the batch, one kernel at a time (the default when
                the batch size is not static, as in a traced tf.function); otherwise
                all B*H kernels are computed together.

        Returns:
            (batch, length, H).
        """
        length = u.shape[1]
        if length is None:
            raise ValueError("DSS(variant='softmax') needs inputs with a known (static) length.")
        if one_at_a_time is None:
            one_at_a_time = u.shape[0] is None
        if one_at_a_time:
            return ops.map(
                lambda args: self._per_sequence_convolution(
                    args[0][None], args[1][None], step_scale, one_at_a_time=False
                )[0],
                (u, lengths),
            )
        system = self._discretize(step_scale, lengths[:, None, None])
        kernel = self._kernel_from_system(system, self._readout("forward"), length)
        kb = None
        if self.bidirectional:
            kb = self._delay_backward_kernel(
                self._kernel_from_system(system, self._readout("backward"), length)
            )
        return _batched_causal_conv(u, kernel, kb)

    def get_config(self):
        config = super().get_config()
        config.update(
            variant=self.variant,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            lambda_init=self.lambda_init,
        )
        return config
