"""Measure one case in this process: build each system, check it, then time them in turns.

    python benchmarks/measure.py CASE --systems diffc,hand,... [--repeats 7] [--sample S] [--clock cpu]

run.py starts one fresh process of this per case and reads the JSON line it
prints last. Order of work:
1. each system is built and called once (the first-call time, compilation
   included), under a time budget;
2. its gradient is checked against the hand-written one: every component's
   relative error ||g - g_hand|| / ||g_hand|| must be at most 1e-8, and a
   system that fails the check (or raises, or is missing) is reported with
   its reason and never timed;
3. the systems that passed are timed in turns (A B C, A B C, ...), each
   sample a loop of calls long enough to read, garbage collection off;
4. for the systems whose arrays tracemalloc sees (NumPy ones), the peak
   memory of one call.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import signal
import statistics
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import numpy as np  # noqa: E402
from suite import BY_ID  # noqa: E402
from systems import NUMPY_MEMORY, Unavailable, build, preload, to_numpy  # noqa: E402

TOLERANCE = 1e-8
MARKER = "BENCH-JSON "
PREPARE = "BENCH-PREPARE "
ROW = "BENCH-ROW "


class Budget(Exception):
    pass


def _alarm(signum, frame):
    raise Budget()


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _timer(nargs: int, clock):
    """A loop that calls f(a0, a1, ...) n times, compiled for this arity so no *args unpacking is timed."""
    names = ", ".join(f"a{i}" for i in range(nargs))
    text = (f"def timer(n, f, {names}):\n    start = perf()\n    for _ in range(n):\n        f({names})\n"
            "    return perf() - start\n")
    namespace = {"perf": clock}
    exec(text, namespace)
    return namespace["timer"]


def _loop_overhead(clock) -> float:
    """Seconds per iteration of an empty timing loop: the least of many tries (never more than the true cost)."""
    best = float("inf")
    for _ in range(30):
        start = clock()
        for _ in range(10_000):
            pass
        best = min(best, clock() - start)
    return best / 10_000


def relative_error(mine: list, ref: list) -> float:
    if len(mine) != len(ref):
        return math.inf
    worst = 0.0
    for a, b in zip(mine, ref):
        b = np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return math.inf
        worst = max(worst, float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)))
    return worst


def _short(exc: BaseException) -> str:
    # The first line that says something (tangent-ad frames its message in banners and a title).
    text = [line.strip() for line in str(exc).splitlines() if len(line.split()) >= 4] or str(exc).splitlines()
    return f"{type(exc).__name__}: {text[0][:140] if text else ''}".strip()


def _prepare_one(name, case, inputs, ref, budget_s):
    """(row, built or None): the system built, called once under the budget, and checked."""
    row = {"status": "ok"}
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, int(budget_s)))
    start = time.perf_counter()
    try:
        built = build(name, case, inputs)
        result = built.call(*built.args)
        row["first_call_s"] = time.perf_counter() - start
        row["build_s"] = built.build_s
    except Budget:
        return {"status": f"not timed: first call took over {budget_s:.0f} s (stopped)", "over_budget": True}, None
    except Unavailable as exc:
        return {"status": str(exc)}, None
    except Exception as exc:  # a peer that cannot run the case: its reason, never a timing
        return {"status": f"fails: {_short(exc)}"}, None
    finally:
        signal.alarm(0)
    if name == "forward":
        return row, built
    try:
        err = relative_error(to_numpy(built, result, len(case.wrt)), ref)
    except Exception as exc:
        return {"status": f"fails: result not comparable: {_short(exc)}"}, None
    row["rel_err"] = err
    if not err <= TOLERANCE:
        return {"status": f"WRONG: relative error {err:.1e} > {TOLERANCE:g} (not timed)", "rel_err": err}, None
    return row, built


def prepare(names, case, inputs, ref, budget_s):
    rows, ready = {}, {}
    for name in names:
        preload(name)
        print(f"{PREPARE}{name}", flush=True)  # run.py stops a first call stuck in C code past the budget
        rows[name], built = _prepare_one(name, case, inputs, ref, budget_s)
        print(ROW + json.dumps({"name": name, **rows[name]}), flush=True)
        if rows[name].get("over_budget"):
            # Work may go on in the library's threads (JAX compiles in the background) and would load the
            # machine while the others are timed: leave now; run.py measures the case again without it.
            os._exit(3)
        if built is not None:
            ready[name] = built
    return rows, ready


def time_in_turns(ready, rows, repeats, sample_s, cap_s, clock="wall"):
    """clock "cpu" counts this process's CPU time (all its threads): on a machine shared with other work it
    leaves out the time the process waited for a core, which wall time counts at random."""
    timers = {name: _timer(len(b.args), CLOCKS[clock]) for name, b in ready.items()}
    inner = {}
    for name, b in ready.items():  # calibrate: calls per sample, so one sample lasts about sample_s
        one = timers[name](1, b.call, *b.args)
        inner[name] = max(1, min(100_000, int(sample_s / max(one, 1e-9))))
    gc.collect()
    gc.freeze()  # the libraries' objects out of the collector's way: a full collection takes 0.5 s with all loaded
    overhead = _loop_overhead(CLOCKS[clock])
    samples = {name: [] for name in ready}
    spent = dict.fromkeys(ready, 0.0)
    for turn in range(repeats + 1):  # turn 0 warms up and is dropped
        for name, b in ready.items():
            if turn > 3 and spent[name] > cap_s:
                continue  # a slow system keeps the samples it has (at least 3)
            n = inner[name]
            gc.disable()
            try:
                elapsed = timers[name](n, b.call, *b.args)
            finally:
                gc.enable()
            spent[name] += elapsed
            if turn:
                samples[name].append(max(elapsed / n - overhead, 0.0))
    for name, s in samples.items():
        rows[name].update(min_s=min(s), median_s=statistics.median(s), max_s=max(s), samples=len(s),
                          calls_per_sample=inner[name])


def peak_memory(ready, rows):
    for name, b in ready.items():
        if name not in NUMPY_MEMORY:
            rows[name]["peak_bytes"] = None
            continue
        gc.collect()
        tracemalloc.start()
        try:
            result = b.call(*b.args)
            rows[name]["peak_bytes"] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        del result


def measure(case_id, names, repeats, sample_s, budget_s, cap_s, seed=0, clock="wall"):
    case = BY_ID[case_id]
    inputs = case.make_inputs(np.random.default_rng(seed))
    ref = [np.asarray(g, dtype=np.float64) for g in case.hand(*inputs)]
    names = ["forward"] + [n for n in names if n != "forward"]
    rows, ready = prepare(names, case, inputs, ref, budget_s)
    print(f"{PREPARE}timing", flush=True)
    time_in_turns(ready, rows, repeats, sample_s, cap_s, clock)
    if not case.scalar:
        peak_memory(ready, rows)
    return {"case": case_id, "label": case.label, "scalar": case.scalar, "rows": rows}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case", choices=sorted(BY_ID))
    parser.add_argument("--systems", default="diffc,diffc-gen,hand")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sample", type=float, default=0.02, help="seconds per timed sample (default 0.02)")
    parser.add_argument("--budget", type=float, default=60, help="seconds allowed for a first call (default 60)")
    parser.add_argument("--cap", type=float, default=30, help="seconds of timing per system, after 3 samples")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall", help="what a sample measures")
    args = parser.parse_args(argv)
    result = measure(args.case, [s for s in args.systems.split(",") if s], args.repeats, args.sample, args.budget,
                     args.cap, clock=args.clock)
    print(MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
