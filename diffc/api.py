"""The Python API: ``grad``, ``value_and_grad`` and compiling live functions.

``grad(fn)`` reads ``fn``'s source (a module on disk, a Jupyter/IPython
cell, or a function diffc generated), checks that it is the code that runs
(:mod:`diffc.frontend.live`: plain functions only, no decorator wrapper, no closure,
no file edited since import), compiles it exactly as the CLI would, and
builds the generated function with ``fn.__globals__`` as its globals: a
module-level number is read when the gradient runs, as ``fn`` reads it (and
must still be a number then). The result, a :class:`GradFunction`, calls the
generated code directly, with ``.source`` holding the generated code: a
call whose arguments are numbers, NumPy scalars, arrays, and lists, tuples
and dicts of them (positional, by keyword or defaults) finds its variant by
the tests of a dispatcher generated with the function's own parameters
(types, ranks, 1-dims and dtypes, read without building a key; issue 12:
about 0.1 us on top of the generated code for three numbers, 0.6-0.9 us for
six arrays); a call with another type works out its pattern.
Names outside the function resolve through ``fn.__globals__`` (aliases such
as ``import math as m`` are kept). A list or tuple argument gets a gradient
of the same type and length.
"""

from __future__ import annotations

import functools
import inspect
import linecache

from .arguments import guard, guard_key, like, pattern, ragged, shapes_of
from .compiler import compile_function, join_module, module_parts, resolve_wrt
from .errors import DiffcError, ShapesNeededError, UnsupportedError
from .frontend import methods
from .frontend.desugar import is_container
from .frontend.live import GENERATED as _GENERATED
from .frontend.live import build, definition, names_of, real_globals, refuse_unsupported
from .frontend.scope import GlobalConst, Scope, Snapshot, identifiers

_counter = 0
_GUARDS = 8  # most patterns the dispatcher tests before the full path (each one compiled)


def _restructuring(run, gf, names):
    """Call ``run`` and give each gradient of a list or tuple argument that argument's structure."""
    params, wrt, defaults, bare = gf._params, gf._wrt_names, gf._defaults, gf._bare
    with_value = gf._mode == "value_and_grad"
    # Sequences the generated code reads as one array (x[i], a loop over it): their items must stack.
    stacked = [(params.index(n), n) for n in names if not is_container(gf._fdef, n, True)]
    # (position among the gradients, among the parameters, name) of each gradient given the argument's structure
    restructure = [(i, params.index(name), name) for i, name in enumerate(wrt) if name in names]
    has_aux = gf._has_aux

    def restructured(*args, **kwargs):
        for p, name in stacked:
            if ragged(args[p] if p < len(args) else kwargs.get(name, defaults.get(name))):
                node = next(a for a in [*gf._fdef.args.posonlyargs, *gf._fdef.args.args, *gf._fdef.args.kwonlyargs]
                            if a.arg == name)
                raise gf._source.error(
                    UnsupportedError, node, f"'{name}' holds arrays of different shapes, and "
                    f"'{gf._fdef.name}' reads it as one array (an index or a loop that is not a constant index)",
                    f"read its items with constant indices ({name}[0], {name}[1]) or unpack them, "
                    "or pass them as separate parameters")
        out = run(*args, **kwargs)
        grads = out[1] if with_value else out[0] if has_aux else out  # has_aux: (grads, aux)
        grads = [grads] if bare else list(grads)
        for i, p, name in restructure:
            value = args[p] if p < len(args) else kwargs[name] if name in kwargs else defaults[name]
            grads[i] = like(value, grads[i])
        grads = grads[0] if bare else tuple(grads)
        return (out[0], grads) if with_value else (grads, out[1]) if has_aux else grads

    return restructured


def _inner_transforms(fn) -> tuple:
    """``((mode, wrt), ...)`` of the gradients ``fn`` is made of, innermost first, if ``fn`` is a plain
    :class:`GradFunction` (possibly of another such gradient): then its gradient is composed on the IR.
    Empty otherwise (value_and_grad, has_aux, forward mode: their generated text is read as a function)."""
    if not isinstance(fn, GradFunction) or type(fn).__mro__[1] is not GradFunction or fn._mode != "grad" \
            or fn._has_aux:
        return ()
    return (*fn._inner, ("grad", fn._wrt))


