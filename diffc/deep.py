"""Room for deep expressions: no Python recursion limit is reachable from valid input.

Every pass over an expression (the fence, lowering, desugaring, the
emitter's ``ast.unparse``) recurses once per level of nesting, and a
left-nested sum of 1,000 terms is 1,000 levels deep, past Python's default
limit of 1,000 frames. Rather than rewrite every walk (and ``ast`` itself)
without recursion, :func:`deep` runs a compile in a worker thread with a
large C stack (512 MB of address space, committed only as it is used) and
a recursion limit of 200,000 frames, which that stack holds even when every
frame goes through C. Measured on CPython 3.11: a 10,000-term sum compiles;
:data:`MAX_DEPTH` caps what is accepted (Python itself, at its default
limits, compiles expressions about 3,000 levels deep), so a deeper input is
refused by :meth:`diffc.source.Source.parse` with a located error before
any pass walks it.

Nested calls (a compile inside a compile) run directly in the worker; the
limit is raised while any deep call runs and restored after the last one.

The cyclic garbage collector is paused for the same time. A compile
allocates about 25 KB of objects per source line and keeps most of them to
the end; each full collection walks all of them again, and their number
grows with the function, so collections took a third of the time of a
10,000-line compile and made it grow faster than linearly. Reference
counting still frees what a compile drops; the cycles it leaves are
collected by the first automatic collection after it.
"""

from __future__ import annotations

import functools
import gc
import sys
import threading

STACK_BYTES = 512 * 1024 * 1024
RECURSION_LIMIT = 200_000
MAX_DEPTH = 20_000  # AST levels; diffc's passes use fewer than 10 frames per level

_state = threading.local()
_lock = threading.Lock()
_active = 0
_saved_limit = None
_saved_gc = True


def _raise_limit() -> None:
    global _active, _saved_limit, _saved_gc
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(_saved_limit, RECURSION_LIMIT))
            _saved_gc = gc.isenabled()
            gc.disable()
        _active += 1


def _restore_limit() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0:
            sys.setrecursionlimit(_saved_limit)
            if _saved_gc:
                gc.enable()


def deep(fn):
    """Decorate ``fn`` to run with a deep stack (in a worker thread unless already in one)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if getattr(_state, "deep", False):
            return fn(*args, **kwargs)
        result: dict = {}

        def work():
            _state.deep = True
            try:
                result["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # re-raised in the caller's thread
                result["error"] = exc

        _raise_limit()
        try:
            with _lock:  # stack_size is process-wide: set it only for this thread's creation
                old = threading.stack_size(STACK_BYTES)
                try:
                    worker = threading.Thread(target=work, name="diffc-compile", daemon=True)
                    worker.start()
                finally:
                    threading.stack_size(old)
            worker.join()
        finally:
            _restore_limit()
        if "error" in result:
            error = result["error"]
            raise error.with_traceback(error.__traceback__)
        return result["value"]

    return call
