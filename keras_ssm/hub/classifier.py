"""SSMSequenceClassifier: an `SSMBackbone` with pooling and a classification head."""

import keras
import keras_hub
from keras import ops

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.classifier_preprocessor import SSMSequenceClassifierPreprocessor
from keras_ssm.models.heads import LastPosition

POOLINGS = ("mean", "last")


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMSequenceClassifier(keras_hub.models.TextClassifier):
    """Sequence classification: backbone → masked pooling → dropout → Dense(num_classes).

    Text through a tokenizing preprocessor, images and audio as feature sequences
    (`SSMSequenceClassifierPreprocessor` without a tokenizer and a backbone with
    `input_features`). Outputs logits unless `activation` is given.

    Args:
        backbone: an `SSMBackbone`.
        num_classes: int.
        preprocessor: an `SSMSequenceClassifierPreprocessor` or None (then `fit` and
            `predict` take the backbone's input dict).
        pooling: "mean" (over valid positions, S5 and DSS) or "last" (the last valid
            position, a causal model's summary).
        activation: None (logits) or a Keras activation for the head.
        dropout: float, before the head.
        **kwargs: forwarded to `keras_hub.models.Task` (name, compile).

    Example:

    ```python
    import keras_ssm.hub
    backbone = keras_ssm.hub.SSMBackbone(vocabulary_size=256, hidden_dim=16, num_layers=1,
                                         ssm_kwargs={"state_size": 8})
    preprocessor = keras_ssm.hub.SSMSequenceClassifierPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=32)
    classifier = keras_ssm.hub.SSMSequenceClassifier(backbone, 2, preprocessor=preprocessor)
    classifier.fit(["good", "bad"], np.array([1, 0]), verbose=0)
    logits = classifier.predict(["fine"], verbose=0)
    ```
    """

    backbone_cls = SSMBackbone
    preprocessor_cls = SSMSequenceClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        pooling="mean",
        activation=None,
        dropout=0.0,
        **kwargs,
    ):
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}.")
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        if pooling == "mean":
            self.pooler = keras.layers.GlobalAveragePooling1D(
                dtype=backbone.dtype_policy, name="pooler"
            )
        else:
            self.pooler = LastPosition(dtype=backbone.dtype_policy, name="pooler")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes, activation=activation, dtype=backbone.dtype_policy, name="logits"
        )

        # === Functional model ===
        inputs = backbone.input
        x = backbone(inputs)
        mask = ops.not_equal(inputs["padding_mask"], 0)
        x = self.pooler(x, mask=mask)
        x = self.output_dropout(x)
        outputs = self.output_dense(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.pooling = pooling
        self.activation = keras.activations.get(activation)
        self.dropout = float(dropout)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            pooling=self.pooling,
            activation=keras.activations.serialize(self.activation),
            dropout=self.dropout,
        )
        return config
