"""The softmax cross-entropy loss with L2 regularization, as CS231n writes it."""

import numpy as np


def softmax_loss(W, X, y, reg):
    """W: (D, C) weights, X: (N, D) data, y: (N,) labels in 0..C-1, reg: strength."""
    N = X.shape[0]
    scores = X @ W
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    loss += 0.5 * reg * np.sum(W * W)
    return loss
