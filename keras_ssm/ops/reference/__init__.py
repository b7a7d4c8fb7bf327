"""The reference implementations: ``keras.ops`` only, correct on every backend.

They are the ground truth every fast path is tested against, and the fallback when no
fast path applies (export, unusual dtypes), written for clarity and for tracing under
XLA (static shapes, no data-dependent control flow). One module per op family, each
defining a function named after its op (the registry registers it as ``"reference"``):

- :mod:`~keras_ssm.ops.reference.recurrence`: ``linear_recurrence``, a log-depth scan;
- :mod:`~keras_ssm.ops.reference.convolution`: ``causal_conv`` by FFT, and the FFT sizes
  (`fft_length`, `conv_fft_length`) that every backend's FFT path uses;
- :mod:`~keras_ssm.ops.reference.vandermonde`: ``vandermonde_kernel``, chunked over l.

Beside them, :mod:`~keras_ssm.ops.reference.vandermonde_factorized` is a faster
``vandermonde_kernel`` in ``keras.ops`` alone (registered as ``"factorized"``).
"""
