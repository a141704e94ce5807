"""Regenerate every example's gradient file: python examples/regenerate.py

Each entry is the command line that made the committed *_grad.py file; the
golden tests compile with the same arguments and compare.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
NET = ["--shape", "X=N,D", "--shape", "y=N:int"]
EXAMPLES = {
    "lecture.py": [],
    "lecture_vectorized.py": ["--shape", "W=H,D", "--shape", "x=D"],
    "svm.py": ["--wrt", "W", "--shape", "W=D,C", *NET, "--shape", "reg="],
    "softmax.py": ["--wrt", "W", "--shape", "W=D,C", *NET, "--shape", "reg="],
    "two_layer_net.py": ["-f", "two_layer_loss", *[a for w in ["W1", "b1", "W2", "b2"] for a in ["--wrt", w]],
                         "--shape", "W1=D,H", "--shape", "b1=H", "--shape", "W2=H,C", "--shape", "b2=C", *NET,
                         "--shape", "reg="],
    "control_flow.py": [],
    # A student's CS231n file, unchanged: each function returns (loss, dW), dW written by hand.
    "cs231n_svm.py": ["--has-aux", "--wrt", "W", "--shape", "W=D,C", *NET, "--shape", "reg="],
    "loops_numpy.py": ["--shape", "Wh=H,H", "--shape", "Wx=H,D", "--shape", "h0=H", "--shape", "xs=T,D",
                       "--shape", "T=", "--shape", "params[W1]=D,H", "--shape", "params[b1]=H",
                       "--shape", "params[W2]=H,C", "--shape", "params[b2]=C", *NET],
    "three_layer_net.py": [*[a for w in ["W1", "b1", "W2", "b2", "W3", "b3"] for a in ["--wrt", w]],
                           "--shape", "W1=D,H1", "--shape", "b1=H1", "--shape", "W2=H1,H2", "--shape", "b2=H2",
                           "--shape", "W3=H2,C", "--shape", "b3=C", *NET],
}

# The fast form (--fast): what the decorator runs, written to NAME_fast_grad.py.
FAST = {
    "lecture.py": [],
}


def main() -> int:
    sys.path.insert(0, os.path.dirname(HERE))
    from diffc.cli import main as diffc

    for name, args in EXAMPLES.items():
        status = diffc([os.path.join(HERE, name), *args])
        if status:
            return status
    for name, args in FAST.items():
        path = os.path.join(HERE, name)
        status = diffc([path, *args, "--fast", "-o", path.replace(".py", "_fast_grad.py")])
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
