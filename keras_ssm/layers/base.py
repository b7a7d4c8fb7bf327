"""The base class shared by DSS, DLR and S5: one discrete diagonal system per direction.

Every layer here is a linear time-invariant map (batch, length, H) -> (batch, length, H)
described by a discrete diagonal system

    x_t = a ⊙ x_{t-1} + b̄ ⊙ (B̃ u_t),      y_t = Re(C x_t) + D ⊙ u_t,

with complex a (the discretized eigenvalues Λ̄), an input factor b̄ and output weights C.
Two layouts of the state exist:

- "channel" (DSS, DLR): H independent systems of N states, state shape (H, N);
  B̃ u_t is u_t broadcast over the N states and C x is Re(sum_n c[h, n] x[h, n]).
- "dense" (S5): one system of P states, state shape (P,); B̃ (P, H) and C (H, P)
  are dense complex matrices.

A subclass creates its weights in `_build_ssm(features)` and describes its system with
`_discretize(step_scale, length)` and `_readout(direction)`; this class does the rest:
recurrence and convolution modes, bidirectional layers, masking, streaming,
`step_scale`, `discrete_system()`, dtype handling and serialization.
"""

import keras
import numpy as np
from keras import ops

from keras_ssm import ops as ssm_ops
from keras_ssm.ops.common import is_pair

MODES = ("auto", "convolution", "recurrence")
DIRECTIONS = ("forward", "backward")


def cmul(x, y):
    """Complex product of (re, im) pairs (a plain tensor counts as real)."""
    if not is_pair(x):
        return (x * y[0], x * y[1])
    if not is_pair(y):
        return (x[0] * y, x[1] * y)
    return (x[0] * y[0] - x[1] * y[1], x[0] * y[1] + x[1] * y[0])


def cexp(z):
    """exp of a complex pair."""
    mag = ops.exp(z[0])
    return (mag * ops.cos(z[1]), mag * ops.sin(z[1]))


def cexpm1(z):
    """exp(z) - 1 of a complex pair, accurate for small |z|.

    Re = e^x cos y - 1 = expm1(x) cos y - 2 sin²(y/2), Im = e^x sin y.
    """
    x, y = z
    half_sin = ops.sin(0.5 * y)
    return (ops.expm1(x) * ops.cos(y) - 2.0 * half_sin * half_sin, ops.exp(x) * ops.sin(y))


def cdiv(x, y, eps=0.0):
    """x / y on pairs; with eps > 0, y^-1 = conj(y) / (|y|^2 + eps)."""
    den = y[0] * y[0] + y[1] * y[1] + eps
    inv = (y[0] / den, -y[1] / den)
    return cmul(x, inv)


class DiagonalSystem:
    """The discretized system of one call, as tensors.

    Attributes:
        a: (re, im) pair of the state shape, or (batch, length, *state) per step.
        b: (re, im) pair, the input factor b̄, same shapes as `a`.
        log_a: (re, im) pair with exp(log_a) = a, or None (time-invariant only).
    """

    def __init__(self, a, b, log_a=None):
        self.a = a
        self.b = b
        self.log_a = log_a


