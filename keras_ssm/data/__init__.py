"""Datasets for keras-ssm: task generators and readers of released files, as numpy arrays.

One job per module:

- generators: `synthetic` (the DLR paper's 13 tasks; the 11 atomic ones in
  `synthetic_tasks`), `listops_subtrees` (+ `listops_subtrees_settings`),
  `pathfinder_segmentation` (+ `pathfinder_drawing`), `listops` (LRA ListOps);
  the two ListOps generators share `listops_trees` (operators, trees drawn level
  by level);
- builders that write a generator's data to disk with worker processes
  (`_workers`): `listops_subtrees_build`, `pathfinder_segmentation_build`,
  `listops_release` (their command lines are in ``tools/``);
- readers: `lra` (the entry point; `lra_files` reads the archive's TSVs and PNGs,
  `lra_encoding` encodes them), `speech_commands`, `images` (sequential MNIST /
  Fashion / CIFAR), with `_cache` (memory-mapped caches, progress bars);
- `_checks`: the argument checks the generators and builders share.

Submodules are imported on demand (`from keras_ssm.data import lra`); only the
numpy-only synthetic suite is imported here.
"""

from keras_ssm.data import synthetic

__all__ = ["synthetic"]
