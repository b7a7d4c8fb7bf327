"""Argument checks shared by the data generators and their disk builders."""

import numpy as np


def check_count(name, value, minimum):
    """`value` as an int when it is an int (not a bool) >= `minimum`, else a ValueError.

    Args:
        name: str, the argument's name in the message.
        value: the value given.
        minimum: int, the smallest valid value.

    Returns:
        int.

    Example:

    ```python
    from keras_ssm.data._checks import check_count

    check_count("num_samples", np.int64(4), 1)   # 4
    # check_count("num_samples", 0, 1) raises
    # ValueError: num_samples must be an int >= 1, got 0.
    ```
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)
