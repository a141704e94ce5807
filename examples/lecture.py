"""The worked examples of CS231n lecture 4 (Backpropagation), as plain Python.

    diffc examples/lecture.py            # writes examples/lecture_grad.py
"""

import math


def f(x, y, z):
    """The first example: f = (x + y) * z. At (-2, 5, -4): df/dx = df/dy = -4, df/dz = 3."""
    q = x + y
    return q * z


def neuron(w0, x0, w1, x1, w2):
    """A sigmoid neuron, written as the lecture's flat forward code."""
    s0 = w0 * x0
    s1 = w1 * x1
    s2 = s0 + s1
    s3 = s2 + w2
    L = 1.0 / (1.0 + math.exp(-s3))
    return L
