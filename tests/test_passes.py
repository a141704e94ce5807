"""Each pass on a tiny program, read through the IR text that ``--dump-after`` prints; the IR
traversal helpers and the shared liveness on hand-built IR."""

import math
import re
import textwrap

import pytest

from diffc import cli
from diffc.compiler import PASS_NAMES, compile_source, dump_source, parse_shape
from diffc.ir import Carry, Const, Eqn, Function, If, Loop, Phi, Var, deep_defs, each_item, item_reads, substitute
from diffc.ir_text import format_function, format_items
from diffc.passes.liveness import groups, live_items


def dump(source: str, after: str, **options) -> str:
    text = dump_source(textwrap.dedent(source), "f.py", after, **options)
    return text.split("\n", 1)[1]  # without the "# f after PASS" line


def block(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


ADD_MUL = """
    def f(x, y):
        dead = x * 3.0
        q = x + y
        return q * y
"""


def test_the_pass_list_is_the_pipeline_in_order():
    assert PASS_NAMES == ("fence", "lower", "fuse", "unroll", "live", "shapes", "gates", "reverse", "fills",
                          "cleanup", "emit", "verify")


def test_fence_prints_the_function_it_accepted():
    assert dump(ADD_MUL, "fence") == block("""
        def f(x, y):
            dead = x * 3.0
            q = x + y
            return q * y
        """)


def test_lower_makes_one_equation_per_operation():
    assert dump(ADD_MUL, "lower") == block("""
        function f(x, y):
          dead = mul(x, 3.0)
          q = add(x, y)
          %1 = mul(q, y)
          return %1
        """)


def test_live_drops_the_users_dead_code():
    assert dump(ADD_MUL, "live") == block("""
        function f(x, y):
          q = add(x, y)
          %1 = mul(q, y)
          return %1
        """)


SIGMOID = """
    import math

    def f(x):
        return 1 / (1 + math.exp(-x))
"""


def test_fuse_makes_the_sigmoid_one_gate():
    assert dump(SIGMOID, "fuse") == block("""
        function f(x):
          %1 = sigmoid(x, _form=(1, 1, 0, 'scalar_exp'))
          return %1
        """)


def test_without_fuse_the_sigmoid_stays_a_chain():
    assert dump(SIGMOID, "fuse", fuse=False) == block("""
        function f(x):
          %1 = neg(x)
          %2 = scalar_exp(%1)
          %3 = add(1, %2)
          %4 = div(1, %3)
          return %4
        """)


def test_shapes_are_listed_after_the_items():
    text = dump("""
        import numpy as np

        def f(X, w):
            return np.sum(X @ w)
        """, "shapes", shapes={"X": (parse_shape("N,D"), "f"), "w": parse_shape("D")})
    assert text.endswith(block("""
        shapes:
          X: (N, D) f
          w: (D,)
          %1: (N,)
          %2: ()
        """))


def test_reverse_writes_backward_items_after_the_forward_ones():
    assert dump(ADD_MUL, "reverse") == block("""
        function f(x, y):
          # forward
          q = add(x, y)
          %1 = mul(q, y)
          # backward
          grad.%1 = copy(1.0)
          grad.q = mul(grad.%1, y)
          %2 = mul(grad.%1, q)
          grad.x = copy(grad.q)
          grad.y = add(%2, grad.q)
          return %1
          gradients grad.x, grad.y
        """)


def test_cleanup_marks_single_use_temporaries_inline():
    text = dump(ADD_MUL, "cleanup")
    assert "  %2 = mul(grad.%1, q)  # inline\n" in text
    assert "grad.q = mul(grad.%1, y)\n" in text  # a gradient of a named value keeps its line


SWAP = """
    def f(a, b):
        for i in range(3):
            a, b = b, a * b
        return a
"""


def test_cleanup_keeps_an_old_value_a_later_read_needs():
    # a, b = b, a * b in a loop: a's new value is b's old one, read after b is assigned.
    before, after = dump(SWAP, "reverse"), dump(SWAP, "cleanup")
    assert "_keep=True" not in before
    body = after.split("body:\n", 1)[1].splitlines()
    kept = next(line.split(" = ")[0].strip() for line in body if "copy(b.1, _keep=True)" in line)
    assert [line.strip() for line in body[:5]] == [
        f"{kept} = copy(b.1, _keep=True)", "%1 = push(saved_a.1, a.1)", "%2 = push(saved_b.1, b.1)",
        "b.3 = mul(a.1, b.1)", f"a.3 = copy({kept})"]


def test_cleanup_gives_a_loops_initial_value_a_line_of_its_own():
    before, after = dump(SWAP, "reverse"), dump(SWAP, "cleanup")
    assert "carry grad.b.3: init 0.0," in before  # the reverse pass starts the sum at a literal
    assert "  grad.b.3 = copy(0.0)\n" in after and "init grad.b.3," in after


def test_emit_and_verify_show_the_generated_function():
    text = dump(ADD_MUL, "emit")
    assert text == dump(ADD_MUL, "verify")
    assert text == compile_source(textwrap.dedent(ADD_MUL), "f.py").functions[0].text


def test_a_loop_and_a_branch_are_printed_with_their_blocks():
    text = dump("""
        import math

        def f(x, n):
            for i in range(n):
                x = x * 2.0
            if x > 0:
                y = math.exp(x)
            else:
                y = x
            return y
        """, "lower", wrt="x")
    assert text == block("""
        function f(x, n):
          x.1 = copy(x, _carry=True)
          for i in range(n):
            carry x.2: init x.1, next x.3, after x.4
            body:
              x.3 = mul(x.2, 2.0)
          took_if = gt(x.4, 0)
          if took_if:
            y = scalar_exp(x.4)
          else:
            y.1 = copy(x.4)
          y.2 = phi(y, y.1)
          return y.2
        """)


def test_the_tape_of_a_loop_is_named_after_the_value_it_saves():
    text = dump("""
        def f(x):
            for i in range(3):
                x = x * x
            return x
        """, "reverse")
    stack = re.search(r"(saved_x\S*) = new_stack\(\)", text).group(1)
    assert f"push({stack}, " in text and f"pop({stack})" in text


def test_every_pass_can_be_dumped():
    for name in PASS_NAMES:
        assert dump(ADD_MUL, name).strip()


def test_an_unknown_pass_is_refused_with_the_list():
    with pytest.raises(ValueError, match="fence, lower, fuse"):
        dump_source("def f(x):\n    return x\n", "f.py", "optimize")


def test_cli_dump_after(tmp_path, capsys):
    path = tmp_path / "f.py"
    path.write_text(textwrap.dedent(ADD_MUL))
    assert cli.main([str(path), "--dump-after", "live"]) == 0
    assert capsys.readouterr().out == "# f after live\n" + dump(ADD_MUL, "live")
    assert not (tmp_path / "f_grad.py").exists()  # dumping writes no file


def test_cli_dump_after_an_unknown_pass_exits_2_naming_the_passes(tmp_path, capsys):
    path = tmp_path / "f.py"
    path.write_text(textwrap.dedent(ADD_MUL))
    with pytest.raises(SystemExit) as exc:
        cli.main([str(path), "--dump-after", "optimize"])
    assert exc.value.code == 2
    assert "no pass named 'optimize'; the passes, in order: fence, lower" in capsys.readouterr().err


def test_cli_dump_after_reports_the_users_error_as_compiling_does(tmp_path, capsys):
    path = tmp_path / "f.py"
    path.write_text("def f(x):\n    return x.undefined_method()\n")
    assert cli.main([str(path), "--dump-after", "reverse"]) == 1
    err = capsys.readouterr().err
    assert "f.py:2:" in err and "Traceback" not in err


# -- IR traversal on hand-built IR ---------------------------------------------------------------------
def small_program():
    """x -> if c: a = x * 2 else: b = x; r = phi(a, b); loop carrying s from r."""
    x, c, a, b, r = Var("x"), Var("c"), Var("a"), Var("b"), Var("r")
    s0, s1, s2, i = Var("s"), Var("s"), Var("s"), Var("i")
    then = [Eqn("mul", (x, Const(2)), a)]
    orelse = [Eqn("copy", (x,), b)]
    branch = If(c, then, orelse, [Phi(r, a, b)])
    body = [Eqn("add", (s0, i), s1)]
    loop = Loop("range", i, (Const(3),), [], None, [Carry(r, s0, s1, s2)], body)
    return [Eqn("gt", (x, Const(0)), c), branch, loop], (x, c, a, b, r, s0, s1, s2, i)


def test_each_item_visits_nested_blocks_in_order():
    items, _ = small_program()
    ops = [getattr(item, "op", type(item).__name__) for item in each_item(items)]
    assert ops == ["gt", "If", "mul", "copy", "Loop", "add"]


def test_reads_defs_and_deep_defs():
    items, (x, c, a, b, r, s0, s1, s2, i) = small_program()
    _, branch, loop = items
    assert branch.reads() == [c, a, b] and branch.defs() == [r]
    assert item_reads(branch) == [c, a, b, x, Const(2), x]
    assert loop.reads() == [Const(3), r, s1] and loop.defs() == [s2] and loop.header_defs() == [s0, i]
    assert {id(v) for v in deep_defs(loop)} == {id(v) for v in (s2, s1, s0, i)}
    assert {id(v) for v in deep_defs(branch)} == {id(v) for v in (r, a, b)}


def test_substitute_reaches_nested_reads():
    items, (x, *_rest) = small_program()
    y = Var("y")
    substitute(items, {id(x): y})
    assert not any(a is x for item in each_item(items) for a in item.reads())


def test_groups_join_phis_and_carried_values():
    items, (x, c, a, b, r, s0, s1, s2, i) = small_program()
    g = groups(items)
    assert g[id(a)] == g[id(b)] == g[id(r)] == g[id(s0)] == g[id(s1)] == g[id(s2)]
    assert id(x) not in g


def test_liveness_drops_what_the_output_does_not_need():
    items, (x, c, a, b, r, s0, s1, s2, i) = small_program()
    out = Var("out")
    items.append(Eqn("neg", (x,), out))
    kept = live_items(items, {id(out)})
    assert kept == [items[-1]]  # the branch and the loop make nothing out needs


def test_liveness_keeps_a_carried_value_another_kept_one_reads():
    # for i in range(3): u = u + v; v = v * 2 -- only u is needed after, but its update reads v.
    u0, u1, u2, u3, v0, v1, v2, v3 = (Var(n) for n in "uuuuvvvv")
    body = [Eqn("add", (u1, v1), u2), Eqn("mul", (v1, Const(2)), v2)]
    loop = Loop("range", None, (Const(3),), [], None, [Carry(u0, u1, u2, u3), Carry(v0, v1, v2, v3)], body)
    kept = live_items([loop], {id(u3)})
    assert kept == [loop] and len(loop.carried) == 2 and len(loop.body) == 2
    # Only v needed: u's update goes.
    u0, u1, u2, u3, v0, v1, v2, v3 = (Var(n) for n in "uuuuvvvv")
    body = [Eqn("add", (u1, v1), u2), Eqn("mul", (v1, Const(2)), v2)]
    loop = Loop("range", None, (Const(3),), [], None, [Carry(u0, u1, u2, u3), Carry(v0, v1, v2, v3)], body)
    live_items([loop], {id(v3)})
    assert [c.final for c in loop.carried] == [v3] and [e.op for e in loop.body] == ["mul"]


def test_liveness_keeps_a_while_tests_values_the_body_reads():
    # while (t := i < 3): u = i * 2 (in the test block); body: i = i + u. The body reads u.
    i0, i1, i2, i3, t, u = Var("i"), Var("i"), Var("i"), Var("i"), Var("t"), Var("u")
    cond = [Eqn("lt", (i1, Const(3)), t), Eqn("mul", (i1, Const(2)), u)]
    loop = Loop("while", None, (), cond, t, [Carry(i0, i1, i2, i3)], [Eqn("add", (i1, u), i2)])
    assert live_items([loop], {id(i3)}) == [loop]
    assert [e.out for e in loop.cond] == [t, u] and [e.out for e in loop.body] == [i2]


def test_liveness_keeps_the_tape():
    stack, x, y = Var("stack"), Var("x"), Var("y")
    items = [Eqn("new_stack", (), stack), Eqn("push", (stack, x), Var()), Eqn("neg", (x,), y)]
    assert live_items(items, set()) == items[:2]


def test_printer_names_do_not_depend_on_identities():
    items, (x, *_rest) = small_program()
    fn = Function("f", [x], items, x, 1)
    assert format_function(fn) == format_function(fn)
    assert format_items(items).splitlines()[0] == "c = gt(x, 0)"


def test_compiled_code_is_still_right():
    # The pipeline as a list of passes computes what it did: d/dx of (x + y) * y at (2, 3).
    text = compile_source(textwrap.dedent(ADD_MUL), "f.py").text
    namespace: dict = {}
    exec(text, namespace)
    assert namespace["f_grad"](2.0, 3.0) == (3.0, 8.0)
    assert math.isclose(namespace["f_grad"](2.0, 3.0)[1], 2 * 3.0 + 2.0)
