"""Argument checks shared by the initialization math and the Keras initializers."""

import numpy as np


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"`{name}` must be a positive integer, got {value!r} (type {type(value).__name__})."
        )
    if value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value}.")
    return int(value)


def _check_option(name, value, valid):
    if value not in valid:
        raise ValueError(
            f"Unknown `{name}`={value!r}. Valid options: " + ", ".join(repr(v) for v in valid) + "."
        )
    return value


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be a non-negative int or None, got {seed!r}.")
    if seed < 0:
        raise ValueError(f"`seed` must be a non-negative int or None, got {seed}.")
    return int(seed)


def _check_range(min_name, minval, max_name, maxval):
    minval, maxval = float(minval), float(maxval)
    if not minval > 0.0:
        raise ValueError(f"`{min_name}` must be > 0, got {minval}.")
    if maxval < minval:
        raise ValueError(f"`{max_name}` ({maxval}) must be >= `{min_name}` ({minval}).")
    return minval, maxval
