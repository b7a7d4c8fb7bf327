"""MaskedBatchNormalization: BatchNorm over batch and time that torch.compile traces whole.

Keras' `BatchNormalization` computes its training moments over a tracked Python list of
axes, which torch's dynamo cannot trace (a graph break in every block of a compiled
model). This subclass computes the training statistics itself, over a tuple of axes and
with Keras' formulas, so `jit_compile=True` on torch sees one graph; under a
`tf.distribute` strategy with `synchronized=True` it also sums the masked count, sum and
sum of squares over the replicas (Keras computes masked moments per replica).
"""

import keras
from keras import ops

from keras_ssm.ops import backend as ssm_backend


@keras.saving.register_keras_serializable(package="keras_ssm")
class MaskedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose training statistics torch.compile can trace.

    Same arguments, weights and results as `keras.layers.BatchNormalization` (moving
    averages `moving = moving * momentum + batch * (1 - momentum)`, float32 statistics).
    In training, the moments of the inputs x (batch, length, H) over batch and time are

        mean = Σ m x / Σ m,    variance = Σ m (x - mean)² / Σ m

    with m the (batch, length) mask (all ones without one). With `synchronized=True`
    under a `tf.distribute` strategy the sums run over all replicas; renorm and
    unmasked synchronized statistics are Keras' own (its `call`).

    Example:

    ```python
    import numpy as np
    norm = MaskedBatchNormalization(epsilon=1e-5)
    y = norm(np.ones((2, 5, 3), "float32"), training=True)   # (2, 5, 3)
    ```
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or getattr(self, "renorm", False):
            return super().call(inputs, training=training, mask=mask)
        replicas = self.synchronized and ssm_backend.replicas_in_sync() > 1
        if self.synchronized and mask is None and replicas:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        channel_axis = self.axis % len(x.shape)
        axes = tuple(i for i in range(len(x.shape)) if i != channel_axis)
        if mask is None:
            mean = ops.mean(x, axis=axes)
            variance = ops.mean(ops.square(x - _expand(mean, channel_axis, len(x.shape))), axes)
        elif replicas:
            mean, variance = _replica_moments(x, mask, axes)
        else:
            mean, variance = _masked_moments(x, mask, axes, channel_axis)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(ops.cast(moving, x.dtype) * self.momentum + batch * (1.0 - self.momentum))
        outputs = ops.batch_normalization(
            x,
            mean,
            variance,
            axis=self.axis,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)


def _expand(channels, channel_axis, rank):
    """A (H,) vector reshaped to broadcast against a rank-`rank` tensor along `channel_axis`."""
    shape = [1] * rank
    shape[channel_axis] = -1
    return ops.reshape(channels, shape)


def _mask_weights(x, mask):
    return ops.broadcast_to(ops.cast(ops.expand_dims(mask, -1), x.dtype), ops.shape(x))


def _masked_moments(x, mask, axes, channel_axis):
    """Two-pass masked mean and variance (Keras' formula), per channel."""
    weights = _mask_weights(x, mask)
    count = ops.sum(weights, axes) + keras.config.epsilon()
    mean = ops.sum(x * weights, axes) / count
    centred = (x - _expand(mean, channel_axis, len(x.shape))) * weights
    return mean, ops.sum(ops.square(centred), axes) / count


def _replica_moments(x, mask, axes):
    """Masked mean and variance from the count, sum and sum of squares over all replicas."""
    weights = _mask_weights(x, mask)
    count = ops.sum(weights, axes)
    total = ops.sum(x * weights, axes)
    squares = ops.sum(ops.square(x) * weights, axes)
    count, total, squares = ssm_backend.replica_sum(count, total, squares)
    mean = total / (count + keras.config.epsilon())
    variance = ops.maximum(squares / (count + keras.config.epsilon()) - ops.square(mean), 0.0)
    return mean, variance
