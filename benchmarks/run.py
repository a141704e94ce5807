"""diffc against hand-written NumPy, JAX, PyTorch, autograd, tangent-ad and sympy.

    pip install ".[bench]"      # the peers; each one is optional
    python benchmarks/run.py [--quick] [--cases lecture,svm] [--systems diffc,hand,jax-jit] [--note TEXT]

One fresh process per case (measure.py) builds every system, checks its
gradient against the hand-written one (1e-8 relative; a system that fails
the check or cannot run the case is shown with its reason, never timed),
then times the systems in turns (A B C, A B C, ...) so that drift on a
shared machine hits them alike. A first call still running after its
budget is stopped, and the case measured again without that system. Then
compile time and generated size of straight-line functions, one process
per (tool, length), each with a time limit.

Times are CPU time of the measuring process by default, with every library
held to one thread (--threads, --clock): on a machine shared with other
work, wall time counts at random the time a process waits for a core.

Output: a Markdown table on stdout; the full run also writes
benchmarks/results.md and benchmarks/results.png (--out elsewhere; --quick
writes only where --out says). --quick: the cases marked quick, 5 repeats,
short budgets, lengths to 1,000 operations: about two minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, ROOT]

import report  # noqa: E402
from measure import MARKER, PREPARE, ROW  # noqa: E402
from suite import BY_ID, CASES  # noqa: E402
from systems import SYSTEMS  # noqa: E402

# Many short samples, the minimum kept: on a shared machine the least disturbed sample is the one to read.
FULL = {"repeats": 15, "sample": 0.01, "budget": 60, "cap": 20, "sizes": (10, 100, 1000, 10000), "size_limit": 60}
QUICK = {"repeats": 5, "sample": 0.003, "budget": 5, "cap": 2, "sizes": (10, 100, 1000), "size_limit": 10}
GRACE = 10  # seconds past the budget before a first call stuck in C code (an XLA compile) is stopped


def thread_env(threads: int) -> dict:
    """The environment of a measuring process: every library's thread pool at `threads` (0: as they are).

    One thread each by default: on a small machine shared with other work, a BLAS that spreads a product over
    cores that are busy waits for them, and its times swing tenfold; with one thread each, every system
    gets the same single core's worth of work.
    """
    env = dict(os.environ)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BENCH_TORCH_THREADS"):
            env[var] = str(threads)
        eigen = "true" if threads > 1 else "false"
        xla = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + xla).strip()
    return env


def _split(values) -> list:
    return [v for item in values or [] for v in item.split(",") if v]


def _reader(stream, lines: queue.Queue):
    for line in stream:
        lines.put(line)
    lines.put(None)


def _worker(case_id, systems, settings, log):
    """Run measure.py once; returns (result or None, rows seen, system running when stopped or None)."""
    cmd = [sys.executable, os.path.join(HERE, "measure.py"), case_id, "--systems", ",".join(systems),
           "--repeats", str(settings["repeats"]), "--sample", str(settings["sample"]),
           "--budget", str(settings["budget"]), "--cap", str(settings["cap"]), "--clock", settings["clock"]]
    timing_limit = (len(systems) + 1) * (4 * settings["budget"] + settings["cap"]) + 60
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                                env=thread_env(settings["threads"]))
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
        current, seen, result = "start", {}, None
        deadline = time.monotonic() + 120 + settings["budget"]  # imports, inputs
        while True:
            try:
                line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                if time.monotonic() < deadline:
                    continue
                proc.kill()
                proc.wait()
                log(f"  stopped {case_id} while running {current}")
                return None, seen, current
            if line is None:
                break
            if line.startswith(PREPARE):
                current = line[len(PREPARE):].strip()
                limit = timing_limit if current == "timing" else settings["budget"] + GRACE
                deadline = time.monotonic() + limit
            elif line.startswith(ROW):
                row = json.loads(line[len(ROW):])
                seen[row.pop("name")] = row
            elif line.startswith(MARKER):
                result = json.loads(line[len(MARKER):])
                break
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a library thread still at work (a JAX compile): not ours to wait for
            proc.kill()
            proc.wait()
        if result is None:
            if proc.returncode == 3 and current in seen:  # measure.py left after a first call over its budget
                return None, seen, current
            if proc.returncode < 0 and current not in ("start", "timing", "forward"):
                # killed by a signal in a system's first call (JAX tracing 8,000 iterations): that system
                # is shown crashed, and the case is measured again without it
                log(f"  {case_id}: measure.py died of signal {-proc.returncode} in the first call of {current}")
                seen[current] = {"status": f"crashed: its first call killed the measuring process "
                                           f"(signal {-proc.returncode})"}
                return None, seen, current
            err.seek(0)
            tail = err.read().strip().splitlines()[-3:]
            log(f"  {case_id}: measure.py exited {proc.returncode}: " + " / ".join(tail))
            return None, seen, None
        return result, seen, None


def run_case(case_id, systems, settings, log):
    fixed: dict = {}  # rows settled in an earlier attempt: failures, and first calls that had to be stopped
    for _ in range(len(systems) + 1):
        todo = [s for s in systems if s not in fixed]
        result, seen, stopped = _worker(case_id, todo, settings, log)
        if result is not None:
            rows = result["rows"]
            result["rows"] = {"forward": rows.pop("forward")} if "forward" in rows else {}
            result["rows"].update({s: fixed.get(s) or rows[s] for s in systems})
            return result
        if stopped in (None, "start", "timing", "forward"):
            break
        fixed.update({s: r for s, r in seen.items() if r["status"] != "ok" and s != "forward"})  # crashed too
        fixed.setdefault(stopped, {"status": f"not timed: first call still running after "
                                             f"{settings['budget'] + GRACE:.0f} s (stopped)"})
    case = BY_ID[case_id]
    rows = {s: fixed.get(s) or {"status": "the measuring process failed (see the log)"} for s in systems}
    return {"case": case_id, "label": case.label, "scalar": case.scalar, "rows": rows}


def run_sizes(tools, counts, limit, log):
    sizes = {}
    for tool in tools:
        for n in counts:
            if any("error" in sizes.get((tool, m), {}) for m in counts if m < n):
                sizes[(tool, n)] = {"error": "not run (a shorter one failed)"}
                continue
            cmd = [sys.executable, os.path.join(HERE, "sizes.py"), tool, str(n)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=ROOT)
            except subprocess.TimeoutExpired:
                sizes[(tool, n)] = {"error": f"over {limit} s"}
                log(f"  {tool} {n} ops: over {limit} s")
                continue
            if done.returncode:
                tail = (done.stderr.strip().splitlines() or ["?"])[-1][:100]
                sizes[(tool, n)] = {"error": f"fails: {tail}"}
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            if not r["rel_err"] <= 1e-8:
                r = {"error": f"WRONG: relative error {r['rel_err']:.1e}"}
            sizes[(tool, n)] = r
            log(f"  {tool} {n} ops: {report.fmt_time(r.get('compile_s'))}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no largest cases or lengths")
    parser.add_argument("--cases", nargs="*", help=f"of: {', '.join(BY_ID)} (default: all; --quick: the quick ones)")
    parser.add_argument("--systems", nargs="*", help=f"of: {', '.join(SYSTEMS)} (default: all)")
    parser.add_argument("--sizes", help="lengths for the compile-time sweep, as 10,100 ('none' to skip)")
    parser.add_argument("--repeats", type=int, help="timed rounds per system")
    parser.add_argument("--budget", type=float, help="seconds allowed for a system's first call (60; --quick 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS, PyTorch and XLA (default 1; 0 leaves each library's own)")
    parser.add_argument("--clock", choices=("cpu", "wall"),
                        help="what a sample measures: the process's CPU time (the default with one thread per library:"
                             " time spent waiting for a busy core is left out) or wall time (the default otherwise)")
    parser.add_argument("--out", help="the Markdown file to write (a PNG beside it)")
    parser.add_argument("--note", default="", help="a line for results.md (say if the machine was loaded)")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    if args.repeats:
        settings["repeats"] = args.repeats
    settings["threads"] = args.threads
    settings["clock"] = args.clock or ("cpu" if args.threads == 1 else "wall")
    if args.budget:
        settings["budget"] = args.budget
    cases = _split(args.cases) or [c.id for c in CASES if c.quick or not args.quick]
    systems = _split(args.systems) or list(SYSTEMS)
    unknown = [c for c in cases if c not in BY_ID] + [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown case or system: {', '.join(unknown)}")
    counts = settings["sizes"] if args.sizes is None else tuple(int(n) for n in _split([args.sizes])
                                                                 if n != "none")
    out = args.out or (None if args.quick else os.path.join(HERE, "results.md"))

    def log(text):
        print(text, file=sys.stderr, flush=True)

    loads = [os.getloadavg()[0]]
    results = []
    for case_id in cases:
        start = time.perf_counter()
        results.append(run_case(case_id, systems, settings, log))
        log(f"{case_id}: {time.perf_counter() - start:.0f} s")
    tools = [t for t in ("diffc", "sympy") if t in systems or (t == "diffc" and "diffc-gen" in systems)]
    sizes = run_sizes(tools, counts, settings["size_limit"], log)
    loads.append(os.getloadavg()[0])

    mode = f"{'quick' if args.quick else 'full'}, {settings['repeats']} repeats, " + (
        f"{args.threads} thread(s) per library" if args.threads else "libraries' own thread counts") + (
        ", CPU time of the measuring process" if settings["clock"] == "cpu" else ", wall time")
    lines = ["# diffc benchmark", "", *report.environment(ROOT, mode, args.note, loads),
             "", "## Time per gradient call", "", *report.case_table(results), "", report.LEGEND]
    if sizes:
        lines += ["", "## Compile time and generated size, straight-line scalar code", "",
                  *report.sizes_table(sizes)]
    lines += ["", "## Targets (issue 12)", "", *report.targets(results, sizes)]
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
        log(report.plot(results, os.path.splitext(out)[0] + ".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
