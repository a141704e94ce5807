"""A two-layer net: affine - ReLU - affine - softmax, with L2 regularization."""

import numpy as np


def two_layer_loss(W1, b1, W2, b2, X, y, reg):
    """W1: (D, H), b1: (H,), W2: (H, C), b2: (C,), X: (N, D), y: (N,) labels."""
    N = X.shape[0]
    hidden = np.maximum(0, X @ W1 + b1)
    scores = hidden @ W2 + b2
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    data_loss = -np.sum(np.log(probs[np.arange(N), y])) / N
    reg_loss = 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return data_loss + reg_loss


def predict(W1, b1, W2, b2, X):
    """Class scores (not differentiated: the CLI compiles only two_layer_loss)."""
    return np.maximum(0, X @ W1 + b1) @ W2 + b2
