"""Initializations of diagonal state-space layers: HiPPO spectra, DLR and LRU rings, steps.

Math first, Keras second:

- `hippo`: HiPPO matrices and their diagonalization (DSS skew-HiPPO and linear
  spectra, the S5 HiPPO-N eigendecomposition and block-diagonal form, the S4D
  Lin/Inv/LegS initializations);
- `sampling`: seeded random draws (log-uniform steps, truncated LeCun normal, the
  DLR ring, the LRU ring), each taking an explicit `numpy.random.Generator`;
- `ssm_initializers` (DSS, DLR, S5) and `s4d_lru_initializers` (S4D, LRU): the Keras
  initializers of the layers' parameters, thin wrappers that compute the numpy array
  and convert it to a float tensor.

The math is plain numpy in float64. Symbols follow the papers: Λ (diagonal state
matrix, complex), V (its eigenvectors), B̃ = V⁻¹B and C̃ = CV (input/output matrices
in the eigenbasis), Δ (step size). Complex arrays stored as real tensors carry
(re, im) on their last axis. Everything is importable from `keras_ssm.initializers`.

References:
    - DSS: Gupta, Gu, Berant, "Diagonal State Spaces are as Effective as
      Structured State Spaces", arXiv:2203.14343.
    - DLR: Gupta, Mehta, Berant, "Simplifying and Understanding State Space
      Models with Diagonal Linear RNNs", arXiv:2212.00768.
    - S5: Smith, Warrington, Linderman, "Simplified State Space Layers for
      Sequence Modeling", arXiv:2208.04933.
    - S4D: Gu, Gupta, Goel, Ré, "On the Parameterization and Initialization of
      Diagonal State Space Models", arXiv:2206.11893.
    - LRU: Orvieto et al., "Resurrecting Recurrent Neural Networks for Long
      Sequences", arXiv:2303.06349.
"""

from keras_ssm.initializers import hippo
from keras_ssm.initializers import s4d_lru_initializers
from keras_ssm.initializers import sampling
from keras_ssm.initializers import ssm_initializers
from keras_ssm.initializers.hippo import dss_lin_eigenvalues
from keras_ssm.initializers.hippo import dss_skew_hippo_eigenvalues
from keras_ssm.initializers.hippo import hippo_legs
from keras_ssm.initializers.hippo import hippo_normal
from keras_ssm.initializers.hippo import s4d_init
from keras_ssm.initializers.hippo import s5_block_diagonal_init
from keras_ssm.initializers.hippo import s5_hippo_n_eigendecomposition
from keras_ssm.initializers.s4d_lru_initializers import LRURing
from keras_ssm.initializers.s4d_lru_initializers import S4DInit
from keras_ssm.initializers.sampling import dlr_ring_init
from keras_ssm.initializers.sampling import log_uniform
from keras_ssm.initializers.sampling import lru_ring_init
from keras_ssm.initializers.sampling import truncated_lecun_normal
from keras_ssm.initializers.ssm_initializers import S5B
from keras_ssm.initializers.ssm_initializers import S5C
from keras_ssm.initializers.ssm_initializers import ComplexNormal
from keras_ssm.initializers.ssm_initializers import DLRPhase
from keras_ssm.initializers.ssm_initializers import DLRRadius
from keras_ssm.initializers.ssm_initializers import DSSLambdaImag
from keras_ssm.initializers.ssm_initializers import DSSLambdaLogNegReal
from keras_ssm.initializers.ssm_initializers import LogUniform
from keras_ssm.initializers.ssm_initializers import S5LambdaImag
from keras_ssm.initializers.ssm_initializers import S5LambdaReal

# Each submodule lists its public names once; the package exports them all.
__all__ = [
    *hippo.__all__,
    *sampling.__all__,
    *ssm_initializers.__all__,
    *s4d_lru_initializers.__all__,
]
