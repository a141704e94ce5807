"""Random NumPy programs for the soundness fuzzer (tests/fuzz.py).

``generate(rng)`` writes the source of one function ``f(a, [b, [c]], r, n, flag)``
and the point to evaluate it at. ``a``, ``b``, ``c`` are float parameters (ranks 0
to 3) and the only ones differentiated; ``r`` weighs the final sum (so that a
transposed or permuted gradient shows), ``n`` is an int (loop counts, 0 included)
and ``flag`` is +1 or -1 (branches that finite differences never cross).

The generator tracks the shape of every float value it names, so what it writes
runs in the common case; when its bookkeeping is wrong the forward pass fails and
the fuzzer counts the program as skipped. It deliberately writes what the older
property tests do not: lists and tuples of active values, buffers filled in loops,
loop-carried values inside larger expressions, several assignments to a name per
branch and after an early return, a ``while`` inside a ``for``, views and aliases
written in place, augmented assignment on slices, mixed fancy/slice indexing,
broadcasting over ranks 0 to 3, ints and bools, and (rarely) a non-scalar output.
"""
from __future__ import annotations

import random

import numpy as np
from fuzz_exprs import PARAM_SHAPES, UNARY, Expressions, bcast, fits, prod


class Program(Expressions):
    """Statements, each of a kind the older property tests do not write (see the module docstring)."""

    def assign(self, name=None, allow_new=True):
        e, s = self.expr()
        if name is None:
            same = [k for k, v in self.vars.items() if v == s and k not in PARAM_NAMES]
            name = self.pick(same) if same and (self.rng.random() < 0.4 or not allow_new) else self.fresh()
            if name not in self.vars and not allow_new:
                return
        self.emit(f"{name} = {e}")
        self.vars[name] = s

    def statement(self, depth=0):
        kinds = ["assign"] * 4 + ["aug", "list_stmt", "buffer", "carried", "branch", "view", "augslice",
                                  "intbool", "forlist", "setitem"]
        if depth < 2:
            kinds += ["nested", "branch", "early_return" if depth == 0 and self.loop_depth == 0 else "assign"]
        kind = self.pick(kinds)
        getattr(self, "s_" + kind)(depth)

    def s_assign(self, depth):
        self.assign()

    def s_aug(self, depth):
        chosen = self.choose_var()
        if not chosen:
            return self.assign()
        name, s = chosen
        e, _ = self.expr(1, s)
        self.tags.add("aug")
        self.emit(f"{name} {self.pick(['+=', '-=', '*='])} {e}")

    def s_list_stmt(self, depth):
        self.tags.add("list")
        e1, s = self.expr(1)
        e2, s2 = self.expr(1, s)
        name, t = self.fresh(), self.fresh("t")
        form = self.rng.randrange(4)
        if form == 0:
            self.emit(f"{t} = ({e1}, 2.0 * {e2})")
            self.emit(f"{name} = {t}[0] * {t}[1]")
            self.vars[name] = s
        elif form == 1:
            self.emit(f"{t} = [1.0, {e1}, {e2}]")
            self.emit(f"{name} = {t}[1] * {t}[2] + {t}[0]")
            self.vars[name] = s
        elif form == 2:
            p, q = self.fresh(), self.fresh()
            self.emit(f"{p}, {q} = {e1}, {e2}")
            self.vars[p], self.vars[q] = s, s2
        else:
            self.emit(f"{t} = [{e1}, {e1} * {e2}]")
            total = self.pick(["sum", "np.sum"])
            self.emit(f"{name} = {total}({t})")
            self.vars[name] = s if total == "sum" else ()

    def s_forlist(self, depth):
        self.tags.add("forlist")
        e1, s = self.expr(1)
        e2, _ = self.expr(1, s)
        acc, w = self.fresh("s"), self.fresh("w")
        self.emit(f"{acc} = 0.0 * {e1}")
        self.vars[acc] = s
        self.emit(f"for {w} in [{e1}, {e2}]:")
        self.indent += 1
        self.emit(f"{acc} = {acc} {self.pick(['+', '*'])} {w} * {w}")
        self.indent -= 1

    def s_buffer(self, depth):
        chosen = self.choose_var(rank_min=1)
        if not chosen:
            return self.assign()
        x, s = chosen
        self.tags.add("buffer")
        y, i = self.fresh("y"), self.fresh("i")
        form = self.rng.randrange(4)
        if form == 3 and len(s) == 1:
            self.emit(f"{y} = np.zeros((len({x}), 3))")
            ys = (s[0], 3)
        else:
            self.emit(f"{y} = np.zeros_like({x})")
            ys = s
        start = "1, " if form == 1 else ""
        self.emit(f"for {i} in range({start}len({x})):")
        self.indent += 1
        self.loop_depth += 1
        self.vars[f"{x}[{i}]"] = s[1:]
        e, _ = self.expr(1, ys[1:])
        del self.vars[f"{x}[{i}]"]
        if form == 1:
            self.emit(f"{y}[{i}] = {y}[{i} - 1] * 0.5 + {x}[{i}] * {e}")
        elif form == 2:
            self.emit(f"{y}[{i}] += {x}[{i}] * {e}")
        else:
            self.emit(f"{y}[{i}] = {e}")
        self.loop_depth -= 1
        self.indent -= 1
        self.vars[y] = ys

    def s_carried(self, depth):
        self.tags.add("carried")
        e, s = self.expr(1)
        p, k = self.fresh("p"), self.fresh("k")
        self.emit(f"{p} = {self.pick(['0.0', '1.0', '0.5 * ' + e])}")
        self.vars[p] = s if "*" in self.lines[-1] else ()
        seq = self.choose_var(rank_min=1)
        rng_text = f"range({self.pick(['n', '3', '2'])})"
        use = "0.5"
        if seq and self.rng.random() < 0.5:
            rng_text, use = f"range(len({seq[0]}))", f"{seq[0]}[{k}]"
            if not fits(seq[1][1:], s):
                use = f"np.sum({use})"
        self.emit(f"for {k} in {rng_text}:")
        self.indent += 1
        form = self.pick([f"{p} = {p} * {e} + 1.0", f"{p} = {p} * 0.9 + (1 - 0.9) * {use} * {e}",
                          f"{p} = {p} * (1 + {e}) - {use}", f"{p} = np.tanh({p}) * {e} + {use}"])
        self.emit(form)
        self.indent -= 1
        self.vars[p] = bcast(self.vars[p], s) or s

    def condition(self):
        rng = self.rng
        chosen = self.choose_var()
        options = ["flag > 0", "n > 1", "flag < 0"]
        if chosen:
            options.append(f"np.sum({chosen[0]}) > 0.0")
        return rng.choice(options)

    def s_branch(self, depth):
        self.tags.add("branch")
        cond = self.condition()
        existing = self.choose_var()
        self.emit(f"if {cond}:")
        outer = dict(self.vars)
        self.indent += 1
        name = existing[0] if existing and self.rng.random() < 0.5 else self.fresh()
        self.assign(name)
        then_shape = self.vars[name]
        if self.rng.random() < 0.6:
            self.emit(f"{name} = {self.pick(UNARY).format(name)}")
        self.indent -= 1
        then_vars = self.vars
        self.vars = dict(outer)
        if name in outer and self.rng.random() < 0.3:
            self.vars = {k: v for k, v in outer.items() if then_vars.get(k) == v}
            return
        self.emit("else:")
        self.indent += 1
        e, s = self.expr(1, then_shape)
        self.emit(f"{name} = {e}" if s == then_shape else f"{name} = {e} + np.zeros({then_shape})")
        self.emit(f"{name} = {self.pick(UNARY).format(name)}")
        self.indent -= 1
        self.vars = {k: v for k, v in outer.items() if then_vars.get(k) == v}
        self.vars[name] = then_shape
        self.tags.add("multi_assign")

    def s_early_return(self, depth):
        self.tags.add("early_return")
        self.emit(f"if {self.condition()}:")
        outer = dict(self.vars)
        self.indent += 1
        name = self.fresh()
        self.assign(name)
        self.emit(f"{name} = {self.pick(UNARY).format(name)}")
        self.emit(f"return np.sum({name}) * 0.5")
        self.indent -= 1
        self.vars = outer
        chosen = self.choose_var()
        if chosen:  # the same name assigned twice on the path that goes on
            self.emit(f"{name} = {chosen[0]} * 2.0")
            self.emit(f"{name} = np.sin({name})")
            self.vars[name] = chosen[1]

    def s_nested(self, depth):
        self.tags.add("nested")
        e, s = self.expr(1)
        acc, k, j = self.fresh("s"), self.fresh("k"), self.fresh("j")
        self.emit(f"{acc} = 0.5 * {e}")
        self.vars[acc] = s
        self.emit(f"for {k} in range({self.pick(['2', 'n'])}):")
        self.indent += 1
        self.loop_depth += 1
        if self.rng.random() < 0.6:
            self.emit(f"{j} = 0")
            self.emit(f"while {j} < {k} + 1:")
            self.indent += 1
            self.emit(f"{acc} = {acc} * 0.5 + {self.expr(1, s)[0]}")
            self.emit(f"{j} += 1")
            self.indent -= 1
        else:
            outer = dict(self.vars)
            self.statement(depth + 1)
            self.emit(f"{acc} = {acc} * 0.7 + {self.expr(1, s)[0]}")
            self.vars = {k: v for k, v in outer.items() if self.vars.get(k) == v}
        self.loop_depth -= 1
        self.indent -= 1

    def s_view(self, depth):
        chosen = self.choose_var(rank_min=1)
        if not chosen:
            return self.assign()
        x, s = chosen
        self.tags.add("view")
        v = self.fresh("w")
        forms = [(f"{v} = {x}", s)]
        if s[0] >= 2:
            forms.append((f"{v} = {x}[1:]", (s[0] - 1,) + s[1:]))
        if len(s) >= 2:
            forms.append((f"{v} = {x}.T", s[::-1]))
        forms += [(f"{v} = {x}.reshape(-1)", (prod(s),)), (f"{v} = {x} if {self.condition()} else {x} * 3.0", s)]
        line, vs = self.rng.choice(forms)
        self.emit(line)
        self.vars[v] = vs
        e, _ = self.expr(1, vs[1:])
        write = self.rng.randrange(4)
        if write == 0:
            self.emit(f"{v}[0] = {e}")
        elif write == 1:
            self.emit(f"{v} *= 2.0")
        elif write == 2:
            self.emit(f"{v}[0] += {e}")
        else:
            self.emit(f"for {self.fresh('i')} in range({self.pick(['2', 'n'])}):")
            self.emit(f"    {v}[0] = {v}[0] * 2.0 + {e}")

    def s_augslice(self, depth):
        chosen = self.choose_var(rank_min=1)
        if not chosen:
            return self.assign()
        x, s = chosen
        self.tags.add("augslice")
        y = self.fresh("y")
        self.emit(f"{y} = {self.pick([f'{x}.copy()', f'{x} * 1.0', f'np.copy({x})'])}")
        self.vars[y] = s
        targets = [(f"{y}[1:]", (s[0] - 1,) + s[1:]), (f"{y}[0]", s[1:]), (f"{y}[::2]", ((s[0] + 1) // 2,) + s[1:])]
        if len(s) >= 2:
            targets += [(f"{y}[:, 0]", s[:1] + s[2:]), (f"{y}[:, [0]]", (s[0], 1) + s[2:])]
        if s[0] >= 2:
            targets += [(f"{y}[[0, 1]]", (2,) + s[1:])]
        target, ts = self.rng.choice(targets)
        e, _ = self.expr(1, ts)
        self.emit(f"{target} {self.pick(['+=', '-=', '*=', '='])} {e}")

    def s_setitem(self, depth):
        chosen = self.choose_var(rank_min=1)
        if not chosen:
            return self.assign()
        x, s = chosen
        self.tags.add("setitem")
        y = self.fresh("y")
        self.emit(f"{y} = {x} + 0.0")
        self.vars[y] = s
        self.emit(self.pick([f"{y}[{y} > 0.5] = 0.5", f"{y}[-1] = {self.expr(1, s[1:])[0]}",
                             f"{y}[[0, 0]] = {self.expr(1, s[1:])[0]}"]))

    def s_intbool(self, depth):
        self.tags.add("intbool")
        chosen = self.choose_var(rank_min=1)
        k = self.fresh("m")
        if chosen:
            self.emit(f"{k} = {self.pick([f'len({chosen[0]})', f'{chosen[0]}.shape[0]', 'n + 1', 'int(n) * 2'])}")
        else:
            self.emit(f"{k} = n + 1")
        self.ints.append(k)
        e, s = self.expr(1)
        mask = self.fresh("mask")
        self.emit(f"{mask} = {e} > 0.0")
        name = self.fresh()
        self.emit(f"{name} = {self.pick([f'{e} * {mask}', f'np.where({mask}, {e}, 0.5 * {e})', f'{e} * {k}'])}")
        self.vars[name] = s


PARAM_NAMES = ("a", "b", "c")


def generate(rng: random.Random):
    """Source text, the float parameters' names, and the arguments (a list) to evaluate at."""
    p = Program(rng)
    params = list(PARAM_NAMES[: rng.randint(1, 3)])
    shapes = {name: rng.choice(PARAM_SHAPES) for name in params}
    p.vars.update(shapes)
    for _ in range(rng.randint(2, 7)):
        p.statement()
    names = sorted(p.vars, key=lambda k: (k in PARAM_NAMES, k))
    last = rng.choice(names[:3]) if names else None
    if rng.random() < 0.06 and any(p.vars[k] for k in p.vars):
        p.tags.add("nonscalar")
        arr = sorted(k for k in p.vars if p.vars[k])
        p.emit(f"return {rng.choice(arr)}" if rng.random() < 0.7 else f"return {last} * 2.0, 1.0")
        r_shape = ()
    else:
        extra = " + ".join(f"np.sum({k}) * {rng.choice(['0.5', '1.5', '-1.0'])}"
                           for k in rng.sample(names, min(len(names), rng.randint(0, 2))))
        p.emit(f"return np.sum({last or 'a'} * r)" + (f" + {extra}" if extra else ""))
        r_shape = p.vars[last] if last else ()
    body = "\n".join(p.lines)
    source = f"import math\n\nimport numpy as np\n\n\ndef f({', '.join(params)}, r, n, flag):\n{body}\n"

    def value(shape, low=-1.5, high=1.5):
        if shape == ():
            return 0.0 if rng.random() < 0.03 else round(rng.uniform(low, high), 3)
        return np.array([rng.uniform(low, high) for _ in range(prod(shape))]).reshape(shape)

    args = [value(shapes[k]) for k in params] + [value(r_shape, 0.5, 1.5), rng.choice([0, 1, 2, 3]),
                                                 rng.choice([-1, 1])]
    return source, params, args, p.tags
