"""A naive softmax loss: one Python iteration per example, as a first version is often written."""

import numpy as np


def softmax_loop_loss(W, X, y, reg):
    """W: (D, C) weights, X: (N, D) data, y: (N,) labels in 0..C-1, reg: strength."""
    N = X.shape[0]
    scores = X @ W
    loss = 0.0
    for i in range(N):
        s = scores[i] - np.max(scores[i])
        loss = loss - s[y[i]] + np.log(np.sum(np.exp(s)))
    loss = loss / N + 0.5 * reg * np.sum(W * W)
    return loss
