"""The soundness fuzzer: random NumPy programs, each gradient checked against central differences.

    python tests/fuzz.py --seconds N [--seed S] [--programs K]
    python tests/fuzz.py --replay S:I        (program I of seed S, shrunk)

Each program (written by tests/fuzz_gen.py) is compiled by diffc, either from
its text (``diffc.compile_source``, the CLI's shape-agnostic code) or through a
real file and the decorator (code specialised to the arguments' shapes), and run.
Its outcome is one of:

- OK: every gradient has its parameter's shape and matches central differences;
- REFUSED: a DiffcError (acceptable: correct or refused), or for a non-scalar
  output a ValueError from the generated code;
- WRONG: a gradient of the wrong shape or value (or NaN where the function is smooth);
- CRASH: any other exception from compiling or running the generated code,
  generated code that does not compile, or a hang;
- NONSCALAR-ACCEPTED: the function returns a non-scalar and diffc gave a gradient.

Programs whose own forward pass fails or is not finite, or that are not smooth at
the point (the finite differences at three steps disagree), are skipped and counted.
A campaign is deterministic for a given seed: program I of seed S is always the
same. Failures are shrunk (tests/fuzz_shrink.py) and printed with the expected and
actual gradients; the summary is the last line. The exit status is 1 if anything
failed. ``campaign()`` is the same from Python (tests/test_fuzz.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import linecache
import math
import random
import re
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
for _p in (str(HERE.parent), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
from fuzz_gen import generate  # noqa: E402
from fuzz_shrink import shrink  # noqa: E402

import diffc  # noqa: E402

FAILURES = ("WRONG", "CRASH", "NONSCALAR-ACCEPTED")
KINDS = ("OK", "REFUSED", *FAILURES, "SKIPPED")


@dataclass
class Outcome:
    kind: str
    detail: str = ""
    key: str = ""  # what must persist while shrinking (the exception type of a crash)
    expected: object = None
    actual: object = None
    scalar: bool = True  # whether f returned a scalar (a shrunk program keeps it so)


@dataclass
class Failure:
    seed: object
    index: int
    mode: str
    source: str
    params: list
    args: list
    outcome: Outcome
    tags: set = field(default_factory=set)
    shrunk: str | None = None


class Timeout(BaseException):
    """A program that runs too long (BaseException, so generated code cannot catch it)."""


@contextmanager
def time_limit(seconds: float):
    try:
        old = signal.signal(signal.SIGALRM, _alarm)
    except ValueError:  # not the main thread: no limit
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _alarm(signum, frame):
    raise Timeout()


def fresh(args):
    """Copies, so that a program writing into its parameters never changes the point."""
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


_TMP = None
_ids = iter(range(10**9))


def load_module(source: str):
    """Write ``source`` to a real file and import it (the decorator reads functions' files)."""
    global _TMP
    if _TMP is None:
        _TMP = tempfile.TemporaryDirectory(prefix="diffc_fuzz_")
    name = f"fuzz_program_{next(_ids)}"
    path = Path(_TMP.name) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gradient_function(source: str, params, mode: str):
    """The generated gradient of ``f`` (raises what diffc raises)."""
    if mode == "decorator":
        return diffc.grad(load_module(source).f, wrt=tuple(params))
    text = diffc.compile_source(source, wrt=tuple(params)).text
    namespace: dict = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    return namespace["f_grad"]


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160] if text else ''}"


def classify(source: str, params, args, mode: str = "source") -> Outcome:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return _classify(source, params, args, mode)
        finally:
            linecache.clearcache()


def _crash_key(exc) -> str:
    """A crash's type and message without numbers (object ids) or quoted names."""
    text = re.sub(r"'[^']*'|\d+", "_", _message(exc))
    return text[:60]


