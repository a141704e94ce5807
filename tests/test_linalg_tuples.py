"""np.linalg.eigh and np.linalg.qr as people write them (``w, v = np.linalg.eigh(A)``, ``q, r =
np.linalg.qr(A)``, a result kept and unpacked later, one item read by index), np.average with
weights, np.linspace and np.ptp: gradients against central differences through the decorator, the
generic code and the CLI, the conventions at kinks, and the refusals (located at compile time, a
ValueError at run time where the gradient does not exist at the point given)."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import check_gradients, run_generated

import diffc

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(1111)

SOURCE = '''
import numpy as np


def both(a, c):
    s = a + a.T
    w, v = np.linalg.eigh(s)
    return np.sum(w) + np.sum(v[:, 0] ** 2 * c)


def projector(a, b):
    w, v = np.linalg.eigh(a)
    p = v[:, :2] @ v[:, :2].T
    return np.sum(p * b) + np.sum(w ** 2)


def kept(a, c):
    res = np.linalg.eigh(a)
    w, v = res
    return np.sum(np.abs(v[:, 1]) * c) + np.linalg.eigh(a)[0][-1]


def factor(a, c):
    q, r = np.linalg.qr(a)
    return np.sum(q * a) + np.sum(r ** 2 * c) + np.sum(np.sin(r))


def sign_free(a, c):
    w, v = np.linalg.eigh(a)
    return np.sum(np.outer(v[:, 1], v[:, 1]) * c)


def weighted(a, w):
    return np.sum(np.average(a, axis=0, weights=w) ** 2) + np.average(a, weights=a ** 2 + 1.0)


def written(a, c):
    w, v = np.linalg.eigh(a)
    v[:, 0] = c
    w[0] = 0.0
    return np.sum(v ** 2 * a) + np.sum(w * c)


def branches(a, c):
    if c[0] > 0:
        t = np.linalg.eigh(a)
    else:
        t = np.linalg.eigh(a * 2.0)
    w, v = t
    p = np.linalg.qr(a)
    if c[1] > 0:
        p = np.linalg.qr(a * 3.0)
    q, r = p
    return np.sum(w * c) + np.sum(v[:, 0] ** 2) + np.sum(r) + np.sum(q ** 2 * c)


def ramp(a, b):
    return np.sum(np.linspace(a, b, 5, endpoint=False) ** 2) + np.sum(np.ptp(np.linspace(a, b, 4), axis=0))
'''


def _sym(n):
    m = RNG.normal(size=(n, n))
    return m + m.T


def _check(name, args, wrt, make_module):
    module = make_module(SOURCE)
    fn = getattr(module, name)
    loss = lambda *x: fn(*x, *args[len(x):])  # noqa: E731
    grads = diffc.grad(fn, wrt=wrt)(*args)
    check_gradients(grads, loss, list(args[:len(wrt)]))
    generic = run_generated(diffc.compile_source(SOURCE, wrt=wrt).text)[f"{name}_grad"](*args)
    check_gradients(generic, loss, list(args[:len(wrt)]))


@pytest.mark.parametrize("name,args,wrt", [
    ("both", lambda: (RNG.normal(size=(4, 4)), RNG.normal(size=4)), (0,)),
    ("projector", lambda: (_sym(4), RNG.normal(size=(4, 4))), (0,)),
    ("kept", lambda: (RNG.normal(size=(3, 3)), RNG.normal(size=3)), (0, 1)),
    ("factor", lambda: (RNG.normal(size=(5, 3)), RNG.normal(size=(3, 3))), (0, 1)),
    ("factor", lambda: (RNG.normal(size=(3, 3)), RNG.normal(size=3)), (0, 1)),
    ("sign_free", lambda: (RNG.normal(size=(4, 4)), RNG.normal(size=(4, 4))), (0,)),
    ("branches", lambda: (RNG.normal(size=(3, 3)), np.array([1.0, -1.0, 0.5])), (0,)),
    ("branches", lambda: (RNG.normal(size=(3, 3)), np.array([-1.0, 1.0, 0.5])), (0,)),
    ("written", lambda: (RNG.normal(size=(3, 3)), RNG.normal(size=3)), (0, 1)),  # the tuple stays as made
    ("weighted", lambda: (RNG.normal(size=(3, 2)), RNG.uniform(0.5, 2.0, size=3)), (0, 1)),
    ("weighted", lambda: (RNG.normal(size=(3, 2)), RNG.uniform(0.5, 2.0, size=(3, 2))), (0, 1)),
    ("ramp", lambda: (RNG.normal(), RNG.normal()), (0, 1)),
    ("ramp", lambda: (RNG.normal(size=(2, 3)), RNG.normal(size=3)), (0, 1)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_tuple_results_and_keywords(name, args, wrt, make_module):
    _check(name, args(), (wrt[0],) if len(wrt) == 1 else wrt, make_module)


def test_the_cli_writes_the_unpacked_pair(tmp_path):
    path = tmp_path / "eig.py"
    path.write_text(SOURCE)
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), str(path), "-f", "both", "--stdout"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "= (grad_w, grad_v)" in out.stdout  # the pair's gradient, as the pair
    a, c = RNG.normal(size=(4, 4)), RNG.normal(size=4)
    grad = run_generated(out.stdout)["both_grad"](a, c)
    ns = run_generated(SOURCE)
    check_gradients(grad, ns["both"], [a, c])


def test_eigenvalues_alone_at_repeated_eigenvalues():
    """Only the eigenvalues are used: their gradient exists where they repeat (here the identity)."""
    src = "import numpy as np\n\n\ndef f(a):\n    return np.sum(np.linalg.eigh(a)[0] ** 2)\n"
    grad = run_generated(diffc.compile_source(src).text)["f_grad"]
    a = np.eye(3)
    assert np.allclose(grad(a), 2 * np.eye(3))  # sum(w ** 2) = trace(a @ a)


def test_a_basis_free_loss_at_repeated_eigenvalues():
    """Eigenvalues 1, 1, 4: the projector onto the first two eigenvectors does not depend on the basis
    NumPy picks, and has a gradient; one eigenvector of the pair has none, and is refused at run time."""
    q, _ = np.linalg.qr(RNG.normal(size=(3, 3)))
    a = q @ np.diag([1.0, 1.0, 4.0]) @ q.T
    b = _sym(3)
    src = ("import numpy as np\n\n\ndef f(a, b):\n    w, v = np.linalg.eigh(a)\n"
           "    return np.sum((v[:, :2] @ v[:, :2].T) * b)\n\n\n"
           "def g(a, b):\n    w, v = np.linalg.eigh(a)\n    return np.sum(v[:, 0] * b[0])\n")
    ns = run_generated(diffc.compile_source(src, wrt=(0,)).text)
    check_gradients(ns["f_grad"](a, b), lambda x: run_generated(src)["f"](x, b), [a])
    with pytest.raises(ValueError, match="eigenvalues repeat"):
        ns["g_grad"](a, b)


def test_qr_refusals():
    wide = "import numpy as np\n\n\ndef f(a):\n    q, r = np.linalg.qr(a)\n    return np.sum(r)\n"
    with pytest.raises(ValueError, match="at least as many rows"):
        run_generated(diffc.compile_source(wide).text)["f_grad"](RNG.normal(size=(2, 3)))
    with pytest.raises(ValueError, match="full column rank"):
        run_generated(diffc.compile_source(wide).text)["f_grad"](np.ones((3, 2)))
    complete = "import numpy as np\n\n\ndef f(a):\n    q, r = np.linalg.qr(a, mode='complete')\n    return np.sum(q)\n"
    with pytest.raises(diffc.DiffcError, match="mode='complete'") as info:
        diffc.compile_source(complete, "user.py")
    assert info.value.lineno == 5
    only_r = "import numpy as np\n\n\ndef f(a, x):\n    r = np.linalg.qr(a, mode='r')\n    return np.sum(r) * x\n"
    a = RNG.normal(size=(3, 2))
    assert run_generated(diffc.compile_source(only_r, wrt=(1,)).text)["f_grad"](a, 2.0) == \
        pytest.approx(np.sum(np.linalg.qr(a, mode="r")))


@pytest.mark.parametrize("body,message", [
    ("a, b, c = np.linalg.eigh(x)\n    return np.sum(a)", "cannot unpack 2 values into 3 names"),
    ("t = np.linalg.eigh(x)\n    a, b, c = t\n    return np.sum(a)", "cannot unpack 2 values into 3 names"),
    ("k = 1\n    return np.sum(np.linalg.eigh(x)[k])", "index it with a literal 0 to 1"),
    ("return np.sum(np.linalg.qr(x)[2])", "index it with a literal 0 to 1"),
    ("t = np.linalg.eigh(x)\n    w, v = t\n    v[0] = 1.0\n    return np.sum(t[1] * x)", "while 't' still refers"),
    ("t = np.linalg.eigh(x)\n    for i in range(2):\n        t = np.linalg.eigh(x * i)\n    w, v = t\n"
     "    return np.sum(w)", "'t' is carried through a loop"),
    ("t = (x, x)\n    if x[0, 0] > 0:\n        t = np.linalg.qr(x)\n    q, r = t\n    return np.sum(q)",
     "'t' is the tuple a library call returns on one path only"),
    ("m, s = np.average(x, axis=0, weights=x, returned=True)\n    return np.sum(m)", "returned=True"),
])
def test_located_refusals(body, message):
    with pytest.raises(diffc.DiffcError, match=message) as info:
        diffc.compile_source(f"import numpy as np\n\n\ndef f(x):\n    {body}\n", "user.py")
    assert info.value.lineno is not None and info.value.lineno >= 5


def test_ptp_of_equal_values_is_flat():
    """np.ptp routes g to the first maximum and -g to the first minimum: 0 where all are equal."""
    src = "import numpy as np\n\n\ndef f(a):\n    return np.ptp(a) * 3.0\n"
    grad = run_generated(diffc.compile_source(src).text)["f_grad"]
    assert np.array_equal(grad(np.full(3, 2.0)), np.zeros(3))
    assert np.array_equal(grad(np.array([1.0, 5.0, 5.0, 1.0])), np.array([-3.0, 3.0, 0.0, 0.0]))


def test_from_numpy_linalg_import_through_the_decorator(make_module):
    """``from numpy.linalg import eigh, inv`` (and ``import numpy.linalg as la``) resolve in a live
    module as they do in a file."""
    module = make_module('''
import numpy as np
import numpy.linalg as la
from numpy.linalg import eigh, inv


def f(a, c):
    w, v = eigh(a)
    q, r = la.qr(a)
    return np.sum(w * c) + np.sum(inv(a + 4.0 * np.eye(3))) + np.sum(q[:, 0] ** 2 * c) + np.sum(np.diag(r) ** 2)
''')
    a, c = RNG.normal(size=(3, 3)), RNG.normal(size=3)
    check_gradients(diffc.grad(module.f, wrt=(0, 1))(a, c), module.f, [a, c])


def test_helpers_take_a_short_or_numeric_gradient_tuple():
    """The reverse pass may give the pair's gradient short ((gw,)) or with an item 0.0: both are zero."""
    from diffc.backends.runtime import HELPERS

    ns = {"np": np}
    exec(HELPERS["_eigh_grad"], ns)
    exec(HELPERS["_qr_grad"], ns)
    a, b = _sym(3), RNG.normal(size=(4, 3))
    gw, gr = RNG.normal(size=3), RNG.normal(size=(3, 3))
    full = ns["_eigh_grad"]((gw, np.zeros((3, 3))), np.linalg.eigh(a))
    assert np.array_equal(ns["_eigh_grad"]((gw,), np.linalg.eigh(a)), full)
    assert np.array_equal(ns["_eigh_grad"]((gw, 0.0), np.linalg.eigh(a)), full)
    full = ns["_qr_grad"]((np.zeros((4, 3)), gr), np.linalg.qr(b))
    assert np.array_equal(ns["_qr_grad"]((0.0, gr), np.linalg.qr(b)), full)


