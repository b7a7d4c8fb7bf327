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
recurrence and convolution modes, bidirectional layers, masking, packed documents
(`segment_ids`), streaming, `step_scale`, `discrete_system()`, dtype handling, per-layer
op implementations, seeds and serialization.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from keras_ssm import config as ssm_config
from keras_ssm import ops as ssm_ops
from keras_ssm.layers import chunked_recurrence
from keras_ssm.layers import families
from keras_ssm.layers.bidirectional import BackwardDirection
from keras_ssm.layers.packing import PackedDocuments
from keras_ssm.layers.parameters import WEIGHT_ROLES
from keras_ssm.layers.parameters import check_choice
from keras_ssm.layers.parameters import check_config_version
from keras_ssm.layers.parameters import check_implementation
from keras_ssm.layers.parameters import check_step_scale
from keras_ssm.layers.parameters import derived_seed
from keras_ssm.layers.parameters import draw_default_seed
from keras_ssm.layers.parameters import inputs_spec
from keras_ssm.layers.parameters import role_from_name
from keras_ssm.layers.system_access import SystemAccess
from keras_ssm.ops.common import cmul

# Recurrence mode holds B·L·H·N states in memory up to this many; above, per-channel
# layers fuse the scan and its readout by chunks and recompute states in the backward
# pass (`chunked_recurrence`): 2^24 complex states = 128 MiB.
FUSED_RECURRENCE_STATES = 1 << 24

