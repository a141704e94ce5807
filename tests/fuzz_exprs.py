"""Expressions for the fuzzer's program generator (tests/fuzz_gen.py).

``Expressions`` writes one expression at a time and tracks its shape: elementwise
functions and operators under broadcasting (ranks 0 to 3), reductions, indexing of
every kind (basic, fancy with repeats, mixed fancy/slice, boolean masks), ``dot`` and
``@`` where the shapes allow, reshapes, and lists and tuples of active values (stacks,
``sum([..])``, ``np.array([..])``, indexing a tuple). Ints and bools are mixed in.
"""

from __future__ import annotations

import random

PARAM_SHAPES = [(), (), (3,), (2,), (2, 3), (3, 2), (2, 1), (1, 3), (2, 3, 2), (2, 2, 3), (3, 1, 2)]
UNARY = ["np.sin({0})", "np.cos({0})", "np.tanh({0})", "np.exp(np.tanh({0}))", "({0} * {0})",
         "np.sqrt(1.0 + {0} * {0})", "np.log(1.5 + np.sin({0}))", "(1.0 / (1.5 + {0} * {0}))", "(-{0})",
         "({0} ** 2)", "({0} ** 3)", "np.square({0})", "np.abs({0})", "np.maximum({0}, 0.2)",
         "np.clip({0}, -0.5, 0.8)", "np.power({0}, 2)", "np.expm1({0})", "np.arctan({0})", "({0} * True)",
         "({0} * (n > 1))", "(({0} > 0.1) * {0})", "np.where({0} > 0.2, {0}, 0.0)", "({0} * n)"]
SCALAR_UNARY = ["math.sin({0})", "math.exp(math.tanh({0}))", "float({0})", "abs({0})", "max({0}, 0.3)",
                "math.sqrt(1.0 + {0} ** 2)"]
ARRAY_UNARY = ["{0}.astype(float)", "(({0} > 0.0).astype(float) * {0})", "np.copy({0})"]
BINARY = ["({0} + {1})", "({0} - {1})", "({0} * {1})", "({0} / (1.5 + {1} * {1}))", "np.maximum({0}, {1})",
          "np.minimum({0}, {1})", "np.where({0} > {1}, {0}, 2.0 * {1})", "np.add({0}, {1})",
          "np.multiply({0}, {1})", "(({0}) ** 2 * {1})", "({0} if flag > 0 else {1})"]
CONSTS = ["0.5", "2.0", "(-1.5)", "3", "1"]


def bcast(*shapes):
    """NumPy's broadcast of these shapes, or None if they do not broadcast."""
    ndim = max(len(s) for s in shapes)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0} - {1}
        if len(dims) > 1:
            return None
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def fits(shape, target):
    return target is None or bcast(shape, target) == tuple(target)


def dot_shape(x, y, op):
    if op == "dot":
        if not x or not y:
            return bcast(x, y)
        if len(y) == 1:
            return x[:-1] if x[-1] == y[0] else None
        return x[:-1] + y[:-2] + y[-1:] if x[-1] == y[-2] else None
    if not x or not y:
        return None
    xs, ys = (x if len(x) > 1 else (1,) + x), (y if len(y) > 1 else y + (1,))
    if xs[-1] != ys[-2]:
        return None
    batch = bcast(xs[:-2], ys[:-2])
    if batch is None:
        return None
    return batch + (xs[-2],) * (len(x) > 1) + (ys[-1],) * (len(y) > 1)


