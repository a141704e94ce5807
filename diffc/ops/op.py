"""The record every primitive is: one :class:`Op` per IR op, holding every fact about it.

Modelled on JAX's ``Primitive``: the frontend finds a call's record by the name the user wrote
(``np.exp``, ``math.exp``, ``x.sum()``), shape inference reads its shape rule, activity analysis
its differentiability, the reverse pass its rule and whether it broadcasts, the aliasing analysis
whether it returns a view, the explainer its pattern, the backends its spelling. Nothing about an
op is written anywhere else: a new op is one :func:`define` call in the family module it belongs
to (``diffc/ops/python.py``, ``elementwise.py``, ``reductions.py``, ``linalg.py``,
``indexing.py``, ``special.py``, ``front.py``), plus a row in the catalogue's test.

One rule signature for every op: ``vjp(b, g, ans, ins, i, params)`` returns the gradient flowing
into input ``i`` (upstream ``g`` times the local derivative), built as IR through the Builder
``b`` so it can be differentiated again, or None for an identically zero one. ``per_input``
adapts the common case of one short formula per input (``lambda b, g, ans, x, y: ...``).
The forward rule beside it, ``jvp(b, dots, ans, ins, params)``, returns the output's tangent from
the inputs' tangents (None for an input with none); :mod:`diffc.ops.tangents` has the generic
ones, and the catalogue derives the rule of every elementwise record from its reverse rule.

This module imports nothing from the rest of diffc: the family modules import it, and
:mod:`diffc.ops.catalogue` imports the families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# How the gradient crosses an op.
RULE = "rule"  # a reverse rule (which may still refuse some calls with NoRule)
FLAT = "zero"  # piecewise constant: zero almost everywhere; its output is never active
NONE = "none"  # no rule: refused with a located error when a gradient must cross it


@dataclass
class Op:
    """Every fact about one primitive."""

    name: str  # the IR op, named by meaning (see :func:`neutral`): "exp", "sum", "scalar_exp", "add"
    sources: tuple = ()  # the names it is called by: "exp", "abs" (a builtin); default: its spelling, if callable
    methods: tuple = ()  # array methods that stand for it: x.sum(), x.flatten()
    attribute: str | None = None  # an array attribute that stands for it: x.T
    arity: tuple | None = None  # (fewest, most) positional arguments (most None: no limit), for calls
    keywords: tuple = ()  # literal keyword arguments a call may pass
    array_keywords: tuple = ()  # keywords that may be arrays (weights=): passed as inputs, by position
    positional: tuple = ()  # the names of the positional parameters, for placing array_keywords
    shape: Callable | None = None  # shape(Shapes, eqn, in_shapes) -> out shape; None: unknown
    grad: str = RULE  # RULE, FLAT or NONE (see above)
    vjp: Callable | None = None  # vjp(b, g, ans, ins, i, params) -> gradient of input i, or None
    jvp: Callable | None = None  # jvp(b, dots, ans, ins, params) -> the output's tangent, or None (zero)
    broadcasts: bool = False  # inputs broadcast against each other: gradients are summed back
    elementwise: bool = False  # each output element depends only on the inputs' elements there
    view: bool = False  # the result may share memory with the first input
    result_kind: str | None = None  # "i": an integer result, "b": a boolean one, "keep": int in, int out
    scalar_only: bool = False  # takes numbers only (math): an unknown argument shape is ()
    takes_sequences: str | None = None  # "all": any input may be a list of active values; "rest": all but the first
    shape_args: tuple = ()  # positions that are shapes or axes, not arrays: a literal tuple there stays a tuple
    sequence: bool = False  # the first argument is a literal sequence of arrays (np.concatenate)
    pattern: str | None = None  # the gradient-flow pattern `diffc explain` names
    symbol: str | None = None  # its label in `diffc graph` (an operator's symbol); None: its name
    kinks: str = ""  # the convention at kinks, for docs/reference.md
    domain: tuple | None = None  # (low, high) where the catalogue's test samples the inputs
    spelling: str | None = None  # its library function (module.attr): the NumPy and math backends' spelling
    parts: int = 0  # returns a tuple of this many arrays (np.linalg.eigh): read by field, its gradient a tuple

    def __post_init__(self):
        if not self.sources and self.arity is not None:  # a call: by default, called by its library name
            self.sources = (self.spelling or self.name,)
        if self.vjp is not None and self.grad == NONE:
            self.grad = RULE


REGISTRY: dict[str, Op] = {}

# The naming scheme. An IR op is named by what it computes, never by a library: NumPy's (and
# numpy.linalg's, scipy.special's) array functions by their own bare name ("exp", "sum", "norm",
# "expit"), except where Python has an operator or builtin of that name whose IR op is the plain
# name ("add" is ``+``, "max" is the builtin max(a, b), "abs" the builtin): the array function is
# then "array_add", "array_max", "array_abs". math's functions of numbers are "scalar_exp",
# "scalar_log" ...: they take numbers only, raise rather than return NaN, and math.log and
# math.hypot take other arguments than NumPy's, so they are other ops. Which library spells an op
# is its record's ``spelling``, read by the backend that writes it (diffc/backends/numpy.py, math.py).
LIBRARY_PREFIXES = (("numpy.linalg.", ""), ("numpy.", ""), ("scipy.special.", ""), ("math.", "scalar_"))
PYTHON_NAMES = frozenset({"add", "mod", "copy", "abs", "max", "min", "matmul"})


def neutral(qualified: str) -> str:
    """The IR op of the library function ``qualified`` ("exp": "exp", "scalar_exp": "scalar_exp")."""
    for prefix, marker in LIBRARY_PREFIXES:
        if qualified.startswith(prefix):
            name = qualified[len(prefix):]
            if not marker and prefix == "numpy." and name in PYTHON_NAMES:
                return "array_" + name
            return marker + name
    return qualified


def define(name: str, vjp=None, **facts) -> Op:
    """Add one record; ``vjp`` is the rule in the one signature (see :func:`per_input`). ``name`` is
    the op's IR name, or a library function (``"exp"``): then the IR name is its
    :func:`neutral` name and the library function its spelling."""
    if "." in name:
        facts.setdefault("spelling", name)
        name = neutral(name)
    if name in REGISTRY:
        raise ValueError(f"op {name!r} defined twice")
    if vjp is None and facts.get("grad", RULE) == RULE:
        facts["grad"] = NONE
    op = REGISTRY[name] = Op(name, vjp=vjp, **facts)
    return op


def per_input(*rules):
    """A rule from one formula per positional input: ``rule_k(b, g, ans, *ins)``."""
    return lambda b, g, ans, ins, i, params: rules[i](b, g, ans, *ins)


def variadic(rule):
    """A rule for an op with any number of inputs: ``rule(b, g, ans, ins, i)``."""
    return lambda b, g, ans, ins, i, params: rule(b, g, ans, ins, i)


def call_arg(eqn, position: int, keyword: str, default=None):
    """A literal argument of a call, given by position or by keyword."""
    if keyword in eqn.params:
        return eqn.params[keyword]
    if 0 < position < len(eqn.ins):
        atom = eqn.ins[position]
        return getattr(atom, "value", default)
    return default


@dataclass
class Call:
    """An equation's inputs and literal arguments, for rules that read ``call_arg`` (no Eqn at hand)."""

    ins: tuple
    params: dict = field(default_factory=dict)
