"""The subcommands that look at a function at given arguments: graph, explain, check.

``diffc graph`` and ``diffc explain`` evaluate the function (through its
generated code) at the values given with ``--at``; ``diffc check`` imports
the user's file, so its top-level code runs. Plain ``diffc f.py`` never
runs anything.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import sys

from ..errors import DiffcError, SelectionError, UsageError
from ..files import read_source

AT_HELP = ("a parameter's value: a number (--at x=-2.0; an integer such as --at n=3 stays an integer), "
           "a Python literal (--at W='[[0.1, 0.5], [-0.3, 0.8]]'; lists become NumPy arrays, integer lists stay "
           "integer), or a .npy file (--at X=data.npy); repeatable")


def parse_at(items: list[str]) -> dict:
    """The --at values by name. Bad syntax is a :class:`~diffc.errors.UsageError`; a .npy file that is
    missing or broken is a DiffcError naming it."""
    values = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise UsageError(f"argument --at: expected NAME=VALUE, as in --at x=-2; got {item!r}")
        if name in values:
            raise UsageError(f"argument --at: '{name}' is given twice")
        text = text.strip()
        if text.endswith(".npy"):
            values[name] = _load_npy(name, text)
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise UsageError(f"argument --at: {name}={text!r} is not a number, a literal or a .npy file "
                             "(write numbers as Python does: -2, 0.5, [1.0, 2.0])") from None
        if not _numeric(value):
            raise UsageError(f"argument --at: {name}={text!r} is a {type(value).__name__}, not numbers: give a "
                             "number, a list of numbers, a dict of them or a .npy file")
        if isinstance(value, (list, tuple)):
            import numpy as np

            try:
                value = np.array(value)
            except ValueError as exc:  # ragged lists
                raise UsageError(f"argument --at: {name}={text!r} is not an array: {exc}") from None
        values[name] = value  # an integer stays one: it may be a loop bound
    return values


def _numeric(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _numeric(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float))  # bool is an int


def _load_npy(name: str, path: str):
    import numpy as np

    try:
        return np.load(path)
    except FileNotFoundError:
        raise DiffcError(f"--at {name}: cannot read '{path}': no such file", filename=path) from None
    except Exception as exc:  # noqa: BLE001 - a truncated, pickled or foreign file: numpy says why
        raise DiffcError(f"--at {name}: cannot read '{path}' as a NumPy array: {exc}", filename=path,
                         hint="write it with np.save(path, array) (object arrays are not loaded)") from None


def _parser(name: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand's parser with the arguments they all take: FILE, -f NAME and --at."""
    parser = argparse.ArgumentParser(prog=f"diffc {name}", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=description, epilog=epilog)
    parser.add_argument("file", metavar="FILE", help="the Python file")
    parser.add_argument("-f", "--function", metavar="NAME", help="the function (needed if FILE has several)")
    parser.add_argument("--at", action="append", metavar="NAME=VALUE", help=AT_HELP)
    return parser


def _values(parser, items):
    try:
        return parse_at(items)
    except UsageError as exc:
        parser.error(str(exc))


def _check_output(parser, target: str, source: str, force: bool) -> None:
    from ..files import OutputError, check_output

    try:
        check_output(target, "-o", [source], force)
    except OutputError as exc:
        parser.error(str(exc))


