"""Sampling rules: which pixels ("taps") a point takes, and how they combine.

Pure numerics on pixel coordinates, no I/O: :mod:`geofeat.read` turns a point
into fractional pixel coordinates ``(u, v)`` of the file's own grid (``u``
along columns, ``v`` along rows; pixel ``(row, col)`` covers
``[col, col + 1) x [row, row + 1)`` and its centre is ``(col + 0.5, row + 0.5)``),
asks this module for the taps, reads them, and hands back their values and
validity to :func:`combine`.

Rules
-----
``nearest``
    The pixel that holds the point, with half-open extents: a point exactly on
    an edge belongs to the pixel east (or south) of it. When the point lies
    exactly on an edge or a corner (within :data:`EDGE_TOLERANCE` of a pixel),
    the other pixels touching it are candidates too, in this order: the owner,
    the pixel west, the pixel north, the pixel north-west. The first *valid*
    candidate is taken, so a point on the boundary of a cloud or of the no-data
    area still gets the value of the valid pixel it touches.
``bilinear``
    The four pixels whose centres surround the point, weighted by the usual
    bilinear weights. Only valid pixels count and their weights are
    renormalised to sum to one; with no valid pixel of non-zero weight the
    value is missing. A point exactly on a pixel centre takes that pixel alone.
``buffer``
    Every pixel whose centre lies within ``radius`` (CRS units, metres for
    UTM) of the point, distance ``<= radius`` (to a relative tolerance of
    :data:`EDGE_TOLERANCE`); their valid values are reduced
    by ``mean`` or ``median``. A radius smaller than the distance to the
    nearest centre falls back to the ``nearest`` rule.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: How close (in pixels) a point must be to a pixel edge to count as on it.
#: Points come from a lon/lat -> CRS transform, whose round trip is exact to
#: about 1e-9 m; 1e-6 pixel is 10 micrometres on a 10 m grid.
EDGE_TOLERANCE = 1e-6

SAMPLINGS = ("nearest", "bilinear", "buffer")


@dataclass(frozen=True)
class Taps:
    """The pixels each point takes: ``(n_points, k)`` arrays.

    A tap with ``weight`` 0 is padding and never counts. For ``nearest`` the
    weights only mark candidates (their order is the priority).
    """

    rows: np.ndarray
    cols: np.ndarray
    weight: np.ndarray
    sampling: str


def nearest_taps(u: np.ndarray, v: np.ndarray) -> Taps:
    """Candidates of the ``nearest`` rule: the owner, then pixels touching the point."""
    col_edge = np.abs(u - np.round(u)) < EDGE_TOLERANCE
    row_edge = np.abs(v - np.round(v)) < EDGE_TOLERANCE
    col = np.where(col_edge, np.round(u), np.floor(u)).astype("int64")
    row = np.where(row_edge, np.round(v), np.floor(v)).astype("int64")
    rows = np.stack([row, row, row - 1, row - 1], axis=1)
    cols = np.stack([col, col - 1, col, col - 1], axis=1)
    weight = np.stack(
        [np.ones(u.shape), col_edge, row_edge, col_edge & row_edge], axis=1
    ).astype("float64")
    return Taps(rows, cols, weight, "nearest")


def bilinear_taps(u: np.ndarray, v: np.ndarray) -> Taps:
    """The four pixels whose centres surround the point, with bilinear weights."""
    s, t = u - 0.5, v - 0.5
    c0, r0 = np.floor(s), np.floor(t)
    a, b = s - c0, t - r0
    c0, r0 = c0.astype("int64"), r0.astype("int64")
    rows = np.stack([r0, r0, r0 + 1, r0 + 1], axis=1)
    cols = np.stack([c0, c0 + 1, c0, c0 + 1], axis=1)
    weight = np.stack([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b], axis=1)
    return Taps(rows, cols, weight, "bilinear")


def buffer_taps(
    u: np.ndarray, v: np.ndarray, radius_cols: float, radius_rows: float
) -> Taps:
    """Pixels whose centre is within the radius, given in pixels along each axis.

    Distances are measured in CRS units: ``radius_cols`` and ``radius_rows`` are
    the radius divided by the pixel width and height.
    """
    kc, kr = int(np.ceil(radius_cols)) + 1, int(np.ceil(radius_rows)) + 1
    dc, dr = np.meshgrid(np.arange(-kc, kc + 1), np.arange(-kr, kr + 1))
    dc, dr = dc.ravel(), dr.ravel()
    col = np.floor(u).astype("int64")[:, None] + dc[None, :]
    row = np.floor(v).astype("int64")[:, None] + dr[None, :]
    # Distance from the point to each centre, in units of the radius.
    du = (col + 0.5 - u[:, None]) / radius_cols
    dv = (row + 0.5 - v[:, None]) / radius_rows
    inside = du * du + dv * dv <= 1.0 + EDGE_TOLERANCE
    weight = inside.astype("float64")
    # A radius smaller than the distance to every centre: the nearest rule.
    none = ~inside.any(axis=1)
    if none.any():
        near = nearest_taps(u[none], v[none])
        pad = col.shape[1] - 4
        col[none] = np.pad(near.cols, ((0, 0), (0, pad)), mode="edge")
        row[none] = np.pad(near.rows, ((0, 0), (0, pad)), mode="edge")
        weight[none] = np.pad(near.weight, ((0, 0), (0, pad)))
    return Taps(row, col, weight, "buffer")


def combine(
    taps: Taps, values: np.ndarray, valid: np.ndarray, statistic: str = "mean"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One value per point from its taps' values and validity.

    Parameters
    ----------
    taps
        The taps of each point (``(n, k)``).
    values, valid
        Value and validity of each tap (``(n, k)``).
    statistic
        ``mean`` or ``median``, for ``buffer`` sampling.

    Returns
    -------
    value, valid, used
        Value per point (NaN where none), whether it is valid, and how many
        taps made it.
    """
    counted = valid & (taps.weight > 0) & np.isfinite(values)
    used = counted.sum(axis=1)
    n = values.shape[0]
    if taps.sampling == "nearest":
        first = np.argmax(counted, axis=1)
        value = values[np.arange(n), first]
        ok = counted.any(axis=1)
        return np.where(ok, value, np.nan), ok, np.minimum(used, 1)
    if taps.sampling == "bilinear":
        w = np.where(counted, taps.weight, 0.0)
        total = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = (w * np.where(counted, values, 0.0)).sum(axis=1) / total
        ok = total > 0
        return np.where(ok, value, np.nan), ok, used
    masked = np.where(counted, values, np.nan)
    ok = used > 0
    value = np.full(n, np.nan)
    if ok.any():
        reduce = np.nanmedian if statistic == "median" else np.nanmean
        value[ok] = reduce(masked[ok], axis=1)
    return value, ok, used
