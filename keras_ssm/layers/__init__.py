"""Keras layers: the diagonal SSMs (DSS, DLR, S5) and the residual SSMBlock."""

from keras_ssm.layers.base import DiagonalSSMLayer
from keras_ssm.layers.block import SSMBlock
from keras_ssm.layers.dlr import DLR
from keras_ssm.layers.dss import DSS
from keras_ssm.layers.s5 import S5

__all__ = ["DLR", "DSS", "DiagonalSSMLayer", "S5", "SSMBlock"]
