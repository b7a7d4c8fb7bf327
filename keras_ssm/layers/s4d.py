"""S4D: the diagonal S4 of Gu, Gupta, Goel and Ré (arXiv 2206.11893)."""

import math

import keras
from keras import ops

from keras_ssm import initializers
from keras_ssm.layers import families
from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.base import DiagonalSystem
from keras_ssm.layers.parameters import check_choice
from keras_ssm.layers.parameters import check_step_range
from keras_ssm.ops.common import cdiv
from keras_ssm.ops.common import cexp
from keras_ssm.ops.common import cexpm1
from keras_ssm.ops.common import clog
from keras_ssm.ops.common import cmul

INITS = initializers.hippo.S4D_INITS
DISCRETIZATIONS = ("zoh", "bilinear")


@families.register("s4d", ssm_lr=1e-3)
@keras.saving.register_keras_serializable(package="keras_ssm")
class S4D(DiagonalSSMLayer):
    """S4D: K[h, l] = 2 Re Σ_n C[h, n] B̄[h, n] Ā[h, n]^l,  y = K ∗ u + D ⊙ u.

    Each of the H features h runs its own diagonal SSM of N real states, stored as
    N/2 complex modes, one of each conjugate pair (hence the 2 Re): with
    A = −exp(log_a_real) + i·a_imag (H, N/2), B, C complex (H, N/2), D (H,) and a step
    Δ_h = exp(log_dt_h) per feature (times `step_scale`),

        ZOH:       Ā = exp(ΔA),                   B̄ = (exp(ΔA) − 1)/A · B
        bilinear:  Ā = (1 + ΔA/2)/(1 − ΔA/2),     B̄ = Δ/(1 − ΔA/2) · B

    and x_t = Ā ⊙ x_{t−1} + B̄ u_t, y_t = 2 Re Σ_n C x_t + D u_t (state (H, N/2)). The
    convolution mode computes K with `vandermonde_kernel` (Ā^l = exp(l log Ā)) and an
    FFT convolution; the recurrence mode runs `linear_recurrence`. As a discrete system
    (`discrete_system()`): a = Ā, b = B̄, c = 2C.

    Initialization (`init`, the paper's and its code's, Re A = −½ always):
    "lin" S4D-Lin A_n = −½ + iπn; "inv" S4D-Inv A_n = −½ + i(N/π)(N/(2n+1) − 1);
    "legs" S4D-LegS, the diagonalized normal part of HiPPO-LegS with its B (Im B
    clamped to [−2, 2], as the code); B = 1 for "lin" and "inv". A and B are the same
    for every feature. C complex standard normal (each part N(0, ½)); D standard
    normal; log Δ_h uniform in [log dt_min, log dt_max]. `initializers.s4d_init` gives
    the values. B is trained, as in the S4 repository's diagonal kernel (the minimal
    S4D file folds it into C).

    Bidirectional (as the S4 code, every LRA config): the same A, B, Δ run backward
    in time and are read out by their own C_backward, on strictly future inputs:
    y_t = Σ_{s<=t} K[t−s] u_s + D u_t + Σ_{s>t} K_b[s−t−1] u_s (lag 0 only in K and D).

    Parameters (float32 variables): `log_dt` (H,), `log_a_real` and `a_imag`
    (H, N/2), `b` (H, N/2, 2) and `c` (H, N/2, 2) as (re, im), `c_backward`
    (H, N/2, 2) when bidirectional, `d` (H,).

    Args:
        state_size: int, N, the real state size per feature (even): N/2 complex modes.
        init: "lin" (S4D-Lin, the default), "inv" (S4D-Inv) or "legs" (S4D-LegS).
        dt_min, dt_max: range of the initial steps Δ (log-uniform).
        discretization: "zoh" or "bilinear".
        bidirectional: bool, add the backward system (its own C, no D).
        mode: "auto" (convolution unless the call streams or has a per-step
            `step_scale`), "convolution" (kernel + FFT) or "recurrence" (scan).
        seed: int or None, seeds every initializer (None: a seed drawn at
            construction, reproducible under `keras.utils.set_random_seed`).
        implementation: None or {op: name}, this layer's op implementations,
            e.g. {"causal_conv": "reference"} (see `DiagonalSSMLayer`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, length, features).
        mask: optional (batch, length) boolean.
        initial_state, return_state: streaming (causal layers only), see
            `get_initial_state` and `step`.
        step_scale: float multiplying Δ (2.0 runs a 16 kHz model on 8 kHz audio,
            the code's `rate`), or a (batch, length) tensor of per-step factors.

    Input shape: (batch, length, features). Output shape: the same.

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((1024, 8))
    outputs = keras_ssm.layers.S4D(state_size=16, init="legs", bidirectional=True)(inputs)
    model = keras.Model(inputs, outputs)
    layer = model.layers[-1]
    kernel = layer.convolution_kernel(1024)                               # (8, 1024)
    y_half_rate = layer(keras.random.normal((1, 512, 8)), step_scale=2.0)  # zero-shot
    ```

    References:
        Gu, Gupta, Goel, Ré. On the Parameterization and Initialization of Diagonal
        State Space Models. NeurIPS 2022, arXiv:2206.11893.
    """

    backward_lag = 1
    # The S4 code trains Δ, A and B at their own rate (1e-3) without weight decay; C and
    # D with the model.
    ssm_group_roles = ("eigenvalues", "step", "input")

    def __init__(
        self,
        state_size=64,
        init="lin",
        dt_min=1e-3,
        dt_max=0.1,
        discretization="zoh",
        bidirectional=False,
        mode="auto",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_size=state_size, bidirectional=bidirectional, mode=mode, seed=seed, **kwargs
        )
        if self.state_size % 2:
            raise ValueError(
                f"`state_size` must be even: S4D stores N/2 complex modes, one of each "
                f"conjugate pair; got {self.state_size}. Use {self.state_size + 1}."
            )
        self.init = check_choice("init", init, INITS)
        self.dt_min, self.dt_max = check_step_range(dt_min, dt_max)
        self.discretization = check_choice("discretization", discretization, DISCRETIZATIONS)

    def _states_per_channel(self):
        return self.state_size // 2

    def _build_ssm(self, features):
        shape = (features, self.state_size // 2)
        part = lambda name: initializers.S4DInit(self.init, name)
        self.log_dt = self.add_float32_weight(
            "log_dt",
            (features,),
            initializers.LogUniform(self.dt_min, self.dt_max, log=True, seed=self._seed_for(0)),
            role="step",
        )
        self.log_a_real = self.add_float32_weight(
            "log_a_real", shape, part("log_a_real"), role="eigenvalues"
        )
        self.a_imag = self.add_float32_weight("a_imag", shape, part("a_imag"), role="eigenvalues")
        self.b = self.add_float32_weight("b", shape + (2,), part("b"), role="input")
        std = math.sqrt(0.5)  # complex standard normal: E|C|² = 1
        self.c = self.add_float32_weight(
            "c",
            shape + (2,),
            initializers.ComplexNormal(std, seed=self._seed_for(1)),
            role="output",
        )
        if self.bidirectional:
            self.c_backward = self.add_float32_weight(
                "c_backward",
                shape + (2,),
                initializers.ComplexNormal(std, seed=self._seed_for(2)),
                role="output",
            )
        self.d = self.add_float32_weight(
            "d",
            (features,),
            keras.initializers.RandomNormal(stddev=1.0, seed=self._seed_for(3)),
            role="feedthrough",
        )

    def _a(self):
        """A = −exp(log_a_real) + i·a_imag, a pair of (H, N/2) tensors."""
        return (-ops.exp(self.log_a_real), self.a_imag)

    def _step(self, step_scale):
        """Δ as (H, 1) for a float step_scale, (batch, length, H, 1) for a tensor one."""
        dt = ops.exp(self.log_dt)
        if isinstance(step_scale, float):
            return (dt * step_scale)[:, None]
        return (step_scale[..., None] * dt)[..., None]

    def _discretize(self, step_scale, length):
        a = self._a()
        b = (self.b[..., 0], self.b[..., 1])
        dt = self._step(step_scale)
        z = (dt * a[0], dt * a[1])  # ΔA
        time_invariant = isinstance(step_scale, float)
        if self.discretization == "zoh":
            a_bar = cexp(z)
            b_bar = cmul(cdiv(cexpm1(z), a), b)  # (exp(ΔA) − 1)/A · B
            return DiagonalSystem(a=a_bar, b=b_bar, log_a=z if time_invariant else None)
        one_minus = (1.0 - 0.5 * z[0], -0.5 * z[1])  # 1 − ΔA/2
        a_bar = cdiv((1.0 + 0.5 * z[0], 0.5 * z[1]), one_minus)
        b_bar = cmul(cdiv(dt, one_minus), b)  # Δ/(1 − ΔA/2) · B
        return DiagonalSystem(a=a_bar, b=b_bar, log_a=clog(a_bar) if time_invariant else None)

    def _readout(self, direction):
        c = self.c if direction == "forward" else self.c_backward
        return (2.0 * c[..., 0], 2.0 * c[..., 1])  # 2 Re: each mode stands for a pair

    def get_config(self):
        config = super().get_config()
        config.update(
            init=self.init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            discretization=self.discretization,
        )
        return config
