"""Hostile input (issue 10): no crash, no lost file, no recursion limit reachable.

CLI tests run ``python cli.py`` in a subprocess and check the exit status,
stderr and the file system afterwards. Gradients are checked against
central differences.
"""

import hashlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT, central_difference, numeric_gradient, run_generated

import diffc


def run(*args, cwd=None, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


def generated(path, *args):
    """Compile ``path`` with the CLI to stdout and run the result."""
    result = run(path, "--stdout", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, run_generated(result.stdout)


# -- crash 5 and 6: a user's name never shadows what the generated code calls ------------------------

def test_local_shadowing_an_imported_derivative(tmp_path):
    path = write(tmp_path / "f.py", """\
        from math import sin, cos


        def f(x):
            cos = 2.0
            return sin(x) * cos
        """)
    text, ns = generated(path)
    assert "cos_1 = 2.0" in text  # the user's local is renamed, math's cos keeps its name
    for x in (0.3, -1.2, 2.0):
        assert ns["f_grad"](x) == pytest.approx(2.0 * math.cos(x), rel=1e-12)


def test_local_shadowing_an_imported_derivative_through_the_api(make_module):
    m = make_module("""\
        from math import sin, cos


        def f(x):
            cos = 2.0
            return sin(x) * cos
        """)
    assert diffc.grad(m.f)(0.7) == pytest.approx(2.0 * math.cos(0.7), rel=1e-12)


def test_parameters_named_like_helpers(tmp_path):
    path = write(tmp_path / "f.py", """\
        import numpy as np


        def f(_matmul_grad, _unbroadcast, A):
            return np.sum(np.tanh(_matmul_grad @ A) * _unbroadcast)
        """)
    text, ns = generated(path)
    assert "def _unbroadcast_(" in text and "def _matmul_grad_(" in text
    rng = np.random.default_rng(0)
    args = [rng.normal(size=(3, 4)), rng.normal(size=(1, 5)), rng.normal(size=(4, 5))]  # broadcast (1, 5)

    def f(m, u, A):
        return np.sum(np.tanh(m @ A) * u)

    grads = ns["f_grad"](*args)
    for i in range(3):
        assert grads[i].shape == args[i].shape
        np.testing.assert_allclose(grads[i], numeric_gradient(f, args, i), rtol=1e-6, atol=1e-8)


def test_parameter_named_like_the_module_of_a_derivative(tmp_path):
    path = write(tmp_path / "f.py", """\
        import math
        from math import sin


        def f(x, math):
            return sin(x) * math
        """)
    _, ns = generated(path)
    gx, gm = ns["f_grad"](0.4, 3.0)
    assert gx == pytest.approx(3.0 * math.cos(0.4)) and gm == pytest.approx(math.sin(0.4))


def test_parameter_named_like_numpy_alias(tmp_path):
    path = write(tmp_path / "f.py", """\
        import numpy


        def f(x, np):
            return numpy.sum(numpy.exp(x) * np)
        """)
    _, ns = generated(path)
    x, w = np.array([0.1, -0.4]), np.array([[2.0, 3.0], [1.0, -1.0]])
    gx, gw = ns["f_grad"](x, w)
    np.testing.assert_allclose(gx, np.exp(x) * w.sum(axis=0))
    np.testing.assert_allclose(gw, np.broadcast_to(np.exp(x), w.shape))


def test_parameters_named_like_builtins_and_the_loop_dummy(tmp_path):
    path = write(tmp_path / "f.py", """\
        def f(x, reversed, _, n: int = 3):
            for i in range(n):
                x = x * reversed
            while x < 100.0:
                x = x * _
            return x
        """)
    text, ns = generated(path)
    assert "builtins.reversed(range(n))" in text and "for __ in range(" in text

    def f(x, r, u, n=3):
        for _ in range(n):
            x = x * r
        while x < 100.0:
            x = x * u
        return x

    args = [1.3, 1.7, 1.9]
    grads = ns["f_grad"](*args)
    for i in range(3):
        assert grads[i] == pytest.approx(central_difference(f, args, i), rel=1e-6)


def test_a_users_underscore_is_not_clobbered_by_a_loop_dummy(tmp_path):
    path = write(tmp_path / "f.py", """\
        def f(x, n: int = 3):
            _ = x * 2.0
            for i in range(n):
                x = x * _
            return x * _
        """)
    _, ns = generated(path)
    gx, _gn = ns["f_grad"](0.7)
    assert gx == pytest.approx(central_difference(lambda x: x * (2 * x) ** 4, [0.7], 0), rel=1e-6)


# -- crash 7: deep and long expressions -------------------------------------------------------------

def _sum_source(terms: int) -> str:
    return "def f(x):\n    return " + " + ".join(["x*x"] * terms) + "\n"


@pytest.mark.parametrize("terms", [1000, 10_000])
def test_long_sums_compile(tmp_path, terms):
    path = tmp_path / "f.py"
    path.write_text(_sum_source(terms))
    # 11 s for 10,000 terms on a loaded 2-core machine; the limit is generous so that load never fails it
    # (compile time's growth is measured by benchmarks/compile_time.py, not here).
    result = run(path, "-o", tmp_path / "g.py", timeout=600)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "g.py").read_text()
    ns: dict = {}
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 40_000))  # Python itself needs room to compile 10,000 levels
    try:
        exec(compile(text, "g.py", "exec"), ns)
    finally:
        sys.setrecursionlimit(old)
    assert ns["f_grad"](0.5) == pytest.approx(terms * 1.0)


