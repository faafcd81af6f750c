"""Ordinary kriging kernels: numba functions with a plain NumPy reference.

Pure numerics on arrays: sample coordinates and values, target coordinates and
(for a moving neighbourhood) the indices of each target's neighbours in; estimate,
kriging variance and a status code per target out. Neighbour search, I/O and
grids live in :mod:`geofeat.krige`.

For each target the ordinary kriging system (written here in variogram form) is
solved::

    | G   1 | | w  |   | g0 |
    | 1'  0 | | mu | = | 1  |

with ``G[i, j] = gamma(|s_i - s_j|)`` and ``g0[i] = gamma(|s_i - t|)``; the estimate
is ``w . z`` and the kriging variance ``w . g0 + mu``. The system is scaled by the
sill before it is factorised (weights are unchanged; ``mu`` and the variance are
scaled back). The global system is solved by LU with partial pivoting in that
form. A moving neighbourhood uses the equivalent covariance form
``C = 1 - G / sill`` (bounded models), with a Cholesky factor of ``C`` and the
multiplier eliminated (:func:`moving_target`): half the work of LU per
neighbour set.

A target within ``eps`` of a sample uses ``gamma = 0`` for that pair, so kriging
honours the data exactly (PyKrige's ``exact_values=True``).

Singular systems (duplicate sample locations with a zero nugget, a zero variogram)
are detected by the pivot test ``pivot <= PIVOT_TOLERANCE`` on the scaled
matrix (LU: absolute pivot; Cholesky: the squared diagonal before the root).
They are solved again with a measurement-error term of ``REGULARISATION * sill``
on the diagonal (as if a tiny nugget were filtered); the status says so. If that
also fails the target gets NaN.

A moving neighbourhood factorises one system per target, but consecutive targets
(grid cells along a row) very often share the same neighbour set; the factorisation
is then reused. Neighbour rows must therefore list sample indices in ascending
order, padded with -1 at the end.

References
----------
P.K. Kitanidis, *Introduction to Geostatistics* (1997), sec. 3.2-3.4.
"""

from __future__ import annotations

import numpy as np
from geofeat.kernels.variogram import variogram_numpy, variogram_value
from numba import njit, prange

EXACT_EPS = 1e-10
"""Distance (CRS units) under which a target counts as on a sample (PyKrige's eps)."""
PIVOT_TOLERANCE = 1e-12
"""Smallest acceptable LU pivot of the sill-scaled system."""
REGULARISATION = 1e-8
"""Measurement-error term, as a fraction of the sill, for singular systems."""
BLOCK = 256
"""Targets handled by one task of the parallel loop (reuse works within a block)."""
GLOBAL_BATCH_VALUES = 1 << 22
"""Right-hand-side values (targets x samples) per batch of a global solve (32 MiB)."""

SOLVED = 0
REGULARISED = 1
FAILED = 2
NO_NEIGHBOURS = 3


@njit(cache=True, nogil=True)
def lu_factor(a: np.ndarray, piv: np.ndarray, n: int) -> bool:
    """Factorise ``a[:n, :n]`` in place (Doolittle, partial pivoting).

    Returns False when a pivot is at most ``PIVOT_TOLERANCE`` in magnitude.
    """
    for k in range(n):
        p = k
        best = abs(a[k, k])
        for i in range(k + 1, n):
            v = abs(a[i, k])
            if v > best:
                best = v
                p = i
        piv[k] = p
        if best <= PIVOT_TOLERANCE:
            return False
        if p != k:
            for j in range(n):
                tmp = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = tmp
        inv = 1.0 / a[k, k]
        for i in range(k + 1, n):
            f = a[i, k] * inv
            a[i, k] = f
            if f != 0.0:
                for j in range(k + 1, n):
                    a[i, j] -= f * a[k, j]
    return True


@njit(cache=True, nogil=True)
def lu_solve(a: np.ndarray, piv: np.ndarray, b: np.ndarray, n: int) -> None:
    """Solve ``a x = b`` in place in ``b`` with the factors from :func:`lu_factor`."""
    for k in range(n):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for i in range(n):
        s = b[i]
        for j in range(i):
            s -= a[i, j] * b[j]
        b[i] = s
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= a[i, j] * b[j]
        b[i] = s / a[i, i]


