"""SSM parameter groups: the SSM parameters at their own learning rate and without weight decay.

The papers train the state-space parameters (Λ, Δ and, depending on the paper, B or W)
with a separate, usually smaller, learning rate and no weight decay, and everything else
(D, encoders, norms, GLU and output layers, heads) with AdamW:

| paper | SSM group (own rate, no decay) | default ssm_lr |
|-------|--------------------------------|----------------|
| DSS   | Λ, Δ (log_dt), W               | 1e-3           |
| DLR   | Λ, W                           | 1e-4           |
| S5    | Λ, B̃, Δ (log_step)             | 1e-3           |

Each layer family declares these facts once (`keras_ssm.layers.families`: its
`ssm_group_roles` and default rate), and tags every weight it creates
(`families.tag_weight`) with its role in the system (`variable.ssm_role`: "eigenvalues",
"step", "input", "output", "feedthrough"), the group its paper trains it in
(`variable.ssm_group`: "ssm" or "main") and its family (`variable.ssm_family`), so this
module walks no layers and keeps no table. `GroupedOptimizer` routes each variable to one
inner Keras optimizer by these tags (`{"group": "ssm"}`, `{"roles": [...]}`) or by regular
expressions on `variable.path`; `ssm_optimizer` builds the papers' groups. Schedules:
`WarmupCosine` (linear warmup then cosine, stepped every iteration) and reduce-on-plateau
with `keras.callbacks.ReduceLROnPlateau`, which scales every group's rate by the same
factor (each group stops at `min_lr` on its own).

Example:

```python
model = keras_ssm.models.build_classifier(10, vocab_size=256)
optimizer = keras_ssm.optimizers.ssm_optimizer(model, paper="dlr", lr=1e-3,
                                               weight_decay=0.05)
model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
```
"""

from keras_ssm.optimizers.grouped import TAGS
from keras_ssm.optimizers.grouped import GroupedOptimizer
from keras_ssm.optimizers.papers import ssm_optimizer
from keras_ssm.optimizers.papers import ssm_variable_patterns
from keras_ssm.optimizers.schedules import SCHEDULES
from keras_ssm.optimizers.schedules import WarmupCosine

__all__ = [
    "SCHEDULES",
    "TAGS",
    "GroupedOptimizer",
    "WarmupCosine",
    "ssm_optimizer",
    "ssm_variable_patterns",
]
