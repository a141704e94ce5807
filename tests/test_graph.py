"""diffc graph / explain / check and diffc.draw / diffc.explain."""

import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import ROOT, run_generated

import diffc
from diffc.tools.evaluate import format_value, trace_source
from diffc.tools.explain import explain_trace
from diffc.tools.graph import to_dot

LECTURE = ROOT / "examples" / "lecture.py"
GOLDEN = ROOT / "tests" / "golden"
AT = {
    "f": {"x": -2.0, "y": 5.0, "z": -4.0},
    "neuron": {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0},
}
UPDATE = bool(os.environ.get("DIFFC_UPDATE_GOLDEN"))


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"golden {name} changed (DIFFC_UPDATE_GOLDEN=1 rewrites it)"


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def at_args(function):
    return [a for name, value in AT[function].items() for a in ("--at", f"{name}={value:g}")]


@pytest.mark.parametrize("function", list(AT))
def test_dot_is_golden(function):
    result = run("graph", LECTURE, "-f", function, *at_args(function))
    assert result.returncode == 0, result.stderr
    golden(f"lecture_{function}.dot", result.stdout)


@pytest.mark.parametrize("function", list(AT))
def test_explain_is_golden(function):
    result = run("explain", LECTURE, "-f", function, *at_args(function))
    assert result.returncode == 0, result.stderr
    golden(f"explain_{function}.txt", result.stdout)


def test_explain_has_the_lectures_numbers():
    text = run("explain", LECTURE, "-f", "f", *at_args("f")).stdout
    for part in ["df/dq = z = -4", "df/dz = q = 3", "df/dx = -4 x 1 = -4", "df/dy = -4 x 1 = -4", "q = x + y",
                 "add gate: distributes", "mul gate: switches"]:
        assert part in text
    neuron = explain_trace(trace_source(LECTURE.read_text(), "lecture.py", "neuron", AT["neuron"]))
    assert format_value(neuron.value) == "0.73"
    sigmoid = neuron.rows[0]
    assert sigmoid["pattern"] == "sigmoid gate" and sigmoid["inputs"][0]["local"] == "(1 - L) * L"
    assert format_value(sigmoid["inputs"][0]["downstream"]) == "0.20"
    inputs = {i["name"]: format_value(i["downstream"]) for row in neuron.rows for i in row["inputs"]}
    assert [inputs[n] for n in ["w0", "x0", "w1", "x1", "w2"]] == ["-0.20", "0.39", "-0.39", "-0.59", "0.20"]


@pytest.mark.parametrize("function", list(AT))
def test_values_agree_with_the_generated_gradient(function):
    trace = trace_source(LECTURE.read_text(), "lecture.py", function, AT[function])
    grads = run_generated((ROOT / "examples" / "lecture_grad.py").read_text())[f"{function}_grad"](**AT[function])
    into = {}
    for edge in trace.edges:
        if edge.src.startswith("in_"):
            into[edge.name] = into.get(edge.name, 0.0) + edge.grad
    assert tuple(into[name] for name in AT[function]) == pytest.approx(grads, rel=1e-12)
    assert trace.output_value == pytest.approx(1 / (1 + math.exp(-1.0)) if function == "neuron" else -12.0)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_parses_and_shows_values_and_gradients(tmp_path):
    out = tmp_path / "neuron.svg"
    result = run("graph", LECTURE, "-f", "neuron", *at_args("neuron"), "-o", out)
    assert result.returncode == 0, result.stderr
    root = ET.parse(out).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text]
    for number in ["0.73", "-0.20", "0.39", "-0.39", "-0.59", "0.20", "sigmoid"]:
        assert number in texts, number
    png = tmp_path / "f.png"
    assert run("graph", LECTURE, "-f", "f", *at_args("f"), "-o", png).returncode == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_dot_names_the_package(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no dot on this PATH
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "graph", str(LECTURE), "-f", "f", *at_args("f"),
                             "-o", str(tmp_path / "f.svg")], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "f.svg").exists()


def test_structure_only_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "side.py"
    path.write_text(f"open({str(marker)!r}, 'w')\n\n\ndef f(x, y):\n    return x * y + x\n")
    result = run("graph", path, "--no-values")
    assert result.returncode == 0 and "->" in result.stdout and "#1b7f3b" not in result.stdout
    assert not marker.exists()


