"""Keras layers: the diagonal SSMs (DSS, DLR, S5)."""

from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.dlr import DLR
from keras_ssm.layers.s5 import S5

__all__ = ["DLR", "DiagonalSSMLayer", "S5"]
