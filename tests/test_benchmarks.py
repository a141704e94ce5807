"""The benchmark script runs and checks its candidates agree (no timing is asserted here:
speed targets are read from the benchmark's table, not from unit tests)."""

import importlib.util
import subprocess
import sys

from conftest import ROOT


def test_two_layer_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("bench_two_layer", ROOT / "benchmarks" / "two_layer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--small", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "generated / hand-written" in out and "generated / forward" in out


def test_run_quick_prints_a_checked_table(tmp_path):
    """benchmarks/run.py end to end, in its own process, on the smallest case: it exits 0, and prints and
    writes a table in which both systems passed the gradient check and were timed."""
    out = tmp_path / "results.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--cases", "lecture",
                           "--systems", "diffc,hand", "--sizes", "10", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| case | system | min |")
    rows = {cells[1]: cells for cells in ([c.strip() for c in line.strip("|").split("|")] for line in table[2:])}
    for system in ("diffc decorator", "hand-written"):
        assert rows[system][2] != "—", rows[system]  # timed, so it passed the 1e-8 check
    assert rows["hand-written"][5] == "1.00"
    assert "| 10 |" in done.stdout  # the compile-size sweep
    assert out.read_text() in done.stdout


def test_a_wrong_or_failing_system_is_reported_and_never_timed(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import measure
    import systems

    def off_by_a_little(case, inputs):  # 1e-7 relative: past the 1e-8 the benchmark allows
        return systems.Built(lambda *a: tuple(g * (1 + 1e-7) for g in case.hand(*a)), inputs)

    def broken(case, inputs):
        raise ValueError("cannot do this\nsecond line")

    monkeypatch.setitem(systems.BUILDERS, "wrong", off_by_a_little)
    monkeypatch.setitem(systems.BUILDERS, "broken", broken)
    result = measure.measure("lecture", ["hand", "wrong", "broken"], repeats=1, sample_s=0.001, budget_s=10,
                             cap_s=1)
    rows = result["rows"]
    assert rows["wrong"]["status"].startswith("WRONG: relative error 1.0e-07") and "min_s" not in rows["wrong"]
    assert rows["broken"]["status"] == "fails: ValueError: cannot do this" and "min_s" not in rows["broken"]
    assert rows["hand"]["status"] == "ok" and rows["hand"]["min_s"] > 0 and rows["hand"]["rel_err"] == 0
