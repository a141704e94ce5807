"""Run-time helpers for the rules of diffc.ops (indexing, reductions, linalg: merged into
:data:`diffc.helpers.HELPERS`). Each is the transpose of a linear map NumPy has no inverse call
for (an index, a repeat, a tile, a pad), or a rule whose form depends on ranks that may be known
only at run time. Plain NumPy, right for every shape NumPy accepts.
"""

from __future__ import annotations

HELPERS_MORE = {
    "_prod_others_axes": '''
def _prod_others_axes(x, axis):
    """For np.prod over several axes: for each element, the product of the others over them."""
    x = np.asarray(x, dtype=float)
    axes = [a % x.ndim for a in axis]
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + axes)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    return np.transpose(_prod_others(flat, -1).reshape(moved.shape), np.argsort(rest + axes))
''',
    "_first_mask_axes": '''
def _first_mask_axes(x, axis, pick):
    """For np.max/np.min (pick 'max' or 'min') over several axes: True at the first of equal
    extremes, in C order over the reduced axes."""
    x = np.asarray(x)
    axes = [a % x.ndim for a in axis]
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, rest + axes)
    flat = moved.reshape(moved.shape[:len(rest)] + (-1,))
    where = (np.argmax if pick == "max" else np.argmin)(flat, axis=-1)
    mask = np.zeros(flat.shape, dtype=bool)
    np.put_along_axis(mask, where[..., None], True, axis=-1)
    return np.transpose(mask.reshape(moved.shape), np.argsort(rest + axes))
''',
    "_cumprod_grad": '''
def _cumprod_grad(grad, x, axis=None):
    """Gradient of np.cumprod(x, axis): for each i, the sum over j >= i of grad[j] times the
    product of x[:j + 1] without x[i] (no division, so zeros are fine)."""
    x = np.asarray(x, dtype=float)
    if axis is None:
        return _cumprod_grad(np.ravel(grad), x.ravel(), 0).reshape(x.shape)
    x, grad = np.moveaxis(x, axis, -1), np.moveaxis(grad, axis, -1)
    out = np.empty_like(x)
    for i in range(x.shape[-1]):
        without = x.copy()
        without[..., i] = 1.0
        out[..., i] = np.sum((grad * np.cumprod(without, axis=-1))[..., i:], axis=-1)
    return np.moveaxis(out, -1, axis)
''',
    "_diff_grad": '''
def _diff_grad(grad, n=1, axis=-1):
    """Gradient of np.diff(x, n, axis): the transpose of a difference is minus the difference of the
    gradient padded with a zero at both ends, n times."""
    for _ in range(n):
        width = [(0, 0)] * np.ndim(grad)
        width[axis] = (1, 1)
        grad = -np.diff(np.pad(grad, width), axis=axis)
    return grad
''',
    "_repeat_grad": '''
def _repeat_grad(grad, x, repeats, axis=None):
    """Gradient of np.repeat(x, repeats, axis): each element gets the sum of its copies."""
    x = np.asarray(x)
    if axis is None:
        return _repeat_grad(grad, x.ravel(), repeats, 0).reshape(x.shape)
    n = x.shape[axis]
    index = np.repeat(np.arange(n), np.broadcast_to(repeats, (n,)))
    out = np.zeros(np.moveaxis(x, axis, 0).shape)
    np.add.at(out, index, np.moveaxis(grad, axis, 0))
    return np.moveaxis(out, 0, axis)
''',
    "_tile_grad": '''
def _tile_grad(grad, x, reps):
    """Gradient of np.tile(x, reps): the sum of the tiles."""
    shape = np.shape(x)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    rank = max(len(shape), len(reps))
    full = (1,) * (rank - len(shape)) + shape
    reps = (1,) * (rank - len(reps)) + reps
    grad = np.reshape(grad, [n for pair in zip(reps, full) for n in pair])
    return np.reshape(np.sum(grad, axis=tuple(range(0, 2 * rank, 2))), shape)
''',
    "_rollaxis_grad": '''
def _rollaxis_grad(grad, x, axis, start=0):
    """Gradient of np.rollaxis(x, axis, start): the axis moved back where it was."""
    n = np.ndim(x)
    axis, start = axis % n, start + n if start < 0 else start
    return np.moveaxis(grad, start - 1 if start > axis else start, axis)
''',
    "_diagonal_grad": '''
def _diagonal_grad(grad, x, offset=0, axis1=0, axis2=1):
    """Gradient of np.diagonal(x, offset, axis1, axis2) (and of np.diag of a matrix): zero but on
    that diagonal."""
    out = np.zeros(np.shape(x))
    view = np.moveaxis(out, (axis1, axis2), (-2, -1))
    i = np.arange(np.shape(grad)[-1])
    view[..., i + max(-offset, 0), i + max(offset, 0)] = grad
    return out
''',
    "_diag_grad": '''
def _diag_grad(grad, x, k=0):
    """Gradient of np.diag(x, k): the diagonal of grad if x is a vector, else grad on x's diagonal."""
    return np.diag(grad, k) if np.ndim(x) == 1 else _diagonal_grad(grad, x, k)
''',
    "_take_grad": '''
def _take_grad(grad, x, indices, axis=None):
    """Gradient of np.take(x, indices, axis): scattered back, repeated indices adding up."""
    out = np.zeros(np.shape(x))
    if axis is None:
        np.add.at(out.reshape(-1), indices, grad)
    else:
        np.add.at(out, (slice(None),) * (axis % out.ndim) + (indices,), grad)
    return out
''',
    "_take_along_axis_grad": '''
def _take_along_axis_grad(grad, x, indices, axis):
    """Gradient of np.take_along_axis(x, indices, axis): scattered back, repeats adding up."""
    out = np.zeros(np.shape(x))
    if axis is None:
        np.add.at(out.reshape(-1), indices, grad)
        return out
    index = list(np.ix_(*[np.arange(n) for n in np.shape(grad)]))
    index[axis % out.ndim] = indices
    np.add.at(out, tuple(index), grad)
    return out
''',
    "_pad_grad": '''
def _pad_grad(grad, x, pad_width):
    """Gradient of np.pad(x, pad_width) in constant mode: the part that is x."""
    width = np.broadcast_to(pad_width, (np.ndim(x), 2))
    return grad[tuple(slice(lo, n - hi) for (lo, hi), n in zip(width, np.shape(grad)))]
''',
    "_append_grad": '''
def _append_grad(grad, x, values, i, axis=None):
    """Gradient of np.append(x, values, axis) in x (i == 0) or in values (i == 1)."""
    if axis is None:
        part = np.ravel(grad)[:np.size(x)] if i == 0 else np.ravel(grad)[np.size(x):]
        return np.reshape(part, np.shape(x if i == 0 else values))
    n = np.shape(x)[axis]
    part = np.split(grad, [n], axis=axis)[i]
    return np.reshape(part, np.shape(x if i == 0 else values))
''',
    "_sort_grad": '''
def _sort_grad(grad, order, axis=-1):
    """Gradient of a sort or partition whose permutation is order (np.argsort or np.argpartition)."""
    out = np.zeros(np.shape(order))
    np.put_along_axis(out, order, grad, axis=axis)
    return out
''',
    "_cross_grad": '''
def _cross_grad(grad, a, b, i):
    """Gradient of np.cross(a, b) (vectors of 2 or 3 on the last axis) in a (i == 0) or b (i == 1)."""
    def three(v):
        return np.concatenate([v, np.zeros(np.shape(v)[:-1] + (1,))], axis=-1) if np.shape(v)[-1] == 2 else v

    grad = np.asarray(grad)
    if np.shape(a)[-1] == 2 and np.shape(b)[-1] == 2:  # the result is the z component alone
        grad = np.stack([np.zeros_like(grad), np.zeros_like(grad), grad], axis=-1)
    part = np.cross(three(b), grad) if i == 0 else np.cross(grad, three(a))
    x = a if i == 0 else b
    return _unbroadcast(part[..., :np.shape(x)[-1]], x)
''',
    "_kron_grad": '''
def _kron_grad(grad, a, b, i):
    """Gradient of np.kron(a, b) in a (i == 0) or b (i == 1)."""
    rank = max(np.ndim(a), np.ndim(b))
    sa = (1,) * (rank - np.ndim(a)) + np.shape(a)
    sb = (1,) * (rank - np.ndim(b)) + np.shape(b)
    grad = np.reshape(grad, [n for pair in zip(sa, sb) for n in pair])  # (a0, b0, a1, b1, ...)
    if i == 0:
        part = np.tensordot(grad, np.reshape(b, sb), axes=(list(range(1, 2 * rank, 2)), list(range(rank))))
        return np.reshape(part, np.shape(a))
    part = np.tensordot(grad, np.reshape(a, sa), axes=(list(range(0, 2 * rank, 2)), list(range(rank))))
    return np.reshape(part, np.shape(b))
''',
    "_tensordot_grad": '''
def _tensordot_grad(grad, a, b, axes, i):
    """Gradient of np.tensordot(a, b, axes) in a (i == 0) or b (i == 1)."""
    na, nb = np.ndim(a), np.ndim(b)
    if np.ndim(axes) == 0:
        axes = (list(range(na - axes, na)), list(range(axes)))
    ax_a, ax_b = ([k] if np.ndim(k) == 0 else list(k) for k in axes)
    ax_a, ax_b = [k % na for k in ax_a], [k % nb for k in ax_b]
    free_a = [k for k in range(na) if k not in ax_a]
    free_b = [k for k in range(nb) if k not in ax_b]
    if i == 0:
        part = np.tensordot(grad, b, axes=(list(range(len(free_a), len(free_a) + len(free_b))), free_b))
        held = free_a + [ax_a[k] for k in np.argsort(ax_b)]
    else:
        part = np.tensordot(a, grad, axes=(free_a, list(range(len(free_a)))))
        held = [ax_b[k] for k in np.argsort(ax_a)] + free_b
    return np.transpose(part, np.argsort(held))
''',
    "_gradient_grad": '''
def _gradient_grad(grad, axis=0):
    """Gradient of np.gradient(x, axis=axis) (unit spacing, first-order edges): its transpose."""
    g = np.moveaxis(np.asarray(grad, dtype=float), axis, 0)
    out = np.zeros_like(g)
    out[2:] += g[1:-1] / 2
    out[:-2] -= g[1:-1] / 2
    out[1] += g[0]
    out[0] -= g[0]
    out[-1] += g[-1]
    out[-2] -= g[-1]
    return np.moveaxis(out, 0, axis)
''',
    "_solve_grad": '''
def _solve_grad(grad, a, x, i):
    """Gradient of x = np.linalg.solve(a, b) in a (i == 0) or b (i == 1); b a vector or a matrix."""
    vector = np.ndim(x) == np.ndim(a) - 1
    grad_b = np.linalg.solve(np.swapaxes(a, -1, -2), grad[..., None] if vector else grad)
    if i == 1:
        return grad_b[..., 0] if vector else grad_b
    return -grad_b @ np.swapaxes(x[..., None] if vector else x, -1, -2)
''',
    "_pinv_grad": '''
def _pinv_grad(grad, a, p):
    """Gradient of p = np.linalg.pinv(a), where the rank of a is locally constant (Golub and Pereyra)."""
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    rows = np.eye(np.shape(a)[-2]) - a @ p
    cols = np.eye(np.shape(a)[-1]) - p @ a
    return -t(p) @ grad @ t(p) + rows @ t(grad) @ p @ t(p) + t(p) @ p @ t(grad) @ cols
''',
    "_cholesky_grad": '''
def _cholesky_grad(grad, l):
    """Gradient of l = np.linalg.cholesky(a) in a. NumPy reads only the lower triangle of a, so the
    gradient is there: the symmetric gradient s (Murray 2016) folded onto it, 2 s below the diagonal."""
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    phi = np.tril(t(l) @ grad)
    phi = phi - 0.5 * np.eye(np.shape(l)[-1]) * phi
    inv = np.linalg.inv(l)
    s = t(inv) @ phi @ inv
    s = 0.5 * (s + t(s))
    return np.tril(2 * s) - np.eye(np.shape(l)[-1]) * s
''',
}
REQUIRES_MORE = {"_prod_others_axes": ["_prod_others"], "_cross_grad": ["_unbroadcast"],
                 "_diag_grad": ["_diagonal_grad"]}
