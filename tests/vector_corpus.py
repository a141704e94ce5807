"""Functions with vector outputs, for tests/test_vjp.py: CS231n's layers, forward passes only.

A real file, so that the decorator reads the source and the CLI compiles it.
"""

import numpy as np


def affine(X, W, b):
    out = X @ W + b
    return out


def relu(x):
    return np.maximum(x, 0.0)


def softmax(scores):
    shifted = scores - np.max(scores, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def batchnorm(x, gamma, beta):
    mu = np.mean(x, axis=0)
    xc = x - mu
    var = np.mean(xc ** 2, axis=0)
    xhat = xc / np.sqrt(var + 1e-5)
    return gamma * xhat + beta


def rnn_step(x, h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + h @ Wh + b)
    return next_h


def lstm_cell(x, c, W, b):
    a = x @ W + b
    H = c.shape[-1]
    i = 1.0 / (1.0 + np.exp(-a[..., :H]))
    g = np.tanh(a[..., H:])
    next_c = c * i + g
    next_h = np.tanh(next_c) * i
    return next_h, next_c
