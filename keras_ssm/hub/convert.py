"""Models of `keras_ssm.models` (the examples' checkpoints) as keras-hub tasks, weights included."""

import keras

from keras_ssm.hub.backbone import SSMBackbone
from keras_ssm.hub.classifier import SSMSequenceClassifier
from keras_ssm.hub.tagger import SSMTokenTagger
from keras_ssm.layers.block import SSMBlock
from keras_ssm.models.heads import LastPosition
from keras_ssm.models.heads import TakeLast

# SSM config keys that belong to the Keras layer, not to the constructor's SSM arguments.
_LAYER_KEYS = ("name", "dtype", "trainable", "version", "build_config")


def _parts(model):
    """(encoder, blocks, final norm, pooling, head) of a `build_classifier`/`build_tagger` model."""
    layers = [x for x in model.layers if not isinstance(x, keras.layers.InputLayer)]
    blocks = [x for x in layers if isinstance(x, SSMBlock)]
    unsupported = [x for x in layers if isinstance(x, (keras.layers.Masking, TakeLast))]
    if not blocks or unsupported or len(model.inputs) != 1:
        raise ValueError(
            "Expected a single-input model of keras_ssm.models.build_classifier or build_tagger "
            "(output_length=None, no mask_value); got one with layers "
            f"{[type(x).__name__ for x in layers]}."
        )
    first, last = layers.index(blocks[0]), layers.index(blocks[-1])
    encoder = layers[first - 1]
    after = layers[last + 1 :]
    final_norm = None
    if after and isinstance(
        after[0], (keras.layers.LayerNormalization, keras.layers.BatchNormalization)
    ):
        final_norm = after.pop(0)
    pooling = after.pop(0) if len(after) == 2 else None
    return encoder, blocks, final_norm, pooling, after[-1]


def backbone_from_model(model):
    """An `SSMBackbone` with the encoder, blocks and final norm of `model`, weights copied.

    Args:
        model: from `keras_ssm.models.build_classifier` or `build_tagger`.

    Returns:
        (backbone, the remaining (pooling, head) layers of `model`).
    """
    encoder, blocks, final_norm, pooling, head = _parts(model)
    block = blocks[0].get_config()
    ssm = dict(block["ssm"]["config"])
    for key in _LAYER_KEYS:
        ssm.pop(key, None)
    bidirectional = ssm.pop("bidirectional", False)
    ssm.pop("seed", None)
    tokens = isinstance(encoder, keras.layers.Embedding)
    backbone = SSMBackbone(
        vocabulary_size=encoder.input_dim if tokens else None,
        input_features=None if tokens else int(encoder.kernel.shape[0]),
        hidden_dim=int(blocks[0].ssm.features),
        num_layers=len(blocks),
        ssm={"class_name": block["ssm"]["class_name"], **ssm},
        bidirectional=bidirectional,
        norm=block["norm"],
        prenorm=block["prenorm"],
        activation=block["activation"],
        dropout=block["dropout"],
        final_norm=final_norm is not None,
        block_kwargs={
            "output_linear": block["output_linear"],
            "gelu_approximate": block["gelu_approximate"],
            "norm_kwargs": block["norm_kwargs"],
        },
    )
    backbone.encoder.set_weights(encoder.get_weights())
    for target, source in zip(backbone.ssm_blocks, blocks):
        target.set_weights(source.get_weights())
    if final_norm is not None:
        backbone.final_norm_layer.set_weights(final_norm.get_weights())
    return backbone, pooling, head


def classifier_from_model(model, preprocessor=None):
    """An `SSMSequenceClassifier` computing what a `build_classifier` model computes.

    Token models read their padding as token 0 (`mask_zero=True`); the task reads it
    from `padding_mask`, which its preprocessor sets the same way.

    Example:

    ```python
    import keras_ssm.hub
    model = keras_ssm.models.build_classifier(2, vocab_size=256, hidden_size=16, num_layers=1,
                                              mask_zero=True)   # or an example's checkpoint
    preprocessor = keras_ssm.hub.SSMSequenceClassifierPreprocessor(
        keras_ssm.hub.SSMByteTokenizer(), sequence_length=64)
    classifier = keras_ssm.hub.convert.classifier_from_model(model, preprocessor)
    classifier.save_to_preset("./classifier_preset")
    ```
    """
    backbone, pooling, head = backbone_from_model(model)
    task = SSMSequenceClassifier(
        backbone,
        int(head.units),
        preprocessor=preprocessor,
        pooling="last" if isinstance(pooling, LastPosition) else "mean",
    )
    task.output_dense.set_weights(head.get_weights())
    return task


def tagger_from_model(model, preprocessor=None):
    """An `SSMTokenTagger` computing what a `build_tagger(..., output_length=None)` model does."""
    backbone, _, head = backbone_from_model(model)
    task = SSMTokenTagger(backbone, int(head.units), preprocessor=preprocessor)
    task.output_dense.set_weights(head.get_weights())
    return task
