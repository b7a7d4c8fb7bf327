"""Datasets for keras-ssm: the DLR synthetic task suite and readers for real data.

Submodules are imported on demand (`from keras_ssm.data import lra`); only the
numpy-only synthetic suite is imported here.
"""

from keras_ssm.data import synthetic

__all__ = ["synthetic"]
