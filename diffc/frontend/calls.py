"""Lowering calls: library functions, array methods, and helpers of the same module.

A call to a function of the user's module is inlined: its body is lowered in
place with its parameters bound to the arguments (recursion is refused). A
call to a library function becomes one equation, its literal keyword
arguments kept as parameters of the equation. A call diffc has no rule for
(``sorted``, ``np.random.default_rng(0).normal``, an unknown method) is an
``opaque`` equation written back as the user spelled it: plain forward
code, refused by the reverse pass only if a gradient must cross it.

Each function takes the :class:`~diffc.frontend.lower.Frontend` being lowered (``lo``) first.
"""

from __future__ import annotations

import ast

from ..errors import UnknownCallError, UnsupportedError
from ..ir import Const, Var
from ..ops import catalogue as P
from ..ops.catalogue import has_rule
from . import custom_calls, fence, sequences
from .desugar import RAISED
from .fence import OUT_MESSAGE, out_hint
from .inline import body
from .scope import FromImport, GlobalConst, GlobalLiteral, ModuleAlias, ModuleFunction, OtherGlobal

# Methods and functions that change an argument in place (the IR has values, not memory).
_MUTATING = {"sort", "fill", "resize", "put", "itemset", "setfield", "partition", "setflags", "byteswap", "copyto",
             "place", "putmask", "fill_diagonal", "shuffle", "put_along_axis", "add.at", "at"}


def inline(lo, node: ast.Call, name: str):
    """A call to a function of the same module: its body, lowered in place (a function with a rule of its
    own, :mod:`diffc.custom`, through :func:`diffc.frontend.custom_calls.call`)."""
    if name in lo.calls:
        lo.fail(UnsupportedError, node, f"recursive call to '{name}' cannot be differentiated",
                "rewrite the recursion as a loop")
    fdef, source, scope = lo.scope.helper(name)
    problems = fence.check(fdef, source)
    if problems:
        lo.refuse(problems)
    values = bind(lo, node, name, fdef)
    custom = lo.scope.custom(name)
    if custom is not None:
        return custom_calls.call(lo, node, name, custom, fdef, source, scope, values)
    return body(lo, fdef, source, scope, values)


def bind(lo, node: ast.Call, name: str, fdef: ast.FunctionDef) -> dict:
    """The atom each parameter of ``fdef`` gets in the call ``node`` (defaults filled in), in parameter order."""
    args = fdef.args
    params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    values = dict(zip(params, (lo.expr(a) for a in node.args)))
    if len(node.args) > len(params):
        lo.fail(UnsupportedError, node, f"'{name}' takes {len(params)} argument(s), got {len(node.args)}",
                f"call it as {name}({', '.join(params)})")
    for kw in node.keywords:
        if kw.arg not in params or kw.arg in values:
            lo.fail(UnsupportedError, kw, f"'{name}' has no parameter '{kw.arg}' to pass here",
                    f"its parameters are: {', '.join(params)}")
        values[kw.arg] = lo.expr(kw.value)
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    for param in params:
        if param not in values:
            if param not in defaults:
                lo.fail(UnsupportedError, node, f"missing argument '{param}' in the call to '{name}'",
                        f"call it as {name}({', '.join(params)})")
            values[param] = Const(ast.literal_eval(defaults[param]))
    return {param: values[param] for param in params}