MODES = ("auto", "convolution", "recurrence")
DIRECTIONS = ("forward", "backward")


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
class DiagonalSSMLayer(SystemAccess, BackwardDirection, PackedDocuments, keras.layers.Layer):
    """Base class of the diagonal SSM layers (see the module docstring).

    Args:
        state_size: int, number of states per system (N for DSS/DLR, P for S5).
        bidirectional: bool; if True, a second system runs backward in time and
            its outputs add to the forward ones; the backward system has no
            feedthrough (d = 0). It sees the inputs from lag `backward_lag` on:
            lag 0 (u_t and the future, S5) or lag 1 (strictly future inputs
            u_{t+1}, ..., DSS and DLR as their authors' code), see `discrete_system`.
        mode: "auto", "convolution" or "recurrence" (layers with a kernel only
            support "convolution").
        seed: int or None, seeds every initializer of the layer. None draws a seed
            from Python's `random` at construction, as Keras' own initializers do,
            so `keras.utils.set_random_seed` makes unseeded layers reproducible.
        implementation: None or a dict {op: name} choosing the implementation of
            the ops this layer runs, e.g. {"linear_recurrence": "sequential"} (names
            from `keras_ssm.ops.implementations(op)` on this backend; None for an op
            = automatic). It wins over `keras_ssm.config.set_implementation` and
            `KERAS_SSM_IMPL`, which still apply to the ops it does not name.
            Serialized in `get_config`, so a saved model keeps it (and loads only
            on a backend that has the named implementations).
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
            steps t-1 and t (the forward system's step t uses it). Backward, with
            `backward_lag` 0 (S5) the system goes from t+1 to t, so its step t uses
            step_scale[:, t+1] (and step_scale[:, t] at the last valid step); with
            `backward_lag` 1 (DSS) its step t uses step_scale[:, t] as the forward
            one does (u_s held over the interval before s, then decaying back to
            the output step). Masked positions count as 1.0.
        segment_ids: optional (batch, length) int, packed documents: a new document
            starts wherever segment_ids[:, t] != segment_ids[:, t-1]; each one gives
            exactly its outputs alone, in both directions (`keras_ssm.layers.packing`).
            `initial_state` enters each row's first document; `return_state` returns
            the state of its last one.

    Input shape: (batch, length, features), checked by an `InputSpec` (ndim 3,
    features fixed once built). Output shape: the same; with `return_state=True`,
    `(outputs, state)`, symbolically too (functional streaming models).
    """

    # "channel" (H systems of N states) or "dense" (one system of P states).
    state_layout = "channel"
    has_step = True
    supports_convolution = True
    # The first lag the backward system sees: 0 (u_t and the future) or 1 (strictly
    # future inputs: the backward output at t is read from the backward state at t+1).
    backward_lag = 0
    # The roles (`WEIGHT_ROLES`) of the weights the paper trains as its SSM group (own
    # learning rate, no weight decay): each family declares its own (see `families`);
    # a class that declares none trains every weight with the model.
    ssm_group_roles = ()
    # get_config()["version"] when the class changed what a saved config computes
    # (None: never changed, no version key). 2: DSS and DLR's backward_lag 1.
    config_version = None

    def __init__(
        self,
        state_size=64,
        bidirectional=False,
        mode="auto",
        seed=None,
        implementation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(state_size, (int, np.integer)) or state_size <= 0:
            raise ValueError(f"`state_size` must be a positive int, got {state_size!r}.")
        check_choice("mode", mode, MODES)
        if mode == "convolution" and not self.supports_convolution:
            raise ValueError(
                f"{type(self).__name__} has no convolution mode; use mode='recurrence' or 'auto'."
            )
        self.state_size = int(state_size)
        self.bidirectional = bool(bidirectional)
        self.mode = mode
        self.seed = seed
        self._default_seed = draw_default_seed() if seed is None else None
        self.implementation = check_implementation(implementation)
        self.supports_masking = True
        self.input_spec = inputs_spec()
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
        """A distinct, deterministic seed per initializer.

        From `seed`, or when it is None from the seed drawn at construction
        (`draw_default_seed`, which follows `keras.utils.set_random_seed`).
        """
        return derived_seed(self._default_seed if self.seed is None else self.seed, index)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (batch, length, features), "
                f"got shape {input_shape}."
            )
        if input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} needs a known number of features, got {input_shape}."
            )
        self.features = int(input_shape[-1])
        self.input_spec = inputs_spec(self.features)
        self._build_ssm(self.features)
        self.built = True

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self,
        inputs,
        mask=None,
        initial_state=None,
        return_state=False,
        step_scale=1.0,
        training=None,
        segment_ids=None,
    ):
        """The outputs' KerasTensor, and `(outputs, state)` with `return_state=True`.

        The state is the pair `get_initial_state` gives: (batch, *state) float32.
        """
        self._check_stateful_call(initial_state is not None or return_state)
        self._check_segment_ids(segment_ids, inputs)
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if return_state:
            return outputs, self.state_spec(inputs.shape[0])
        return outputs

    def state_spec(self, batch_size=None):
        """The state as a pair of KerasTensors (batch_size, *state), float32.

        Example:

        ```python
        layer = keras_ssm.layers.DLR(state_size=8)
        layer.build((None, None, 4))
        layer.state_spec()   # two KerasTensors of shape (None, 4, 8)
        ```
        """
        self._require_built()
        shape = (batch_size,) + self._state_shape()
        return (
            keras.KerasTensor(shape, dtype="float32"),
            keras.KerasTensor(shape, dtype="float32"),
        )

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            state_size=self.state_size,
            bidirectional=self.bidirectional,
            mode=self.mode,
            seed=self.seed,
            implementation=dict(self.implementation) if self.implementation else None,
        )
        if self.config_version is not None:
            config["version"] = self.config_version
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cls._check_config_version(config.pop("version", 1), config)
        return super().from_config(config)

    @classmethod
    def _check_config_version(cls, version, config):
        """Refuse configs that would load into a layer computing something else."""
        check_config_version(cls, version, config)

    def add_float32_weight(self, name, shape, initializer, trainable=True, role=None):
        """A float32 variable whatever the dtype policy (never autocast), tagged for the optimizer.

        Args:
            name, shape, initializer, trainable: as `add_weight`.
            role: the weight's part of the system, one of `WEIGHT_ROLES`
                ("eigenvalues" Λ, "step" Δ, "input" B̃, "output" C or W, "feedthrough" D);
                None reads it from the weight's name (lambda_*, log_dt, log_step, b, c, w,
                d, each optionally *_backward).

        The variable carries `ssm_role`, `ssm_group` ("ssm" when the role is in the
        class's `ssm_group_roles`, the parameters its paper trains at their own rate
        without weight decay, else "main") and `ssm_family` (`families.tag_weight`).
        """
        role = role_from_name(name) if role is None else role
        check_choice("role", role, WEIGHT_ROLES)
        variable = self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            dtype="float32",
            trainable=trainable,
            autocast=False,
        )
        return families.tag_weight(variable, self, role)

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
        return check_step_scale(self, step_scale)

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

    def _kernel_from_system(self, system, c, length):
        cb = cmul(c, system.b)
        return ssm_ops.vandermonde_kernel(system.log_a, cb, length)

    @contextlib.contextmanager
    def _implementation_scope(self):
        """Apply the layer's `implementation` choices to the ops run inside."""
        with contextlib.ExitStack() as stack:
            for op, name in (self.implementation or {}).items():
                stack.enter_context(ssm_config.use_implementation(op, name))
            yield

    def _check_stateful_call(self, stateful_call):
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
        with self._implementation_scope():
            return self._call(inputs, mask, initial_state, return_state, step_scale, segment_ids)

    def _call(self, inputs, mask, initial_state, return_state, step_scale, segment_ids=None):
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
        self._check_stateful_call(stateful_call)
        if per_step and None not in (step_scale.shape[1], length) and step_scale.shape[1] != length:
            raise ValueError(
                f"`step_scale` must have shape (batch, length) = (batch, {length}) like the "
                f"inputs, got shape {tuple(step_scale.shape)}."
            )
        segment_ids = self._check_segment_ids(segment_ids, u)
        if mask is not None:
            u = u * ops.cast(mask, "float32")[..., None]
            if per_step:
                step_scale = ops.where(ops.cast(mask, "bool"), step_scale, 1.0)
        mode = self._call_mode(stateful_call or per_step, segment_ids)
        system = self._discretize(step_scale, length)
        if mode == "convolution":
            kernel = self._kernel_from_system(system, self._readout("forward"), length)
            kb = None
            if self.bidirectional:
                kb = self._delay_backward_kernel(
                    self._kernel_from_system(system, self._readout("backward"), length)
                )
            y = ssm_ops.causal_conv(u, kernel, backward_kernel=kb, segment_ids=segment_ids)
            state = None
        elif chunked_recurrence.applies(self, u, per_step, FUSED_RECURRENCE_STATES):
            y, state = chunked_recurrence.layer_call(self, u, system, initial_state, segment_ids)
        else:
            a = system.a if per_step else self._broadcast_a(system.a)
            bu = self._project_in(u, system.b)
            if initial_state is not None:
                initial_state = tuple(ops.cast(s, "float32") for s in initial_state)
            result = ssm_ops.linear_recurrence(
                a,
                bu,
                initial_state=initial_state,
                return_final_state=return_state,
                segment_ids=segment_ids,
            )
            x, state = result if return_state else (result, None)
            if self.bidirectional and per_step and self.backward_lag == 0:
                back_scale = self._backward_step_scale(step_scale, mask, segment_ids)
                back = self._discretize(back_scale, length)
                a, bu = back.a, self._project_in(u, back.b)
            y = self._read_out(x, a, bu, segment_ids)
        y = self._with_feedthrough(y, u)
        if return_state:
            return y, state
        return y

    def _read_out(self, x, a, bu, segment_ids=None):
        """Re(C x) of the forward states, plus the backward system's readout when
        bidirectional (the reverse scan of a, bu): (batch, length, H)."""
        y = self._project_out(x, self._readout("forward"))
        if self.bidirectional:
            xb = ssm_ops.linear_recurrence(a, bu, reverse=True, segment_ids=segment_ids)
            y = y + self._backward_readout(xb, segment_ids)
        return y

    def _with_feedthrough(self, y, u):
        """The layer's output y + D ⊙ u, in the compute dtype."""
        return ops.cast(y + self._feedthrough() * u, self.compute_dtype)

    def _length_dependence_note(self):
        return "depends on the total sequence length"

    def _check_direction(self, direction):
        check_choice("direction", direction, DIRECTIONS)
        if direction == "backward" and not self.bidirectional:
            raise ValueError("direction='backward' needs a layer built with bidirectional=True.")