@njit(cache=True, nogil=True)
def assemble(
    x: np.ndarray,
    y: np.ndarray,
    nbr: np.ndarray,
    k: int,
    model: int,
    params: np.ndarray,
    diagonal: float,
    a: np.ndarray,
) -> None:
    """Fill ``a[:k+1, :k+1]`` with the sill-scaled kriging matrix of ``nbr[:k]``.

    ``diagonal`` goes on the first ``k`` diagonal entries (0, or minus the
    regularisation term).
    """
    sill = params[0] + params[1]
    for i in range(k):
        si = nbr[i]
        a[i, i] = diagonal
        for j in range(i + 1, k):
            sj = nbr[j]
            h = np.hypot(x[si] - x[sj], y[si] - y[sj])
            g = variogram_value(model, params, h) / sill
            a[i, j] = g
            a[j, i] = g
        a[i, k] = 1.0
        a[k, i] = 1.0
    a[k, k] = 0.0


@njit(cache=True, nogil=True)
def factorise(
    x: np.ndarray,
    y: np.ndarray,
    nbr: np.ndarray,
    k: int,
    model: int,
    params: np.ndarray,
    a: np.ndarray,
    piv: np.ndarray,
) -> int:
    """Assemble and factorise; regularise once if singular. Returns the status."""
    assemble(x, y, nbr, k, model, params, 0.0, a)
    if lu_factor(a, piv, k + 1):
        return SOLVED
    assemble(x, y, nbr, k, model, params, -REGULARISATION, a)
    if lu_factor(a, piv, k + 1):
        return REGULARISED
    return FAILED


@njit(cache=True, nogil=True)
def cholesky_system(
    x: np.ndarray,
    y: np.ndarray,
    nbr: np.ndarray,
    k: int,
    model: int,
    params: np.ndarray,
    diagonal: float,
    lower: np.ndarray,
    ones: np.ndarray,
) -> bool:
    """Cholesky factor of the scaled covariances of ``nbr[:k]`` and ``C^-1 1``.

    Fills the lower triangle of ``lower`` with ``L`` (``C = L L'``, where
    ``C[i, j] = 1 - gamma(h_ij) / sill`` and ``C[i, i] = 1 + diagonal``) and
    ``ones[:k]`` with ``C^-1 1``. Returns False when a pivot is at most
    ``PIVOT_TOLERANCE`` (C not positive definite: a singular kriging system).
    """
    sill = params[0] + params[1]
    for i in range(k):
        si = nbr[i]
        xi, yi = x[si], y[si]
        lower[i, i] = 1.0 + diagonal
        for j in range(i):
            sj = nbr[j]
            dx, dy = xi - x[sj], yi - y[sj]
            h = np.sqrt(dx * dx + dy * dy)
            lower[i, j] = 1.0 - variogram_value(model, params, h) / sill
    for j in range(k):
        d = lower[j, j]
        for p in range(j):
            d -= lower[j, p] * lower[j, p]
        if d <= PIVOT_TOLERANCE:
            return False
        d = np.sqrt(d)
        lower[j, j] = d
        for i in range(j + 1, k):
            s = lower[i, j]
            for p in range(j):
                s -= lower[i, p] * lower[j, p]
            lower[i, j] = s / d
    for i in range(k):
        ones[i] = 1.0
    cholesky_solve(lower, ones, k)
    return True


@njit(cache=True, nogil=True)
def cholesky_solve(lower: np.ndarray, b: np.ndarray, k: int) -> None:
    """Solve ``L L' x = b`` in place in ``b``."""
    for i in range(k):
        s = b[i]
        for p in range(i):
            s -= lower[i, p] * b[p]
        b[i] = s / lower[i, i]
    for i in range(k - 1, -1, -1):
        s = b[i]
        for p in range(i + 1, k):
            s -= lower[p, i] * b[p]
        b[i] = s / lower[i, i]