HELPERS_MORE["_average_grad"] = '''
def _average_grad(grad, a, w, axis, keepdims, i):
    """Gradient of np.average(a, axis, weights=w) in a (i = 0) or w (i = 1). Weights of another shape
    than a lie along the axis (or axes), as NumPy places them; their gradient is summed back."""
    a, w = np.asarray(a, dtype=float), np.asarray(w, dtype=float)
    axes = None if axis is None else tuple(k % a.ndim for k in np.atleast_1d(axis))
    wide = w
    if w.shape != a.shape:
        order = np.argsort(axes)
        wide = np.transpose(w, order).reshape([n if k in axes else 1 for k, n in enumerate(a.shape)])
    total = np.sum(wide, axis=axes, keepdims=True)
    g = grad if axes is None or keepdims else np.expand_dims(grad, axes)
    if i == 0:
        return g * wide / total
    part = g * (a - np.sum(a * wide, axis=axes, keepdims=True) / total) / total
    if w.shape == a.shape:
        return part
    part = np.sum(part, axis=tuple(k for k in range(a.ndim) if k not in axes))
    return np.transpose(part, np.argsort(order))
'''

from .runtime_linalg import HELPERS_LINALG  # noqa: E402  (the factorisations' helpers)

HELPERS_MORE.update(HELPERS_LINALG)
