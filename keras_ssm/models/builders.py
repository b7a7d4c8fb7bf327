"""Model builders for the paper architectures; each returns an ordinary functional `keras.Model`.

Every model is the trunk (`keras_ssm.models.trunk`: an encoder, token Embedding or Dense
from input features → a stack of `SSMBlock`s → an optional final norm, for pre-norm
models, the DSS/DLR convention) → a head:

- `build_classifier`: masked mean or last-position pooling → Dense(classes);
- `build_tagger`: per position (optionally the last ℓ_out positions) → Dense(d_out);
- `build_retrieval_classifier`: two documents through the same encoder, masked mean
  e1, e2 → [e1, e2, e1 − e2, e1 ⊙ e2] → Dense(H) → GELU → Dense(classes) (LRA Retrieval).

Heads return logits (no softmax): compile with `from_logits=True` losses.
"""

import keras

from keras_ssm.models.heads import LastPosition
from keras_ssm.models.heads import TakeLast
from keras_ssm.models.trunk import Trunk

POOLINGS = ("mean", "last")

# The builders' arguments that describe the trunk (`keras_ssm.models.trunk.Trunk`).
_TRUNK_ARGUMENTS = (
    "vocab_size",
    "input_features",
    "hidden_size",
    "num_layers",
    "ssm",
    "ssm_kwargs",
    "bidirectional",
    "norm",
    "prenorm",
    "activation",
    "dropout",
    "final_norm",
    "mask_zero",
    "block_kwargs",
    "seed",
    "name",
)


def _trunk(arguments):
    """The trunk of a builder, from its arguments (`locals()` at its first line)."""
    return Trunk(**{key: arguments[key] for key in _TRUNK_ARGUMENTS})


def _encoded_inputs(trunk, sequence_length, mask_value, name, packed=False):
    """(inputs, features): the model input and the trunk's (batch, length, H) output on it,
    behind a `keras.layers.Masking` when `mask_value` is given. With `packed`, the inputs
    are [data, segment_ids]."""
    inputs = trunk.input(sequence_length, "tokens" if trunk.vocab_size is not None else "inputs")
    x = inputs
    if mask_value is not None:
        x = keras.layers.Masking(mask_value, name=f"{name}_masking")(x)
    if not packed:
        return inputs, trunk(x)
    segment_ids = trunk.segment_ids_input(sequence_length)
    return [inputs, segment_ids], trunk(x, segment_ids=segment_ids)


def _pool(x, pooling, name):
    if pooling == "mean":
        return keras.layers.GlobalAveragePooling1D(name=name)(x)
    if pooling == "last":
        return LastPosition(name=name)(x)
    raise ValueError(f"`pooling` must be one of {POOLINGS}, got {pooling!r}.")


def build_classifier(
    num_classes,
    *,
    vocab_size=None,
    input_features=None,
    sequence_length=None,
    hidden_size=128,
    num_layers=4,
    ssm="dlr",
    ssm_kwargs=None,
    bidirectional=False,
    norm="layer",
    prenorm=True,
    activation="gelu",
    dropout=0.0,
    final_norm=None,
    pooling="mean",
    mask_zero=False,
    mask_value=None,
    block_kwargs=None,
    seed=None,
    name="sequence_classifier",
):
    """A sequence classifier: encoder → SSM blocks → (final norm) → pooling → Dense(classes).

    Args:
        num_classes: int, the number of logits.
        vocab_size: int, token inputs (batch, length) int32 with an Embedding encoder.
        input_features: int, real inputs (batch, length, input_features) with a Dense encoder.
            Give exactly one of `vocab_size` and `input_features`.
        sequence_length: int or None (any length).
        hidden_size: int, H, the model width.
        num_layers: int, the number of `SSMBlock`s.
        ssm: a layer family name ("dlr", "dss", "s5", ...; `keras_ssm.layers.families`)
            or a dict {"class_name": ..., **kwargs}; one new layer per block (seeded by
            the trunk's rule, `keras_ssm.models.trunk.trunk_seed`, when `seed` is set).
        ssm_kwargs: dict of SSM constructor arguments (state_size, mode, ...).
        bidirectional: bool, passed to every SSM (False = causal).
        norm, prenorm, activation, dropout: `SSMBlock` arguments.
        final_norm: bool or None; None = a final norm after the last block exactly when
            the blocks are pre-norm (DSS/DLR; S5 has none: pass False).
        pooling: "mean" (masked mean over valid positions) or "last" (the last valid
            position).
        mask_zero: bool, token 0 is padding (token inputs): masks pass through the blocks.
        mask_value: float or None, real inputs whose features all equal it are padding
            (a `keras.layers.Masking` before the encoder).
        block_kwargs: dict of further `SSMBlock` arguments (norm_kwargs, gelu_approximate, ...).
        seed: int or None, seeds every initializer and dropout.
        name: the model name (also the prefix of layer names).

    Returns:
        A `keras.Model` from the inputs to (batch, num_classes) logits.

    Example:

    ```python
    model = keras_ssm.models.build_classifier(10, vocab_size=256, hidden_size=64,
                                              num_layers=2, ssm_kwargs={"state_size": 32})
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ```
    """
    inputs, x = _encoded_inputs(_trunk(locals()), sequence_length, mask_value, name)
    x = _pool(x, pooling, f"{name}_pool")
    outputs = keras.layers.Dense(num_classes, name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)