def _not_a_number(globals_: dict, numbers: list, function: str):
    """Raise the error for a module number the gradient reads that is no longer a number."""
    name = next(n for n in numbers if type(globals_.get(n)) not in (float, int))
    raise DiffcError(f"the gradient of '{function}' reads the module-level number '{name}', which is now "
                     f"{type(globals_.get(name)).__name__}", filename=globals_.get("__file__"),
                     hint="the gradient was compiled for a number: keep it a number, or pass the value as a parameter")


def _recompiling(run, gf, inlined: list):
    """Call ``run`` while each helper function it inlined is still what its name means; else compile again."""

    def checked(*args, **kwargs):
        for namespace, name, helper in inlined:
            current = namespace.get(name)
            if current is not helper and not (isinstance(helper, Snapshot) and helper.still(current)):
                # the function calls another function now, or a module-level list it read changed
                gf._forget()
                return gf(*args, **kwargs)
        return run(*args, **kwargs)

    return checked


def _dispatcher(gf):
    """``gf``'s call, generated with the function's own parameters (keywords and defaults bind as they
    would for the function): one test per remembered pattern (see ``GradFunction._remember``), each
    running its variant, then the full path ``gf._miss``. No ``*args`` packing, no dictionary, no
    property: a call that matches the first test costs a function call and the reads the tests make."""
    fargs = gf._fdef.args
    if fargs.vararg or fargs.kwarg:  # not compiled (the fence refuses them): the full path
        return GradFunction.__call__
    positional = [a.arg for a in [*fargs.posonlyargs, *fargs.args]]
    keyword = [a.arg for a in fargs.kwonlyargs]
    params = positional + keyword
    prefix = "_g_"  # the dispatcher's own names start with it: no parameter may
    while any(p.startswith(prefix) for p in params):
        prefix += "_"
    consts: dict = {}  # id -> (name, object): what the code reads, as free variables of the factory
    taken: set = set()

    def unique(hint: str) -> str:
        name = f"{prefix}{hint}"
        while name in taken:
            name = f"{prefix}{hint}_{len(taken)}"
        taken.add(name)
        return name

    def const(obj, hint: str = "") -> str:
        """The name of a free variable holding ``obj``: a type, a dtype, ``len``, a variant, a default."""
        if id(obj) not in consts:
            hint = "".join(c if c.isalnum() else "_" for c in hint or getattr(obj, "__name__", "c"))
            consts[id(obj)] = (unique(hint), obj)
        return consts[id(obj)][0]

    def fresh() -> str:  # a local name the tests assign
        return unique("n")

    def param(name: str) -> str:
        return f"{name}={const(gf._defaults[name])}" if name in gf._defaults else name

    signature = [f"{prefix}self"] + [param(a.arg) for a in fargs.posonlyargs]
    if fargs.posonlyargs:
        signature.append("/")
    signature += [param(a.arg) for a in fargs.args]
    if keyword:
        signature += ["*", *map(param, keyword)]
    passed = ", ".join([*positional, *(f"{k}={k}" for k in keyword)])
    lines = [f"def call({', '.join(signature)}):"]
    for number, (key, run) in enumerate(gf._guards.items()):
        tests = " and ".join(guard(name, k, const, fresh) for name, k in zip(params, key))
        variant = const(run, f"run{number}")  # a variant may have several tests: the name of its first
        lines += [f"    if {tests or 'True'}:", f"        {prefix}self._last = {variant}",
                  f"        return {variant}({passed})"]
    lines.append(f"    return {prefix}self._miss(({''.join(f'{p}, ' for p in params)}))")
    names = [name for name, _ in consts.values()]
    factory = (f"def make({', '.join(names)}):\n" + "".join(f"    {line}\n" for line in lines) + "    return call\n")
    namespace: dict = {}
    exec(factory, namespace)  # noqa: S102
    call = namespace["make"](*(obj for _, obj in consts.values()))
    call.__name__, call.__qualname__ = gf.__name__, gf.__qualname__
    call.source = factory
    return call


