"""The command line: ``diffc f.py`` writes ``f_grad.py``.

Compiling never imports or runs the input file. Every problem is printed as
``file:line:col: error: message`` with the source line, a caret and a hint;
nothing is written then, and the exit status is 1. Bad usage (an option's
syntax, an output path that cannot be written) exits 2 and names the option.
No Python traceback reaches the user (set DIFFC_DEBUG=1 to see one for an
internal error). Files are read as Python reads them and written as
:mod:`diffc.files` promises: never the input, never a file diffc did not
write (without ``--force``), all at once or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .backends.emit import BACKENDS
from .compiler import PASS_NAMES, compile_source, dump_source, parse_shape
from .errors import DiffcError, UsageError, flatten
from .files import OutputError, check_output, read_source, write_atomic
from .tools.commands import SUBCOMMANDS

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
  $ diffc layers.py --vjp      # writes layers_vjp.py: NAME_vjp(args..., grad_out) for array outputs
  $ diffc layers.py --jacobian # writes layers_jacobian.py: NAME_jacobian(args...), through NAME_jvp

The generated file imports what f.py imported and nothing of diffc.
"""

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
                        help="differentiate only this top-level function, or the method CLASS.METHOD with --wrt naming "
                             "an attribute of self it reads (--wrt params for self.params) (repeatable; default: all)")
    parser.add_argument("--wrt", action="append", metavar="NAME",
                        help="differentiate only with respect to this parameter (repeatable; default: all). "
                             "One --wrt returns a bare gradient, several return a tuple")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="PATH", help="where to write (default: FILE_grad.py beside FILE)")
    out.add_argument("--stdout", action="store_true", help="print the generated code instead of writing a file")
    parser.add_argument("--force", action="store_true",
                        help="overwrite the output even if diffc did not write it (never the input file)")
    parser.add_argument("--shape", action="append", metavar="NAME=DIMS", default=[],
                        help="the shape of a NumPy parameter, as sizes or symbols: --shape X=N,D --shape b=H "
                             "--shape y=N:int --shape 'params[W1]=D,H' (1 for a size-1 dim, ? for unknown, nothing "
                             "for a scalar; NAME[KEY] for a part of a dict or tuple parameter). "
                             "With shapes the gradient is written exactly (np.sum(g, axis=0) rather than a "
                             "run-time helper); it is then right for every call whose arrays have those ranks "
                             "and size-1 dims")
    parser.add_argument("--mode", choices=("reverse", "forward"), default="reverse",
                        help="reverse (default): NAME_grad, the gradient; forward: NAME_jvp(args..., dot_x, ...) "
                             "returning (value, tangent of the output), a dot_<name> line beside each forward line "
                             "(written to FILE_jvp.py by default)")
    parser.add_argument("--vjp", action="store_true",
                        help="generate NAME_vjp(args..., grad_out), the vector-Jacobian product of a function with an "
                             "array (or tuple) output: the gradient of <grad_out, NAME(args...)>; a tuple output takes "
                             "one cotangent per item (written to FILE_vjp.py by default)")
    parser.add_argument("--jacobian", action="store_true",
                        help="generate NAME_jacobian(args...), the Jacobian (shape out.shape + x.shape for each "
                             "parameter), and the forward-mode NAME_jvp it calls once per element of the parameters "
                             "(written to FILE_jacobian.py by default)")
    second = parser.add_mutually_exclusive_group()
    second.add_argument("--hvp", action="store_true",
                        help="second derivatives, forward over reverse: NAME_hvp(args..., dot_x, ...) returning "
                             "(gradient, Hessian times dot_x), a dot_<name> line beside each line of the gradient "
                             "(written to FILE_hvp.py by default)")
    second.add_argument("--hessian", action="store_true",
                        help="NAME_hvp as --hvp, and NAME_hessian(args...) calling it once per column of the Hessian "
                             "(shape x.shape + x.shape; nested tuples for several --wrt) (FILE_hessian.py by default)")
    parser.add_argument("--value-and-grad", action="store_true",
                        help="generate NAME_value_and_grad returning (value, gradients) instead of NAME_grad")
    parser.add_argument("--has-aux", action="store_true",
                        help="the functions return (value, aux...), as CS231n's 'return loss, dW': differentiate "
                             "the value and pass the rest through; NAME_grad returns (gradients, aux)")
    parser.add_argument("--no-fuse", action="store_true",
                        help="keep composite gates apart: the sigmoid 1 / (1 + exp(-x)) is then differentiated "
                             "through its exp chain, one line per small gate, instead of as one gate whose "
                             "local gradient is (1 - s) * s")
    parser.add_argument("--fast", action="store_true",
                        help="write the form the decorator runs: in scalar code the seed grad_out = 1.0 folded "
                             "into its uses, no grad_x = grad_q copy lines, float literals beside floats "
                             "(1.0 - L); the same values as the default, which reads like the lecture")
    parser.add_argument("--comments", action="store_true",
                        help="add a '# grad of: <source line>' comment above each group of backward lines")
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="numpy",
                        help="the array library the generated code calls (default: numpy; jax writes jax.numpy "
                             "and refuses what JAX arrays cannot do, such as item assignment)")
    parser.add_argument("--dump-after", metavar="PASS",
                        help="print the compiler's IR of each function right after pass PASS, as text, instead "
                             "of writing code (for debugging diffc; the passes: " + ", ".join(PASS_NAMES) + ")")
    parser.add_argument("--version", action="version", version=f"diffc {__version__}")
    return parser


def _print_errors(error: DiffcError) -> None:
    for e in flatten(error):
        print(str(e), file=sys.stderr)


