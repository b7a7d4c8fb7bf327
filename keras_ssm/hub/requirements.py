"""The keras-hub requirement of `keras_ssm.hub`: a clear error when it is missing or too old."""

import importlib.metadata

MINIMUM_KERAS_HUB = (0, 32)


def _version_tuple(version):
    parts = []
    for part in version.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def require_keras_hub():
    """Raise an `ImportError` naming the fix unless keras-hub >= 0.32 is importable."""
    try:
        version = importlib.metadata.version("keras-hub")
    except importlib.metadata.PackageNotFoundError:
        version = None
    if version is None or _version_tuple(version) < MINIMUM_KERAS_HUB:
        found = "not installed" if version is None else f"version {version}"
        raise ImportError(
            f"keras_ssm.hub needs keras-hub >= {'.'.join(map(str, MINIMUM_KERAS_HUB))} "
            f"(found: {found}). Install the extra: pip install 'keras-ssm[hub]' "
            "(see the README's keras-hub section for what it adds per backend)."
        )