class GradFunction:
    """The gradient of a Python function, compiled by diffc.

    Calling it runs plain generated code, through ``__call__`` of the gradient's own class (see
    :func:`_dispatcher`). For NumPy arguments the code is
    specialised to the pattern of shapes seen (each array's rank and which
    of its dims are 1, not its sizes) and cached, so ``X @ W + b`` gets
    ``grad_b = np.sum(grad, axis=0)``; ``.source`` is the code of the last
    call (before any call, the code for unknown shapes, as the CLI writes it).
    """

    def __init__(self, fn, wrt, mode, has_aux=False, parsed=None):
        # A gradient of a diffc gradient: the outer transform runs on the inner one's IR (compiler.compose_inner).
        self._inner = _inner_transforms(fn)
        if not self._inner:
            refuse_unsupported(fn)
        self.__wrapped_function__ = fn
        self._wrt, self._mode, self._has_aux = wrt, mode, has_aux
        # ``parsed``: the definition to compile instead of fn's own (a method, as a function of self's attributes)
        self._fdef, self._source = parsed or ((fn._fdef, fn._source) if self._inner else definition(fn))
        self._globals = fn._globals if self._inner else real_globals(fn)  # module numbers are read live
        self._namespace = fn._namespace if self._inner else names_of(fn)
        self._names = identifiers(self._fdef)
        params = self._fdef.args
        self._params = [a.arg for a in [*params.posonlyargs, *params.args, *params.kwonlyargs]]
        self._positional = len(params.posonlyargs) + len(params.args)
        defaults = getattr(fn, "__defaults__", None) or ()  # the last positional parameters' (not keyword-only)
        self._defaults = dict(fn._defaults) if self._inner else {  # a gradient's: its function's
            **dict(zip(self._params[self._positional - len(defaults):self._positional], defaults)),
            **(getattr(fn, "__kwdefaults__", None) or {})}
        positions, self._bare = resolve_wrt(self._fdef, wrt, self._source)
        self._wrt_names = [self._params[i] for i in positions]
        self._cache: dict = {}  # pattern of the arguments -> variant
        self._guards: dict = {}  # guard keys of every parameter -> variant, tested in this order
        try:
            # Compiled now, for unknown shapes, so that errors show at once.
            self._last = self._generic = self._compile(None)[0]  # for .source and higher order
        except ShapesNeededError:
            self._last = self._generic = None  # written at the first call, when the shapes are known
        self.__name__ = f"{fn.__name__}_{mode}"
        self.__qualname__ = f"{getattr(fn, '__qualname__', fn.__name__)}_{mode}"
        self.__doc__ = f"Gradient of {fn.__name__}, generated by diffc."
        self.__module__ = getattr(fn, "__module__", None)
        # Each gradient has its own class, whose __call__ is its dispatcher (special methods are
        # looked up on the class; an instance's own attribute would not be called).
        self.__class__ = type("GradFunction", (GradFunction,), {"__slots__": (), "__module__": __name__})
        type(self).__call__ = _dispatcher(self)

    def _compile(self, shapes, structs=frozenset()):
        global _counter
        inlined: list = []
        scope = Scope.from_globals(self._namespace, self._names, home=self._globals, inlined=inlined)
        scope.structs = structs
        scope.arrays = any(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], tuple)
                           for v in (shapes or {}).values())  # an array's (dims, dtype kind)
        compiled, used, helpers = compile_function(self._fdef, scope, self._source, wrt=self._wrt,
                                                   mode=self._mode, shapes=shapes, has_aux=self._has_aux,
                                                   inner=self._inner, fast=True,  # fast: .source shows what runs
                                                   name=f"{self._fdef.name}_hvp" if self._inner and self._mode == "jvp"
                                                   else None)  # the tangent of a gradient: diffc.hvp
        text = join_module(None, module_parts(scope, used, helpers), [compiled.text])
        _counter += 1
        filename = f"<diffc {compiled.grad_name} #{_counter}>"
        # Register the text so tracebacks and inspect show the generated lines.
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
        # Names the generated code reads from the module when it runs: numbers (of inlined helpers too).
        live = sorted(n for n in used if isinstance(scope.lookup(n), GlobalConst))
        generated = build(text, filename, compiled.grad_name, self._globals, live,
                          functools.partial(_not_a_number, self._globals, live, self._fdef.name))
        if live:  # .source stays a standalone module: the numbers' values now, marked as read live
            scope.show_live = True
            text = join_module(None, module_parts(scope, used, helpers), [compiled.text])
        generated.__qualname__ = compiled.grad_name
        generated.source = text
        setattr(generated, _GENERATED, compiled.text)
        if scope.stopped:  # a stop_gradient its text no longer shows: not to be differentiated again (live.py)
            generated.__diffc_stopped__ = True
        if self._defaults and generated.__defaults__ is None:
            generated.__defaults__ = getattr(self.__wrapped_function__, "__defaults__", None)
            generated.__kwdefaults__ = getattr(self.__wrapped_function__, "__kwdefaults__", None)
        return generated, inlined

    def _variant(self, key, args, kwargs):
        patterns = {name: pattern(self._defaults[name]) for name in self._params if name in self._defaults}
        patterns.update(zip(self._params, (pattern(a) for a in args)))
        patterns.update({k: pattern(v) for k, v in kwargs.items()})
        structs = frozenset(n for n, p in patterns.items() if p and p[0] == "struct")
        generated, inlined = self._compile(shapes_of(patterns), structs)
        sequences = [n for n in self._wrt_names if n in structs and self._mode != "jvp"]  # jvp: tangents as given
        run = generated
        if sequences:
            run = _restructuring(run, self, sequences)
        if inlined:
            run = _recompiling(run, self, inlined)
        run.__diffc_generated__ = generated
        self._cache[key] = run
        return run

    def __call__(self, *args, **kwargs):  # the class of each gradient has its own, see _dispatcher
        return self._find(args, kwargs)(*args, **kwargs)

    def _find(self, args, kwargs):
        """The full path: work out the arguments' pattern, compile a variant for a new one."""
        key = tuple(pattern(a) for a in args) + tuple(sorted((k, pattern(v)) for k, v in kwargs.items()))
        run = self._cache.get(key)
        if run is None:
            run = self._variant(key, args, kwargs)
        self._last = run
        return run

    def _miss(self, values: tuple):
        """A call the dispatcher's tests do not know (``values``: every parameter's, defaults filled in)."""
        args, kwargs = values[:self._positional], dict(zip(self._params[self._positional:], values[self._positional:]))
        run = self._find(args, kwargs)
        self._remember(values, run)
        return run(*args, **kwargs)

    def _remember(self, values: tuple, run):
        """Let the dispatcher run ``run`` for calls like ``values`` without working out their pattern.

        Only when each value's pattern follows from its guard key (:func:`diffc.arguments.guard_key`:
        numbers, NumPy scalars, arrays, and lists, tuples and dicts of them); another type takes the
        full path at every call. At most _GUARDS keys (each a compiled pattern, or one with another
        dtype object). Each new key generates the dispatcher again (rare: each pattern is compiled too).
        """
        key = tuple(map(guard_key, values))
        if None in key or key in self._guards or len(self._guards) >= _GUARDS:
            return  # a key already there: its test failed on a value it does not cover (a 2-D array of 0 rows)
        self._guards[key] = run
        type(self).__call__ = _dispatcher(self)

    def _forget(self):
        """Drop every compiled variant (a helper function it inlined was rebound)."""
        self._cache.clear()
        self._guards.clear()
        self._generic = None
        type(self).__call__ = _dispatcher(self)

    @property
    def __signature__(self):  # inspect.signature: the gradient takes fn's arguments
        import inspect

        return inspect.signature(self.__wrapped_function__)

    @property
    def generated(self):
        """The generated function behind this gradient (None before a first call that needs shapes)."""
        made = self._generic or self._last
        return getattr(made, "__diffc_generated__", made)

    @property
    def source(self) -> str:
        if self._last is None:
            raise AttributeError("this gradient needs its arguments' shapes: call it once, then read .source")
        return getattr(self._last, "__diffc_generated__", self._last).source

    @property
    def __diffc_source__(self) -> str:
        return getattr(self.generated, _GENERATED)

    @property
    def __globals__(self) -> dict:
        return self._globals

    def __repr__(self) -> str:
        return f"<diffc gradient {self.__qualname__}>"


