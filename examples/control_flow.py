"""Control flow and helpers on numbers: the generated code keeps their shape.

    diffc examples/control_flow.py       # writes examples/control_flow_grad.py
"""

import math


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def neuron(w0, x0, w1, x1, w2):
    """The lecture's neuron with a helper: the same gradients as the flat code."""
    return sigmoid(w0 * x0 + w1 * x1 + w2)


def fixed_point(x, n):
    """A loop: the backward pass replays it in reverse, popping what the forward loop saved."""
    y = x
    for _ in range(n):
        y = math.sin(y) + x
    return y


def piecewise(x, y):
    """A branch: the backward pass tests the same recorded condition."""
    if x > 0:
        z = x * y
    else:
        z = math.exp(y)
    return z * x


def grow(x):
    """A while loop whose trip count depends on the data."""
    total = 0.0
    while x < 10.0:
        x = x * 1.5
        total = total + x
    return total