def test_long_sum_through_the_api_and_the_tools(tmp_path, make_module):
    m = make_module(_sum_source(1000))
    limit = sys.getrecursionlimit()
    assert diffc.grad(m.f)(0.25) == pytest.approx(500.0)
    assert sys.getrecursionlimit() == limit  # raised only while compiling
    path = tmp_path / "f.py"
    path.write_text(_sum_source(1000))
    for command in (["explain"], ["graph"], ["check"]):
        result = run(*command, path, "--at", "x=0.5")
        assert result.returncode == 0, result.stderr


def test_too_deep_is_a_located_error(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(_sum_source(25_000))
    result = run(path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:2:5: error: this expression is nested more than 20,000")
    assert "Traceback" not in result.stderr and not (tmp_path / "f_grad.py").exists()


@pytest.mark.parametrize("body, expected", [
    ("(" * 100 + "x" + ")" * 100 + " * x", lambda x: 2 * x),
    ("-" * 1000 + "x", lambda x: 1.0),
    ("math.sin(" * 100 + "x" + ")" * 100, None),
    ("h(" * 100 + "x" + ")" * 100, None),
], ids=["parens", "negations", "math-calls", "helper-calls"])
def test_deep_nesting(tmp_path, body, expected):
    path = tmp_path / "f.py"
    path.write_text(f"import math\n\n\ndef h(u):\n    return 0.5 * u + math.sin(u)\n\n\ndef f(x):\n"
                    f"    return {body}\n")
    _, ns = generated(path, "-f", "f")
    user: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), user)
    x = 0.3
    want = expected(x) if expected else central_difference(user["f"], [x], 0)
    assert ns["f_grad"](x) == pytest.approx(want, rel=1e-6)


def _digest(folder) -> dict:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() if (folder / name).is_file() else "dir"
            for name in sorted(os.listdir(folder))}


def test_rebinding_one_name_many_times_names_in_linear_time():
    """20,000 values of one name, all live to the end: the namer used to rescan v_1, v_2, ... for each."""
    import time

    from diffc.ir import Var
    from diffc.passes.naming import Namer

    values = [Var("v") for _ in range(20_000)]
    end = len(values)
    start = time.process_time()
    names = Namer(set()).assign([], list(enumerate(values)), {id(v): end for v in values}, {}, None)
    assert time.process_time() - start < 5  # quadratic: minutes; linear: a fraction of a second
    assert [names[id(v)] for v in values[:3]] == ["v", "v_1", "v_2"] and names[id(values[-1])] == "v_19999"


