"""The command line: ``diffc f.py`` writes ``f_grad.py``.

Compiling never imports or runs the input file. Every problem is printed as
``file:line:col: error: message`` with the source line, a caret and a hint;
nothing is written then, and the exit status is 1. Bad usage exits 2. No
Python traceback reaches the user (set DIFFC_DEBUG=1 to see one for an
internal error).
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .errors import DiffcError, flatten

EXAMPLE = """\
example:
  $ cat f.py
  def f(x, y, z):
      q = x + y
      return q * z
  $ diffc f.py              # writes f_grad.py with f_grad(x, y, z)
  $ diffc f.py --stdout     # prints it instead
  $ diffc f.py -f f --wrt x # only df/dx, returned bare
  $ diffc net.py --shape X=N,D --shape W=D,C --shape y=N:int   # NumPy, exact shapes

The generated file imports what f.py imported and nothing of diffc.
"""

SUBCOMMANDS: dict = {}  # name -> (help, function(argv) -> exit status); filled by later modules


def _compile_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffc",
        description="Write the gradient of each Python function in FILE as a flat, readable Python "
                    "function (forward lines, then backward lines). The input is parsed, never run.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", metavar="FILE", help="the Python file to differentiate")
    parser.add_argument("-f", "--function", action="append", metavar="NAME",
                        help="differentiate only this top-level function (repeatable; default: all)")
    parser.add_argument("--wrt", action="append", metavar="NAME",
                        help="differentiate only with respect to this parameter (repeatable; default: all). "
                             "One --wrt returns a bare gradient, several return a tuple")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="PATH", help="where to write (default: FILE_grad.py beside FILE)")
    out.add_argument("--stdout", action="store_true", help="print the generated code instead of writing a file")
    parser.add_argument("--shape", action="append", metavar="NAME=DIMS", default=[],
                        help="the shape of a NumPy parameter, as sizes or symbols: --shape X=N,D --shape b=H "
                             "--shape y=N:int --shape 'params[W1]=D,H' (1 for a size-1 dim, ? for unknown, nothing "
                             "for a scalar; NAME[KEY] for a part of a dict or tuple parameter). "
                             "With shapes the gradient is written exactly (np.sum(g, axis=0) rather than a "
                             "run-time helper); it is then right for every call whose arrays have those ranks "
                             "and size-1 dims")
    parser.add_argument("--value-and-grad", action="store_true",
                        help="generate NAME_value_and_grad returning (value, gradients) instead of NAME_grad")
    parser.add_argument("--no-fuse", action="store_true",
                        help="keep composite gates apart: the sigmoid 1 / (1 + exp(-x)) is then differentiated "
                             "through its exp chain, one line per small gate, instead of as one gate whose "
                             "local gradient is (1 - s) * s")
    parser.add_argument("--comments", action="store_true",
                        help="add a '# grad of: <source line>' comment above each group of backward lines")
    parser.add_argument("--version", action="version", version=f"diffc {__version__}")
    return parser


def _print_errors(error: DiffcError) -> None:
    for e in flatten(error):
        print(str(e), file=sys.stderr)


def read_source(path: str) -> str:
    """The text of ``path``; a missing or unreadable file is a DiffcError."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise DiffcError(f"cannot read '{path}': no such file", filename=path,
                         hint="check the path; diffc takes a Python source file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DiffcError(f"cannot read '{path}': {exc}", filename=path) from None


def parse_shapes(items: list[str]) -> dict | None:
    from .compiler import parse_shape

    shapes = {}
    for item in items:
        name, eq, spec = item.partition("=")
        name = name.strip()
        if "[" in name and name.endswith("]"):  # a part of a container: params[W1] or pair[0]
            base, _, key = name[:-1].partition("[")
            key = key.strip("'\"")
            name = f"{base}[{int(key) if key.isdigit() else key!r}]"
            if not base.isidentifier():
                raise DiffcError(f"--shape takes NAME=DIMS or NAME[KEY]=DIMS; got {item!r}")
        elif not eq or not name.isidentifier():
            raise DiffcError(f"--shape takes NAME=DIMS, as in --shape X=N,D; got {item!r}")
        try:
            shapes[name] = parse_shape(spec)
        except ValueError as exc:
            raise DiffcError(f"--shape {item}: {exc}") from None
    return shapes or None


def compile_command(argv: list[str]) -> int:
    from .compiler import compile_source

    args = _compile_parser().parse_args(argv)
    text = read_source(args.file)
    wrt = None if not args.wrt else args.wrt[0] if len(args.wrt) == 1 else args.wrt
    mode = "value_and_grad" if args.value_and_grad else "grad"
    module = compile_source(text, args.file, functions=args.function, wrt=wrt, mode=mode,
                            comments=args.comments, shapes=parse_shapes(args.shape), fuse=not args.no_fuse)
    if args.stdout:
        sys.stdout.write(module.text)
        return 0
    target = args.output or os.path.splitext(args.file)[0] + "_grad.py"
    if os.path.abspath(target) == os.path.abspath(args.file):
        raise DiffcError(f"refusing to overwrite the input file '{args.file}'", filename=args.file,
                         hint="name another output with -o")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(module.text)
    names = ", ".join(f.grad_name for f in module.functions)
    print(f"diffc: wrote {target} ({names})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _load_subcommands()
    if argv and argv[0] in SUBCOMMANDS:
        run = SUBCOMMANDS[argv[0]][1]
        argv = argv[1:]
    else:
        run = compile_command
        if argv and argv[0] in ("-h", "--help"):
            _compile_parser().print_help()
            if SUBCOMMANDS:
                print("\nsubcommands (diffc SUBCOMMAND --help for each):")
                for name, (text, _) in SUBCOMMANDS.items():
                    print(f"  {name:<9} {text}")
            return 0
    try:
        return run(argv)
    except DiffcError as exc:
        _print_errors(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a traceback for the user
        if os.environ.get("DIFFC_DEBUG"):
            raise
        print(f"diffc: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in diffc; please report it with the input file "
              "(DIFFC_DEBUG=1 shows the traceback).", file=sys.stderr)
        return 1


def _load_subcommands() -> None:
    """Subcommands live in their own modules and register themselves here."""
    import importlib

    for module in ("diffc.tools",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


if __name__ == "__main__":
    sys.exit(main())
