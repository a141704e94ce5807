"""Checks of a function on its way through the pipeline: its output is a scalar (after shape
inference), and the code generated for it compiles, reads only names it has and gives each gradient
its parameter's shape (after emission). A failure of the first is the user's (a located error); of
the others, diffc's own bug, reported against the user's function as an InternalError.
"""

from __future__ import annotations

import ast

from ..errors import InternalError, UnsupportedError
from ..frontend.scope import Scope
from ..frontend.source import Source
from ..ir import Var, walk
from ..ops.shapes import Sym


def check_scalar_output(fdef: ast.FunctionDef, fn, shapes, source: Source, scalar: bool = True) -> None:
    """A gradient needs a scalar output: refuse one that is provably not (an array, a list or a
    tuple); ``fn.scalar_proven`` says whether the generated code must check it at run time.
    With ``scalar`` False (a vector-Jacobian product), any output is fine: only shapes are checked."""
    from ..ops.front import sequence_vars

    returns = [n for n in ast.walk(fdef) if isinstance(n, ast.Return) and n.value is not None]
    where = returns[-1].value if returns else fdef
    out = fn.out
    if scalar and isinstance(out, Var) and id(out) in sequence_vars(fn.eqns):
        raise source.error(UnsupportedError, where, f"'{fdef.name}' returns a list or tuple; a gradient needs a "
                           "single scalar output", "to differentiate the first value and pass the rest through, "
                           "as in 'return loss, dW', use has_aux=True (diffc.grad(f, has_aux=True), "
                           "compile_source(..., has_aux=True), or --has-aux on the command line); to differentiate "
                           "every item, use diffc.vjp(f) or diffc.jacobian(f) (--vjp, --jacobian)")
    shape = shapes.get(out)
    if scalar and isinstance(shape, tuple) and shape:
        dims = ", ".join(_dim_text(d, shapes) for d in shape) + ("," if len(shape) == 1 else "")
        raise source.error(UnsupportedError, where, f"'{fdef.name}' returns an array of shape ({dims}); a gradient "
                           "needs a scalar output", "return a scalar such as np.sum(...) or np.mean(...) of it, "
                           "or differentiate the array with diffc.vjp(f) (a vector-Jacobian product) or "
                           "diffc.jacobian(f) (on the command line: --vjp, --jacobian)")
    fn.scalar_proven = shape == ()
    for eqn in walk(fn.eqns):  # math.exp(x) of an array x: Python's TypeError, at compile time
        number_only = (eqn.op.startswith("scalar_") or eqn.op in ("int", "float")) and \
            eqn.params.get("_style", ("",))[0] != "method"  # x.item(): any array of one element
        shape = shapes.get(eqn.ins[0]) if eqn.ins and number_only else ()
        if isinstance(shape, tuple) and shape and isinstance(eqn.ins[0], Var):
            node = ast.Module(body=[])
            node.lineno, node.col_offset = (eqn.lineno or fdef.lineno) - source.line_offset, eqn.col or 0
            dims = ", ".join(_dim_text(d, shapes) for d in shape) + ("," if len(shape) == 1 else "")
            what = f"{eqn.op}()" if eqn.op in ("int", "float") else f"math.{eqn.op[len('scalar_'):]}"
            raise source.error(UnsupportedError, node, f"{what} takes a number, but its argument is an array of "
                               f"shape ({dims}) here (Python raises TypeError for it, even for one element)",
                               "take the number out with x.item() or x[0]" + (
                                   ", or cast the array with x.astype(...)" if what.endswith("()")
                                   else f", or use np.{what[5:]} for arrays"))
    for eqn in walk(fn.eqns):  # N, D = X.shape with X of another rank: Python's ValueError, at compile time
        held = shapes.shape_values.get(id(eqn.ins[0])) if eqn.op == "getitem" and "_unpack" in eqn.params else None
        if isinstance(held, tuple) and len(held) != eqn.params["_unpack"]:
            node = ast.Module(body=[])
            node.lineno, node.col_offset = (eqn.lineno or fdef.lineno) - source.line_offset, eqn.col or 0
            raise source.error(UnsupportedError, node, f"cannot unpack a shape of {len(held)} dimension(s) into "
                               f"{eqn.params['_unpack']} names", "use one name per dimension")


def _dim_text(d, shapes) -> str:
    d = shapes.find(d)
    if isinstance(d, Sym):
        name, _, axis = d.name.rpartition(".")
        if d.name.startswith("len") and d.name[3:].isdigit():  # the length of a literal list
            return d.name[3:]
        return f"{name}.shape[{axis}]" if axis.isdigit() and name else d.name
    return "?" if d is None else str(d)


def self_check(text: str, fdef: ast.FunctionDef, source: Source, scope: Scope, used: set[str],
               helpers: set[str]) -> None:
    """Generated code is checked before it is handed out: it compiles, and every name it reads (each
    returned gradient included) is a parameter, a name it assigns, an import, a helper (``helpers``:
    every run-time helper the module defines) or a builtin. A failure is diffc's bug, reported
    against the user's function."""
    import builtins

    def internal(problem: str):
        return source.error(InternalError, fdef, f"diffc wrote code for '{fdef.name}' that {problem}: this is a bug "
                            "in diffc", "please report it with this function; meanwhile, rewriting the function "
                            "(or differentiating it another way) avoids it")

    try:
        tree = ast.parse(text)
        compile(tree, f"<diffc {fdef.name}>", "exec")
    except SyntaxError as exc:
        raise internal(f"does not compile ({exc.msg}, generated line {exc.lineno})") from None
    func = tree.body[0]
    known = {a.arg for a in ast.walk(func.args) if isinstance(a, ast.arg)}
    known |= {scope.helper_name(h) for h in helpers}  # as renamed away from the user's names
    known |= {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    known |= {name for name in used if scope.lookup(name) is not None}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known \
                and not hasattr(builtins, node.id):
            raise internal(f"reads the name '{node.id}', which it never defines")


def check_gradient_shapes(p, source: Source) -> None:
    """Each gradient must have its parameter's shape: where both are known (shapes inferred through
    the backward items too, on a copy) and provably differ, it is diffc's bug."""
    import copy

    from ..ir import Loop
    from ..ops.algebra import shapes_differ
    from .shapes import infer_block

    if any(isinstance(item, Loop) for item in p.backward):
        return  # a backward loop's stacks have no shapes to compare
    shapes = copy.deepcopy(p.shapes)
    try:
        infer_block(shapes, p.backward)
    except Exception:  # a shape rule that cannot read a backward op: nothing to compare
        return
    for param, grad in zip(p.wrt, p.grads):
        want, got = shapes.get(param), shapes.get(grad)
        if isinstance(want, tuple) and isinstance(got, tuple) and shapes_differ(want, got):
            raise source.error(InternalError, p.fdef, f"diffc wrote a gradient for '{param.hint}' of shape {got}, "
                               f"not its shape {want}: this is a bug in diffc", "please report it with this function")
