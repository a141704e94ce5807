"""Deterministic names for generated code.

The user's names are kept: a parameter keeps its name, an intermediate keeps
the name it was assigned to, a gradient is ``grad_<name>``, a loop's stack
is ``saved_<name>`` and a compiler temporary is ``t1``, ``t2``, ... in order
of appearance. When the user re-assigns a name whose old value is still
needed later (by the backward pass), the new value gets ``<name>_1``,
``<name>_2`` ... instead; otherwise it reuses the plain name, as the user
wrote it. Values that control flow merges (an ``if``'s branches, a loop's
iterations) form a group that shares one name. No generated name ever equals
another identifier of the user's module, and no local, not even one the user
named, takes the name of a global the generated code reads (``calls``): the
local gets ``<name>_1``. No randomness anywhere.
"""

from __future__ import annotations

import heapq
import itertools

from ..ir import Var


class Namer:
    def __init__(self, reserved: set[str], unique: bool = False, calls: set[str] = frozenset()):
        self.reserved = reserved
        self.unique = unique  # never reuse a name (to keep every value, for tracing)
        self.calls = calls  # globals the generated code reads: no local may take one, not even the user's

    def assign(self, params: list[Var], events: list[tuple[int, Var]], last_use: dict[int, int],
               groups: dict[int, int], output: Var | None, extra_members=None) -> dict[int, str]:
        """Names for every parameter and defined variable, keyed by ``id(var)``.

        ``events`` lists (line index, variable) for each definition, in
        order; ``last_use`` gives the last line that reads each variable;
        ``groups`` maps a variable to the group whose members share a name.
        """
        members: dict[int, list[Var]] = {}
        for _, v in events:
            if id(v) in groups:
                members.setdefault(groups[id(v)], []).append(v)
        for v in extra_members or []:
            if id(v) in groups and all(v is not m for m in members.get(groups[id(v)], [])):
                members.setdefault(groups[id(v)], []).append(v)
        token_last: dict[object, int] = {}
        for index, v in events:
            token = groups.get(id(v), id(v))
            # A group holds its name from its first definition to its last read or definition,
            # whichever comes later: another value may not take the name in between.
            token_last[token] = max(token_last.get(token, -1), last_use.get(id(v), -1),
                                    index if token != id(v) else -1)
        for vid, gid in groups.items():  # members that no line defines are read all the same
            token_last[gid] = max(token_last.get(gid, -1), last_use.get(vid, -1))

        names: dict[int, str] = {}
        group_names: dict[int, str] = {}
        holder: dict[str, object] = {}  # name -> the token (variable or group) that last took it
        temps = itertools.count(1)

        def free(candidate: str, own: str | None, index: int) -> bool:
            if candidate in self.calls or candidate in self.reserved and candidate != own:
                return False
            h = holder.get(candidate)
            return h is None or (not self.unique and token_last.get(h, -1) <= index)

        # pick(base) returns what scanning base, base_1, base_2, ... for the first free name returns, in
        # time independent of how many of them are taken (a name rebound 10,000 times made the scan, and
        # compiling, quadratic): a suffix below fresh[base] is free only if it was taken and has been
        # released since, and released[base] holds those.
        expiry: list = []  # (last line that reads it, name, token) for each name taken
        released: dict[str, list[int]] = {}
        fresh: dict[str, int] = {}

        def take(name: str, token) -> None:
            holder[name] = token
            if not self.unique:
                heapq.heappush(expiry, (token_last.get(token, -1), name, token))

        def pick(base: str, own: str | None, index: int) -> str:
            if free(base, own, index):
                return base
            while expiry and expiry[0][0] <= index:
                _, name, token = heapq.heappop(expiry)
                stem, _, k = name.rpartition("_")
                if holder.get(name) == token and stem and k.isdigit():
                    heapq.heappush(released.setdefault(stem, []), int(k))
            heap = released.get(base, [])
            while heap and not free(f"{base}_{heap[0]}", None, index):
                heapq.heappop(heap)
            k = fresh.get(base, 1)
            while f"{base}_{k}" in holder or not free(f"{base}_{k}", None, index):
                k += 1
            fresh[base] = k
            if heap and heap[0] < k:
                k = heapq.heappop(heap)
            return f"{base}_{k}"

        for p in params:
            names[id(p)] = p.hint
            token_last[id(p)] = max(token_last.get(id(p), -1), last_use.get(id(p), -1))
            take(p.hint, id(p))
        later = []  # named after another variable that has no name yet: done at the end
        for index, v in events:
            if isinstance(v.label, tuple) and id(v.label[1]) not in names and v.hint is None:
                later.append(v)
                continue
            gid = groups.get(id(v))
            if gid in group_names:
                names[id(v)] = group_names[gid]
                continue
            token = gid if gid is not None else id(v)
            family = members.get(gid, [v])
            named = next((m for m in family if m.hint is not None and m.primal is None), None)
            graded = next((m for m in family if m.primal is not None and id(m.primal) in names), None)
            label = next((m.label for m in family if m.label), None)
            if isinstance(label, tuple):  # (prefix, variable[, suffix]): named after that variable
                label = label[0] + names.get(id(label[1]), "value") + (label[2] if len(label) > 2 else "")
            is_output = any(m is output for m in family)
            if named is None and graded is None and not is_output and label is not None:
                name = pick(label, None, index)
                names[id(v)] = name
                take(name, token)
                if gid is not None:
                    group_names[gid] = name
                    for m in family:
                        names[id(m)] = name
                continue
            if named is not None or is_output and graded is None:  # a gradient differentiated again: grad_x
                base = named.hint if named is not None else "out"
                own = base if named is not None else None
            elif graded is not None:
                prefix = "dot_" if graded.tangent else "grad_"  # forward mode's tangents: dot_<name>
                base, own = f"{prefix}{names[id(graded.primal)]}", None
            elif any(m.primal is not None and m.primal.hint is not None for m in family):
                # the gradient of a value the user named but the fast form writes inline: grad_<its name>
                hinted = next(m for m in family if m.primal is not None and m.primal.hint is not None)
                base, own = f"{'dot_' if hinted.tangent else 'grad_'}{hinted.primal.hint}", None
            else:
                base = None
            if base is not None:
                name = pick(base, own, index)
            else:
                name = next(c for c in (f"t{k}" for k in temps) if free(c, None, -1) and c not in holder)
            names[id(v)] = name
            take(name, token)
            if gid is not None:
                group_names[gid] = name
                for m in family:  # every member now answers to the name, for grad_<name>
                    names[id(m)] = name
        taken = set(names.values())
        resume: dict[str, int] = {}  # base -> the suffix to scan from (what is taken stays taken)
        for v in later:  # a loop's stack lives as long as the function: a name nothing else takes
            base = v.label[0] + names.get(id(v.label[1]), "value")
            k = resume.get(base, 0)
            while (c := f"{base}_{k}" if k else base) in taken or c in self.reserved or c in self.calls:
                k += 1
            resume[base] = k
            names[id(v)] = c
            taken.add(c)
        for vid, gid in groups.items():  # members no line defines (a loop's start value) share the name
            if gid in group_names:
                names.setdefault(vid, group_names[gid])
        return names
