"""What the decorator adds per call: ``diffc.grad(f)(*args)`` minus the generated function called directly.

    python benchmarks/call_overhead.py [--repeat 31] [--number 20000]

Cases: the lecture's ``(x + y) * z`` and sigmoid neuron (examples/lecture.py),
the two-layer net at N=64 D=100 H=50 C=10 (examples/two_layer_net.py, wrt
W1, b1, W2, b2), the net's arguments passed to a function whose gradient
costs a few us (the same dispatch, measured with less noise), and a method
reading them from ``self.params``, differentiated with ``wrt="params"``.
Each figure is the minimum over ``--repeat`` samples of ``timeit`` with CPU
time (``time.process_time``), decorator and direct call sampled in turns so
that drift on a shared machine hits both alike, each of them first in every
other turn. The difference of the medians shows how far noise moves a
figure: on the 130 us net, noise of a few us on a loaded machine hides the
dispatch, which the cheap-body row measures alone. Targets (issue 12): at
most 0.3 us added on the scalar cases, 1 us on the net.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "examples"), os.path.join(HERE, "..")]

import numpy as np  # noqa: E402
from lecture import f, neuron  # noqa: E402
from two_layer_net import two_layer_loss  # noqa: E402

import diffc  # noqa: E402


def cases():
    rng = np.random.default_rng(0)
    N, D, H, C = 64, 100, 50, 10
    net = (rng.normal(size=(D, H)) * 0.01, rng.normal(size=H) * 0.01, rng.normal(size=(H, C)) * 0.01,
           rng.normal(size=C) * 0.01, rng.normal(size=(N, D)), rng.integers(0, C, size=N), 1e-3)
    model = Model(*net[:4])
    method = diffc.grad(model.loss, wrt="params")
    # name, gradient, arguments, generated function's arguments, how much slower than the lecture (fewer calls
    # per sample), target (us added, issue 12)
    return [("lecture (x + y) * z", diffc.grad(f), (-2.0, 5.0, -4.0), None, 1, 0.3),
            ("sigmoid neuron", diffc.grad(neuron), (2.0, -1.0, -3.0, -2.0, -3.0), None, 1, 0.3),
            ("two-layer net N=64", diffc.grad(two_layer_loss, wrt=("W1", "b1", "W2", "b2")), net, None, 50, 1.0),
            # The net's arguments into a function that costs little: the same dispatch, less noise.
            ("net's arguments, cheap body", diffc.grad(cheap, wrt=("W1", "b1", "W2", "b2")), net, None, 1, 1.0),
            # A method differentiated with respect to self.params (a dict), as CS231n's nets: no target.
            ("method, wrt='params', cheap body", method, net[4:], (model.params, *net[4:]), 1, None)]


def cheap(W1, b1, W2, b2, X, y, reg):
    return W1[0, 0] * b1[0] + W2[0, 0] * b2[0] + reg


class Model:
    def __init__(self, W1, b1, W2, b2):
        self.params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

    def loss(self, X, y, reg):
        return self.params["W1"][0, 0] * self.params["b1"][0] + self.params["W2"][0, 0] * self.params["b2"][0] + reg


def per_call(fn, args, number: int, repeat: int) -> float:
    """Minimum CPU time of one call, in microseconds."""
    timer = timeit.Timer(lambda: fn(*args), timer=time.process_time)
    return min(timer.repeat(repeat=repeat, number=number)) / number * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=31)
    parser.add_argument("--number", type=int, default=20000)
    opts = parser.parse_args()
    print("| case | decorator (us) | generated (us) | added (us) | ratio | added, medians (us) | target added (us) |\n"
          "|---|---|---|---|---|---|---|")
    gc.disable()
    for name, g, args, own_args, slower, target in cases():
        g(*args)  # compiles the variant for these arguments
        last = getattr(g, "_gradient", g)._last  # a method's gradient: its GradFunction's
        direct = getattr(last, "__diffc_generated__", last)
        number = max(1, opts.number // slower)
        via, own = [], []
        for turn in range(opts.repeat):  # in turns, each first every other turn
            for which in ((via, own) if turn % 2 else (own, via)):
                which.append(per_call(g, args, number, 1) if which is via else
                             per_call(direct, own_args or args, number, 1))
        added = min(via) - min(own)
        verdict = "-" if target is None else f"{target}{'' if added <= target else ' (missed)'}"
        print(f"| {name} | {min(via):.3f} | {min(own):.3f} | {added:.3f} | {min(via) / min(own):.3f} | "
              f"{statistics.median(via) - statistics.median(own):.3f} | {verdict} |")
    gc.enable()


if __name__ == "__main__":
    main()