def test_names_reused_once_free():
    """The fast namer picks what the scan picked: the first free of v, v_1, v_2, ... at each line."""
    from diffc.ir import Var
    from diffc.passes.naming import Namer

    values = [Var("v") for _ in range(8)]
    # value i is defined on line i and read last on line last[i]; a name frees up on its last read
    last = dict(zip(map(id, values), [5, 2, 3, 7, 8, 9, 10, 11]))
    names = Namer(set()).assign([], list(enumerate(values)), last, {}, None)
    assert [names[id(v)] for v in values] == ["v", "v_1", "v_1", "v_1", "v_2", "v", "v_3", "v_1"]


# -- the CLI never loses data ------------------------------------------------------------------------

SIMPLE = "def f(x):\n    return x * x\n"


@pytest.fixture
def user(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(SIMPLE)
    return path


def _no_traceback(result):
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_output_linked_to_the_input_is_refused(tmp_path, user, link, force):
    target = tmp_path / "g.py"
    (os.symlink if link == "symlink" else os.link)(user, target)
    for command in ([user, "-o", target, *force], ["graph", user, "--no-values", "-o", tmp_path / "g.dot", *force]):
        if command[0] == "graph":
            os.remove(target)
            target = tmp_path / "g.dot"
            (os.symlink if link == "symlink" else os.link)(user, target)
        result = run(*command)
        assert result.returncode == 1 and "refusing to overwrite the input file" in result.stderr
        _no_traceback(result)
        assert user.read_text() == SIMPLE


def test_a_file_diffc_did_not_write_is_kept(tmp_path, user):
    mine = tmp_path / "f_grad.py"
    mine.write_text("precious = True\n")
    for args in ([user], [user, "-o", mine]):
        result = run(*args)
        assert result.returncode == 1 and "--force" in result.stderr and "-o" in result.stderr
        assert "not written by diffc" in result.stderr
        assert mine.read_text() == "precious = True\n"
    assert run(user, "--force").returncode == 0
    assert mine.read_text().startswith("# Generated by diffc")
    again = run(user)  # diffc's own file is replaced without --force
    assert again.returncode == 0 and "wrote" in again.stderr
    assert sorted(os.listdir(tmp_path)) == ["f.py", "f_grad.py"]  # no temporary left


def test_graph_keeps_files_it_did_not_write(tmp_path, user):
    drawing = tmp_path / "f.dot"
    drawing.write_text("mine\n")
    result = run("graph", user, "--at", "x=2.0", "-o", drawing)
    assert result.returncode == 1 and "--force" in result.stderr and drawing.read_text() == "mine\n"
    assert run("graph", user, "--at", "x=2.0", "-o", drawing, "--force").returncode == 0
    assert drawing.read_text().startswith("// Generated by diffc\ndigraph")
    assert run("graph", user, "--at", "x=3.0", "-o", drawing).returncode == 0  # its own drawing: replaced


def test_a_failed_write_changes_nothing(tmp_path):
    import resource

    path = tmp_path / "big.py"
    path.write_text(_sum_source(300))
    target = tmp_path / "big_grad.py"
    target.write_text("# Generated by diffc from big.py\nold = True\n")

    def small_files():  # a file-size limit: the write fails part way (as on a full disk)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path)], capture_output=True, text=True,
                            preexec_fn=small_files, timeout=120)
    assert result.returncode == 1 and "nothing was changed" in result.stderr
    _no_traceback(result)
    assert target.read_text() == "# Generated by diffc from big.py\nold = True\n"
    assert sorted(os.listdir(tmp_path)) == ["big.py", "big_grad.py"]


