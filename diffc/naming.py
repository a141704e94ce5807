"""Deterministic names for generated code.

The user's names are kept: a parameter keeps its name, an intermediate keeps
the name it was assigned to, a gradient is ``grad_<name>``, and a compiler
temporary is ``t1``, ``t2``, ... in order of appearance. When the user
re-assigns a name whose old value is still needed later (by the backward
pass), the new value gets ``<name>_1``, ``<name>_2`` ... instead; otherwise
it reuses the plain name, as the user wrote it. No generated name ever
equals another identifier of the user's module. No randomness anywhere.
"""

from __future__ import annotations

import itertools

from .ir import Var


class Namer:
    def __init__(self, reserved: set[str], unique: bool = False):
        self.reserved = reserved
        self.unique = unique  # never reuse a name (to keep every value, for tracing)

    def assign(self, params: list[Var], statements: list[tuple[Var, list[Var]]], returned: list,
               output: Var | None, floors: dict[int, int] | None = None) -> dict[int, str]:
        """Names for every parameter and statement target, keyed by ``id(var)``.

        ``statements`` lists each line's target and the variables it reads,
        in order; ``returned`` are read by the final return; ``floors``
        keeps a variable's name taken at least until the given line.
        """
        end = len(statements)
        last_use: dict[int, int] = {}
        for index, (_, reads) in enumerate(statements):
            for v in reads:
                last_use[id(v)] = index
        for v in returned:
            if isinstance(v, Var):
                last_use[id(v)] = end
        for key, floor in (floors or {}).items():
            last_use[key] = max(last_use.get(key, -1), floor)

        names: dict[int, str] = {}
        holder: dict[str, Var] = {}  # name -> the variable that last took it
        temps = itertools.count(1)

        def free(candidate: str, own: str | None, index: int) -> bool:
            if candidate in self.reserved and candidate != own:
                return False
            h = holder.get(candidate)
            return h is None or (not self.unique and last_use.get(id(h), -1) <= index)

        for p in params:
            names[id(p)] = p.hint
            holder[p.hint] = p
        for index, (v, _) in enumerate(statements):
            if v.hint is not None or v is output or (v.primal is not None and id(v.primal) in names):
                if v.primal is not None:
                    base, own = f"grad_{names[id(v.primal)]}", None
                else:
                    base = v.hint or "out"
                    own = v.hint
                candidates = itertools.chain([base], (f"{base}_{k}" for k in itertools.count(1)))
                name = next(c for c in candidates if free(c, own, index))
            else:
                name = next(c for c in (f"t{k}" for k in temps) if free(c, None, -1) and c not in holder)
            names[id(v)] = name
            holder[name] = v
        return names