def call(lo, node: ast.Call) -> Var:
    func = node.func
    out = next((kw for kw in node.keywords if kw.arg == "out"), None)
    if out is not None:
        lo.fail(UnsupportedError, out, OUT_MESSAGE.format(ast.unparse(func)), out_hint(node))
    if any(isinstance(a, ast.Starred) for a in node.args):
        return starred(lo, node)
    if isinstance(func, ast.Name) and func.id == "sum" and "sum" not in lo.env and len(node.args) == 1 \
            and isinstance(node.args[0], ast.Name) and node.args[0].id in lo.lists:
        return lo.name(node.args[0])
    moments = variance(lo, node)  # np.var, np.std, x.var(), x.std(): means, a square and a root
    if moments is not None:
        return moments
    if isinstance(func, ast.Name) and func.id == "sum" and "sum" not in lo.env and len(node.args) == 1 and \
            not node.keywords and isinstance(node.args[0], (ast.ListComp, ast.GeneratorExp)) and \
            lo.scope.lookup("sum") is None and sequences.comprehension_items(lo, node.args[0]) is None:
        return sequences.sum_loop(lo, node.args[0])  # sum(w ** 2 for w in W): a running sum in a loop
    resolved = sequences.builtin_on_items(lo, node)  # sum([a, a * a]), len(t), max(t)
    if resolved is not None:
        return resolved
    if isinstance(func, ast.Attribute) and lo.module_of(func.value) is None \
            and not (isinstance(func.value, ast.Name) and func.value.id not in lo.env):
        if func.attr == "item" and not node.args and not node.keywords:  # loss.item(): the number, as float()
            return lo.emit("float", (lo.expr(func.value),), node, _style=("method", "item"))
        return method(lo, node) if func.attr in P.METHODS else opaque(lo, node, None)
    op, params = callee(lo, node)
    if op.startswith("call:"):
        return inline(lo, node, op[len("call:"):])
    if op == "stop_gradient":
        custom_calls.stopped(lo)
    if op == "opaque":
        return opaque(lo, node, params)
    args = node.args
    if op in P.SEQUENCE_FUNCTIONS:
        items = sequences.items_of(lo, args[0])
        if items is None:
            lo.fail(UnsupportedError, args[0], f"'{ast.unparse(func)}' needs a literal tuple or list of arrays",
                    "write the arrays out, as in np.concatenate((a, b), axis=0)")
        if len(args) > 1:
            params["axis"] = literal(lo, args[1])
        kind = sequences.seq_kind(lo, args[0])
        return lo.emit(op, items, node, **params, _seq=kind)
    if op == "array" and len(args) == 1:
        items = sequences.items_of(lo, args[0])
        if items is not None:  # np.array([a, b * a]): a stack of the items
            kind = sequences.seq_kind(lo, args[0])
            return lo.emit(op, items, node, **params, _seq=kind)
    ins = tuple(lo.expr(a) for a in args)
    if (P.get(op).spelling or "").startswith("numpy."):  # a literal list passed to NumPy is an array
        ins = tuple(sequences.stacked(lo, a, n, op, i) for i, (a, n) in enumerate(zip(ins, args)))
    ins = place_keywords(lo, node, op, ins, params)
    out = lo.emit(op, ins, node, **params)
    if P.parts(op, params):  # w, v = np.linalg.eigh(A): a tuple of arrays, read by field
        lo.results[id(out)] = P.parts(op, params)
        lo.containers.add(id(out))
    return out


def result_item(lo, base: Var, node: ast.Subscript) -> Var:
    """The item of a library call's tuple a literal integer picks (``np.linalg.qr(A)[0]``)."""
    size, index = lo.results[id(base)], node.slice
    if not (isinstance(index, ast.Constant) and type(index.value) is int and -size <= index.value < size):
        lo.fail(UnsupportedError, index, f"this call returns a tuple of {size} arrays: index it with a literal "
                f"0 to {size - 1}", "unpack it instead, as in 'w, v = np.linalg.eigh(A)'")
    out = lo.emit("field", (base,), node, key=index.value % size)
    lo.aliases.part_of(out, base, index.value % size)
    return out


def starred(lo, node: ast.Call) -> Var:
    """``np.random.rand(*x.shape)``: a call with a starred argument is kept as it is written, which
    only a call diffc has no rule for can be (its arguments are then never differentiated)."""
    func = node.func
    if isinstance(func, ast.Attribute) and lo.module_of(func.value) is None \
            and not (isinstance(func.value, ast.Name) and func.value.id not in lo.env):  # a method
        if func.attr not in P.METHODS and func.attr != "item":
            return opaque(lo, node, None)
    else:
        op, params = callee(lo, node)
        if op == "opaque":
            return opaque(lo, node, params)
    arg = next(a for a in node.args if isinstance(a, ast.Starred))
    lo.fail(UnsupportedError, arg, f"starred expressions are not supported as arguments of '{ast.unparse(func)}' "
            "(only in a call diffc keeps as written, such as np.random.rand(*x.shape))",
            "list the values, as in x.reshape(n, m) or np.zeros((n, m))")