class MethodGradFunction:
    """The gradient of a bound method with respect to attributes of its object (``wrt='params'`` for
    ``self.params``, see :mod:`diffc.frontend.methods`). Called with the method's arguments, it reads
    the attributes from the object at each call: ``diffc.grad(net.loss, wrt='params')(X, y)`` returns
    a dict like ``net.params``, as CS231n's ``grads``."""

    def __init__(self, method, wrt, mode, has_aux=False):
        fn, self._object = method.__func__, method.__self__
        refuse_unsupported(fn)
        fdef, source = definition(fn, method=True)
        self._qualname = fn.__qualname__
        function, self._attrs = methods.as_function(fdef, type(self._object).__name__, wrt, source)
        self._gradient = GradFunction(fn, wrt, mode, has_aux, (function, source))
        self.__name__, self.__qualname__ = self._gradient.__name__, self._gradient.__qualname__

    def __call__(self, *args, **kwargs):
        return self._gradient(*methods.attribute_values(self._object, self._attrs, self._qualname), *args, **kwargs)

    @property
    def source(self) -> str:
        """The generated code: a function of the attributes read (``params``, ...) and the method's arguments."""
        return self._gradient.source

    def __repr__(self) -> str:
        return f"<diffc gradient {self.__qualname__}>"


def compile_live(fn, *, wrt=None, mode: str = "grad", has_aux: bool = False):
    """Compile the gradient of a live function ``fn`` (or of a bound method, with ``wrt`` naming attributes)."""
    if inspect.ismethod(fn) and not isinstance(fn.__self__, type) and wrt is not None:
        return MethodGradFunction(fn, wrt, mode, has_aux)
    return GradFunction(fn, wrt, mode, has_aux)