def graph_command(argv: list[str]) -> int:
    from .evaluate import trace_source
    from .graph import FORMATS, Graph

    parser = _parser(
        "graph",
        "Draw the computational graph of a function: its inputs, one node per gate, the output, with "
        "the forward value (green) and the gradient (red) on every edge. Values are computed by running "
        "the function's generated code at the --at values; with --no-values nothing runs.",
        "example:\n  diffc graph examples/lecture.py -f f --at x=-2 --at y=5 --at z=-4 -o f.svg\n\n"
        ".svg and .png need Graphviz's dot (apt-get install graphviz); .dot is plain text. "
        "Without -o the DOT text is printed.")
    parser.add_argument("-o", "--output", metavar="PATH", help="where to write: .svg, .png or .dot")
    parser.add_argument("--no-values", action="store_true", help="draw the structure only, from the source")
    parser.add_argument("--no-fuse", action="store_true", help="draw the sigmoid as its exp chain")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the output even if diffc did not write it (never the input file)")
    args = parser.parse_args(argv)
    if args.output == "":
        parser.error("argument -o: expected a file name, got ''")
    if args.output is not None and args.output.rsplit(".", 1)[-1].lower() not in FORMATS:
        parser.error(f"argument -o: cannot tell the format of '{args.output}': end it with .svg, .png or .dot")
    if args.no_values and args.at:
        parser.error("--no-values draws the structure only: drop the --at values, or --no-values")
    if not args.no_values and not args.at:
        parser.error("give the values with --at NAME=VALUE, or draw the structure with --no-values")
    values = None if args.no_values else _values(parser, args.at)
    if args.output is not None and os.path.exists(args.file):
        _check_output(parser, args.output, args.file, args.force)
    trace = trace_source(read_source(args.file), args.file, args.function, values, fuse=not args.no_fuse)
    drawing = Graph(trace)
    if args.output:
        drawing.save(args.output)
        print(f"diffc: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(drawing.dot)
    return 0


def explain_command(argv: list[str]) -> int:
    from .evaluate import trace_source
    from .explain import explain_trace

    parser = _parser(
        "explain",
        "Print the backward pass as the lecture narrates it: one row per gate in backward order, "
        "with the upstream gradient, the local gradient (formula and number) and the downstream "
        "gradient = upstream x local. Runs the function's generated code at the --at values.",
        "example:\n  diffc explain examples/lecture.py -f f --at x=-2 --at y=5 --at z=-4")
    parser.add_argument("--no-fuse", action="store_true", help="explain the sigmoid through its exp chain")
    args = parser.parse_args(argv)
    values = _values(parser, args.at)
    trace = trace_source(read_source(args.file), args.file, args.function, values, fuse=not args.no_fuse)
    sys.stdout.write(str(explain_trace(trace)))
    return 0


def load_module(path: str):
    """Import the user's file (this runs its top-level code)."""
    read_source(path)  # a missing file is a DiffcError, not a traceback
    name = f"diffc_user_{os.path.splitext(os.path.basename(path))[0]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # its own error, or its top level calling sys.exit()
        what = f"it called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        raise DiffcError(f"importing '{path}' failed: {what}", filename=path,
                         hint="diffc check imports FILE, so its top-level code runs; fix it, or move it under "
                              "if __name__ == '__main__':") from None
    return module


def _is_integer(value) -> bool:
    """An integer (not a bool) or an array of integers: a loop count, an index, labels."""
    if isinstance(value, bool):
        return False
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return isinstance(value, int) or kind in ("i", "u")


def _needs_integer(fn, given: dict, param: str) -> str | None:
    """Why ``fn`` fails with ``param`` as a float (it is a loop count or an index), or None if it does not."""
    import numpy as np

    value = given[param]
    as_float = np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else float(value)
    try:
        fn(*(as_float if p == param else v for p, v in given.items()))
    except Exception as exc:  # range(3.0), x[2.0]: the parameter is an integer
        return f"with {param} as a float it raises {type(exc).__name__}: {exc}"
    return None