@njit(cache=True, nogil=True)
def moving_system(
    x: np.ndarray,
    y: np.ndarray,
    nbr: np.ndarray,
    k: int,
    model: int,
    params: np.ndarray,
    lower: np.ndarray,
    ones: np.ndarray,
) -> int:
    """Factorise a neighbourhood's system; regularise once if singular."""
    if cholesky_system(x, y, nbr, k, model, params, 0.0, lower, ones):
        return SOLVED
    if cholesky_system(x, y, nbr, k, model, params, REGULARISATION, lower, ones):
        return REGULARISED
    return FAILED


@njit(cache=True, nogil=True)
def moving_target(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    nbr: np.ndarray,
    k: int,
    tx: float,
    ty: float,
    model: int,
    params: np.ndarray,
    eps: float,
    lower: np.ndarray,
    ones: np.ndarray,
    c0: np.ndarray,
    u: np.ndarray,
) -> tuple[float, float]:
    """Estimate and variance of one target from a factorised neighbourhood.

    Notes
    -----
    Covariance form, scaled by the sill: with ``u = C^-1 c0`` and
    ``v = C^-1 1``, the Lagrange multiplier is ``nu = (1'u - 1) / 1'v``, the
    weights ``w = u - nu v``, and the variance ``sill * (1 - w'c0 - nu)``. This
    equals the variogram form for bounded models (``C = 1 - gamma / sill``).
    """
    sill = params[0] + params[1]
    for i in range(k):
        s = nbr[i]
        dx, dy = x[s] - tx, y[s] - ty
        h = np.sqrt(dx * dx + dy * dy)
        c = 1.0 if h <= eps else 1.0 - variogram_value(model, params, h) / sill
        c0[i] = c
        u[i] = c
    cholesky_solve(lower, u, k)
    su = 0.0
    sv = 0.0
    for i in range(k):
        su += u[i]
        sv += ones[i]
    nu = (su - 1.0) / sv
    est = 0.0
    wc = 0.0
    for i in range(k):
        w = u[i] - nu * ones[i]
        est += w * z[nbr[i]]
        wc += w * c0[i]
    return est, max(sill * (1.0 - wc - nu), 0.0)


@njit(cache=True, nogil=True)
def moving_block(
    block: int,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    nbr: np.ndarray,
    model: int,
    params: np.ndarray,
    eps: float,
    estimate: np.ndarray,
    variance: np.ndarray,
    status: np.ndarray,
) -> None:
    """Krige targets ``[block * BLOCK, (block + 1) * BLOCK)`` with their neighbours."""
    kmax = nbr.shape[1]
    lower = np.empty((kmax, kmax))
    ones = np.empty(kmax)
    c0 = np.empty(kmax)
    u = np.empty(kmax)
    prev = np.full(kmax, -2, dtype=np.int64)
    prev_status = FAILED
    start = block * BLOCK
    stop = min(tx.shape[0], start + BLOCK)
    for t in range(start, stop):
        row = nbr[t]
        k = 0
        same = True
        while k < kmax and row[k] >= 0:
            if row[k] != prev[k]:
                same = False
            k += 1
        if k < kmax and prev[k] >= 0:
            same = False
        if k == 0:
            estimate[t] = np.nan
            variance[t] = np.nan
            status[t] = NO_NEIGHBOURS
            continue
        if not same:
            for i in range(kmax):
                prev[i] = row[i]
            prev_status = moving_system(x, y, row, k, model, params, lower, ones)
        status[t] = prev_status
        if prev_status == FAILED:
            estimate[t] = np.nan
            variance[t] = np.nan
            continue
        estimate[t], variance[t] = moving_target(
            x, y, z, row, k, tx[t], ty[t], model, params, eps, lower, ones, c0, u
        )


@njit(cache=True, nogil=True, parallel=True)
def moving_parallel(
    x, y, z, tx, ty, nbr, model, params, eps, estimate, variance, status
):
    """All targets, blocks in parallel (``prange``)."""
    blocks = (tx.shape[0] + BLOCK - 1) // BLOCK
    for i in prange(blocks):
        moving_block(
            i, x, y, z, tx, ty, nbr, model, params, eps, estimate, variance, status
        )