def _classify(source, params, args, mode):
    namespace: dict = {}
    try:
        with time_limit(2.0):
            exec(compile(source, "<fuzz>", "exec"), namespace)
            user = namespace["f"]
            value = user(*fresh(args))
    except Timeout:
        return Outcome("SKIPPED", "forward: timeout", "forward")
    except Exception as exc:
        return Outcome("SKIPPED", "forward: " + _message(exc), "forward")
    try:
        scalar = not isinstance(value, (tuple, list, dict)) and np.ndim(value) == 0
    except Exception:
        scalar = False
    outcome = _judge(source, params, args, mode, user, value, scalar)
    if outcome.kind == "WRONG" and "got nan" in outcome.detail or "got inf" in outcome.detail or \
            "got -inf" in outcome.detail:
        # A non-finite gradient where the forward pass itself overflowed (1 / exp(exp(8)) is 0.0,
        # its derivative 0 * inf): floating point has run out, not a rule.
        try:
            with np.errstate(over="raise"), time_limit(2.0):
                user(*fresh(args))
        except (FloatingPointError, OverflowError):
            outcome = Outcome("SKIPPED", "overflow: the forward pass overflows", "overflow")
        except (Exception, Timeout):
            pass
    outcome.scalar = scalar
    return outcome


def _judge(source, params, args, mode, user, value, scalar):
    if scalar:
        try:
            value = float(value)
        except Exception as exc:
            return Outcome("SKIPPED", "forward: " + _message(exc), "forward")
        if not math.isfinite(value) or abs(value) > 1e8:
            return Outcome("SKIPPED", "forward: not finite", "forward")
    try:
        with time_limit(10.0):
            run = gradient_function(source, params, mode)
            grads = run(*fresh(args))
    except diffc.DiffcError as exc:
        return Outcome("REFUSED", _message(exc), "refused")
    except Timeout:
        return Outcome("CRASH", "timeout in compiling or running the gradient", "Timeout")
    except Exception as exc:
        if not scalar and isinstance(exc, ValueError):
            return Outcome("REFUSED", _message(exc), "refused")
        return Outcome("CRASH", _message(exc), _crash_key(exc))
    if not scalar:
        return Outcome("NONSCALAR-ACCEPTED", f"f returns {type(value).__name__} of shape {_shape(value)}",
                       "NONSCALAR", None, grads)
    if not isinstance(grads, tuple) or len(grads) != len(params):
        return Outcome("WRONG", f"gradient is {type(grads).__name__}, not a tuple of {len(params)}", "structure")
    return compare(user, params, args, value, grads, run)


def _shape(value):
    try:
        return np.shape(value)
    except Exception:  # a ragged list or tuple
        return f"ragged {type(value).__name__} of {len(value)}"


def _evaluate(user, args, i, idx, delta):
    moved = fresh(args)
    if np.ndim(moved[i]) == 0:
        moved[i] = float(moved[i]) + delta
    else:
        moved[i][idx] += delta
    with time_limit(2.0):
        return float(user(*moved))


def compare(user, params, args, value, grads, run=None) -> Outcome:
    for i, (name, g) in enumerate(zip(params, grads)):
        if _shape(g) != np.shape(args[i]):
            return Outcome("WRONG", f"grad_{name} has shape {_shape(g)}, not {np.shape(args[i])}", "shape",
                           np.shape(args[i]), _shape(g))
        try:
            g = np.asarray(g, dtype=float)
        except Exception as exc:
            return Outcome("WRONG", f"grad_{name} is not numeric: {_message(exc)}", "structure")
        for idx in np.ndindex(np.shape(g)):
            analytic = g[idx]
            h = 1e-6 / max(1.0, abs(analytic)) if math.isfinite(analytic) else 1e-6
            # Never a step below the argument's own resolution: a gradient of 1e12 (sin of a number
            # near 1e12, which is chaotic in float64) would ask for h = 1e-18, x + h == x, and a
            # numeric gradient of exactly 0 at every step. At the floor the steps disagree instead,
            # and the point is skipped as not smooth at float resolution.
            h = max(h, 1e-10 * max(1.0, abs(float(np.asarray(args[i], dtype=float)[idx]))))
            try:
                numeric = [(_evaluate(user, args, i, idx, s) - _evaluate(user, args, i, idx, -s)) / (2 * s)
                           for s in (h, 8 * h, h / 8)]
            except (Exception, Timeout):
                return Outcome("SKIPPED", "nonsmooth: forward fails near the point", "nonsmooth")
            scale = max(1.0, abs(numeric[0]), abs(analytic) if math.isfinite(analytic) else 0.0)
            tol = 1e-4 * scale + 1e-13 * max(1.0, abs(value)) / h
            if math.isfinite(analytic) and abs(analytic - numeric[0]) <= tol:
                continue
            # The steps must agree at the scale of the numeric values themselves: judged at the scale of a
            # huge analytic gradient (4e15, sin of a number near 1e9), any three differences would agree.
            spread = 1e-4 * max(1.0, *(abs(n) for n in numeric if math.isfinite(n))) + \
                1e-13 * max(1.0, abs(value)) / h
            if not all(math.isfinite(n) for n in numeric) or max(numeric) - min(numeric) > 10 * spread:
                return Outcome("SKIPPED", "nonsmooth: finite differences disagree", "nonsmooth")
            # A jump at the point itself (``if a:`` at a == 0.0): the one-sided differences disagree.
            forward = (_evaluate(user, args, i, idx, h) - float(value)) / h
            backward = (float(value) - _evaluate(user, args, i, idx, -h)) / h
            if abs(forward - backward) > 10 * tol:
                return Outcome("SKIPPED", "nonsmooth: a jump at the point", "nonsmooth")
            if run is not None and _rounding(run, args, i, idx, analytic, tol):
                return Outcome("SKIPPED", "ill-conditioned: the gradient is float64 rounding", "rounding")
            expected = full_numeric(user, args, i)
            return Outcome("WRONG", f"grad_{name}{list(idx) if idx else ''}: expected {numeric[0]:.6g}, "
                           f"got {analytic:.6g}", "value", expected, g)
    return Outcome("OK")