@pytest.mark.parametrize("output, message", [
    ("", "argument -o: expected a file name"),
    ("{dir}", "is a folder"),
    ("{dir}/", "is a folder"),
    ("{dir}/missing/g.py", "does not exist"),
    ("/dev/null", "is not a regular file"),
])
def test_unusable_outputs_are_usage_errors(tmp_path, user, output, message):
    target = output.format(dir=tmp_path)
    before = _digest(tmp_path)
    for command in ([user, "-o", target], ["graph", user, "--no-values", "-o", target]):
        result = run(*command)
        assert result.returncode == 2, result.stderr
        assert "argument -o" in result.stderr and (message in result.stderr or command[0] == "graph")
        _no_traceback(result)
    assert _digest(tmp_path) == before


def _unwritable_folder():
    """A folder nobody may create files in, not even root (sysfs), or None."""
    try:
        os.close(os.open("/sys/diffc-probe.py", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError:
        return "/sys" if os.path.isdir("/sys") else None
    os.unlink("/sys/diffc-probe.py")
    return None


@pytest.mark.skipif(_unwritable_folder() is None, reason="no folder that even root cannot write")
def test_unwritable_folder_is_a_usage_error(user):
    result = run(user, "-o", "/sys/f_grad.py")
    assert result.returncode == 2 and "argument -o: cannot write in '/sys'" in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize("shape", ["X", "X=N:float64", "[]=3", "a[]=3", "1x=N"])
def test_bad_shapes_are_usage_errors(user, shape):
    result = run(user, "--stdout", "--shape", shape)
    assert result.returncode == 2 and "argument --shape" in result.stderr and "<source>" not in result.stderr
    _no_traceback(result)


@pytest.mark.parametrize("encoding", ["bom", "latin-1"])
def test_sources_are_read_as_python_reads_them(tmp_path, encoding):
    path = tmp_path / "f.py"
    if encoding == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + SIMPLE.replace("x * x", "x * x * 3.0").encode())
    else:
        path.write_bytes("# -*- coding: latin-1 -*-\ndef f(x):\n    \"\"\"Côté.\"\"\"\n    return x * x * 3.0\n"
                         .encode("latin-1"))
    _, ns = generated(path)
    assert ns["f_grad"](2.0) == pytest.approx(12.0)
    for command in (["explain", path, "--at", "x=2.0"], ["graph", path, "--at", "x=2.0"],
                    ["check", path, "--at", "x=2.0"]):
        result = run(*command)
        assert result.returncode == 0, result.stderr


def test_unreadable_encodings_are_located_errors(tmp_path):
    path = tmp_path / "f.py"
    path.write_bytes(b"def f(x):\n    return x * 2.0  # \xe9\n")  # latin-1 bytes, no declaration
    result = run(path, "--stdout")
    assert result.returncode == 1 and result.stderr.startswith(f"{path}: error: cannot read")
    assert "coding" in result.stderr
    _no_traceback(result)


# -- diffc check: user errors are reported as such ---------------------------------------------------

LOOP = """\
import math


def f(x, n):
    for i in range(n):
        x = math.sin(x)
    return x
"""
LOG = "import math\n\n\ndef f(x):\n    return math.log(x)\n"
MATMUL = "import numpy as np\n\n\ndef f(W, x):\n    return np.sum(np.tanh(W @ x))\n"


def test_check_leaves_integer_loop_counts_out(tmp_path):
    path = write(tmp_path / "loop.py", LOOP)
    result = run("check", path, "--at", "x=0.5", "--at", "n=3")
    assert result.returncode == 0 and "x " in result.stdout and "not checked: n" in result.stdout
    _no_traceback(result)
    named = run("check", path, "--at", "x=0.5", "--at", "n=3", "--wrt", "n")
    assert named.returncode == 1 and "'n' has no gradient" in named.stderr
    _no_traceback(named)


@pytest.mark.parametrize("source, at, message", [
    (LOOP, ["x=0.5", "n=3", "z=3"], "'f' has no parameter 'z'"),
    (LOG, ["x=[1.0, 2.0]"], "evaluating 'f' at the given values failed: TypeError"),
    (LOG, ["x=-1.0"], "evaluating 'f' at the given values failed: ValueError: math domain error"),
    (LOG, ["x=1e-7"], "the finite difference of 'f' in 'x' failed"),
    (MATMUL, ["W=[[1.0, 2.0], [3.0, 4.0]]", "x=[1.0, 2.0, 3.0]"], "evaluating 'f' at the given values failed"),
    (MATMUL, ["W=broken.npy", "x=[1.0, 2.0]"], "cannot read 'broken.npy' as a NumPy array"),
    (MATMUL, ["W=missing.npy", "x=[1.0, 2.0]"], "cannot read 'missing.npy': no such file"),
    (LOG, [], "no value for parameter 'x'"),
    ("def f(x):\n    return x ** 0.5\n", ["x=0.0"], "diffc's gradient of 'f' failed at these values"),
    ("import numpy as np\n\n\ndef f(x):\n    return np.exp(x)\n", ["x=[1.0, 2.0]"], "not a number"),
    ("import sys\nsys.exit(3)\n\n\ndef f(x):\n    return x\n", ["x=1.0"], "it called sys.exit(3)"),
])
def test_check_user_errors(tmp_path, source, at, message):
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    path = write(tmp_path / "f.py", source)
    result = run("check", path, *(a for value in at for a in ("--at", value)), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith(("f.py:", str(path), "broken.npy", "missing.npy"))
    _no_traceback(result)


@pytest.mark.parametrize("at", ["x=oops", "x='a'", "x=None", "x=1j", "x", "x=[1, [2]]"])
def test_bad_at_values_are_usage_errors(tmp_path, at):
    path = write(tmp_path / "f.py", LOG)
    for command in ("check", "explain", "graph"):
        result = run(command, path, "--at", at)
        assert result.returncode == 2 and "argument --at" in result.stderr
        _no_traceback(result)


# -- every subcommand on a corpus of bad inputs ------------------------------------------------------

CORPUS = {
    "empty.py": b"",
    "binary.py": bytes(range(256)) * 4,
    "nul.py": b"def f(x):\n    return x\x00 * x\n",
    "bom.py": b"\xef\xbb\xbf" + SIMPLE.encode(),
    "latin1.py": "# coding: latin-1\ndef f(x):\n    return x * x  # é\n".encode("latin-1"),
    "undeclared.py": "def f(x):\n    return x * x  # é\n".encode("latin-1"),
    "badcoding.py": b"# -*- coding: klingon -*-\ndef f(x):\n    return x\n",
    "syntax.py": b"def f(x):\n    return x +\n",
    "huge.py": _sum_source(1100).encode(),  # past the default recursion limit
    "toodeep.py": _sum_source(25_000).encode(),
    "negations.py": ("def f(x):\n    return " + "-" * 900 + "x\n").encode(),
    "calls.py": ("import math\n\n\ndef f(x):\n    return " + "math.sin(" * 150 + "x" + ")" * 150 + "\n").encode(),
    "shadow.py": b"from math import sin, cos\n\n\ndef f(x):\n    cos = 2.0\n    return sin(x) * cos\n",
    "nofunc.py": b"x = 1\n",
}


def _commands(path, folder):
    link = folder / "link.py"
    return [
        [path, "--stdout"],
        [path, "-o", link],                  # a symbolic link to the input
        [path, "-o", folder / "hard.py"],    # a hard link to the input
        [path, "-o", folder / "keep.py"],    # a file diffc did not write
        [path, "-o", folder],                # a folder
        [path, "-o", folder / "no" / "g.py"],
        [path, "-o", ""],
        [path, "--stdout", "--shape", "x=N:nope"],
        ["graph", path, "--at", "x=0.5"],
        ["graph", path, "--no-values"],
        ["graph", path, "--at", "x=0.5", "-o", folder / "keep.dot"],
        ["graph", path, "--at", "x=0.5", "-o", link],
        ["explain", path, "--at", "x=0.5"],
        ["check", path, "--at", "x=0.5"],
    ]


# One process per input runs every command through the CLI's main(), as cli.py does (a crash would
# end it with a traceback and fail the test): starting Python for each of ~200 commands took minutes.
DRIVER = """
import contextlib, io, json, sys
from diffc.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    results.append((argv, code, err.getvalue()))
print(json.dumps(results))
"""


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_never_crashes_or_changes_a_file(tmp_path, name):
    import json

    path = tmp_path / name
    path.write_bytes(CORPUS[name])
    os.symlink(path, tmp_path / "link.py")
    os.link(path, tmp_path / "hard.py")
    (tmp_path / "keep.py").write_text("keep = 1\n")
    (tmp_path / "keep.dot").write_text("digraph keep {}\n")
    before = _digest(tmp_path)
    commands = [[str(a) for a in command] for command in _commands(path, tmp_path)]
    done = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0 and not done.stderr, done.stderr
    for argv, code, stderr in json.loads(done.stdout):
        assert "Traceback" not in stderr and "internal error" not in stderr, (argv, stderr)
        assert code in (0, 1, 2), (argv, stderr)
        assert code == 0 or "error:" in stderr, (argv, stderr)
        if "-o" in argv:  # every output here is a trap
            assert code in (1, 2), (argv, stderr)
    assert _digest(tmp_path) == before


def test_drawings_carry_diffc_mark(tmp_path):
    """Graphviz output is marked so that drawing again may replace it (dot may not be installed here)."""
    import struct
    import zlib

    from diffc.files import written_by_diffc
    from diffc.tools.graph import signed

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    marked = signed(png, "png")
    offset, kinds = 8, []
    while offset < len(marked):  # every chunk well formed, the mark right after the header
        (length,) = struct.unpack(">I", marked[offset:offset + 4])
        kind, data = marked[offset + 4:offset + 8], marked[offset + 8:offset + 8 + length]
        assert struct.unpack(">I", marked[offset + 8 + length:offset + 12 + length])[0] == zlib.crc32(kind + data)
        kinds.append((kind, data))
        offset += 12 + length
    assert kinds[1] == (b"tEXt", b"Software\0Generated by diffc") and [k for k, _ in kinds][2:] == [b"IDAT", b"IEND"]
    svg = b'<?xml version="1.0"?>\n<svg></svg>\n'
    assert signed(svg, "svg") == b'<?xml version="1.0"?>\n<!-- Generated by diffc -->\n<svg></svg>\n'
    for name, data in (("a.png", marked), ("a.svg", signed(svg, "svg")), ("a.dot", signed(b"digraph {}", "dot"))):
        (tmp_path / name).write_bytes(data)
        assert written_by_diffc(str(tmp_path / name))
    (tmp_path / "b.svg").write_bytes(svg)
    assert not written_by_diffc(str(tmp_path / "b.svg"))


def test_long_source_lines_are_clipped_around_the_column(tmp_path):
    path = tmp_path / "f.py"
    path.write_text("def f(x):\n    return " + " + ".join(["x*x"] * 300) + " + sorted(x)\n")
    result = run(path, "--stdout")
    assert result.returncode == 1 and "cannot differentiate call to 'sorted'" in result.stderr
    shown, caret = result.stderr.splitlines()[1:3]
    assert len(shown) < 200 and shown[caret.index("^"):].startswith("sorted(x)")


def test_check_grad_names_an_integer_it_cannot_vary(make_module):
    m = make_module(LOOP)
    with pytest.raises(diffc.DiffcError, match="'n' of 'f' is an integer that cannot be varied"):
        diffc.check_grad(m.f, 0.5, 3)
    assert diffc.check_grad(m.f, 0.5, 3, wrt="x").ok
