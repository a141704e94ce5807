"""What :func:`diffc.jvp` and :func:`diffc.vjp` share: a compiled derivative called with the
function's own arguments, then trailing ones (one tangent per parameter in ``wrt``, or one cotangent
per returned value). Its variants are cached as :class:`diffc.api.GradFunction`'s, but every call
takes the full path: the generated dispatcher of GradFunction does not take the trailing arguments,
so defaults and keywords are filled in here, in parameter order.
"""

from __future__ import annotations

from .api import GradFunction


class TrailingFunction(GradFunction):
    """A GradFunction whose calls end with ``len(self._trailing())`` extra arguments (``_word`` names
    what they are in messages: "tangent", "cotangent")."""

    __slots__ = ()
    _word = "argument"

    def _trailing(self) -> list[str]:
        raise NotImplementedError

    def _remember(self, values, run):  # no dispatcher: every call takes the full path
        pass

    def _forget(self):
        self._cache.clear()
        self._generic = None

    def _compile(self, shapes, structs=frozenset()):
        generated, inlined = super()._compile(shapes, structs)
        generated.__defaults__ = generated.__kwdefaults__ = None  # the trailing ones come last: filled here
        return generated, inlined

    def __call__(self, *args, **kwargs):
        names = self._trailing()
        count, fn = len(names), self._fdef.name
        then = f"then {count} {self._word}(s) ({', '.join(names)})"
        if len(args) < count:
            raise TypeError(f"{self.__name__} takes {fn}'s arguments, {then}; got {len(args)} argument(s)")
        primals, trailing = list(args[:len(args) - count]), list(args[len(args) - count:])
        if len(primals) > self._positional:
            raise TypeError(f"{self.__name__} takes at most {self._positional} argument(s) of {fn}, {then}; "
                            f"got {len(args)} argument(s)")
        for name in self._params[len(primals):]:  # defaults and keywords, in parameter order
            if name in kwargs:
                primals.append(kwargs.pop(name))
            elif name in self._defaults:
                primals.append(self._defaults[name])
            else:
                raise TypeError(f"{self.__name__} is missing the argument '{name}' (it takes {fn}'s arguments, "
                                f"{then})")
        if kwargs:
            raise TypeError(f"{self.__name__} got unexpected keyword argument(s): {', '.join(kwargs)}")
        args = (*primals, *trailing)
        return self._find(args, {})(*args)
