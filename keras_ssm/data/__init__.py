"""Datasets for keras-ssm: task generators and readers of released files, as numpy arrays.

One subpackage per family, each imported on first use (``keras_ssm.data.lra.load``, or
``from keras_ssm.data import lra``):

- `synthetic`: the DLR paper's 13 synthetic tasks as seeded generators for any length
  (the 11 atomic tasks, ListOpsSubTrees and PathfinderSegmentation, with the disk
  builders of the last two);
- `lra`: Long Range Arena: `lra.load` reads the released archive (ListOps, Text,
  Retrieval, Image, Pathfinder, Path-X) with its encodings; LRA's ListOps generator and
  release writer; the ListOps trees and the Pathfinder drawing that `synthetic` reuses;
- `speech`: Speech Commands v0.02 from its released WAV folders, and the 35 words
  spoken by espeak-ng in that layout (a generated stand-in);
- `images`: sequential (pixel-by-pixel) MNIST, Fashion-MNIST and CIFAR-10.

Imports run one way: `synthetic` and `images` may import `lra`; every family may import
`_shared` (the private caches, progress bars, argument checks and worker processes).
"""

import importlib

_SUBPACKAGES = ("images", "lra", "speech", "synthetic")

__all__ = list(_SUBPACKAGES)


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_ssm.data.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBPACKAGES))