def build_tagger(
    output_features,
    *,
    vocab_size=None,
    input_features=None,
    sequence_length=None,
    output_length=None,
    hidden_size=128,
    num_layers=4,
    ssm="dlr",
    ssm_kwargs=None,
    bidirectional=False,
    norm="layer",
    prenorm=True,
    activation="gelu",
    dropout=0.0,
    final_norm=None,
    mask_zero=False,
    mask_value=None,
    packed=False,
    block_kwargs=None,
    seed=None,
    name="sequence_tagger",
):
    """A per-position model: encoder → SSM blocks → (final norm) → Dense(output_features).

    The DSS/DLR decoder with `mode=last`: with `output_length=ℓ_out` only the last ℓ_out
    positions are kept (the synthetic tasks); with None every position (segmentation,
    streaming). A causal tagger with `output_length=None` streams with
    `keras_ssm.models.StreamingModel`.

    With `packed=True` the model takes `[inputs, segment_ids]`: several documents per
    row, `segment_ids` (batch, length) int32 (a new document starts where the id
    changes), each document computed exactly as alone (`keras_ssm.layers.packing`).

    Args:
        output_features: int, d_out per position.
        output_length: int or None, ℓ_out.
        packed: bool, a second input `segment_ids` (packed documents).
        (the other arguments as `build_classifier`)

    Returns:
        A `keras.Model` to (batch, ℓ_out or length, output_features).

    Example:

    ```python
    model = keras_ssm.models.build_tagger(1, input_features=1, output_length=16,
                                          hidden_size=32, num_layers=2)
    lm = keras_ssm.models.build_tagger(256, vocab_size=256, hidden_size=16, num_layers=1,
                                       packed=True)
    ids = np.array([[0, 0, 0, 1, 1, 2, 2, 2]])          # three documents in one row
    logits = lm([np.ones((1, 8), "int32"), ids])        # (1, 8, 256)
    ```
    """
    inputs, x = _encoded_inputs(_trunk(locals()), sequence_length, mask_value, name, packed)
    if output_length is not None:
        x = TakeLast(output_length, name=f"{name}_take_last")(x)
    outputs = keras.layers.Dense(output_features, name=f"{name}_head")(x)
    return keras.Model(inputs, outputs, name=name)


def build_retrieval_classifier(
    num_classes=2,
    *,
    vocab_size=None,
    input_features=None,
    sequence_length=None,
    hidden_size=128,
    num_layers=4,
    ssm="dlr",
    ssm_kwargs=None,
    bidirectional=False,
    norm="layer",
    prenorm=True,
    activation="gelu",
    dropout=0.0,
    final_norm=None,
    mask_zero=True,
    block_kwargs=None,
    seed=None,
    name="retrieval_classifier",
):
    """The LRA Retrieval dual encoder: a shared encoder and the [e1, e2, e1−e2, e1⊙e2] head.

    Both documents go through the same layers (shared weights); each is mean-pooled over
    its valid positions to e1, e2 (batch, H); the head is
    Dense(H) → GELU → Dense(num_classes) on the concatenation [e1, e2, e1 − e2, e1 ⊙ e2].

    Args:
        num_classes: int (2 for AAN).
        mask_zero: bool, token 0 is padding (default True: documents have different lengths).
        (the other arguments as `build_classifier`)

    Returns:
        A `keras.Model` with inputs [document_1, document_2] and (batch, num_classes) logits.

    Example:

    ```python
    model = keras_ssm.models.build_retrieval_classifier(vocab_size=257, hidden_size=16,
                                                        num_layers=1,
                                                        ssm_kwargs={"state_size": 8})
    tokens_1, tokens_2 = np.random.randint(1, 257, (2, 2, 8))
    logits = model([tokens_1, tokens_2])   # (2, 2)
    ```
    """
    trunk = _trunk(locals())
    first = trunk.input(sequence_length, "document_1")
    second = trunk.input(sequence_length, "document_2")
    pool = keras.layers.GlobalAveragePooling1D(name=f"{name}_pool")
    e1 = pool(trunk(first))
    e2 = pool(trunk(second))
    diff = keras.layers.Subtract(name=f"{name}_difference")([e1, e2])
    prod = keras.layers.Multiply(name=f"{name}_product")([e1, e2])
    features = keras.layers.Concatenate(name=f"{name}_features")([e1, e2, diff, prod])
    x = keras.layers.Dense(hidden_size, activation="gelu", name=f"{name}_hidden")(features)
    outputs = keras.layers.Dense(num_classes, name=f"{name}_head")(x)
    return keras.Model([first, second], outputs, name=name)


# Class-style aliases of the builders (they return ordinary keras.Models).
SequenceClassifier = build_classifier
SequenceTagger = build_tagger
RetrievalClassifier = build_retrieval_classifier
