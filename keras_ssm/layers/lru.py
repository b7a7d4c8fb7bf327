"""LRU: the Linear Recurrent Unit of Orvieto et al. (arXiv 2303.06349)."""

import math

import keras
from keras import ops

from keras_ssm import initializers
from keras_ssm.layers import families
from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.base import DiagonalSystem
from keras_ssm.ops.common import cexp


@families.register("lru", ssm_lr=1e-3)
@keras.saving.register_keras_serializable(package="keras_ssm")
class LRU(DiagonalSSMLayer):
    """Linear Recurrent Unit: x_k = λ ⊙ x_{k−1} + γ ⊙ (B u_k), y_k = Re(C x_k) + D ⊙ u_k.

    One system of N complex states reads all H features and writes all H outputs, with

        λ_j = exp(−exp(ν_log_j) + i·exp(θ_log_j)),     γ_j = exp(γ_log_j),

    so |λ_j| < 1 always; B ∈ C^{N×H}, C ∈ C^{H×N}, D ∈ R^H. There is no
    discretization step and no conjugate pairing (the real part is taken, no factor 2).
    γ is a trained parameter, initialized to sqrt(1 − |λ|²) (the paper's
    normalization) and not recomputed from λ afterwards. As a discrete system
    (`discrete_system()`): a = λ, b = diag(γ) B (γ folded into b), c = C, so
    x_t = a x_{t−1} + b @ u_t is the whole recurrence. The layer runs
    `linear_recurrence` on λ (time-invariant) and real matmuls for B u and C x.

    Initialization (the paper's Appendix A): |λ|² uniform on [r_min², r_max²] and the
    phase exp(θ_log) uniform on [0, max_phase) (`initializers.lru_ring_init`);
    B with real and imaginary parts N(0, 1/(2H)); C with parts N(0, 1/N); D standard
    normal.

    Bidirectional (the paper leaves the formula open; keras-ssm's choice, as S5 and
    the bidirectional LRU ports): the same λ, γ and B run backward in time, read out
    by their own C_backward, both directions including lag 0:
    y_t = Re(C x_t) + Re(C_b x^b_t) + D u_t, x^b_t = λ x^b_{t+1} + γ B u_t.

    Parameters (float32 variables): `nu_log`, `theta_log`, `gamma_log` (N,), `b` (N, H, 2)
    and `c` (H, N, 2) as (re, im), `c_backward` (H, N, 2) when bidirectional, `d` (H,).

    Args:
        state_size: int, N, the number of complex states.
        r_min, r_max: the ring of initial |λ|, 0 <= r_min <= r_max <= 1 (paper's
            tuned rings: sCIFAR [0.9, 0.999], ListOps [0, 0.99], PathX [0.999, 0.9999]).
        max_phase: float > 0, the range of the initial phases (2π; PathX π/10).
        bidirectional: bool, add the backward system (its own C, no D).
        mode: "auto" or "recurrence" (the LRU always runs the scan).
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

    Input shape: (batch, length, features). Output shape: the same.

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((1024, 8))
    outputs = keras_ssm.layers.LRU(state_size=16, r_min=0.9, r_max=0.999)(inputs)
    model = keras.Model(inputs, outputs)
    system = model.layers[-1].discrete_system()   # a (16,), b (16, 8), c (8, 16), d (8,)
    ```

    References:
        Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De. Resurrecting Recurrent
        Neural Networks for Long Sequences. ICML 2023, arXiv:2303.06349.
    """

    state_layout = "dense"
    has_step = False
    supports_convolution = False
    # The paper trains ν, θ, γ and B at a reduced rate (base rate × its "LR factor")
    # without weight decay; C and D with the model.
    ssm_group_roles = ("eigenvalues", "input")

    def __init__(
        self,
        state_size=64,
        r_min=0.0,
        r_max=1.0,
        max_phase=2.0 * math.pi,
        bidirectional=False,
        mode="auto",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_size=state_size, bidirectional=bidirectional, mode=mode, seed=seed, **kwargs
        )
        r_min, r_max, max_phase = float(r_min), float(r_max), float(max_phase)
        if not (0.0 <= r_min <= r_max <= 1.0 and r_min < 1.0):
            raise ValueError(
                f"Need 0 <= r_min <= r_max <= 1 and r_min < 1 (the ring of initial |λ|), "
                f"got r_min={r_min}, r_max={r_max}."
            )
        if not max_phase > 0.0:
            raise ValueError(
                f"`max_phase` must be > 0 (e.g. 2π, or π/10 for PathX), got {max_phase}."
            )
        self.r_min, self.r_max, self.max_phase = r_min, r_max, max_phase

    def _build_ssm(self, features):
        n = self.state_size
        ring = lambda part: initializers.LRURing(
            part, self.r_min, self.r_max, self.max_phase, seed=self._seed_for(0)
        )
        self.nu_log = self.add_float32_weight("nu_log", (n,), ring("nu_log"), role="eigenvalues")
        self.theta_log = self.add_float32_weight(
            "theta_log", (n,), ring("theta_log"), role="eigenvalues"
        )
        # γ normalizes B u: the input factor b̄ of the discrete system.
        self.gamma_log = self.add_float32_weight("gamma_log", (n,), ring("gamma_log"), role="input")
        self.b = self.add_float32_weight(
            "b",
            (n, features, 2),
            initializers.ComplexNormal(1.0 / math.sqrt(2 * features), seed=self._seed_for(1)),
            role="input",
        )
        self.c = self.add_float32_weight(
            "c",
            (features, n, 2),
            initializers.ComplexNormal(1.0 / math.sqrt(n), seed=self._seed_for(2)),
            role="output",
        )
        if self.bidirectional:
            self.c_backward = self.add_float32_weight(
                "c_backward",
                (features, n, 2),
                initializers.ComplexNormal(1.0 / math.sqrt(n), seed=self._seed_for(3)),
                role="output",
            )
        self.d = self.add_float32_weight(
            "d",
            (features,),
            keras.initializers.RandomNormal(stddev=1.0, seed=self._seed_for(4)),
            role="feedthrough",
        )

    def _log_lambda(self):
        """log λ = −exp(ν_log) + i·exp(θ_log), a pair of (N,) tensors."""
        return (-ops.exp(self.nu_log), ops.exp(self.theta_log))

    def _discretize(self, step_scale, length):
        log_a = self._log_lambda()
        gamma = ops.exp(self.gamma_log)
        return DiagonalSystem(a=cexp(log_a), b=(gamma, ops.zeros_like(gamma)), log_a=log_a)

    def _input_matrix(self):
        return (self.b[..., 0], self.b[..., 1])

    def _readout(self, direction):
        c = self.c if direction == "forward" else self.c_backward
        return (c[..., 0], c[..., 1])

    def get_config(self):
        config = super().get_config()
        config.update(r_min=self.r_min, r_max=self.r_max, max_phase=self.max_phase)
        return config