def test_graph_and_explain_errors():
    assert run("graph", LECTURE, "-f", "f").returncode == 2  # neither --at nor --no-values
    missing = run("explain", LECTURE, "-f", "f", "--at", "x=1")
    assert missing.returncode == 1 and "no value for parameter 'y'" in missing.stderr
    assert run("graph", LECTURE, "--no-values").returncode == 1  # two functions: which one?
    bad = run("explain", LECTURE, "-f", "f", "--at", "x=oops", "--at", "y=1", "--at", "z=1")
    # A value diffc cannot read is bad usage, as a bad --shape is: exit 2, naming the option.
    assert bad.returncode == 2 and "argument --at: x='oops'" in bad.stderr and "Traceback" not in bad.stderr


def test_check_command(tmp_path):
    ok = run("check", LECTURE, "-f", "neuron", *at_args("neuron"))
    assert ok.returncode == 0 and "rel error" in ok.stdout and "MISMATCH" not in ok.stdout
    path = tmp_path / "kink.py"
    path.write_text("def f(x, y):\n    return max(x, y)\n")
    # At a tie the max gate routes everything to x; central differences see half each.
    tie = run("check", path, "--at", "x=1", "--at", "y=1")
    assert tie.returncode == 1 and "MISMATCH" in tie.stdout


def test_numpy_graph_and_explain():
    text = (ROOT / "examples" / "two_layer_net.py").read_text()
    rng = np.random.default_rng(0)
    args = {"W1": rng.normal(size=(2, 4)), "b1": np.zeros(4), "W2": rng.normal(size=(4, 3)), "b2": np.zeros(3),
            "X": rng.normal(size=(5, 2)), "y": np.array([0, 1, 2, 1, 0]), "reg": 0.1}
    trace = trace_source(text, "two_layer_net.py", "two_layer_loss", args)
    dot = to_dot(trace)
    assert "(5, 4) mean=" in dot and '"@"' in dot
    rows = explain_trace(trace).rows
    assert any(r["pattern"] == "max gate: routes" for r in rows)


def test_python_api(make_module):
    module = make_module(LECTURE.read_text())
    drawing = diffc.draw(module.f, -2.0, 5.0, z=-4.0)
    assert drawing.dot.startswith('digraph "f"') and "-12" in drawing.dot
    if shutil.which("dot"):
        assert "<svg" in drawing._repr_svg_()
    explanation = diffc.explain(module.neuron, 2.0, -1.0, -3.0, -2.0, -3.0)
    assert "sigmoid gate" in str(explanation)
    assert [r["output"] for r in explanation.rows] == ["L", "s3", "s2", "s1", "s0"]


def test_readme_shows_the_current_explain_table_and_picture():
    readme = (ROOT / "README.md").read_text()
    assert (GOLDEN / "explain_f.txt").read_text() in readme
    assert (ROOT / "docs" / "neuron.svg").exists() and "docs/neuron.svg" in readme


def test_control_flow_draws_the_path_taken():
    text = (ROOT / "examples" / "control_flow.py").read_text()
    trace = trace_source(text, "control_flow.py", "fixed_point", {"x": 0.5, "n": 3})
    assert [n.label for n in trace.nodes if n.kind == "gate"] == ["=", "sin", "+", "sin", "+", "sin", "+"]
    into_x = sum(e.grad for e in trace.edges if e.src == "in_x")
    from_file = run_generated((ROOT / "examples" / "control_flow_grad.py").read_text())["fixed_point_grad"]
    assert into_x == pytest.approx(from_file(0.5, 3)[0], rel=1e-12)
    branch = trace_source(text, "control_flow.py", "piecewise", {"x": -0.5, "y": 2.0})
    assert "exp" in [n.label for n in branch.nodes] and "*" in [n.label for n in branch.nodes]
    rows = explain_trace(trace_source(text, "control_flow.py", "grow", {"x": 3.0})).rows
    assert len(rows) == 2 * 3  # three trips, each x * 1.5 and total + x
    structure = run("graph", ROOT / "examples" / "control_flow.py", "-f", "piecewise", "--no-values")
    assert structure.returncode == 1 and "needs values" in structure.stderr
    bad = run("explain", ROOT / "examples" / "control_flow.py", "-f", "fixed_point", "--at", "x=0.5", "--at", "n=2.5")
    assert bad.returncode == 1 and "evaluating 'fixed_point' at the given values failed" in bad.stderr