class Expressions:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.lines: list[str] = []
        self.indent = 1
        self.vars: dict[str, tuple] = {}  # float values that are defined here, and their shapes
        self.ints: list[str] = ["n"]
        self.tags: set[str] = set()
        self.count = 0
        self.loop_depth = 0

    # -- helpers ---------------------------------------------------------------------------------
    def emit(self, line: str):
        self.lines.append("    " * self.indent + line)

    def fresh(self, stem="v"):
        self.count += 1
        return f"{stem}{self.count}"

    def pick(self, seq):
        return self.rng.choice(list(seq))

    def choose_var(self, target=None, rank_min=0, rank_max=3):
        names = sorted(k for k, s in self.vars.items() if fits(s, target) and rank_min <= len(s) <= rank_max)
        if not names:
            return None
        name = self.pick(names)
        return name, self.vars[name]

    # -- expressions -----------------------------------------------------------------------------
    def leaf(self, target=None):
        if self.rng.random() < 0.8:
            chosen = self.choose_var(target)
            if chosen:
                return chosen
        if self.rng.random() < 0.15:
            return self.pick(self.ints), ()
        return self.pick(CONSTS), ()

    def expr(self, depth=0, target=None):
        """An expression and its shape; with ``target``, a shape that broadcasts into ``target``."""
        r = self.rng.random()
        if depth >= 3 or r < 0.25:
            return self.leaf(target)
        if r < 0.5:
            e, s = self.expr(depth + 1, target)
            forms = UNARY + (SCALAR_UNARY if s == () and self.rng.random() < 0.5 else []) + (ARRAY_UNARY if s else [])
            return self.pick(forms).format(e), s
        if r < 0.75:
            e1, s1 = self.expr(depth + 1, target)
            e2, s2 = self.expr(depth + 1, target)
            s = bcast(s1, s2)
            if s is None:
                e2, s = f"np.sum({e2})", s1
            form = self.pick(BINARY)
            if "if flag" in form and s1 != s2:
                form = "({0} + {1})"
            return form.format(e1, e2), s
        e, s = self.shaped(depth + 1)
        if fits(s, target):
            return e, s
        return f"np.sum({e})", ()

    def index(self, e, s):
        """Indexing of every kind: basic, fancy (repeated), mixed fancy/slice, boolean."""
        rank, rng = len(s), self.rng
        self.tags.add("index")
        options = [(f"{e}[0]", s[1:]), (f"{e}[-1]", s[1:]), (f"{e}[::-1]", s)]
        if s[0] >= 2:
            options += [(f"{e}[1:]", (s[0] - 1,) + s[1:]), (f"{e}[[0, 1]]", (2,) + s[1:]),
                        (f"{e}[[1, 0, 1]]", (3,) + s[1:]), (f"{e}[[0, 1], ...]", (2,) + s[1:])]
        if rank >= 2:
            options += [(f"{e}[:, 0]", s[:1] + s[2:]), (f"{e}[..., -1]", s[:-1]), (f"{e}.T", s[::-1])]
            if s[1] >= 2:
                options += [(f"{e}[:, [0, 1]]", (s[0], 2) + s[2:]), (f"{e}[:, [1, 1]]", (s[0], 2) + s[2:]),
                            (f"{e}[[0], 1:]", (1, s[1] - 1) + s[2:])]
            if s[0] >= 2 and s[1] >= 2:
                options += [(f"{e}[np.arange(2), [1, 0]]", (2,) + s[2:])]
        if rank == 3 and s[1] >= 2 and s[2] >= 2:
            options += [(f"{e}[0, 1:, [0, 1]]", (2, s[1] - 1)),
                        (f"{e}[[0], :, [1]]", (1, s[1])), (f"{e}[:, [0, 1], 1:]", (s[0], 2, s[2] - 1))]
        options += [(f"np.sum({e}[{e} > 0.0])", ())] + [(f"{e}[None]", (1,) + s)] * (rank < 3)
        text, shape = rng.choice(options)
        if "[[" in text or "[:, [" in text or "arange" in text or ", [" in text:
            self.tags.add("fancy")
        return text, shape

    def shaped(self, depth):
        """An expression that changes shape: reductions, indexing, matmul, lists and tuples of active values."""
        rng = self.rng
        e, s = self.expr(depth)
        kind = rng.randrange(9)
        if kind == 0:
            if not s:
                return f"np.sum({e})", ()
            axis = rng.randrange(len(s))
            keep = rng.random() < 0.4
            red = rng.choice(["np.sum", "np.mean", "np.max", "np.min"])
            if rng.random() < 0.3:
                return f"{red}({e})", ()
            return (f"{red}({e}, axis={axis}{', keepdims=True' if keep else ''})",
                    s[:axis] + ((1,) if keep else ()) + s[axis + 1:])
        if kind == 1 and s:
            return self.index(f"({e})" if not e.isidentifier() else e, s)
        if kind == 2:
            e2, s2 = self.expr(depth)
            for op in rng.sample(["dot", "matmul"], 2):
                out = dot_shape(s, s2, op)
                if out is not None and len(out) <= 3:
                    self.tags.add("linalg")
                    return (f"np.dot({e}, {e2})" if op == "dot" else f"({e} @ {e2})"), out
            return f"np.sum({e})", ()
        if kind in (3, 4):
            return self.listy(e, s, depth)
        if kind == 5 and len(s) >= 1:
            self.tags.add("reshape")
            if len(s) == 3 and rng.random() < 0.5:
                return f"np.transpose({e}, (2, 0, 1))", (s[2], s[0], s[1])
            return rng.choice([(f"({e}).reshape(-1)", (prod(s),)), (f"({e}).ravel()", (prod(s),))]
                              + [(f"np.expand_dims({e}, 0)", (1,) + s)] * (len(s) < 3))
        if kind == 6 and s:
            lo = self.choose_var(s)
            lo = lo[0] if lo else "-0.3"
            self.tags.add("clip")
            return f"np.clip({e}, {lo}, 0.7)", s
        if kind == 7:
            self.tags.add("mean_scalar")
            return rng.choice([(f"np.mean({e})", ()), (f"np.linalg.norm({e})", ()) if s else (f"np.mean({e})", ())])
        return e, s

    def listy(self, e, s, depth):
        """Lists and tuples of active values: stacks whose gradient goes back element by element."""
        rng = self.rng
        self.tags.add("list")
        e2, s2 = self.expr(depth + 1, s)
        if s2 != s:
            e2 = f"({e2} + 0.0 * {e})"
        two = f"{e}, {e2}" if rng.random() < 0.7 else f"{e}, 2.0 * {e}"
        opts = [(f"np.sum([{two}])", ()), (f"sum([{two}])", s), (f"np.mean([{two}], axis=0)", s),
                (f"np.max([{two}])", ()), (f"np.linalg.norm(({two}))", ()), (f"({two})[1]", s),
                (f"[{two}][0]", s), (f"np.sum(np.exp([{two}]))", ())]
        if len(s) <= 2:
            opts += [(f"np.array([{two}])", (2,) + s), (f"np.stack([{two}], axis=-1)", s + (2,)),
                     (f"np.stack(({two}))", (2,) + s)]
        if s == ():
            opts += [(f"np.sum([1.0, {e}, 2.0])", ()), (f"np.array([{e}, 1.0, {e2}])", (3,)),
                     (f"np.mean([{e}, {e} + 2])", ())]
        if s:
            opts += [(f"np.concatenate([{two}])", (2 * s[0],) + s[1:])]
        return rng.choice(opts)

    # -- statements ------------------------------------------------------------------------------

def prod(shape):
    out = 1
    for d in shape:
        out *= d
    return out