@njit(cache=True, nogil=True)
def moving_serial(x, y, z, tx, ty, nbr, model, params, eps, estimate, variance, status):
    """All targets, blocks one after the other."""
    blocks = (tx.shape[0] + BLOCK - 1) // BLOCK
    for i in range(blocks):
        moving_block(
            i, x, y, z, tx, ty, nbr, model, params, eps, estimate, variance, status
        )


@njit(cache=True, nogil=True)
def global_rhs_row(
    x: np.ndarray,
    y: np.ndarray,
    tx: float,
    ty: float,
    model: int,
    params: np.ndarray,
    eps: float,
    row: np.ndarray,
) -> None:
    """Fill ``row`` with scaled gammas from every sample to one target, then 1."""
    sill = params[0] + params[1]
    n = x.shape[0]
    for i in range(n):
        h = np.hypot(x[i] - tx, y[i] - ty)
        row[i] = 0.0 if h <= eps else variogram_value(model, params, h) / sill
    row[n] = 1.0


@njit(cache=True, nogil=True, parallel=True)
def global_rhs_parallel(x, y, tx, ty, model, params, eps, rhs):
    """Right-hand sides of all targets (rows of ``rhs``), targets in parallel."""
    for t in prange(tx.shape[0]):
        global_rhs_row(x, y, tx[t], ty[t], model, params, eps, rhs[t])


@njit(cache=True, nogil=True)
def global_rhs_serial(x, y, tx, ty, model, params, eps, rhs):
    """Right-hand sides of all targets (rows of ``rhs``), one after the other."""
    for t in range(tx.shape[0]):
        global_rhs_row(x, y, tx[t], ty[t], model, params, eps, rhs[t])


@njit(cache=True, nogil=True)
def inverse_from_lu(a: np.ndarray, piv: np.ndarray) -> np.ndarray:
    """The inverse of a matrix from its :func:`lu_factor` factors, column by column."""
    n = a.shape[0]
    inverse = np.empty((n, n))
    column = np.empty(n)
    for j in range(n):
        column[:] = 0.0
        column[j] = 1.0
        lu_solve(a, piv, column, n)
        inverse[:, j] = column
    return inverse


def _as_inputs(x, y, z, tx, ty, params):
    arrays = [np.ascontiguousarray(v, dtype=np.float64) for v in (x, y, z, tx, ty)]
    return (*arrays, np.ascontiguousarray(params, dtype=np.float64))


