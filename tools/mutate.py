"""Mutation check of the reverse rules of the operation catalogue (diffc/ops/: every record with a rule).

    python tools/mutate.py [-j 2] [--only OP ...] [--tests FILE ...]

For every rule in ``diffc.ops.catalogue`` (read at run time, so rules added later are
checked too) and every input of it that the rule tests exercise, each mutant in turn
replaces that input's vector-Jacobian product:

- ``scale``: the gradient times 1.1;
- ``swap``: the rule applied with this input and the next one (cyclically) swapped;
- ``drop``: the first sum or difference the rule builds loses its last term.

The rule tests then run (pytest -x -q, in a child forked from a process that has
already imported diffc, numpy and pytest); a mutant is killed if they fail. A mutant
whose code is the same as the rule's wherever it is used (``swap`` on ``x + y``, or
``drop`` on a rule without a sum) is equivalent and not counted. An input that no
test reaches is reported as not exercised: it counts as surviving.

Prints one row per rule input and the kill rate; exits 1 if any mutant survives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import pytest  # noqa: E402

from diffc.ir import Builder, Const, Eqn, Var  # noqa: E402
from diffc.ops.catalogue import OPS  # noqa: E402

TESTS = ["tests/test_rules_scalar.py", "tests/test_numpy_rules.py", "tests/test_numpy_setitem.py",
         "tests/test_rule_coverage.py", "tests/test_soundness_front.py", "tests/test_soundness_numpy.py",
         "tests/test_rules_new.py", "tests/test_catalogue.py"]
MUTANTS = ("scale", "swap", "drop")


class _Rules:
    """The catalogue's rules as a table op -> rule that mutants can replace."""

    def __iter__(self):
        return iter([name for name, op in OPS.items() if op.vjp is not None])

    def __getitem__(self, name):
        return OPS[name].vjp

    def __setitem__(self, name, rule):
        OPS[name].vjp = rule


VJPS = _Rules()


def _norm(atom, local):
    if isinstance(atom, Var):
        return ("v", local[id(atom)]) if id(atom) in local else ("in", id(atom))
    if isinstance(atom, Const):
        return ("c", repr(atom.value))
    if isinstance(atom, (tuple, list)):
        return tuple(_norm(a, local) for a in atom)
    return ("r", repr(atom))


def signature(eqns, result):
    """The code a rule emitted, with its fresh variables numbered in order: equal code, equal signature."""
    local = {}
    out = []
    for e in eqns:
        ins = tuple(_norm(a, local) for a in e.ins)
        local[id(e.out)] = len(local)
        out.append((e.op, ins, repr(sorted((k, repr(v)) for k, v in e.params.items())), local[id(e.out)]))
    return repr((out, _norm(result, local)))


def _scratch(b):
    return Builder([], b.lineno, b.col, b.origin, numpy=b.numpy, shapes=b.shapes)


def variant(kind, original, b, g, ans, ins, i, params):
    """Mutant ``kind`` of one rule input's vector-Jacobian product, emitted into ``b``."""
    if kind == "scale":
        result = original(b, g, ans, ins, i, params)
        return None if result is None else b.mul(result, Const(1.1))
    if kind == "swap":
        if len(ins) < 2:
            return original(b, g, ans, ins, i, params)
        j = (i + 1) % len(ins)  # this input and the next one trade places
        swapped = list(ins)
        swapped[i], swapped[j] = ins[j], ins[i]
        return original(b, g, ans, tuple(swapped), i, params)
    start = len(b.eqns)
    result = original(b, g, ans, ins, i, params)
    for k in range(start, len(b.eqns)):  # drop: the first sum keeps its first term only
        e = b.eqns[k]
        if e.op in ("add", "sub") and len(e.ins) == 2:
            b.eqns[k] = Eqn("mul", (e.ins[0], Const(1)), e.out, {}, e.lineno, e.col, e.origin)
            break
    return result


def differs(kind, original, b, g, ans, ins, i, params) -> bool:
    """Whether the mutant writes other code than the rule at this use (else it is equivalent here)."""
    scratch = _scratch(b)
    try:
        reference = signature(scratch.eqns, original(scratch, g, ans, ins, i, params))
    except Exception:  # the rule itself refuses here: so will the mutant
        return False
    scratch = _scratch(b)
    try:
        return signature(scratch.eqns, variant(kind, original, scratch, g, ans, ins, i, params)) != reference
    except Exception:
        return True


def mutated(op, index, kind):
    """VJPS[op] with input ``index``'s rule replaced by mutant ``kind``."""
    original = VJPS[op]

    def rule(b, g, ans, ins, i, params):
        if i != index:
            return original(b, g, ans, ins, i, params)
        return variant(kind, original, b, g, ans, ins, i, params)

    return rule


def recorder(op, seen):
    """VJPS[op], noting each input it is asked for and which mutants would change the code there."""
    original = VJPS[op]

    def rule(b, g, ans, ins, i, params):
        found = seen.setdefault(f"{op}|{i}", [])
        for kind in MUTANTS:
            if kind not in found and differs(kind, original, b, g, ans, ins, i, params):
                found.append(kind)
        return original(b, g, ans, ins, i, params)

    return rule


