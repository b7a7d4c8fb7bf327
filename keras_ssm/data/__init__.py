"""Datasets for keras-ssm: task generators and readers of released files, as numpy arrays.

One job per module:

- generators: `synthetic` (the DLR paper's 13 tasks; the 11 atomic ones in
  `synthetic_tasks`), `listops_subtrees` (+ `listops_subtrees_settings`),
  `pathfinder_segmentation` (+ `pathfinder_drawing`), `listops` (LRA ListOps);
- builders that write a generator's data to disk with worker processes:
  `listops_subtrees_build`, `pathfinder_segmentation_build`, `listops_release`
  (their command lines are in ``tools/``);
- readers: `lra` (+ `lra_encoding`), `speech_commands`, `images` (sequential
  MNIST / Fashion / CIFAR), with `_cache` (memory-mapped caches, progress bars).

Submodules are imported on demand (`from keras_ssm.data import lra`); only the
numpy-only synthetic suite is imported here.
"""

from keras_ssm.data import synthetic

__all__ = ["synthetic"]
