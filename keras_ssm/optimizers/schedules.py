"""Learning-rate schedules of the papers: `WarmupCosine` (linear warmup, then cosine decay)."""

import math

import keras
from keras import ops

SCHEDULES = ("constant", "cosine", "plateau")


@keras.saving.register_keras_serializable(package="keras_ssm")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup to `base_lr`, then cosine decay to `min_lr` at `total_steps`.

    For step t (the optimizer's iteration count, 0 for the first update), with
    W = warmup_steps and T = total_steps:

        t <  W:  lr = base_lr · (t + 1) / W
        t >= W:  lr = min_lr + (base_lr − min_lr) · ½ (1 + cos(π · min(t − W, T − W) / (T − W)))

    and lr = min_lr after T. (S5's code measures its cosine from t = 0 rather than from
    the end of the warmup, so it ends W steps early; DSS/DLR use this form.)

    Args:
        base_lr: float, the peak rate.
        warmup_steps: int >= 0.
        total_steps: int > warmup_steps.
        min_lr: float, the final rate.

    Example:

    ```python
    schedule = keras_ssm.optimizers.WarmupCosine(1e-3, warmup_steps=100, total_steps=10000)
    optimizer = keras.optimizers.AdamW(schedule)
    ```
    """

    def __init__(self, base_lr, warmup_steps, total_steps, min_lr=0.0, name="warmup_cosine"):
        if int(warmup_steps) < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps!r}.")
        if total_steps is None or int(total_steps) <= int(warmup_steps):
            raise ValueError(
                f"`total_steps` must be greater than warmup_steps={warmup_steps}, got "
                f"{total_steps!r}."
            )
        self.base_lr = float(base_lr)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = int(total_steps)
        self.min_lr = float(min_lr)
        self.name = name

    def __call__(self, step):
        t = ops.cast(step, "float32")
        warmup = self.base_lr * (t + 1.0) / max(self.warmup_steps, 1)
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip((t - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.min_lr + (self.base_lr - self.min_lr) * 0.5 * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.where(t < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "min_lr": self.min_lr,
            "name": self.name,
        }