def fixed_arity(op):
    """The per-input rules of an op defined with ``per_input`` or ``formula`` (None for other rules)."""
    for cell in VJPS[op].__closure__ or ():
        value = cell.cell_contents
        if isinstance(value, tuple) and value and all(callable(v) for v in value):
            return value
    return None


def statically_zero(rule, n) -> bool:
    scratch = Builder([])
    try:
        return rule(scratch, Var(), Var(), *[Var() for _ in range(n)]) is None and not scratch.eqns
    except Exception:
        return False


def _pytest(tests, keyword=None) -> int:
    args = [str(ROOT / t) if not os.path.isabs(t) else t for t in tests]
    args += ["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-W", "ignore"]
    if keyword:
        args += ["-k", keyword]
    devnull = os.open(os.environ.get("MUTATE_LOG", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    return pytest.main(args)


def exercised(tests) -> dict:
    """{"op|input": [mutants that change the code somewhere]} for every rule input the tests reach."""
    log = tempfile.mktemp(suffix=".json")
    pid = os.fork()
    if pid == 0:
        seen: dict = {}
        for op in list(VJPS):
            VJPS[op] = recorder(op, seen)
        status = _pytest(tests)
        with open(log, "w") as f:
            json.dump({"status": int(status), "seen": seen}, f)
        os._exit(0)
    os.waitpid(pid, 0)
    with open(log) as f:
        data = json.load(f)
    os.unlink(log)
    if data["status"] != 0:
        sys.exit(f"the rule tests fail without any mutant (pytest status {data['status']}): fix them first")
    return data["seen"]


def start(op, index, kind, tests):
    """Fork a child that runs the tests against one mutant; returns its pid."""
    pid = os.fork()
    if pid == 0:
        VJPS[op] = mutated(op, index, kind)
        short = op.split(".")[-1]
        # The tests that name the op first (quick to kill); then all of them.
        status = _pytest(tests, keyword=short) if short.isidentifier() else 5
        if status in (0, 5):
            status = _pytest(tests)
        os._exit(1 if status == 1 else 0 if status == 0 else 2)
    return pid


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="only these ops (as in the table: 'mul', 'numpy.exp')")
    parser.add_argument("--tests", nargs="*", default=None, help="test files (default: the rule tests)")
    opts = parser.parse_args(argv)
    tests = [t for t in (opts.tests or TESTS) if (ROOT / t).exists() or os.path.exists(t)]
    began = time.monotonic()
    seen = exercised(tests)
    ops = sorted(op for op in VJPS if not opts.only or op in opts.only)
    jobs, rows = [], {}
    for op in ops:
        per_input = fixed_arity(op)
        reached = sorted(int(k.split("|")[1]) for k in seen if k.split("|")[0] == op)
        for i in sorted(set(reached) | set(range(len(per_input or ())))):
            if f"{op}|{i}" in seen:
                rows[(op, i)] = {k: "equivalent" for k in MUTANTS}
                jobs += [(op, i, kind) for kind in seen[f"{op}|{i}"]]
            elif per_input and statically_zero(per_input[i], len(per_input)):
                rows[(op, i)] = {"zero": True}
            else:
                rows[(op, i)] = {"not exercised": True}
        if not reached and not per_input:
            rows[(op, 0)] = {"not exercised": True}
    running = {}
    while jobs or running:
        while jobs and len(running) < opts.jobs:
            op, i, kind = jobs.pop(0)
            running[start(op, i, kind, tests)] = (op, i, kind)
        pid, status = os.wait()
        op, i, kind = running.pop(pid)
        rows[(op, i)][kind] = "killed" if os.waitstatus_to_exitcode(status) != 0 else "SURVIVED"
    return summarise(rows, time.monotonic() - began)


def summarise(rows, seconds) -> int:
    width = max(len(op) for op, _ in rows) + 4
    print(f"{'rule input':<{width}} " + " ".join(f"{k:<11}" for k in MUTANTS))
    killed = total = 0
    survivors = []
    for (op, i), verdicts in sorted(rows.items()):
        if verdicts.get("zero"):
            print(f"{op + f'[{i}]':<{width}} zero gradient by rule (no mutant)")
            continue
        if verdicts.get("not exercised"):
            print(f"{op + f'[{i}]':<{width}} not exercised by any rule test")
            survivors.append(f"{op}[{i}] (not exercised)")
            total += 1
            continue
        print(f"{op + f'[{i}]':<{width}} " + " ".join(f"{verdicts.get(k, '-'):<11}" for k in MUTANTS))
        for kind in MUTANTS:
            v = verdicts.get(kind)
            if v in ("killed", "SURVIVED"):
                total += 1
                killed += v == "killed"
            if v == "SURVIVED":
                survivors.append(f"{op}[{i}] {kind}")
    rate = killed / total if total else 1.0
    print(f"\nmutants: {total}, killed: {killed}, surviving: {len(survivors)}, kill rate: {rate:.1%} "
          f"({seconds:.0f}s)")
    if survivors:
        print("surviving: " + ", ".join(survivors))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
