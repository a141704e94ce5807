"""The multiclass SVM (hinge) loss with L2 regularization, as CS231n writes it."""

import numpy as np


def svm_loss(W, X, y, reg):
    """W: (D, C) weights, X: (N, D) data, y: (N,) labels in 0..C-1, reg: strength."""
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y]
    margins = np.maximum(0, scores - correct[:, np.newaxis] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    loss += reg * np.sum(W * W)
    return loss