def _rounding(run, args, i, idx, analytic, tol) -> bool:
    """True if the gradient itself is rounding noise: run again with 80-bit floats it moves by more than the
    tolerance. Seed 777, program 36: terms of 1e15 that cancel exactly (a product that is 1 for every b)
    leave 1.57 in float64 and 1.5e-4 in long double, while the true gradient is 0."""
    if np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps:
        return False  # no wider float on this machine
    wide = [a.astype(np.longdouble) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a for a in args]
    try:
        with time_limit(10.0), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = float(np.asarray(run(*wide)[i], dtype=np.longdouble)[idx])
    except (Exception, Timeout):
        return False
    return abs(again - analytic) > tol


def full_numeric(user, args, i):
    out = np.zeros(np.shape(args[i]))
    for idx in np.ndindex(out.shape):
        out[idx] = (_evaluate(user, args, i, idx, 1e-6) - _evaluate(user, args, i, idx, -1e-6)) / 2e-6
    return out if out.shape else float(out)


def program(seed, index):
    """Program ``index`` of campaign ``seed``: (source, float params, args, tags, mode)."""
    rng = random.Random(f"{seed}:{index}")
    source, params, args, tags = generate(rng)
    mode = "decorator" if rng.random() < 0.3 else "source"
    return source, params, args, tags, mode


@dataclass
class Result:
    seed: object
    counts: Counter
    skips: Counter
    refusals: Counter
    failures: list
    seconds: float

    @property
    def programs(self):
        return sum(self.counts.values())

    def summary(self) -> str:
        parts = " ".join(f"{k}={self.counts.get(k, 0)}" for k in KINDS)
        skips = ", ".join(f"{k}={v}" for k, v in sorted(self.skips.items()))
        return f"fuzz seed={self.seed} programs={self.programs} {parts} (skipped: {skips or 'none'}) " \
               f"time={self.seconds:.1f}s"


def campaign(seed, seconds=None, programs=None, shrink_budget=None, per_failure=15.0, max_shrink=None,
             log=None) -> Result:
    """Run programs 0, 1, ... of ``seed`` until ``programs`` ran or ``seconds`` passed.

    Failures are then shrunk, at most ``max_shrink`` of them (distinct kinds of failure
    first), each for at most ``per_failure`` seconds, within ``shrink_budget`` seconds
    (by default the rest of ``seconds``; unlimited without ``seconds``).
    """
    start = time.monotonic()
    stop_running = start + (seconds * (0.65 if shrink_budget is None else 1.0) if seconds else math.inf)
    counts, skips, refusals, failures = Counter(), Counter(), Counter(), []
    index = 0
    while (programs is None or index < programs) and time.monotonic() < stop_running:
        source, params, args, tags, mode = program(seed, index)
        outcome = classify(source, params, args, mode)
        counts[outcome.kind] += 1
        if outcome.kind == "SKIPPED":
            skips[outcome.key] += 1
        elif outcome.kind == "REFUSED":
            refusals[outcome.detail.partition("error: ")[2][:70] or outcome.detail[:70]] += 1
        elif outcome.kind in FAILURES:
            failures.append(Failure(seed, index, mode, source, params, args, outcome, tags))
            if log:
                log(f"  {outcome.kind} program {seed}:{index} ({mode}): {outcome.detail}")
        index += 1
    if seconds and shrink_budget is None:
        stop_shrinking = start + seconds * 0.95
    else:
        stop_shrinking = time.monotonic() + (shrink_budget if shrink_budget is not None else math.inf)
    for failure in _diverse(failures)[:max_shrink]:
        left = stop_shrinking - time.monotonic()
        if left < 1.0:
            break
        shrink_failure(failure, min(per_failure, left))
    return Result(seed, counts, skips, refusals, failures, time.monotonic() - start)