def check_command(argv: list[str]) -> int:
    from ..frontend.source import Source
    from .gradcheck import check_grad

    parser = _parser(
        "check",
        "Compare diffc's gradient with central finite differences at the --at values and print the "
        "CS231n relative error of each parameter; exit 1 above the tolerance. --mode jvp or vjp checks the "
        "forward mode or the vector-Jacobian product instead. Parameters given integer "
        "values (loop counts, labels) are not checked unless named with --wrt. This IMPORTS FILE, so "
        "its top-level code runs.",
        "example:\n  diffc check examples/lecture.py -f neuron --at w0=2 --at x0=-1 --at w1=-3 --at x1=-2 "
        "--at w2=-3\n  diffc check layers.py -f affine --mode vjp --at x='[[1.0, 2.0]]' --at W='[[1.0], [0.5]]' "
        "--at b='[0.1]'")
    parser.add_argument("--wrt", action="append", metavar="NAME", help="check only these parameters")
    parser.add_argument("--mode", choices=("grad", "jvp", "vjp"), default="grad",
                        help="what to check: grad (default), the gradient against central differences; jvp, the "
                             "forward mode along random directions against central differences; vjp, the "
                             "vector-Jacobian product with a random cotangent against the forward mode (the "
                             "dot-product test <u, J v> == <J^T u, v>) and against central differences. jvp and "
                             "vjp take functions with array or tuple outputs")
    parser.add_argument("--rtol", type=float, default=1e-5, help="relative error allowed (default 1e-5)")
    parser.add_argument("--atol", type=float, default=1e-7, help="absolute error allowed (default 1e-7)")
    args = parser.parse_args(argv)
    values = _values(parser, args.at)
    text = read_source(args.file)
    tree = Source(text, args.file).parse()
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    function = args.function or (next(iter(defs)) if len(defs) == 1 else None)
    if function not in defs:
        raise SelectionError("name the function to check with -f NAME" if function is None else
                             f"no top-level function named '{function}'", filename=args.file,
                             hint=f"functions in this file: {', '.join(defs) or 'none'}")
    fdef = defs[function]
    params = [a.arg for a in [*fdef.args.posonlyargs, *fdef.args.args]]
    defaults = dict(zip(params[len(params) - len(fdef.args.defaults):], fdef.args.defaults))
    where = {"filename": args.file, "lineno": fdef.lineno, "col_offset": fdef.col_offset,
             "source_line": (text.splitlines() or [""])[fdef.lineno - 1]}
    listed = f"its parameters are: {', '.join(params) or 'none'}"
    if fdef.args.kwonlyargs or fdef.args.vararg or fdef.args.kwarg:
        raise SelectionError(f"diffc check takes functions with positional parameters only; '{function}' has "
                             "others", hint="check it from Python with diffc.check_grad", **where)
    for name in [*values, *(args.wrt or [])]:
        if name not in params:
            raise SelectionError(f"'{function}' has no parameter '{name}'", hint=listed, **where)
    missing = [p for p in params if p not in values and p not in defaults]
    if missing:
        raise SelectionError(f"no value for parameter '{missing[0]}' of '{function}'",
                             hint=f"give one with --at {missing[0]}=VALUE", **where)
    given = {}
    for p in params:
        try:
            given[p] = values[p] if p in values else ast.literal_eval(defaults[p])
        except ValueError:
            raise SelectionError(f"the default value of '{p}' is not a literal", hint=f"give one with --at {p}=VALUE",
                                 **where) from None
    fn = getattr(load_module(args.file), function, None)
    if not callable(fn):
        raise SelectionError(f"after importing, '{function}' is not a function", **where)
    try:
        value = fn(*given.values())
    except Exception as exc:  # the user's code fails at these values: a domain, a shape, a type
        raise DiffcError(f"evaluating '{function}' at the given values failed: {type(exc).__name__}: {exc}",
                         hint="check the values given with --at (types, shapes, domains)", **where) from None
    # An integer value is checked as a float, unless the function needs an integer there (a loop count,
    # an index, labels): that parameter has no gradient and is left out (an error if --wrt names it).
    integral = {p: _needs_integer(fn, given, p) for p in params if _is_integer(given[p])}
    integral = {p: why for p, why in integral.items() if why}
    for p in args.wrt or []:
        if p in integral:
            raise SelectionError(f"'{p}' has no gradient: '{function}' needs an integer there ({integral[p]})",
                                 hint=f"drop --wrt {p}: a loop count, an index or labels are not differentiated",
                                 **where)
    wrt = tuple(dict.fromkeys(args.wrt)) if args.wrt else tuple(p for p in params if p not in integral)
    if not wrt:
        raise SelectionError(f"every parameter of '{function}' needs an integer value: nothing to check",
                             hint="diffc checks gradients in float parameters", **where)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if args.mode == "grad" and (number is None or getattr(value, "size", 1) != 1):
        shape = getattr(value, "shape", None)
        raise DiffcError(f"'{function}' returns {type(value).__name__}" + (f" of shape {shape}" if shape else "")
                         + " at these values, not a number: a gradient is of a function with one number as "
                         "its value", hint="check the values given with --at (a scalar parameter given a "
                         "list?), or return a sum; for an array output, check the vector-Jacobian product or "
                         "the forward mode with --mode vjp or --mode jvp", **where)
    try:
        report = check_grad(fn, *given.values(), wrt=wrt, rtol=args.rtol, atol=args.atol, raise_on_error=False,
                            mode=args.mode)
    except DiffcError as exc:
        if exc.filename is None:  # about the function at these values: point at its definition
            exc.filename, exc.lineno, exc.col_offset, exc.source_line = where.values()
        raise
    print(report)
    skipped = [p for p in params if p not in wrt]
    if skipped:
        print(f"  (not checked: {', '.join(skipped)}" + ("" if args.wrt else "; integers only") + ")")
    return 0 if report.ok else 1


# name -> (help, function(argv) -> exit status): what ``diffc NAME ...`` runs (see :func:`diffc.cli.main`).
SUBCOMMANDS = {
    "graph": ("draw the computational graph with values and gradients", graph_command),
    "explain": ("print the backward pass gate by gate, as the lecture narrates it", explain_command),
    "check": ("compare the gradient with finite differences (imports FILE)", check_command),
}