def test_explain_narrates_the_pair(tmp_path):
    """`diffc explain` shows an item's gate (the gradient goes into that item) and the pair's gradient."""
    path = tmp_path / "eig.py"
    path.write_text(SOURCE)
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "explain", str(path), "-f", "both",
                          "--at", "a=[[2.0, 0.5], [0.5, 1.0]]", "--at", "c=[1.0, 2.0]"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"dw/dt\d+ = g into item 0", out.stdout) and re.search(r"dv/dt\d+ = g into item 1", out.stdout)
    assert re.search(r"dboth/dt\d+ = \(\[1, 1\], \[\[", out.stdout)  # the pair's gradient, as a pair


def test_largest_eigenvalue_where_eigenvalues_repeat_gets_a_subgradient():
    """At a = 2 I the largest eigenvalue has a kink; its gradient is v v^T for the eigenvector NumPy picked
    (folded onto the lower triangle): a projector of rank 1, a subgradient of the largest eigenvalue."""
    src = "import numpy as np\n\n\ndef f(a):\n    return np.linalg.eigvalsh(a)[-1]\n"
    folded = run_generated(diffc.compile_source(src).text)["f_grad"](2.0 * np.eye(3))
    low = np.tril(folded, -1) / 2
    s = np.diag(np.diag(folded)) + low + low.T
    assert np.trace(s) == pytest.approx(1.0) and np.allclose(s @ s, s) and np.allclose(np.triu(folded, 1), 0)