def parse_shapes(items: list[str]) -> dict | None:
    """The --shape options as a dict; bad syntax is a :class:`UsageError`."""
    shapes = {}
    for item in items:
        name, eq, spec = item.partition("=")
        name = name.strip()
        if eq and "[" in name and name.endswith("]"):  # a part of a container: params[W1] or pair[0]
            base, _, key = name[:-1].partition("[")
            key = key.strip().strip("'\"")
            if not base.isidentifier() or not key:
                raise UsageError(f"argument --shape: expected NAME=DIMS or NAME[KEY]=DIMS, got {item!r}")
            name = f"{base}[{int(key) if key.isdigit() else key!r}]"
        elif not eq or not name.isidentifier():
            raise UsageError(f"argument --shape: expected NAME=DIMS, as in --shape X=N,D; got {item!r}")
        try:
            shapes[name] = parse_shape(spec)
        except ValueError as exc:
            raise UsageError(f"argument --shape: {item!r}: {exc}") from None
    return shapes or None


def compile_command(argv: list[str]) -> int:
    parser = _compile_parser()
    args = parser.parse_args(argv)
    try:
        shapes = parse_shapes(args.shape)
        target = None
        if not args.stdout and args.dump_after is None:
            suffix = "_hessian.py" if args.hessian else "_hvp.py" if args.hvp else \
                "_jacobian.py" if args.jacobian else "_vjp.py" if args.vjp else \
                "_jvp.py" if args.mode == "forward" else "_grad.py"
            target = args.output if args.output is not None else os.path.splitext(args.file)[0] + suffix
            if os.path.exists(args.file):  # a missing input is reported as such, below
                check_output(target, "-o", [args.file], args.force)
    except (UsageError, OutputError) as exc:
        parser.error(str(exc))
    if args.dump_after is not None and args.dump_after not in PASS_NAMES:
        parser.error(f"argument --dump-after: no pass named {args.dump_after!r}; the passes, in order: "
                     + ", ".join(PASS_NAMES))
    text = read_source(args.file)
    wrt = None if not args.wrt else args.wrt[0] if len(args.wrt) == 1 else args.wrt
    mode = "value_and_grad" if args.value_and_grad else "grad"
    if args.mode == "forward":
        if args.value_and_grad or args.has_aux or args.dump_after is not None:
            other = "--value-and-grad" if args.value_and_grad else "--has-aux" if args.has_aux else "--dump-after"
            parser.error(f"argument --mode forward: not allowed with {other} "
                         "(the forward-mode function returns the value and its tangent)")
        mode = "jvp"
    if args.hvp or args.hessian:
        other = next((flag for flag, on in (("--mode forward", args.mode == "forward"), ("--value-and-grad",
                      args.value_and_grad), ("--has-aux", args.has_aux), ("--dump-after", args.dump_after is not None),
                      ("--backend", args.backend != "numpy"), ("--vjp", args.vjp), ("--jacobian", args.jacobian))
                      if on), None)
        if other is not None:
            parser.error(f"argument {'--hessian' if args.hessian else '--hvp'}: not allowed with {other}")
        from .hessian import compile_second_order

        module = compile_second_order(text, args.file, functions=args.function, wrt=wrt, shapes=shapes,
                                      fuse=not args.no_fuse, hessian=args.hessian, comments=args.comments)
        return _write(module, target)
    for flag, name in ((args.vjp, "--vjp"), (args.jacobian, "--jacobian")):
        if not flag:
            continue
        others = [("--value-and-grad", args.value_and_grad), ("--has-aux", args.has_aux),
                  ("--mode forward", args.mode == "forward" and name == "--vjp"),
                  ("--vjp", args.vjp and name == "--jacobian"),
                  ("--dump-after", args.dump_after is not None and name == "--jacobian"),
                  ("--backend jax", args.backend != "numpy" and name == "--jacobian")]
        other = next((o for o, given in others if given), None)
        if other is not None:
            parser.error(f"argument {name}: not allowed with {other}")
        mode = "vjp" if args.vjp else mode
    if args.jacobian:
        from .jacobian import jacobian_source

        module = jacobian_source(text, args.file, functions=args.function, wrt=wrt, comments=args.comments,
                                 shapes=shapes, fuse=not args.no_fuse)
        return _write(module, target)
    if args.dump_after is not None:
        sys.stdout.write(dump_source(text, args.file, args.dump_after, functions=args.function, wrt=wrt, mode=mode,
                                     shapes=shapes, fuse=not args.no_fuse, has_aux=args.has_aux, fast=args.fast))
        return 0
    module = compile_source(text, args.file, functions=args.function, wrt=wrt, mode=mode,
                            comments=args.comments, shapes=shapes, fuse=not args.no_fuse,
                            has_aux=args.has_aux, backend=args.backend, fast=args.fast)
    return _write(module, target)


def _write(module, target: str | None) -> int:
    """Print the generated module, or write it to ``target`` atomically (:func:`diffc.files.write_atomic`)."""
    if target is None:
        sys.stdout.write(module.text)
        return 0
    write_atomic(target, module.text.encode("utf-8"))
    names = ", ".join(f.grad_name for f in module.functions)
    if target.endswith("_jacobian.py") or "_jacobian(" in module.text:
        names = ", ".join(f"{f.name}_jacobian, {f.grad_name}" for f in module.functions)
    print(f"diffc: wrote {target} ({names})", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
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
        if os.environ.get("DIFFC_DEBUG") and exc.__cause__ is not None:
            import traceback

            traceback.print_exception(exc.__cause__)
        _print_errors(exc)
        return 1
    except UsageError as exc:
        print(f"diffc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # diffc f.py --stdout | head: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # never a traceback for the user
        if os.environ.get("DIFFC_DEBUG"):
            raise
        print(f"diffc: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in diffc; please report it with the input file "
              "(DIFFC_DEBUG=1 shows the traceback).", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