def krige_moving(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    nbr: np.ndarray,
    model: int,
    params: np.ndarray,
    eps: float = EXACT_EPS,
    parallel: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordinary kriging of targets ``(tx, ty)``, each from its own neighbours.

    Parameters
    ----------
    x, y, z
        Sample coordinates (CRS units, best centred) and values, shape ``(n,)``.
    tx, ty
        Target coordinates, shape ``(m,)``, same frame as ``x, y``.
    nbr
        ``(m, k)`` sample indices per target, ascending, padded with -1 at the end.
    model, params
        Variogram model code and ``(nugget, psill, range, nu)``, see
        :mod:`geofeat.kernels.variogram`.
    eps
        Distance under which a target is taken to be on a sample.
    parallel
        Use the ``prange`` driver (else the serial one; results are identical).

    Returns
    -------
    estimate, variance, status
        ``(m,)`` arrays; status is ``SOLVED``, ``REGULARISED``, ``FAILED`` or
        ``NO_NEIGHBOURS`` (the last two with NaN estimate and variance).
    """
    x, y, z, tx, ty, params = _as_inputs(x, y, z, tx, ty, params)
    nbr = np.ascontiguousarray(nbr, dtype=np.int64)
    m = tx.shape[0]
    estimate = np.empty(m)
    variance = np.empty(m)
    status = np.empty(m, dtype=np.int8)
    driver = moving_parallel if parallel else moving_serial
    driver(x, y, z, tx, ty, nbr, model, params, eps, estimate, variance, status)
    return estimate, variance, status


def factorise_global(
    x: np.ndarray, y: np.ndarray, model: int, params: np.ndarray
) -> tuple[np.ndarray, int]:
    """Assemble, factorise and invert the global (sill-scaled) kriging matrix once.

    Returns the inverse and the status (see :func:`krige_moving`).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    params = np.ascontiguousarray(params, dtype=np.float64)
    n = x.shape[0]
    a = np.empty((n + 1, n + 1))
    piv = np.empty(n + 1, dtype=np.int64)
    state = factorise(x, y, np.arange(n, dtype=np.int64), n, model, params, a, piv)
    if state == FAILED:
        return np.full((n + 1, n + 1), np.nan), int(state)
    return inverse_from_lu(a, piv), int(state)


def krige_global(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    model: int,
    params: np.ndarray,
    eps: float = EXACT_EPS,
    parallel: bool = True,
    factors: tuple[np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ordinary kriging of every target from all samples (one inverse).

    The right-hand sides of a batch of targets are filled by a numba kernel;
    weights for the whole batch are then one matrix product with the inverse
    (BLAS), ``GLOBAL_BATCH_VALUES`` values at a time. Parameters and returns as
    :func:`krige_moving`; ``factors`` (from :func:`factorise_global`) saves the
    inversion when called per chunk.
    """
    x, y, z, tx, ty, params = _as_inputs(x, y, z, tx, ty, params)
    inverse, state = (
        factors if factors is not None else factorise_global(x, y, model, params)
    )
    n, m = x.shape[0], tx.shape[0]
    sill = params[0] + params[1]
    estimate = np.full(m, np.nan)
    variance = np.full(m, np.nan)
    status = np.full(m, state, dtype=np.int8)
    if state == FAILED or not m:
        return estimate, variance, status
    fill = global_rhs_parallel if parallel else global_rhs_serial
    batch = max(1, GLOBAL_BATCH_VALUES // (n + 1))
    for start in range(0, m, batch):
        stop = min(m, start + batch)
        rhs = np.empty((stop - start, n + 1))
        fill(x, y, tx[start:stop], ty[start:stop], model, params, eps, rhs)
        weights = rhs @ inverse.T
        estimate[start:stop] = weights[:, :n] @ z
        var = sill * np.einsum("ij,ij->i", weights, rhs)
        # rhs[:, n] is 1, so the sum above includes mu: w . g0 + mu.
        variance[start:stop] = np.maximum(var, 0.0)
    return estimate, variance, status


def krige_numpy(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    nbr: np.ndarray | None,
    model: int,
    params: np.ndarray,
    eps: float = EXACT_EPS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain NumPy reference of :func:`krige_moving` (``nbr=None``: global).

    One ``numpy.linalg.solve`` per target on the unscaled system, no reuse; a
    singular system is regularised the same way, then NaN.
    """
    x, y, z, tx, ty, params = _as_inputs(x, y, z, tx, ty, params)
    n, m = x.shape[0], tx.shape[0]
    sill = params[0] + params[1]
    estimate = np.full(m, np.nan)
    variance = np.full(m, np.nan)
    status = np.full(m, NO_NEIGHBOURS, dtype=np.int8)
    for t in range(m):
        idx = np.arange(n) if nbr is None else nbr[t][nbr[t] >= 0]
        k = idx.size
        if k == 0:
            continue
        d = np.hypot(x[idx, None] - x[idx], y[idx, None] - y[idx])
        h0 = np.hypot(x[idx] - tx[t], y[idx] - ty[t])
        g0 = np.where(h0 <= eps, 0.0, variogram_numpy(model, params, h0))
        rhs = np.append(g0, 1.0)
        for state, diagonal in ((SOLVED, 0.0), (REGULARISED, -REGULARISATION * sill)):
            a = np.ones((k + 1, k + 1))
            a[:k, :k] = variogram_numpy(model, params, d)
            a[np.arange(k), np.arange(k)] = diagonal
            a[k, k] = 0.0
            try:
                w = np.linalg.solve(a, rhs)
            except np.linalg.LinAlgError:
                continue
            if not np.all(np.isfinite(w)):
                continue
            estimate[t] = w[:k] @ z[idx]
            variance[t] = max(w[:k] @ g0 + w[k], 0.0)
            status[t] = state
            break
        else:
            status[t] = FAILED
    return estimate, variance, status