def _diverse(failures):
    """Failures ordered so that each kind (and each exception type) comes up early."""
    groups: dict = {}
    for f in failures:
        groups.setdefault((f.outcome.kind, f.outcome.key, f.outcome.detail.split(":")[0]), []).append(f)
    order = []
    while any(groups.values()):
        for group in groups.values():
            if group:
                order.append(group.pop(0))
    return order


def shrink_failure(failure: Failure, budget: float = 15.0) -> str:
    kind, key, scalar = failure.outcome.kind, failure.outcome.key, failure.outcome.scalar

    def still_fails(text):
        outcome = classify(text, failure.params, failure.args, failure.mode)
        return outcome.kind == kind and outcome.key == key and outcome.scalar == scalar

    failure.shrunk = shrink(failure.source, still_fails, budget)
    failure.outcome = classify(failure.shrunk, failure.params, failure.args, failure.mode)
    return failure.shrunk


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return repr(np.round(value, 6).tolist())
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return repr(value)


def report(failure: Failure) -> str:
    names = [*failure.params, "r", "n", "flag"]
    text = failure.shrunk or failure.source
    lines = [f"=== {failure.outcome.kind} (seed {failure.seed}, program {failure.index}, {failure.mode} mode; "
             f"replay: python tests/fuzz.py --replay {failure.seed}:{failure.index}) ===",
             text.rstrip(), "# at " + ", ".join(f"{n}={_show(v)}" for n, v in zip(names, failure.args)),
             f"# {failure.outcome.detail}"]
    if failure.outcome.kind == "WRONG" and failure.outcome.expected is not None:
        lines += [f"# expected: {_show(failure.outcome.expected)}", f"# actual:   {_show(failure.outcome.actual)}"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (shrinking included)")
    parser.add_argument("--seed", default=None, help="campaign seed (default: from the clock)")
    parser.add_argument("--programs", type=int, default=None, help="stop after this many programs")
    parser.add_argument("--max-shrink", type=int, default=None, help="shrink at most this many failures")
    parser.add_argument("--replay", default=None, help="SEED:INDEX: run and shrink that one program")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each failure as it is found")
    opts = parser.parse_args(argv)
    np.seterr(all="ignore")
    warnings.simplefilter("ignore")
    if opts.replay:
        seed, _, index = opts.replay.rpartition(":")
        source, params, args, tags, mode = program(seed, int(index))
        outcome = classify(source, params, args, mode)
        print(source)
        print(f"# {outcome.kind}: {outcome.detail}")
        if outcome.kind in FAILURES:
            failure = Failure(seed, int(index), mode, source, params, args, outcome, tags)
            shrink_failure(failure, 60.0)
            print(report(failure))
            return 1
        return 0
    if opts.seconds is None and opts.programs is None:
        opts.seconds = 25.0
    seed = opts.seed if opts.seed is not None else str(int(time.time()))
    result = campaign(seed, opts.seconds, opts.programs, max_shrink=opts.max_shrink,
                      log=print if opts.verbose else None)
    shown, seen = 0, set()
    for failure in result.failures:
        if failure.shrunk is None or failure.shrunk in seen:
            continue
        seen.add(failure.shrunk)
        print(report(failure), end="\n\n")
        shown += 1
    unshrunk = [f for f in result.failures if f.shrunk is None]
    for f in unshrunk[:10]:
        print(f"not shrunk (time): {f.outcome.kind} {f.seed}:{f.index} {f.outcome.detail}")
    if len(unshrunk) > 10:
        print(f"... and {len(unshrunk) - 10} more")
    if result.refusals:
        top = "; ".join(f"{n}x {m}" for m, n in result.refusals.most_common(3))
        print(f"most common refusals: {top}")
    print(result.summary())
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
