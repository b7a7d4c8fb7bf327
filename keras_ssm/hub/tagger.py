"""SSMTokenTagger: an `SSMBackbone` with a label per position."""

import keras
import keras_hub

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.tagger_preprocessor import SSMTokenTaggerPreprocessor


@keras.saving.register_keras_serializable(package="keras_ssm")
class SSMTokenTagger(keras_hub.models.Task):
    """Sequence tagging: backbone → dropout → Dense(num_classes) at every position.

    A causal backbone makes a causal tagger (streams with
    `backbone.call_with_state`); a bidirectional one sees the whole sequence.
    Outputs logits (batch, length, num_classes). Compiled by default with Adam,
    sparse categorical cross-entropy from logits and a weighted accuracy, so the
    preprocessor's padding-mask sample weights leave padded positions out of both.

    Args:
        backbone: an `SSMBackbone`.
        num_classes: int, labels per position.
        preprocessor: an `SSMTokenTaggerPreprocessor` or None.
        dropout: float, before the head.
        **kwargs: forwarded to `keras_hub.models.Task` (name, compile).

    Example:

    ```python
    import keras_ssm.hub
    # Text: one label per byte (digits 1, letters 0), padding weighted out.
    text_tagger = keras_ssm.hub.SSMTokenTagger(
        keras_ssm.hub.SSMBackbone(vocabulary_size=256, hidden_dim=16, num_layers=1),
        2, preprocessor=keras_ssm.hub.SSMTokenTaggerPreprocessor(
            keras_ssm.hub.SSMByteTokenizer(), sequence_length=16))
    text_tagger.fit(["a1b2", "c3d4"], np.array([[0, 1, 0, 1], [0, 1, 0, 1]]), verbose=0)
    # A signal: a label per step.
    signal = np.random.default_rng(0).normal(size=(4, 32)).astype("float32")
    signal_tagger = keras_ssm.hub.SSMTokenTagger(
        keras_ssm.hub.SSMBackbone(input_features=1, hidden_dim=16, num_layers=1), 2,
        preprocessor=keras_ssm.hub.SSMTokenTaggerPreprocessor())
    signal_tagger.fit(signal, (signal > 0).astype("int32"), verbose=0)
    signal_tagger.predict(signal[:1], verbose=0).shape       # (1, 32, 2)
    ```
    """

    backbone_cls = SSMBackbone
    preprocessor_cls = SSMTokenTaggerPreprocessor

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.0, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="output_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes, dtype=backbone.dtype_policy, name="logits"
        )

        # === Functional model ===
        inputs = backbone.input
        x = self.output_dropout(backbone(inputs))
        outputs = self.output_dense(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.num_classes = int(num_classes)
        self.dropout = float(dropout)

    def compile(self, optimizer="auto", loss="auto", *, weighted_metrics="auto", **kwargs):
        """`keras.Model.compile` with the defaults: Adam(1e-3), sparse categorical
        cross-entropy from logits, weighted accuracy ("auto" for each)."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(1e-3)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        if weighted_metrics == "auto":
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, weighted_metrics=weighted_metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, dropout=self.dropout)
        return config