def place_keywords(lo, node: ast.Call, op: str, ins: tuple, params: dict) -> tuple:
    """Array keywords (``weights=w`` of np.average) as inputs at their positions; the positions before
    them are filled by the literal keywords given for them, or None (NumPy's default for them)."""
    movable, names = P.array_keywords(op)
    for kw in node.keywords:
        if kw.arg in movable:
            at = names.index(kw.arg)
            if len(ins) > at:
                lo.fail(UnsupportedError, kw, f"'{kw.arg}' is given twice", "give it once")
            ins = (*ins, *(Const(params.pop(name, None)) for name in names[len(ins):at]), lo.expr(kw.value))
    return ins


def variance(lo, node: ast.Call):
    """``np.var``/``np.std`` (and the methods) with literal ``axis``, ``keepdims`` and ``ddof``, written
    as the mean of squared deviations (times n / (n - ddof)) and its square root; None if not one."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in ("var", "std")):
        return None
    if lo.module_of(func.value) == "numpy":
        if not node.args:
            return None
        x_node, positional = node.args[0], node.args[1:]
    elif lo.module_of(func.value) is None and not (isinstance(func.value, ast.Name)
                                                       and func.value.id not in lo.env):
        x_node, positional = func.value, node.args
    else:
        return None
    if len(positional) > 1 or any(kw.arg not in ("axis", "keepdims", "ddof") for kw in node.keywords):
        return None  # dtype=, out=, ...: left to the opaque call, which refuses what it must
    options = {"axis": literal(lo, positional[0])} if positional else {}
    options.update({kw.arg: literal(lo, kw.value) for kw in node.keywords})
    axis, keepdims, ddof = options.get("axis"), bool(options.get("keepdims", False)), options.get("ddof", 0)
    where = {} if axis is None else {"axis": axis}
    x = lo.expr(x_node)
    mean = lo.emit("mean", (x,), node, **where, keepdims=True)
    deviation = lo.emit("sub", (x, mean), node)
    square = lo.emit("pow", (deviation, Const(2)), node)
    out = lo.emit("mean", (square,), node, **where, **({"keepdims": True} if keepdims else {}))
    if ddof:
        count = lo.emit("div", (lo.emit("size", (x,), node),
                                lo.emit("size", (out,), node)), node)
        scale = lo.emit("div", (count, lo.emit("sub", (count, Const(ddof)), node)), node)
        out = lo.emit("mul", (out, scale), node)
    return lo.emit("sqrt", (out,), node) if func.attr == "std" else out


def is_none(lo, node: ast.Compare) -> Var:
    """``y is None`` (or ``is not``) as ``isinstance(y, type(None))``: a call diffc keeps as it is."""
    test = ast.Call(ast.Name("isinstance", ast.Load()), [node.left, ast.Call(ast.Name("type", ast.Load()),
                                                                              [ast.Constant(None)], [])], [])
    for part in ast.walk(test):
        if not hasattr(part, "lineno"):
            ast.copy_location(part, node)
    out = opaque(lo, test, ("'is None' has no derivative", "test only arguments that are not differentiated"))
    return lo.emit("not", (out,), node) if isinstance(node.ops[0], ast.IsNot) else out


def raise_exception(lo, stmt: ast.Raise) -> None:
    """``raise ValueError('bad mode "%s"' % mode)``: an opaque call written as a raise statement (kept
    though nothing reads it); the branch is marked as ending there (see :func:`diffc.frontend.flow.if_statement`)."""
    exc = stmt.exc if isinstance(stmt.exc, ast.Call) else ast.copy_location(ast.Call(stmt.exc, [], []), stmt.exc)
    opaque(lo, exc, ("an exception is never differentiated", "raise it only on values that do not depend on "
                     "the parameters being differentiated"), raises=True)
    lo.env[RAISED] = True


def appends(node: ast.Call) -> bool:
    """True for ``terms.append(x)`` (see :func:`diffc.frontend.desugar.only_appended_and_summed`)."""
    func = node.func
    return isinstance(func, ast.Attribute) and func.attr == "append" and isinstance(func.value, ast.Name) and \
        len(node.args) == 1 and not node.keywords


# Calls kept for their effect that never change their arguments: they may take the function's values.
_HARMLESS_EFFECTS = {"print", "numpy.random.seed", "random.seed", "warnings.warn"}


def _effect_name(lo, func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        module = lo.module_of(func.value)
        return f"{module}.{func.attr}" if module else ast.unparse(func)
    return ast.unparse(func)


def _reads_local(lo, node: ast.Call) -> bool:
    """Whether an argument reads a name of the function (rather than constants and module values)."""
    return any(isinstance(n, ast.Name) and n.id in lo.env for arg in [*node.args, *node.keywords]
               for n in ast.walk(arg))


def effect(lo, node: ast.Call) -> None:
    """``np.random.seed(dropout_param['seed'])``, ``print(x)``: an opaque equation kept as a statement in its
    place (``_raise="call"``: the passes keep it, no call is written inline across it). Refused if an
    argument depends on the parameters differentiated (the reverse pass: it could change that value in
    place); a method (it may change its receiver) and a helper of the module are refused here."""
    func = node.func
    text = ast.unparse(func)
    if isinstance(func, ast.Attribute) and lo.module_of(func.value) is None:
        lo.fail(UnsupportedError, node, f"'{text}(...)' called for its effect may change "
                f"'{ast.unparse(func.value)}' in place: diffc cannot follow that",
                "assign the result of a call that returns a new value, or make the call outside the function "
                "you differentiate")
    if isinstance(func, ast.Name) and isinstance(lo.scope.lookup(func.id), ModuleFunction) and \
            lo.scope.helper(func.id) is not None:
        lo.fail(UnsupportedError, node, f"'{text}' is called only for its effect: diffc follows what a helper "
                "returns", f"return what '{func.id}' computes and assign it")
    if _reads_local(lo, node) and _effect_name(lo, func) not in _HARMLESS_EFFECTS:
        # A call made for its effect may change an array argument in place, and the backward pass may read
        # that array after the call (X in the gradient of X @ W): only calls known to leave their
        # arguments alone may take a local value.
        lo.fail(UnsupportedError, node, f"'{text}(...)' is called for its effect with a value of the function as "
                "argument: diffc cannot tell whether it changes that value in place",
                f"make the call outside the function you differentiate (calls kept for their effect: "
                f"{', '.join(sorted(_HARMLESS_EFFECTS))})")
    opaque(lo, node, (f"'{text}(...)' is called for its side effects on a value that depends on the parameters being "
                      "differentiated", "call it only on values that do not depend on them, or name the parameters to "
                      "differentiate (wrt= in diffc.grad, --wrt on the command line)"), raises="call")


def opaque(lo, node: ast.Call, why, raises=False) -> Var:
    """A call diffc has no rule for, kept as it is: refused later only if a gradient must cross it.
    Arguments that read no local name are copied as written (``dtype=int``, ``CONSTS``)."""
    func = node.func
    ins, spec = [], []
    name = func.attr if isinstance(func, ast.Attribute) else func.id
    if name in _MUTATING:
        lo.fail(UnsupportedError, node, f"'{ast.unparse(func)}' changes an array in place: diffc cannot follow "
                "that", "use a form that returns a new array, such as np.sort(x) for x.sort()")
    if why is None:  # a method: receiver.name(...)
        ins.append(lo.expr(func.value))
        callee, text = None, f"{ast.unparse(func.value)}.{func.attr}"
        why = (f"the method '{func.attr}' is not supported: '{text}(...)' has no derivative rule",
               f"supported methods: {', '.join(sorted(P.METHODS))}")
    else:
        callee = ast.unparse(func)
        copyable(lo, func)
    for arg in [*node.args, *node.keywords]:
        value = arg.value if isinstance(arg, ast.keyword) else arg
        key = arg.arg if isinstance(arg, ast.keyword) else None
        if isinstance(value, ast.Starred):  # np.random.rand(*x.shape): the sequence is an input, written starred
            ins.append(lo.expr(value.value))
            spec.append((key, ("star", len(ins) - 1)))
        elif any(isinstance(n, ast.Name) and (n.id in lo.env or isinstance(lo.scope.lookup(n.id), GlobalLiteral))
                 for n in ast.walk(value)):  # a module-level list is written out as its items
            ins.append(lo.expr(value))
            spec.append((key, ("in", len(ins) - 1)))
        else:
            copyable(lo, value)
            spec.append((key, ("raw", ast.unparse(value))))
    # _raise: a statement kept though nothing reads its value: True for a raise, "call" for a call (effect)
    out = lo.emit("opaque", tuple(ins), node, _callee=callee, _method=func.attr if callee is None else None,
                  _args=tuple(spec), _why=why, **({"_raise": raises} if raises else {}))
    if callee is None and func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant) and \
            isinstance(node.args[0].value, str):
        lo.aliases.item_of(out, ins[0], *ins[1:])  # bn_param.get('eps', 1e-5): an entry (or the default)
    return out


def copyable(lo, node: ast.expr) -> None:
    """Refuse a global name that generated code could not refer to (a module-level variable)."""
    import builtins

    for n in ast.walk(node):
        if not isinstance(n, ast.Name) or n.id in lo.env:
            continue
        binding = lo.scope.lookup(n.id)
        if binding is None and hasattr(builtins, n.id) or isinstance(binding, (ModuleAlias, FromImport,
                                                                               GlobalConst)):
            continue
        if isinstance(binding, OtherGlobal) and binding.refusal:
            lo.fail(UnsupportedError, n, binding.refusal, binding.hint)
        what = "not defined" if binding is None else "not a module, an import or a number"
        lo.fail(UnknownCallError if binding is None else UnsupportedError, n,
                f"'{n.id}' is {what}: generated code could not refer to it",
                "pass it as a parameter, or define it as a number at the top of the module")


def method(lo, node: ast.Call) -> Var:
    func = node.func
    op = P.method(func.attr)
    receiver = lo.expr(func.value)
    if op == "astype":
        return astype(lo, node, receiver)
    args = [lo.expr(a) for a in node.args]
    if op in ("reshape", "transpose") and len(args) > 1:
        items = args
        args = [Const(tuple(a.value for a in items)) if all(isinstance(a, Const) for a in items)
                else lo.emit("tuple", items, node)]
    params = keywords(lo, node, op)
    return lo.emit(op, (receiver, *args), node, **params, _style=("method", func.attr))


def astype(lo, node: ast.Call, receiver) -> Var:
    """``x.astype(T, copy=False)``: the arguments written out as the user wrote them, except those that read
    a local name (``y.dtype``), which are inputs; ``_dtype`` says which input is the type."""
    ins, spec, params = [receiver], [], {}
    for arg in [*node.args, *node.keywords]:
        value, key = (arg.value, arg.arg) if isinstance(arg, ast.keyword) else (arg, None)
        if any(isinstance(n, ast.Name) and n.id in lo.env for n in ast.walk(value)):
            ins.append(lo.expr(value))
            spec.append((key, ("in", len(ins) - 1)))
            if arg is next(iter(node.args), None) or key == "dtype":
                params["_dtype"] = len(ins) - 1
        else:
            copyable(lo, value)
            spec.append((key, ("raw", ast.unparse(value))))
    return lo.emit("astype", tuple(ins), node, _style=("method", "astype"), _cast=cast_kind(lo, node),
                   _args=tuple(spec), **params)


def cast_kind(lo, node: ast.Call):
    """'f' for x.astype(float) (or a NumPy float type), 'i' for an integer type, 'b' for bool, else None.
    Other keywords (copy=False, order=) do not change the values."""
    typed = [*node.args[:1], *(kw.value for kw in node.keywords if kw.arg == "dtype")]
    if len(typed) != 1:
        return None
    arg = typed[0]
    if isinstance(arg, ast.Name) and arg.id not in lo.env and lo.scope.lookup(arg.id) is None:
        return {"float": "f", "int": "i", "bool": "b"}.get(arg.id)
    if isinstance(arg, ast.Attribute) and lo.module_of(arg.value) == "numpy":
        return "f" if arg.attr in P.FLOAT_TYPES else "i" if arg.attr in P.INT_TYPES else None
    return None


def keywords(lo, node: ast.Call, op: str) -> dict:
    params = {}
    allowed, movable = P.keywords(op), P.array_keywords(op)[0]
    for kw in node.keywords:
        if kw.arg in movable:  # an array: an input (see place_keywords)
            continue
        if kw.arg not in allowed:
            lo.fail(UnsupportedError, kw, f"keyword argument '{kw.arg}' is not supported here",
                    f"supported keywords: {', '.join(allowed)}" if allowed else "pass arguments by position")
        params[kw.arg] = literal(lo, kw.value)
    return params


def is_literal(lo, node) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return lo.is_newaxis(node)
    return True


def literal(lo, node):
    if lo.is_newaxis(node):
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        lo.fail(UnsupportedError, node, "this argument must be a literal such as 1, (0, 1) or True",
                "write the value out; diffc needs it to write the gradient")


def callee(lo, node: ast.Call) -> tuple[str, dict]:
    func = node.func
    text = ast.unparse(func)
    if isinstance(func, ast.Attribute):
        module = lo.module_of(func.value)
        if module is None:
            lo.fail(UnknownCallError, func, f"cannot differentiate call to '{text}'",
                    "diffc knows math, numpy and abs/max/min; import them at module level")
        qualified, found = f"{module}.{func.attr}", P.library_function(module, func.attr)
    else:
        if func.id in lo.env:
            lo.fail(UnsupportedError, func, f"'{func.id}' is a local variable, not a function",
                    "call a math or numpy function or a builtin")
        binding = lo.scope.lookup(func.id)
        if isinstance(binding, FromImport):
            qualified = f"{binding.module}.{binding.attr}"
            found = P.library_function(binding.module, binding.attr)
        elif isinstance(binding, ModuleFunction) and lo.scope.helper(func.id) is not None:
            return f"call:{func.id}", {}
        elif isinstance(binding, OtherGlobal) and binding.refusal:
            lo.fail(UnsupportedError, func, binding.refusal, binding.hint)
        elif binding is None and P.builtin(func.id) is not None:
            qualified, found = func.id, P.builtin(func.id)
        else:
            qualified, found = func.id, None
            if binding is not None or not hasattr(__import__("builtins"), func.id):
                lo.fail(UnknownCallError, func, f"cannot differentiate call to '{qualified}': it has no "
                        "derivative rule", "rewrite it with supported functions (see the README's list) or "
                        "compute it outside")
    if found is None or not has_rule(found[0]):
        # Forward code as it is; refused later if a gradient must cross it.
        return "opaque", (f"cannot differentiate call to '{qualified}': it has no derivative rule",
                          "rewrite it with supported functions (see the README's list); on values that do "
                          "not depend on the parameters being differentiated it may stay as it is")
    op, (low, high) = found
    for kw in node.keywords:
        if not is_literal(lo, kw.value) and kw.arg in P.keywords(op):  # np.zeros(D, dtype=x.dtype)
            return "opaque", (f"the argument {kw.arg}= of '{text}' must be a literal such as 1, (0, 1) or True "
                              "for diffc to write its gradient", "write the value out")
    params = keywords(lo, node, op)
    n = len(node.args)
    if n < low or (high is not None and n > high):
        expected = str(low) if low == high else f"at least {low}" if high is None else f"{low} to {high}"
        lo.fail(UnsupportedError, node, f"'{text}' takes {expected} argument(s), got {n}",
                "max() and min() need their values listed, as in max(a, b)" if op in ("max", "min")
                else f"call it with {expected} argument(s)")
    return op, params
