"""Benchmark: diffc's generated gradient of the two-layer net against a
hand-written NumPy backward pass (CS231n style), in one process.

    python benchmarks/two_layer.py [--repeat 15] [--small]

Runs the candidates in turn (A B C, A B C, ...) so that drift on a shared
machine hits them alike, and prints the median time of each and the ratios.
Targets: generated / hand-written <= 1.15, generated / forward <= 3.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))

from two_layer_net import two_layer_loss  # noqa: E402
from two_layer_net_grad import two_layer_loss_grad  # noqa: E402


def hand_written(W1, b1, W2, b2, X, y, reg):
    """Loss and gradients as the CS231n assignment writes them by hand."""
    N = X.shape[0]
    h_pre = X @ W1 + b1
    hidden = np.maximum(0, h_pre)
    scores = hidden @ W2 + b2
    scores -= np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dW2 = hidden.T @ dscores + reg * W2
    db2 = np.sum(dscores, axis=0)
    dhidden = dscores @ W2.T
    dhidden[h_pre <= 0] = 0
    dW1 = X.T @ dhidden + reg * W1
    db1 = np.sum(dhidden, axis=0)
    return loss, (dW1, db1, dW2, db2)


def competitors(inputs):
    """Other tools' gradients of the same loss, where installed (pip install ".[bench]")."""
    found = {}
    try:
        import autograd
        import autograd.numpy as anp
    except ImportError:
        return found

    def loss(W1, b1, W2, b2, X, y, reg):  # the same function, on autograd's numpy
        N = X.shape[0]
        hidden = anp.maximum(0, X @ W1 + b1)
        scores = hidden @ W2 + b2
        scores = scores - anp.max(scores, axis=1, keepdims=True)
        log_probs = scores - anp.log(anp.sum(anp.exp(scores), axis=1, keepdims=True))
        return -anp.sum(log_probs[anp.arange(N), y]) / N + 0.5 * reg * (anp.sum(W1 * W1) + anp.sum(W2 * W2))

    grad = autograd.grad(loss, argnum=(0, 1, 2, 3))
    for mine, theirs in zip(two_layer_loss_grad(*inputs), grad(*inputs)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-12)
    found["autograd"] = lambda: grad(*inputs)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds (default 15)")
    parser.add_argument("--small", action="store_true", help="a small problem, for a quick check")
    args = parser.parse_args(argv)
    N, D, H, C = (64, 96, 32, 10) if args.small else (1024, 3072, 512, 10)
    rng = np.random.default_rng(0)
    inputs = (rng.normal(size=(D, H)) * 0.01, np.zeros(H), rng.normal(size=(H, C)) * 0.01, np.zeros(C),
              rng.normal(size=(N, D)), rng.integers(0, C, size=N), 1e-3)

    # The same numbers first: a benchmark of a wrong gradient is worthless.
    for mine, theirs in zip(two_layer_loss_grad(*inputs), hand_written(*inputs)[1]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-7, atol=1e-12)

    candidates = {
        "diffc generated gradient": lambda: two_layer_loss_grad(*inputs),
        "hand-written backward": lambda: hand_written(*inputs),
        "forward only (the loss)": lambda: two_layer_loss(*inputs),
    }
    candidates.update(competitors(inputs))
    for run in candidates.values():  # warm up
        run()
    times = {name: [] for name in candidates}
    for _ in range(args.repeat):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"two-layer net, N={N} D={D} H={H} C={C}, float64, median of {args.repeat} rounds")
    print(f"{'':28} {'median ms':>10} {'min ms':>10}")
    for name, t in times.items():
        print(f"{name:28} {median[name] * 1e3:10.2f} {min(t) * 1e3:10.2f}")
    generated = median["diffc generated gradient"]
    ratio_hand = generated / median["hand-written backward"]
    ratio_forward = generated / median["forward only (the loss)"]
    print(f"generated / hand-written: {ratio_hand:.3f}  (target <= 1.15)")
    print(f"generated / forward:      {ratio_forward:.3f}  (target <= 3)")
    for name in candidates:
        if name not in ("diffc generated gradient", "hand-written backward", "forward only (the loss)"):
            print(f"{name} / generated: {median[name] / generated:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
