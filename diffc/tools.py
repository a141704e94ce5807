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

from .cli import SUBCOMMANDS, read_source
from .errors import DiffcError

AT_HELP = ("a parameter's value: a number (--at x=-2.0; an integer such as --at n=3 stays an integer), "
           "a Python literal (--at W='[[0.1, 0.5], [-0.3, 0.8]]'; lists become NumPy arrays, integer lists stay "
           "integer), or a .npy file (--at X=data.npy); repeatable")


def parse_at(items: list[str]) -> dict:
    values = {}
    for item in items or []:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name.isidentifier():
            raise DiffcError(f"--at takes NAME=VALUE, as in --at x=-2; got {item!r}")
        text = text.strip()
        if text.endswith(".npy"):
            import numpy as np

            try:
                values[name] = np.load(text)
            except OSError as exc:
                raise DiffcError(f"--at {name}: cannot read {text!r}: {exc}") from None
            continue
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise DiffcError(f"--at {name}: {text!r} is not a number, a literal or a .npy file",
                             hint="write numbers as Python does: -2, 0.5, [1.0, 2.0]") from None
        if isinstance(value, (list, tuple)):
            import numpy as np

            value = np.array(value)
        values[name] = value  # an integer stays one: it may be a loop bound
    return values


def _parser(name: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand's parser with the arguments they all take: FILE, -f NAME and --at."""
    parser = argparse.ArgumentParser(prog=f"diffc {name}", formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=description, epilog=epilog)
    parser.add_argument("file", metavar="FILE", help="the Python file")
    parser.add_argument("-f", "--function", metavar="NAME", help="the function (needed if FILE has several)")
    parser.add_argument("--at", action="append", metavar="NAME=VALUE", help=AT_HELP)
    return parser


def graph_command(argv: list[str]) -> int:
    from .graph import FORMATS, Graph
    from .trace import trace_source

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
    args = parser.parse_args(argv)
    if args.output and args.output.rsplit(".", 1)[-1].lower() not in FORMATS:
        parser.error(f"cannot tell the format of '{args.output}': end it with .svg, .png or .dot")
    values = None if args.no_values else parse_at(args.at)
    if values is not None and not args.at:
        parser.error("give the values with --at NAME=VALUE, or draw the structure with --no-values")
    trace = trace_source(read_source(args.file), args.file, args.function, values, fuse=not args.no_fuse)
    drawing = Graph(trace)
    if args.output:
        drawing.save(args.output)
        print(f"diffc: wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(drawing.dot)
    return 0


def explain_command(argv: list[str]) -> int:
    from .explainer import explain_trace
    from .trace import trace_source

    parser = _parser(
        "explain",
        "Print the backward pass as the lecture narrates it: one row per gate in backward order, "
        "with the upstream gradient, the local gradient (formula and number) and the downstream "
        "gradient = upstream x local. Runs the function's generated code at the --at values.",
        "example:\n  diffc explain examples/lecture.py -f f --at x=-2 --at y=5 --at z=-4")
    parser.add_argument("--no-fuse", action="store_true", help="explain the sigmoid through its exp chain")
    args = parser.parse_args(argv)
    trace = trace_source(read_source(args.file), args.file, args.function, parse_at(args.at), fuse=not args.no_fuse)
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
    except Exception as exc:
        raise DiffcError(f"importing '{path}' failed: {type(exc).__name__}: {exc}", filename=path) from None
    return module


def check_command(argv: list[str]) -> int:
    from .check import check_grad

    parser = _parser(
        "check",
        "Compare diffc's gradient with central finite differences at the --at values and print the "
        "CS231n relative error of each parameter; exit 1 above the tolerance. This IMPORTS FILE, so "
        "its top-level code runs.",
        "example:\n  diffc check examples/lecture.py -f neuron --at w0=2 --at x0=-1 --at w1=-3 --at x1=-2 "
        "--at w2=-3")
    parser.add_argument("--wrt", action="append", metavar="NAME", help="check only these parameters")
    parser.add_argument("--rtol", type=float, default=1e-5, help="relative error allowed (default 1e-5)")
    parser.add_argument("--atol", type=float, default=1e-7, help="absolute error allowed (default 1e-7)")
    args = parser.parse_args(argv)
    values = parse_at(args.at)
    text = read_source(args.file)
    names = [n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
    function = args.function or (names[0] if len(names) == 1 else None)
    if function not in names:
        raise DiffcError("name the function to check with -f NAME" if function is None else
                         f"no top-level function named '{function}'", filename=args.file,
                         hint=f"functions in this file: {', '.join(names) or 'none'}")
    fn = getattr(load_module(args.file), function)
    import inspect

    bound = inspect.signature(fn).bind_partial(**values)
    missing = [p for p in inspect.signature(fn).parameters if p not in bound.arguments
               and inspect.signature(fn).parameters[p].default is inspect.Parameter.empty]
    if missing:
        raise DiffcError(f"no value for parameter '{missing[0]}'", hint=f"give one with --at {missing[0]}=VALUE")
    bound.apply_defaults()
    wrt = tuple(args.wrt) if args.wrt else None
    report = check_grad(fn, *bound.args, wrt=wrt, rtol=args.rtol, atol=args.atol, raise_on_error=False)
    print(report)
    return 0 if report.ok else 1


SUBCOMMANDS["graph"] = ("draw the computational graph with values and gradients", graph_command)
SUBCOMMANDS["explain"] = ("print the backward pass gate by gate, as the lecture narrates it", explain_command)
SUBCOMMANDS["check"] = ("compare the gradient with finite differences (imports FILE)", check_command)
