"""A three-layer net with sigmoid activations and a softmax loss."""

import numpy as np


def three_layer_loss(W1, b1, W2, b2, W3, b3, X, y):
    """W1: (D, H1), W2: (H1, H2), W3: (H2, C), biases to match, X: (N, D), y: (N,) labels."""
    N = X.shape[0]
    h1 = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
    h2 = 1.0 / (1.0 + np.exp(-(h1 @ W2 + b2)))
    scores = h2 @ W3 + b3
    scores = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))
    return -np.sum(log_probs[np.arange(N), y]) / N
