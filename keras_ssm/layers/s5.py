"""S5: the simplified state-space layer of Smith, Warrington and Linderman (arXiv 2208.04933)."""

import keras
import numpy as np
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

DISCRETIZATIONS = ("zoh", "bilinear")
C_INITS = initializers.S5C.OPTIONS
# clip_eigs: the largest real part of Λ used in the forward pass.
MAX_REAL_PART = -1e-4


@families.register("s5", ssm_lr=1e-3)
@keras.saving.register_keras_serializable(package="keras_ssm")
class S5(DiagonalSSMLayer):
    """S5: one multi-input multi-output diagonal SSM, x_k = Λ̄ x_{k-1} + B̄ u_k.

    A single system of P complex states reads all H features and writes all H
    outputs (the paper's "MIMO" layer), in the eigenbasis of its state matrix:

        x_k = Λ̄ ⊙ x_{k-1} + B̄ u_k,      y_k = 2 Re(C̃ x_k) + D ⊙ u_k

    with Λ ∈ C^P, B̃ ∈ C^{P×H}, C̃ ∈ C^{H×P}, D ∈ R^H and one step Δ_p per state.
    The discretization is recomputed from the parameters on every call:

        ZOH:       Λ̄ = exp(ΛΔ),                   B̄ = (Λ̄ − 1)/Λ ⊙ B̃
        bilinear:  Λ̄ = (1 + ΔΛ/2)/(1 − ΔΛ/2),     B̄ = Δ/(1 − ΔΛ/2) ⊙ B̃

    With `conj_sym=True` only one eigenvalue of each conjugate pair is stored
    (P = state_size / 2) and the output is 2 Re(C̃ x) + D u; with `conj_sym=False`
    all P = state_size states are kept and the output is Re(C̃ x) + D u.

    Initialization (the paper's): Λ and V from the diagonalized HiPPO-N matrix of
    block size state_size / blocks, repeated over the J = `blocks` blocks (with
    conj_sym, the eigenvalues of negative imaginary part and their eigenvector
    columns); B̃ = V⁻¹B with B real lecun normal (std 1/sqrt(state_size)); C̃ = C V
    with C per `c_init` (C̃ drawn directly for "complex_normal"); D standard
    normal; log Δ_p uniform in [log dt_min, log dt_max].

    Bidirectional (as the paper): the same Λ, B̃, Δ run backward in time, read out
    by their own C̃_backward; y = forward(u) + flip(backward(flip(u))), both
    including lag 0 (the backward system has no D).

    The scan runs on the time-invariant Λ̄ (P,); B̄u and C̃x are real matmuls on
    (re, im) parts. A (batch, length) `step_scale` tensor (irregular sampling)
    discretizes every step with its own Δ_p · step_scale[:, t].

    Parameters (float32 variables): `lambda_re` (P,), `lambda_im` (P,),
    `b` (P, H, 2) and `c` (H, P, 2) as (re, im), `c_backward` (H, P, 2) when
    bidirectional, `d` (H,), `log_step` (P,).

    Args:
        state_size: int, the paper's P before conjugate halving (`ssm_size`).
        blocks: int, J, the number of HiPPO-N blocks; state_size / blocks must be
            an integer, and even when `conj_sym=True`.
        conj_sym: bool, keep one state of each conjugate pair (output 2 Re(C̃x)).
        discretization: "zoh" or "bilinear".
        c_init: "trunc_standard_normal" (rows of C with std 1/sqrt(state_size)),
            "lecun_normal" (std 1/sqrt(H·state_size)) or "complex_normal" (C̃
            directly, std sqrt(0.5) per part).
        bidirectional: bool, add the backward system (same Λ, B̃, Δ; its own C̃).
        dt_min, dt_max: range of the initial steps Δ (log-uniform).
        clip_eigs: bool, use min(Re Λ, -1e-4) in the forward pass (stable for
            unbounded lengths; the parameter itself is unconstrained).
        mode: "auto" or "recurrence" (S5 always runs the scan).
        seed: int or None, seeds every initializer (None: a seed drawn at
            construction, reproducible under `keras.utils.set_random_seed`).
        implementation: None or {op: name}, this layer's op implementations,
            e.g. {"linear_recurrence": "reference"} (see `DiagonalSSMLayer`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        inputs: (batch, length, features).
        mask: optional (batch, length) boolean.
        initial_state, return_state: streaming (causal layers only), see
            `get_initial_state` and `step`.
        step_scale: float (2.0 runs a 16 kHz model on 8 kHz audio), or a
            (batch, length) tensor of per-step intervals (irregular sampling);
            see `DiagonalSSMLayer` for the backward direction.

    Input shape: (batch, length, features). Output shape: the same.

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((1600, 8))    # 0.1 s of 16 kHz audio, 8 features
    outputs = keras_ssm.layers.S5(state_size=16, blocks=2, bidirectional=True)(inputs)
    model = keras.Model(inputs, outputs)
    # Zero-shot at half the sampling rate: the same weights, twice the step.
    layer = model.layers[-1]
    y_8k = layer(keras.random.normal((1, 800, 8)), step_scale=2.0)
    ```

    References:
        Smith, Warrington, Linderman. Simplified State Space Layers for Sequence
        Modeling. ICLR 2023, arXiv:2208.04933.
    """

    state_layout = "dense"
    supports_convolution = False
    # S5 trains Λ, B̃ and Δ at the SSM rate without weight decay; C and D with the model.
    ssm_group_roles = ("eigenvalues", "step", "input")

    def __init__(
        self,
        state_size=64,
        blocks=1,
        conj_sym=True,
        discretization="zoh",
        c_init="trunc_standard_normal",
        bidirectional=False,
        dt_min=1e-3,
        dt_max=0.1,
        clip_eigs=False,
        mode="auto",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_size=state_size, bidirectional=bidirectional, mode=mode, seed=seed, **kwargs
        )
        if isinstance(blocks, bool) or not isinstance(blocks, (int, np.integer)) or blocks <= 0:
            raise ValueError(f"`blocks` must be a positive int, got {blocks!r}.")
        blocks = int(blocks)
        if self.state_size % blocks:
            raise ValueError(
                f"`state_size` ({self.state_size}) must be divisible by `blocks` ({blocks}); "
                f"choose `blocks` among the divisors of `state_size`."
            )
        block_size = self.state_size // blocks
        if conj_sym and block_size % 2:
            raise ValueError(
                f"With conj_sym=True the block size `state_size` / `blocks` = "
                f"{self.state_size} / {blocks} = {block_size} must be even (eigenvalues come "
                f"in conjugate pairs); change `state_size` or `blocks`, or use conj_sym=False."
            )
        self.blocks = blocks
        self.conj_sym = bool(conj_sym)
        self.discretization = check_choice("discretization", discretization, DISCRETIZATIONS)
        self.c_init = check_choice("c_init", c_init, C_INITS)
        self.dt_min, self.dt_max = check_step_range(dt_min, dt_max)
        self.clip_eigs = bool(clip_eigs)

    def _dense_states(self):
        return self.state_size // 2 if self.conj_sym else self.state_size

    def _build_ssm(self, features):
        p = self._dense_states()
        structure = dict(blocks=self.blocks, conj_sym=self.conj_sym)
        self.lambda_re = self.add_float32_weight(
            "lambda_re", (p,), initializers.S5LambdaReal(**structure), role="eigenvalues"
        )
        self.lambda_im = self.add_float32_weight(
            "lambda_im", (p,), initializers.S5LambdaImag(**structure), role="eigenvalues"
        )
        self.b = self.add_float32_weight(
            "b",
            (p, features, 2),
            initializers.S5B(**structure, seed=self._seed_for(0)),
            role="input",
        )
        self.c = self.add_float32_weight(
            "c",
            (features, p, 2),
            initializers.S5C(**structure, kind=self.c_init, seed=self._seed_for(1)),
            role="output",
        )
        if self.bidirectional:
            self.c_backward = self.add_float32_weight(
                "c_backward",
                (features, p, 2),
                initializers.S5C(**structure, kind=self.c_init, seed=self._seed_for(2)),
                role="output",
            )
        self.d = self.add_float32_weight(
            "d",
            (features,),
            keras.initializers.RandomNormal(stddev=1.0, seed=self._seed_for(3)),
            role="feedthrough",
        )
        self.log_step = self.add_float32_weight(
            "log_step",
            (p,),
            initializers.LogUniform(self.dt_min, self.dt_max, log=True, seed=self._seed_for(4)),
            role="step",
        )

    def _lambda(self):
        """Λ as a (P,) pair; with clip_eigs, Re Λ = min(lambda_re, -1e-4)."""
        real = ops.minimum(self.lambda_re, MAX_REAL_PART) if self.clip_eigs else self.lambda_re
        return (real, self.lambda_im)

    def _step(self, step_scale):
        """Δ: (P,) for a float step_scale, (batch, length, P) for a tensor one."""
        step = ops.exp(self.log_step)
        if isinstance(step_scale, float):
            return step * step_scale
        return step_scale[..., None] * step

    def _discretize(self, step_scale, length):
        lam = self._lambda()
        dt = self._step(step_scale)
        z = (lam[0] * dt, lam[1] * dt)  # ΛΔ
        if self.discretization == "zoh":
            a = cexp(z)
            b = cdiv(cexpm1(z), lam)  # (Λ̄ − 1)/Λ
            return DiagonalSystem(a=a, b=b, log_a=z)
        one_minus = (1.0 - 0.5 * z[0], -0.5 * z[1])  # 1 − ΔΛ/2
        a = cdiv((1.0 + 0.5 * z[0], 0.5 * z[1]), one_minus)
        b = cdiv(dt, one_minus)
        return DiagonalSystem(a=a, b=b)

    def _input_matrix(self):
        return (self.b[..., 0], self.b[..., 1])

    def _readout(self, direction):
        c = self.c if direction == "forward" else self.c_backward
        scale = 2.0 if self.conj_sym else 1.0
        return (scale * c[..., 0], scale * c[..., 1])

    def get_config(self):
        config = super().get_config()
        config.update(
            blocks=self.blocks,
            conj_sym=self.conj_sym,
            discretization=self.discretization,
            c_init=self.c_init,
            dt_min=self.dt_min,
            dt_max=self.dt_max,
            clip_eigs=self.clip_eigs,
        )
        return config
