"""Run-time helpers for the rules of the matrix factorisations that return tuples
(``np.linalg.eigh``, ``np.linalg.qr``; merged into the helpers by :mod:`runtime_more`). Each takes
the gradient of the tuple and the tuple, works on stacks of matrices, and raises ValueError where
the gradient is not defined rather than return a wrong one. The gradient tuple may stop short
(``w = np.linalg.eigh(a)[0]`` alone gives ``(gw,)``): the missing items are zero, and an item
may be a number 0.0.
"""

from __future__ import annotations

HELPERS_LINALG = {
    "_eigh_grad": '''
def _eigh_grad(grad, ans, uplo="L"):
    """Gradient of w, v = np.linalg.eigh(a) in a: v (diag(gw) + f * v^T gv) v^T, f[i, j] = 1 / (w[j] - w[i])
    off the diagonal, folded onto the triangle NumPy reads. Where two eigenvalues coincide their
    eigenvectors are any basis of a subspace: the gradient exists only if the loss does not depend on
    that choice (v^T gv symmetric there), and is refused otherwise."""
    w, v = ans
    gw, gv = np.broadcast_to(grad[0], np.shape(w)), np.broadcast_to(grad[1] if len(grad) > 1 else 0.0, np.shape(v))
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    eye = np.eye(np.shape(w)[-1])
    inner = gw[..., None, :] * eye
    if np.any(gv):
        k = t(v) @ gv
        gap = w[..., None, :] - w[..., :, None]
        scale = np.max(np.abs(w), axis=-1)[..., None, None]
        tied = (np.abs(gap) <= 64 * np.finfo(float).eps * scale) & (eye == 0)
        if np.any(tied & (np.abs(k - t(k)) > 1e-7 * np.max(np.abs(k)))):
            raise ValueError("np.linalg.eigh: the gradient of the eigenvectors is not defined where eigenvalues "
                             "repeat and the loss depends on which eigenvectors NumPy picked for them")
        off = tied | (eye != 0)
        inner = inner + np.where(off, 0.0, k / np.where(off, 1.0, gap))
    g = v @ inner @ t(v)
    both = g + t(g)
    return (np.tril(both, -1) if uplo == "L" else np.triu(both, 1)) + g * eye
''',
    "_qr_grad": '''
def _qr_grad(grad, ans):
    """Gradient of q, r = np.linalg.qr(a) (reduced) in a, for a of m >= n rows and full column rank:
    (gq + q copyltu(m)) r^-T with m = r gr^T - gq^T q, copyltu(m) the symmetric matrix of m's lower
    triangle."""
    q, r = ans
    gq, gr = np.broadcast_to(grad[0], np.shape(q)), np.broadcast_to(grad[1] if len(grad) > 1 else 0.0, np.shape(r))
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    if np.shape(q)[-2] < np.shape(r)[-1]:
        raise ValueError("np.linalg.qr: the gradient is written for a matrix with at least as many rows as "
                         "columns; differentiate the QR of its transpose instead")
    d = np.abs(np.diagonal(r, axis1=-2, axis2=-1))
    if np.any(d <= np.shape(r)[-1] * np.finfo(float).eps * np.max(d, axis=-1, keepdims=True)):
        raise ValueError("np.linalg.qr: the gradient is not defined for a matrix without full column rank")
    m = r @ t(gr) - t(gq) @ q
    low = np.tril(m, -1)
    b = gq + q @ (low + t(low) + m * np.eye(np.shape(m)[-1]))
    return t(np.linalg.solve(r, t(b)))
''',
}
