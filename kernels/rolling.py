"""Consecutive windows over daily series, for many points per pixel.

Each pixel's daily series is turned once into cumulative sums (of values, of
days with data and of wet days); every window of every point in that pixel is
then a difference of two entries, O(1) whatever the window length. Only ``max``
walks its window.

Conventions shared by the numba driver and the NumPy reference:

- ``series`` is ``(n_pixels, n_days)`` float64; NaN marks a day without data.
- Point ``i`` lies in pixel ``pixel[i]``; ``end[i]`` is the index (in the day
  axis of ``series``, may lie outside ``[0, n_days]``) of the first day after
  window 0. Window ``k`` covers days ``[end - (k + 1) * size, end - k * size)``.
  Days outside ``[0, n_days)`` count as days without data.
- Outputs: ``values`` ``(n_points, count)``, the reducer over the days with
  data (NaN where there are none), and ``valid_days`` ``(n_points, count)``.
"""

from __future__ import annotations

import numba
import numpy as np

from geofeat.errors import KernelError

#: Reducer codes understood by the kernels.
REDUCERS = {"sum": 0, "mean": 1, "max": 2, "count_wet_days": 3}


def _driver(
    series, order, offsets, end, size, count, reducer, threshold, values, valid
):
    n_pixels, n_days = series.shape
    for p in numba.prange(n_pixels):
        if offsets[p] == offsets[p + 1]:
            continue
        # cumulative sums of value, of days with data and of wet days
        csum = np.zeros(n_days + 1)
        cdays = np.zeros(n_days + 1, np.int64)
        cwet = np.zeros(n_days + 1, np.int64)
        for d in range(n_days):
            v = series[p, d]
            has = not np.isnan(v)
            csum[d + 1] = csum[d] + (v if has else 0.0)
            cdays[d + 1] = cdays[d] + (1 if has else 0)
            cwet[d + 1] = cwet[d] + (1 if has and v >= threshold else 0)
        for j in range(offsets[p], offsets[p + 1]):
            i = order[j]
            for k in range(count):
                # window k, clipped to the series
                hi = end[i] - k * size
                a = min(max(hi - size, 0), n_days)
                b = min(max(hi, 0), n_days)
                n = cdays[b] - cdays[a]
                valid[i, k] = n
                if n == 0:
                    values[i, k] = np.nan
                elif reducer == 0:
                    values[i, k] = csum[b] - csum[a]
                elif reducer == 1:
                    values[i, k] = (csum[b] - csum[a]) / n
                elif reducer == 2:
                    top = -np.inf
                    for d in range(a, b):
                        v = series[p, d]
                        if not np.isnan(v) and v > top:
                            top = v
                    values[i, k] = top
                else:
                    values[i, k] = cwet[b] - cwet[a]


_serial = numba.njit(cache=True, nogil=True)(_driver)
_parallel = numba.njit(cache=True, nogil=True, parallel=True)(_driver)


def _check(series, pixel, end, size, count, reducer) -> int:
    if series.ndim != 2:
        raise KernelError(
            f"series must be (n_pixels, n_days); got shape {series.shape}"
        )
    if pixel.shape != end.shape:
        raise KernelError(
            f"pixel and end must have one entry per point; got {pixel.shape} and "
            f"{end.shape}"
        )
    if pixel.size and (pixel.min() < 0 or pixel.max() >= series.shape[0]):
        raise KernelError(f"pixel indices must lie in [0, {series.shape[0]})")
    if size < 1 or count < 1:
        raise KernelError(f"window size and count must be >= 1; got {size}, {count}")
    if reducer not in REDUCERS:
        raise KernelError(
            f"unknown reducer {reducer!r}; choose one of {sorted(REDUCERS)}"
        )
    return REDUCERS[reducer]


def window_stats(
    series: np.ndarray,
    pixel: np.ndarray,
    end: np.ndarray,
    size: int,
    count: int,
    reducer: str = "sum",
    threshold: float = 1.0,
    parallel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``count`` consecutive ``size``-day windows before each point's end.

    Parameters
    ----------
    series
        Daily values per pixel, ``(n_pixels, n_days)``; NaN where no data.
    pixel
        Row of ``series`` for each point.
    end
        Index of the first day after window 0, per point (see module docs).
    size, count
        Window length in days, and number of consecutive windows.
    reducer
        ``sum``, ``mean``, ``max`` or ``count_wet_days`` (days with value
        >= ``threshold``), each over the days with data.
    threshold
        Wet-day threshold, in the units of ``series``.
    parallel
        Spread pixels over numba threads.

    Returns
    -------
    values, valid_days
        ``(n_points, count)`` float64 and int64.

    Notes
    -----
    With ``C[d] = sum(x[0:d])`` (missing days as zero), the sum over
    ``[a, b)`` is ``C[b] - C[a]``; the same holds for the counts of days with
    data and of wet days. Rounding of the differences is at the level of
    ``eps * C[n_days]``.
    """
    series = np.ascontiguousarray(series, dtype=np.float64)
    pixel = np.ascontiguousarray(pixel, dtype=np.int64)
    end = np.ascontiguousarray(end, dtype=np.int64)
    code = _check(series, pixel, end, size, count, reducer)
    order = np.argsort(pixel, kind="stable")
    offsets = np.searchsorted(pixel[order], np.arange(series.shape[0] + 1))
    values = np.full((pixel.size, count), np.nan)
    valid = np.zeros((pixel.size, count), np.int64)
    run = _parallel if parallel else _serial
    run(
        series,
        order,
        offsets,
        end,
        int(size),
        int(count),
        code,
        float(threshold),
        values,
        valid,
    )
    return values, valid


def window_stats_reference(
    series: np.ndarray,
    pixel: np.ndarray,
    end: np.ndarray,
    size: int,
    count: int,
    reducer: str = "sum",
    threshold: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain NumPy version of :func:`window_stats`: slices each window directly."""
    series = np.asarray(series, dtype=np.float64)
    _check(series, np.asarray(pixel), np.asarray(end), size, count, reducer)
    n_days = series.shape[1]
    values = np.full((len(pixel), count), np.nan)
    valid = np.zeros((len(pixel), count), np.int64)
    for i, (p, e) in enumerate(zip(pixel, end, strict=True)):
        for k in range(count):
            hi = e - k * size
            window = series[p, max(hi - size, 0) : max(min(hi, n_days), 0)]
            window = window[~np.isnan(window)]
            valid[i, k] = window.size
            if window.size == 0:
                continue
            values[i, k] = {
                "sum": window.sum,
                "mean": window.mean,
                "max": window.max,
                "count_wet_days": lambda w=window: float((w >= threshold).sum()),
            }[reducer]()
    return values, valid
