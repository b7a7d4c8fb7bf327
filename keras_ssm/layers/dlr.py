"""DLR: the Diagonal Linear RNN of Gupta, Mehta and Berant (arXiv 2212.00768)."""

import keras
from keras import ops

from keras_ssm import initializers
from keras_ssm.layers import families
from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.base import DiagonalSystem
from keras_ssm.layers.parameters import check_step_range
from keras_ssm.ops.common import cexp


@families.register("dlr", ssm_lr=1e-4)
@keras.saving.register_keras_serializable(package="keras_ssm")
class DLR(DiagonalSSMLayer):
    """Diagonal linear RNN: x_k = λ ⊙ x_{k-1} + u_k, y_k = Re(w · x_k) + D u_k.

    Each of the H features runs N complex states with the same eigenvalues
    λ_n = exp(-p_n² + iθ_n) (shared by all features), so |λ| <= 1 always; there is
    no discretization step. Its kernel is K[h, l] = Re(sum_n w[h, n] λ_n^l), l >= 0.

    Initialization (the paper's 'omega' init): θ_n = 2πn/N (N-th roots of unity),
    p_n² = dt_n / 2 with dt_n log-uniform in [dt_min, dt_max]; w complex normal
    with standard deviation 1/N per part; D standard normal.

    Parameters (float32 variables): `lambda_radius` p (N,), `lambda_phase` θ (N,),
    `w` (H, N, 2) as (re, im), `w_backward` (H, N, 2) when bidirectional, `d` (H,).

    Args:
        state_size: int, N, the number of complex states per feature.
        bidirectional: bool, add a backward system (its own w, the same λ, no D)
            on strictly future inputs, as the authors' code: its kernel K_b sits at
            lags -1..-L, y_k = Σ_{j<=k} K[k-j] u_j + D u_k + Σ_{j>k} K_b[j-k-1] u_j
            (lag 0 only in K and D).
        mode: "auto" (convolution unless the call streams), "convolution"
            (kernel + FFT) or "recurrence" (scan).
        dt_min, dt_max: range of the initial decays dt (radius e^{-dt/2}).
        seed: int or None (None: a seed drawn at construction, reproducible
            under `keras.utils.set_random_seed`).
        implementation: None or {op: name}, this layer's op implementations,
            e.g. {"linear_recurrence": "reference"} (see `DiagonalSSMLayer`).
        **kwargs: forwarded to `keras.layers.Layer`.

    Input shape: (batch, length, features). Output shape: the same.

    Bidirectional layers before config version 2 counted lag 0 in both directions;
    `from_config` refuses such saved bidirectional configs (a clear ValueError).

    Example:

    ```python
    import keras, keras_ssm
    inputs = keras.Input((1024, 16))
    outputs = keras_ssm.layers.DLR(state_size=256)(inputs)
    model = keras.Model(inputs, outputs)
    ```

    References:
        Gupta, Mehta, Berant. Simplifying and Understanding State Space Models with
        Diagonal Linear RNNs. arXiv:2212.00768.
    """

    has_step = False
    backward_lag = 1
    config_version = 2
    # Version-1 bidirectional configs had lag 0: `check_config_version` refuses them.
    backward_lag_since_version = 2
    # DLR trains Λ (radius, phase) and W at the SSM rate without weight decay; D with the model.
    ssm_group_roles = ("eigenvalues", "output")

    def __init__(
        self,
        state_size=64,
        bidirectional=False,
        mode="auto",
        dt_min=1e-4,
        dt_max=0.1,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            state_size=state_size, bidirectional=bidirectional, mode=mode, seed=seed, **kwargs
        )
        self.dt_min, self.dt_max = check_step_range(dt_min, dt_max)

    def _build_ssm(self, features):
        n = self.state_size
        self.lambda_radius = self.add_float32_weight(
            "lambda_radius",
            (n,),
            initializers.DLRRadius(self.dt_min, self.dt_max, seed=self._seed_for(0)),
        )
        self.lambda_phase = self.add_float32_weight("lambda_phase", (n,), initializers.DLRPhase())
        self.w = self.add_float32_weight(
            "w", (features, n, 2), initializers.ComplexNormal(1.0 / n, seed=self._seed_for(1))
        )
        if self.bidirectional:
            self.w_backward = self.add_float32_weight(
                "w_backward",
                (features, n, 2),
                initializers.ComplexNormal(1.0 / n, seed=self._seed_for(2)),
            )
        self.d = self.add_float32_weight(
            "d", (features,), keras.initializers.RandomNormal(stddev=1.0, seed=self._seed_for(3))
        )

    def _log_lambda(self):
        """log λ = -p² + iθ, a pair of (N,) tensors."""
        return (-ops.square(self.lambda_radius), self.lambda_phase)

    def _discretize(self, step_scale, length):
        log_a = self._log_lambda()
        b = (ops.ones_like(log_a[0]), ops.zeros_like(log_a[0]))
        return DiagonalSystem(a=cexp(log_a), b=b, log_a=log_a)

    def _readout(self, direction):
        w = self.w if direction == "forward" else self.w_backward
        return (w[..., 0], w[..., 1])

    def get_config(self):
        config = super().get_config()
        config.update(dt_min=self.dt_min, dt_max=self.dt_max)
        return config
