"""The cases rewritten for peers whose array API differs from NumPy's.

JAX and HIPS autograd run each case's own source file with ``np`` rebound to
``jax.numpy`` / ``autograd.numpy`` (and ``math`` for scalar code), except
where the source assigns into an array (the SVM's ``margins[rows, y] = 0``),
which neither supports: their variants below do the same computation in
those libraries' idiom. PyTorch spells reductions differently, so the array
cases are written for it here, operation for operation (no fused losses:
every system differentiates the same program).
"""

import numpy as np


def svm_jax(W, X, y, reg):
    import jax.numpy as jnp

    N = X.shape[0]
    scores = X @ W
    correct = scores[jnp.arange(N), y]
    margins = jnp.maximum(0, scores - correct[:, None] + 1.0)
    margins = margins.at[jnp.arange(N), y].set(0)
    return jnp.sum(margins) / N + reg * jnp.sum(W * W)


def svm_autograd(W, X, y, reg):
    import autograd.numpy as anp

    N = X.shape[0]
    scores = anp.dot(X, W)
    correct = scores[np.arange(N), y]
    margins = anp.maximum(0, scores - correct[:, np.newaxis] + 1.0)
    keep = np.ones(scores.shape)  # a constant mask in place of the assignment
    keep[np.arange(N), y] = 0
    return anp.sum(margins * keep) / N + reg * anp.sum(W * W)


def svm_torch(W, X, y, reg):
    import torch

    N = X.shape[0]
    scores = X @ W
    rows = torch.arange(N)
    correct = scores[rows, y]
    margins = torch.clamp(scores - correct[:, None] + 1.0, min=0)
    margins[rows, y] = 0
    return torch.sum(margins) / N + reg * torch.sum(W * W)


def two_layer_torch(W1, b1, W2, b2, X, y, reg):
    import torch

    N = X.shape[0]
    hidden = torch.clamp(X @ W1 + b1, min=0)
    scores = hidden @ W2 + b2
    scores = scores - torch.max(scores, dim=1, keepdim=True).values
    exp_scores = torch.exp(scores)
    probs = exp_scores / torch.sum(exp_scores, dim=1, keepdim=True)
    data_loss = -torch.sum(torch.log(probs[torch.arange(N), y])) / N
    reg_loss = 0.5 * reg * (torch.sum(W1 * W1) + torch.sum(W2 * W2))
    return data_loss + reg_loss


def softmax_loop_torch(W, X, y, reg):
    import torch

    N = X.shape[0]
    scores = X @ W
    loss = 0.0
    for i in range(N):
        s = scores[i] - torch.max(scores[i])
        loss = loss - s[y[i]] + torch.log(torch.sum(torch.exp(s)))
    return loss / N + 0.5 * reg * torch.sum(W * W)