def _decorator(mode: str, fn, wrt, has_aux=False):
    if fn is None:
        return functools.partial(_decorator, mode, wrt=wrt, has_aux=has_aux)
    return compile_live(fn, wrt=wrt, mode=mode, has_aux=has_aux)


def grad(fn=None, *, wrt=None, has_aux=False):
    """The gradient of ``fn`` as a plain generated Python function.

    Usable as ``@diffc.grad``, ``@diffc.grad(wrt="x")`` or
    ``diffc.grad(f, wrt=("x", "z"))``. ``wrt`` takes parameter names or
    positions: None means every parameter (a tuple in parameter order, or a
    bare value for a one-parameter function); one name or position gives a
    bare gradient; a tuple or list gives a tuple in that order. The result
    takes the same arguments as ``fn``; its ``.source`` is the generated code.
    With ``has_aux=True``, ``fn`` returns ``(value, aux...)`` (CS231n's ``return loss, dW``): the
    value is differentiated, the rest passed through, and the result returns ``(gradients, aux)``
    (``aux`` is the one extra value, or a tuple of them), as JAX's ``has_aux`` does.
    A bound method (CS231n's ``net.loss``) is differentiated with respect to attributes of its object
    it reads: ``diffc.grad(net.loss, wrt="params")(X, y)`` returns a dict like ``net.params``.
    """
    return _decorator("grad", fn, wrt, has_aux)


def value_and_grad(fn=None, *, wrt=None, has_aux=False):
    """Like :func:`grad`, but the result returns ``(value, gradients)``; with ``has_aux``,
    ``((value, aux), gradients)``."""
    return _decorator("value_and_grad", fn, wrt, has_aux)
