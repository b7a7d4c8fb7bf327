"""Long Range Arena encodings: ListOps tokens, byte-level text, grey-level images.

Fixed encodings, so that train, val and test agree without reading train (the ids
are listed in `keras_ssm.data.lra.reader`; the package `keras_ssm.data.lra` exports
everything here). PNG files are read with Pillow (``pip install pillow``, in the
``lra`` and ``examples`` extras).
"""

import io

import numpy as np

PAD_ID = 0
UNK_ID = 1
EOS_ID = 2
BYTE_OFFSET = 3  # byte b -> token id b + 3
BYTE_VOCAB_SIZE = 256 + BYTE_OFFSET

LISTOPS_VOCAB = (
    ("<pad>", "<unk>", "<eos>")
    + tuple(str(digit) for digit in range(10))
    + ("[MAX", "[MIN", "[MED", "[SM", "X")
)


# --------------------------------------------------------------------------
# Token encodings


def encode_listops(source, seq_len=2048):
    """Token ids of one ListOps expression, EOS appended, zero-padded.

    Args:
        source: str, the ``Source`` column, e.g. ``"( ( [MAX 2 ) 9 ] )"``.
        seq_len: int, output length L; at most L - 1 tokens are kept.

    Returns:
        int32 array (seq_len,): ids from ``LISTOPS_VOCAB``, unknown tokens 1.

    Example:
        >>> encode_listops("( ( [MAX 2 ) 9 ] )", seq_len=6).tolist()
        [13, 5, 12, 17, 2, 0]
    """
    tokens = source.translate(_LISTOPS_TRANSLATION).split()[: seq_len - 1]
    ids = np.zeros(seq_len, dtype=np.int32)
    ids[: len(tokens)] = [_LISTOPS_IDS.get(token, UNK_ID) for token in tokens]
    ids[len(tokens)] = EOS_ID
    return ids


_LISTOPS_TRANSLATION = str.maketrans({"]": "X", "(": None, ")": None})
_LISTOPS_IDS = {token: index for index, token in enumerate(LISTOPS_VOCAB)}


def encode_bytes(text, seq_len):
    """Byte-level token ids (byte + 3), EOS appended, zero-padded.

    Args:
        text: bytes (or str, encoded as UTF-8).
        seq_len: int, output length L; at most L - 1 bytes are kept.

    Returns:
        int32 array (seq_len,).

    Example:
        >>> encode_bytes(b"ab", seq_len=4).tolist()
        [100, 101, 2, 0]
    """
    ids = np.zeros(seq_len, dtype=np.int32)
    _encode_bytes_into(ids, text)
    return ids


def _encode_bytes_into(row, text):
    if isinstance(text, str):
        text = text.encode("utf-8")
    data = np.frombuffer(text[: len(row) - 1], dtype=np.uint8)
    row[: len(data)] = data.astype(np.int32) + BYTE_OFFSET
    row[len(data)] = EOS_ID
    row[len(data) + 1 :] = PAD_ID


def rgb_to_grayscale(images):
    """ITU-R 601-2 luma as Pillow's ``convert("L")`` computes it, exactly.

    ``L = (19595 R + 38470 G + 7471 B + 32768) >> 16`` (0.299, 0.587, 0.114 in
    16-bit fixed point, rounded), the grey levels of torchvision's Grayscale on
    PIL images used by S4/S5 for LRA Image.

    Args:
        images: uint8 array (..., 3).

    Returns:
        uint8 array (...).

    Example:
        >>> rgb_to_grayscale(np.array([[255, 0, 0]], np.uint8)).tolist()
        [76]
    """
    rgb = np.asarray(images).astype(np.uint32)
    luma = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000
    return (luma >> 16).astype(np.uint8)


# --------------------------------------------------------------------------
# PNG files (Pillow)


def _pil_image():
    """``PIL.Image``; an ImportError saying how to install Pillow when it is missing."""
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            "Reading the LRA Pathfinder PNG files needs Pillow: pip install pillow "
            "(or pip install 'keras-ssm[lra]')."
        ) from error
    return Image


def _gray(opened, name):
    try:
        with opened() as image:
            return np.asarray(image.convert("L"), dtype=np.uint8)
    except OSError as error:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"Cannot decode PNG file {name}: {error}") from error


def read_png_gray(path):
    """Reads a PNG as 8-bit grey levels (Pillow's ``convert("L")``).

    Grey+alpha and RGBA lose their alpha; RGB becomes ITU-R 601-2 luma
    (`rgb_to_grayscale`).

    Args:
        path: str or Path of the PNG file.

    Returns:
        uint8 array (height, width).

    Raises:
        ValueError: the file is not a readable image (the message names it).

    Example:
        >>> from PIL import Image
        >>> Image.fromarray(np.zeros((32, 32), np.uint8)).save("sample_0.png")
        >>> read_png_gray("sample_0.png").shape
        (32, 32)
    """
    image_module = _pil_image()
    return _gray(lambda: image_module.open(path), path)


def decode_png_gray(data, name="<bytes>"):
    """Decodes PNG bytes to grey levels, as `read_png_gray` reads a file.

    Args:
        data: bytes of a PNG file.
        name: str used in error messages (the file name).

    Returns:
        uint8 array (height, width).

    Example:
        >>> from PIL import Image
        >>> Image.fromarray(np.zeros((32, 32), np.uint8)).save("sample_0.png")
        >>> decode_png_gray(open("sample_0.png", "rb").read()).shape
        (32, 32)
    """
    image_module = _pil_image()
    return _gray(lambda: image_module.open(io.BytesIO(data), formats=("PNG",)), name)
