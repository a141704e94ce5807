"""The benchmark's quadratic form: the squared norm of a matrix-vector product."""

import numpy as np


def wx_square(W, x):
    """W: (M, D), x: (D,). Gradients: dW = 2 (W x) x^T, dx = 2 W^T (W x)."""
    return np.sum((W @ x) ** 2)
