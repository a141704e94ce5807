"""The lecture's vectorized example: f(x, W) = ||W x||^2.

At W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4]: df/dW = 2 q x^T =
[[0.088, 0.176], [0.104, 0.208]] and df/dx = W^T 2q = [-0.112, 0.636].
"""

import numpy as np


def wx_norm(W, x):
    q = np.dot(W, x)
    f = np.sum(q ** 2)
    return f