@keras.saving.register_keras_serializable(package="keras_ssm")
class DiagonalSSMLayer(keras.layers.Layer):
    """Base class of the diagonal SSM layers (see the module docstring).

    Args:
        state_size: int, number of states per system (N for DSS/DLR, P for S5).
        bidirectional: bool; if True, a second system runs backward in time and
            y = forward(u) + flip(backward(flip(u))), both including lag 0; the
            backward system has no feedthrough (d = 0).
        mode: "auto", "convolution" or "recurrence" (layers with a kernel only
            support "convolution").
        seed: int or None, seeds every initializer of the layer.
        **kwargs: forwarded to `keras.layers.Layer` (name, dtype, ...).

    Call arguments:
        inputs: (batch, length, features).
        mask: optional (batch, length) boolean; padded positions (whatever their
            values) do not change outputs at valid positions, in both directions.
            Valid positions are assumed contiguous (left or right padding).
        initial_state: optional state from `get_initial_state` or a previous call
            (causal layers only); implies the recurrence.
        return_state: if True, return `(outputs, state)` (causal layers only).
        step_scale: float, or a (batch, length) tensor of per-step factors, that
            multiplies the discretization step Δ (layers with a Δ only). A tensor
            gives irregular sampling: step_scale[:, t] is the interval between
            steps t-1 and t (the forward system's step t uses it); the backward
            system goes from t+1 to t, so its step t uses step_scale[:, t+1] (and
            step_scale[:, t] at the last valid step). Masked positions count as 1.0.
    """

    # "channel" (H systems of N states) or "dense" (one system of P states).
    state_layout = "channel"
    has_step = True
    supports_convolution = True

    def __init__(self, state_size=64, bidirectional=False, mode="auto", seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(state_size, (int, np.integer)) or state_size <= 0:
            raise ValueError(f"`state_size` must be a positive int, got {state_size!r}.")
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}, got {mode!r}.")
        if mode == "convolution" and not self.supports_convolution:
            raise ValueError(
                f"{type(self).__name__} has no convolution mode; use mode='recurrence' or 'auto'."
            )
        self.state_size = int(state_size)
        self.bidirectional = bool(bidirectional)
        self.mode = mode
        self.seed = seed
        self.supports_masking = True
        self.features = None

    # ----------------------------------------------------------------------------
    # to be provided by subclasses

    def _build_ssm(self, features):
        raise NotImplementedError

    def _discretize(self, step_scale, length):
        """Return a `DiagonalSystem` for this call.

        step_scale is a python float or a (batch, length) float32 tensor.
        """
        raise NotImplementedError

    def _readout(self, direction):
        """C as a pair: (H, N) for the channel layout, (H, P) for the dense one,
        with every constant factor (S5's 2 for conjugate symmetry) folded in."""
        raise NotImplementedError

    def _input_matrix(self):
        """B̃ as a (P, H) pair for the dense layout (None for the channel layout)."""
        return None

    def _feedthrough(self):
        """D, (H,)."""
        return self.d

    def _length_dependent(self):
        """True when the system depends on the total length (DSS softmax)."""
        return False

    # ----------------------------------------------------------------------------
    # Keras plumbing

    def _seed_for(self, index):
        """A distinct, deterministic seed per initializer (None stays None)."""
        if self.seed is None:
            return None
        return int(self.seed) * 1009 + index

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, length, features), "
                f"got shape {input_shape}."
            )
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs a known number of features, got {input_shape}.")
        self.features = int(input_shape[-1])
        self._build_ssm(self.features)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            state_size=self.state_size,
            bidirectional=self.bidirectional,
            mode=self.mode,
            seed=self.seed,
        )
        return config

    def add_float32_weight(self, name, shape, initializer, trainable=True):
        """A float32 variable whatever the dtype policy (never autocast)."""
        return self.add_weight(
            name=name, shape=shape, initializer=initializer, dtype="float32",
            trainable=trainable, autocast=False,
        )

    # ----------------------------------------------------------------------------
    # the system

    @property
    def num_states(self):
        """P: the number of states of the flattened system of one direction."""
        if self.state_layout == "channel":
            return self.features * self._states_per_channel()
        return self._dense_states()

    def _states_per_channel(self):
        return self.state_size

    def _dense_states(self):
        return self.state_size

    def _state_shape(self):
        if self.state_layout == "channel":
            return (self.features, self._states_per_channel())
        return (self._dense_states(),)

    def _check_step_scale(self, step_scale):
        if isinstance(step_scale, (int, float, np.floating, np.integer)):
            step_scale = float(step_scale)
            if not self.has_step and step_scale != 1.0:
                raise ValueError(
                    f"{type(self).__name__} has no discretization step Δ, so `step_scale` "
                    f"must be 1.0, got {step_scale}."
                )
            if step_scale <= 0:
                raise ValueError(f"`step_scale` must be positive, got {step_scale}.")
            return step_scale
        if not self.has_step:
            raise ValueError(
                f"{type(self).__name__} has no discretization step Δ; `step_scale` cannot be given."
            )
        shape = tuple(step_scale.shape)
        if len(shape) != 2:
            raise ValueError(
                f"`step_scale` must be a float or a (batch, length) tensor, got shape {shape}."
            )
        return ops.cast(step_scale, "float32")

    # ----------------------------------------------------------------------------
    # forward computation

    def _project_in(self, u, b):
        """b̄ ⊙ (B̃ u): (batch, length, *state) pair from u (batch, length, H)."""
        if self.state_layout == "channel":
            u = u[..., None]  # (B, L, H, 1) against b (N,), (H, N) or (B, L, H, N)
            return (u * b[0], u * b[1])
        b_mat = self._input_matrix()  # (P, H)
        bu = (ops.matmul(u, ops.transpose(b_mat[0])), ops.matmul(u, ops.transpose(b_mat[1])))
        return cmul(b, bu)

    def _project_out(self, x, c):
        """Re(C x): (batch, length, H) from the state pair (batch, length, *state)."""
        if self.state_layout == "channel":
            return ops.sum(x[0] * c[0] - x[1] * c[1], axis=-1)
        return ops.matmul(x[0], ops.transpose(c[0])) - ops.matmul(x[1], ops.transpose(c[1]))

    def _broadcast_a(self, a):
        """The channel layout allows a of shape (N,) shared by all H systems."""
        if self.state_layout == "channel" and len(a[0].shape) == 1:
            shape = self._state_shape()
            return (ops.broadcast_to(a[0], shape), ops.broadcast_to(a[1], shape))
        return a

    def _choose_mode(self, recurrence_needed):
        if self.mode == "recurrence" or not self.supports_convolution:
            return "recurrence"
        if recurrence_needed:
            if self.mode == "convolution":
                raise ValueError(
                    f"mode='convolution' cannot carry a state or a per-step `step_scale`; "
                    f"use mode='recurrence' or 'auto' for {type(self).__name__}."
                )
            return "recurrence"
        return "convolution"

    def convolution_kernel(self, length, step_scale=1.0, direction="forward"):
        """The (H, length) kernel K with y = causal_conv(u, K) + D u.

        Args:
            length: int, the number of taps.
            step_scale: float, multiplies Δ.
            direction: "forward" or "backward" (bidirectional layers).

        Returns:
            K: (features, length) float32 tensor.
        """
        if not self.supports_convolution:
            raise ValueError(f"{type(self).__name__} has no convolution kernel; use discrete_system().")
        self._check_direction(direction)
        step_scale = self._check_step_scale(step_scale)
        if not isinstance(step_scale, float):
            raise ValueError("convolution_kernel needs a float `step_scale`.")
        system = self._discretize(step_scale, length)
        return self._kernel_from_system(system, self._readout(direction), length)

    def _kernel_from_system(self, system, c, length):
        cb = cmul(c, system.b)
        return ssm_ops.vandermonde_kernel(system.log_a, cb, length)

    def call(self, inputs, mask=None, initial_state=None, return_state=False, step_scale=1.0,
             training=None):
        u = ops.cast(inputs, "float32")
        length = u.shape[1]
        if length is None:
            raise ValueError(
                f"{type(self).__name__} needs a static sequence length, but this call is "
                f"traced with an unknown length (shape {tuple(u.shape)}). On TensorFlow, "
                f"Keras retraces fit/predict with an unknown length once it has seen two "
                f"different lengths: pad the sequences to one length (use a mask for the "
                f"padding) or call the model eagerly per length."
            )
        step_scale = self._check_step_scale(step_scale)
        per_step = not isinstance(step_scale, float)
        stateful_call = initial_state is not None or return_state
        if stateful_call and self.bidirectional:
            raise ValueError(
                "Streaming (`initial_state` / `return_state`) needs a causal layer; "
                "this layer is bidirectional."
            )
        if stateful_call and self._length_dependent():
            raise ValueError(
                f"{type(self).__name__} {self._length_dependence_note()} so it cannot stream "
                f"chunk by chunk (`initial_state` / `return_state`)."
            )
        if per_step and None not in (step_scale.shape[1], length) and step_scale.shape[1] != length:
            raise ValueError(
                f"`step_scale` must have shape (batch, length) = (batch, {length}) like the "
                f"inputs, got shape {tuple(step_scale.shape)}."
            )
        if mask is not None:
            u = u * ops.cast(mask, "float32")[..., None]
            if per_step:
                step_scale = ops.where(ops.cast(mask, "bool"), step_scale, 1.0)
        mode = self._choose_mode(stateful_call or per_step)
        system = self._discretize(step_scale, length)
        d = self._feedthrough()
        if mode == "convolution":
            y = ssm_ops.causal_conv(u, self._kernel_from_system(system, self._readout("forward"), length))
            if self.bidirectional:
                kb = self._kernel_from_system(system, self._readout("backward"), length)
                y = y + ops.flip(ssm_ops.causal_conv(ops.flip(u, axis=1), kb), axis=1)
            state = None
        else:
            a = system.a if per_step else self._broadcast_a(system.a)
            bu = self._project_in(u, system.b)
            if initial_state is not None:
                initial_state = tuple(ops.cast(s, "float32") for s in initial_state)
            result = ssm_ops.linear_recurrence(
                a, bu, initial_state=initial_state, return_final_state=return_state
            )
            x, state = result if return_state else (result, None)
            y = self._project_out(x, self._readout("forward"))
            if self.bidirectional:
                if per_step:
                    back = self._discretize(self._backward_step_scale(step_scale, mask), length)
                    a, bu = back.a, self._project_in(u, back.b)
                xb = ssm_ops.linear_recurrence(a, bu, reverse=True)
                y = y + self._project_out(xb, self._readout("backward"))
        y = y + d * u
        y = ops.cast(y, self.compute_dtype)
        if return_state:
            return y, state
        return y

    def _backward_step_scale(self, step_scale, mask):
        """Per-step factors of the backward system, which steps from t+1 to t.

        Its step t takes the interval of step t+1, step_scale[:, t+1]; the last
        valid step (no valid successor) keeps its own step_scale[:, t].
        """
        following = ops.concatenate([step_scale[:, 1:], step_scale[:, -1:]], axis=1)
        valid = ops.cast(ops.ones_like(step_scale) if mask is None else mask, "bool")
        has_next = ops.concatenate([valid[:, 1:], ops.zeros_like(valid[:, :1])], axis=1)
        return ops.where(has_next, following, step_scale)

    def _length_dependence_note(self):
        return "depends on the total sequence length"

    def _check_direction(self, direction):
        if direction not in DIRECTIONS:
            raise ValueError(f"`direction` must be one of {DIRECTIONS}, got {direction!r}.")
        if direction == "backward" and not self.bidirectional:
            raise ValueError("direction='backward' needs a layer built with bidirectional=True.")

    # ----------------------------------------------------------------------------
    # streaming

    def get_initial_state(self, batch_size):
        """The zero state: a (real, imag) pair of (batch_size, *state) float32 tensors.

        Example:

        ```python
        state = layer.get_initial_state(4)
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
        y = y + self._feedthrough() * u
        return ops.cast(y, self.compute_dtype), new

    def _require_built(self):
        if not self.built:
            raise ValueError(
                f"{type(self).__name__} is not built yet: call it on an input or call "
                f"build((batch, length, features)) first."
            )

    # ----------------------------------------------------------------------------
    # the system as numpy

    def discrete_system(self, direction="forward", step_scale=1.0, length=None):
        """The layer as one discrete diagonal system, as numpy arrays.

        x_t = a * x_{t-1} + b @ u_t, y_t = Re(c @ x_t) + d * u_t, x_{-1} = 0.
        With `bidirectional=True`, direction="backward" gives the backward system
        (d = 0) and y = forward(u) + flip(backward(flip(u))).

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
        to_c = lambda p: ops.convert_to_numpy(p[0]).astype(np.float64) + 1j * ops.convert_to_numpy(p[1]).astype(np.float64)
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
