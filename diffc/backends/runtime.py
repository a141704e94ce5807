"""Small run-time helpers that generated code may need, emitted into the generated file.

Each is plain NumPy, short and documented, and written into a generated
file only when one of its functions calls it, so generated files stay
standalone. ``np.`` is replaced by the user's own alias for numpy.
"""

from __future__ import annotations

import re

from .runtime_more import HELPERS_MORE, REQUIRES_MORE

HELPERS = {
    "_unbroadcast": '''
def _unbroadcast(grad, x):
    """Sum grad over the axes along which x was broadcast, so that it has x's shape."""
    shape = np.shape(x)
    if np.shape(grad) == shape:
        return grad
    grad = np.sum(grad, axis=tuple(range(np.ndim(grad) - len(shape))))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return np.sum(grad, axis=axes, keepdims=True) if axes else grad
''',
    "_cast_grad": '''
def _cast_grad(grad, dtype):
    """Gradient of x.astype(dtype): grad for a float type, zero for an integer or bool one."""
    if np.issubdtype(dtype, np.floating):
        return grad
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_):
        return np.zeros_like(grad)
    raise TypeError(f"diffc: no gradient through a cast to {np.dtype(dtype)}")
''',
    "_matmul_grad": '''
def _matmul_grad(grad, a, b, i):
    """Gradient of a @ b with respect to a (i == 0) or b (i == 1), for operands of any rank."""
    grad = np.asarray(grad)
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return _unbroadcast(grad * (b if i == 0 else a), a if i == 0 else b)
    a2 = a[None, :] if np.ndim(a) == 1 else a
    b2 = b[:, None] if np.ndim(b) == 1 else b
    grad = grad[..., None] if np.ndim(b) == 1 else grad
    grad = grad[..., None, :] if np.ndim(a) == 1 else grad
    if i == 0:
        return np.reshape(_unbroadcast(grad @ np.swapaxes(b2, -1, -2), a2), np.shape(a))
    return np.reshape(_unbroadcast(np.swapaxes(a2, -1, -2) @ grad, b2), np.shape(b))
''',
    "_dot_grad": '''
def _dot_grad(grad, a, b, i):
    """Gradient of np.dot(a, b) with respect to a (i == 0) or b (i == 1), for operands of any rank."""
    na, nb = np.ndim(a), np.ndim(b)
    if na == 0 or nb == 0:
        return _unbroadcast(grad * (b if i == 0 else a), a if i == 0 else b)
    if i == 0:  # np.dot contracts a's last axis with b's second to last (its only one if b is 1-D)
        if nb == 1:
            return np.multiply.outer(grad, b)
        return np.tensordot(grad, b, axes=(list(range(na - 1, np.ndim(grad))), [*range(nb - 2), nb - 1]))
    part = np.tensordot(a, grad, axes=(list(range(na - 1)), list(range(na - 1))))
    return part if nb == 1 else np.moveaxis(part, 0, -2)
''',
    "_first_mask": '''
def _first_mask(pick, x, axis=None):
    """True where pick (np.argmax or np.argmin) points: the first of equal extremes."""
    x = np.asarray(x)
    mask = np.zeros(x.shape, dtype=bool)
    if axis is None:
        mask.flat[pick(x)] = True
    else:
        np.put_along_axis(mask, np.expand_dims(pick(x, axis=axis), axis), True, axis=axis)
    return mask
''',
    "_prod_others": '''
def _prod_others(x, axis=None):
    """For each element, the product of the others along axis (no division, so zeros are fine)."""
    x = np.asarray(x, dtype=float)
    if axis is None:
        return _prod_others(x.ravel(), 0).reshape(x.shape)
    x = np.moveaxis(x, axis, -1)
    ones = np.ones(x.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, x[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis(left * right, -1, axis)
''',
    "_last_writes": '''
def _last_writes(x, index):
    """For x[index] = v: True where a write is the last one to its element (NumPy keeps the last)."""
    order = np.full(np.shape(x), -1)
    count = np.arange(np.size(order[index])).reshape(np.shape(order[index]))
    order[index] = count
    return order[index] == count
''',
}
# Helpers that call other helpers.
REQUIRES = {"_matmul_grad": ["_unbroadcast"], "_dot_grad": ["_unbroadcast"]}
HELPERS.update(HELPERS_MORE)
REQUIRES.update(REQUIRES_MORE)


def closure(names: set[str]) -> list[str]:
    """The helpers needed for ``names``, in a fixed order."""
    needed = set(names)
    for name in names:
        needed.update(REQUIRES.get(name, []))
    return [name for name in HELPERS if name in needed]


def helper_text(name: str, numpy_alias: str, names: dict[str, str] | None = None) -> str:
    """The helper's definition, with numpy as ``numpy_alias`` and helpers renamed as in ``names``
    (a user's identifier may hold a helper's own name: see Scope.helper_name)."""
    text = re.sub(r"\bnp\.", f"{numpy_alias}.", HELPERS[name].strip("\n"))
    for helper, new in (names or {}).items():
        if new != helper:
            text = re.sub(rf"\b{helper}\(", f"{new}(", text)
    return text
