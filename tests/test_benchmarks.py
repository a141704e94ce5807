"""The benchmark script runs and checks its candidates agree (no timing is asserted here:
speed targets are read from the benchmark's table, not from unit tests)."""

import importlib.util

from conftest import ROOT


def test_two_layer_benchmark_runs(capsys):
    spec = importlib.util.spec_from_file_location("bench_two_layer", ROOT / "benchmarks" / "two_layer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--small", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "generated / hand-written" in out and "generated / forward" in out
