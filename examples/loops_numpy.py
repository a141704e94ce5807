"""Loops and containers with NumPy: an RNN over time steps, and CS231n's params dict.

    python examples/regenerate.py        # remakes loops_numpy_grad.py with the shapes it lists
"""

import numpy as np


def rnn(Wh, Wx, h0, xs, T):
    """An RNN-style loop over time steps."""
    h = h0
    for t in range(T):
        h = np.tanh(Wh @ h + Wx @ xs[t])
    return np.sum(h * h)


def two_layer(params, X, y):
    """CS231n's params dict: the gradient is a dict with the same keys."""
    hidden = np.maximum(0, X @ params["W1"] + params["b1"])
    scores = hidden @ params["W2"] + params["b2"]
    scores = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    return -np.mean(np.log(probs[np.arange(X.shape[0]), y]))
