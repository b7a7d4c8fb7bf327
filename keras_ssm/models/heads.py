"""Small serializable layers used by the model builders: position selection and pooling."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_ssm")
class LastPosition(keras.layers.Layer):
    """The features at the last valid position of each sequence: (B, L, H) -> (B, H).

    With a mask, the last position where the mask is True (right or left padding);
    without one, position L - 1.

    Example:

    ```python
    x = keras.random.normal((2, 10, 8))                # (batch, length, H)
    pooled = keras_ssm.models.heads.LastPosition()(x)  # (2, 8)
    ```
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs[:, -1]
        length = ops.shape(inputs)[1]
        positions = ops.arange(1, length + 1, dtype="int32")[None, :]
        last = ops.max(ops.where(ops.cast(mask, "bool"), positions, 0), axis=1) - 1
        last = ops.maximum(last, 0)
        return ops.take_along_axis(inputs, last[:, None, None], axis=1)[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None


@keras.saving.register_keras_serializable(package="keras_ssm")
class TakeLast(keras.layers.Layer):
    """The last `positions` positions of a sequence: (B, L, H) -> (B, positions, H).

    The DSS/DLR decoder's `mode=last` with ℓ_out outputs (synthetic tasks). The mask,
    if any, is sliced the same way.

    Args:
        positions: int >= 1.

    Example:

    ```python
    x = keras.random.normal((2, 64, 8))
    y = keras_ssm.models.heads.TakeLast(16)(x)   # (2, 16, 8)
    ```
    """

    def __init__(self, positions, **kwargs):
        super().__init__(**kwargs)
        if int(positions) < 1:
            raise ValueError(f"`positions` must be >= 1, got {positions!r}.")
        self.positions = int(positions)
        self.supports_masking = True

    def call(self, inputs):
        return inputs[:, -self.positions :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.positions) + tuple(input_shape[2:])

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[:, -self.positions :]

    def get_config(self):
        config = super().get_config()
        config.update(positions=self.positions)
        return config
