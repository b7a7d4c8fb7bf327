"""A built SSM layer's system outside a sequence call: its convolution kernel, streaming
one step at a time, and the system as numpy arrays.

Mixed into `keras_ssm.layers.DiagonalSSMLayer`.
"""

import numpy as np
from keras import ops

from keras_ssm.ops.common import cmul


class SystemAccess:
    """`convolution_kernel`, `get_initial_state`, `step` and `discrete_system` of
    `DiagonalSSMLayer`.

    They use the layer's `_discretize`, `_readout`, `_input_matrix`, `_feedthrough` and
    the base class's projections, like `call` does.
    """

    def convolution_kernel(self, length, step_scale=1.0, direction="forward"):
        """The (H, length) kernel K with y = causal_conv(u, K) + D u.

        direction="backward" gives the backward system's own kernel K_b (tap l is
        Re(c_b a^l b)); it acts on the flipped sequence from lag `backward_lag` on:
        y += flip(causal_conv(flip(u), K_b delayed by backward_lag taps)), which the layer
        computes as causal_conv(u, K, backward_kernel=K_b delayed) in one FFT product.

        Args:
            length: int, the number of taps.
            step_scale: float, multiplies Δ.
            direction: "forward" or "backward" (bidirectional layers).

        Returns:
            K: (features, length) float32 tensor.
        """
        if not self.supports_convolution:
            raise ValueError(
                f"{type(self).__name__} has no convolution kernel; use discrete_system()."
            )
        self._check_direction(direction)
        step_scale = self._check_step_scale(step_scale)
        if not isinstance(step_scale, float):
            raise ValueError("convolution_kernel needs a float `step_scale`.")
        with self._implementation_scope():
            system = self._discretize(step_scale, length)
            return self._kernel_from_system(system, self._readout(direction), length)

    def get_initial_state(self, batch_size):
        """The zero state: a (real, imag) pair of (batch_size, *state) float32 tensors.

        Example:

        ```python
        layer = keras_ssm.layers.DLR(state_size=8)
        layer.build((None, None, 2))
        state = layer.get_initial_state(4)
        for chunk in np.random.rand(3, 4, 10, 2).astype("float32"):   # 3 chunks of 10 steps
            y, state = layer(chunk, initial_state=state, return_state=True)
        ```
        """
        self._require_built()
        shape = (batch_size,) + self._state_shape()
        return (ops.zeros(shape, "float32"), ops.zeros(shape, "float32"))

    def step(self, inputs_t, state, step_scale=1.0):
        """One step of the recurrence: (outputs_t, new_state).

        Args:
            inputs_t: (batch, features), the input at one time step.
            state: pair (batch, *state) from `get_initial_state` or a previous step.
            step_scale: float, multiplies Δ.

        Returns:
            outputs_t (batch, features) in the compute dtype, and the new state pair.
        """
        self._require_built()
        if self.bidirectional:
            raise ValueError("step() needs a causal layer; this layer is bidirectional.")
        if self._length_dependent():
            raise ValueError(
                f"{type(self).__name__} {self._length_dependence_note()} so it has no step()."
            )
        step_scale = self._check_step_scale(step_scale)
        if not isinstance(step_scale, float):
            raise ValueError("step() takes a float `step_scale`.")
        u = ops.cast(inputs_t, "float32")
        if len(u.shape) != 2:
            raise ValueError(f"`inputs_t` must have shape (batch, features), got {tuple(u.shape)}.")
        system = self._discretize(step_scale, None)
        a = self._broadcast_a(system.a)
        bu = self._project_in(u[:, None, :], system.b)
        bu = (bu[0][:, 0], bu[1][:, 0])
        state = tuple(ops.cast(s, "float32") for s in state)
        new = cmul(a, state)
        new = (new[0] + bu[0], new[1] + bu[1])
        y = self._project_out((new[0][:, None], new[1][:, None]), self._readout("forward"))[:, 0]
        return self._with_feedthrough(y, u), new

    def _require_built(self):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} is not built yet: call it on an input or call "
                f"build((batch, length, features)) first."
            )

    def discrete_system(self, direction="forward", step_scale=1.0, length=None):
        """The layer as one discrete diagonal system, as numpy arrays.

        x_t = a * x_{t-1} + b @ u_t, y_t = Re(c @ x_t) + d * u_t, x_{-1} = 0.
        With `bidirectional=True`, direction="backward" gives the backward system
        (d = 0), run on the flipped sequence: with z = flip(backward(flip(u))),
        whose z_t reads the inputs u_t, u_{t+1}, ..., the layer's output is

            y_t = forward(u)_t + z_{t + backward_lag}      (z = 0 past the end):

        S5 (backward_lag 0) adds z_t; DSS and DLR (backward_lag 1, their authors'
        convention) add z_{t+1}, strictly future inputs: with the kernels K, K_b
        (tap l = Re(c a^l b)), y_t = Σ_{s<=t} K[t-s] u_s + d u_t + Σ_{s>t} K_b[s-t-1] u_s.

        Args:
            direction: "forward" or "backward".
            step_scale: float, multiplies Δ.
            length: the sequence length, for systems that depend on it (DSS softmax).

        Returns:
            dict with `a` complex (P,), `b` complex (P, H), `c` complex (H, P),
            `d` float (H,). Channel layouts (DSS, DLR) flatten H systems of N states
            channel-major: state index h*N + n.
        """
        self._require_built()
        self._check_direction(direction)
        if self._length_dependent() and length is None:
            raise ValueError(
                f"{type(self).__name__} {self._length_dependence_note()}: pass `length`."
            )
        step_scale = self._check_step_scale(step_scale)
        if not isinstance(step_scale, float):
            raise ValueError("discrete_system() takes a float `step_scale`.")
        system = self._discretize(step_scale, length)
        to_c = lambda p: (
            ops.convert_to_numpy(p[0]).astype(np.float64)
            + 1j * ops.convert_to_numpy(p[1]).astype(np.float64)
        )
        a = to_c(self._broadcast_a(system.a))
        b = to_c(system.b)
        c = to_c(self._readout(direction))
        d = ops.convert_to_numpy(self._feedthrough()).astype(np.float64)
        if direction == "backward":
            d = np.zeros_like(d)
        h = self.features
        if self.state_layout == "channel":
            n = a.shape[-1]
            b = np.broadcast_to(b, (h, n))
            eye = np.eye(h)
            b_full = (eye[:, None, :] * b[:, :, None]).reshape(h * n, h)
            c_full = (eye[:, :, None] * c[None, :, :]).reshape(h, h * n)
            return {"a": a.reshape(-1), "b": b_full, "c": c_full, "d": d}
        b_mat = to_c(self._input_matrix())
        return {"a": a, "b": b[:, None] * b_mat, "c": c, "d": d}
