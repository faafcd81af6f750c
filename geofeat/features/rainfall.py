"""Rainfall features: precipitation over consecutive windows before each date.

Planning runs on the client and reads metadata only: the source's grid and the
days it covers. Points are located in the grid, grouped by tile of pixels, and
within a tile by the spans of days they need; each group becomes one Dask task
that reads the daily series of its pixels over its span once, for all its
points and all their windows, and reduces them with the cumulative-sum kernel
(:mod:`geofeat.kernels.rolling`). One last task assembles the table.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import dask
import numpy as np
import pandas as pd

from geofeat.errors import ReadError
from geofeat.failures import READ_ATTEMPTS, RETRY_DELAY
from geofeat.features.base import FAILURE_COLUMN, FeaturePlan
from geofeat.kernels.rolling import window_stats
from geofeat.points import Points
from geofeat.read import ReadStats
from geofeat.sources.precipitation import open_source, to_days
from geofeat.spec import RainfallFeature

logger = logging.getLogger(__name__)

#: Coverage below ``min_coverage`` by less than this still counts as enough
#: (coverage is a ratio of day counts, compared in floating point).
_COVERAGE_SLACK = 1e-9


def window_columns(name: str, count: int) -> list[str]:
    """Output columns of a rainfall feature: values, then coverages."""
    values = [f"{name}_t{k}" for k in range(count)]
    return values + [f"{c}_coverage" for c in values]


def read_windows(
    source,
    feature: RainfallFeature,
    rows: np.ndarray,
    cols: np.ndarray,
    start: int,
    end: int,
    point_pixel: np.ndarray,
    point_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, ReadStats, str | None]:
    """Read pixels' daily series over ``[start, end)`` once; reduce all windows.

    ``point_pixel`` indexes ``rows``/``cols``; ``point_end`` is each point's
    window-0 end as a day offset from ``start``. A read that still raises
    :class:`~geofeat.errors.ReadError` after retries gives NaN and its reason.
    """
    stats = ReadStats()
    delay = RETRY_DELAY
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            series = source.read(rows, cols, start, end, stats)
            break
        except ReadError as err:
            if attempt == READ_ATTEMPTS:
                # The points of this group get NaN and a failures record; the
                # other groups of the job are not affected.
                logger.warning(
                    "feature %s: reads failed %d time(s); %d point(s) get NaN and a "
                    "failures record: %s",
                    feature.name,
                    attempt,
                    point_pixel.size,
                    err,
                    exc_info=True,
                )
                shape = (point_pixel.size, feature.windows.count)
                return (
                    np.full(shape, np.nan),
                    np.zeros(shape, np.int64),
                    stats,
                    str(err),
                )
            time.sleep(delay)
            delay *= 2
    values, valid = window_stats(
        series,
        point_pixel,
        point_end,
        feature.windows.size.days,
        feature.windows.count,
        feature.reducer,
        feature.wet_day_threshold,
    )
    logger.debug(
        "feature %s: %d pixel(s) x %d day(s) read for %d point(s)",
        feature.name,
        rows.size,
        end - start,
        point_pixel.size,
    )
    return values, valid, stats, None


def assemble(
    feature: RainfallFeature,
    n_points: int,
    groups: list[np.ndarray],
    results: list[tuple[np.ndarray, np.ndarray, ReadStats, str | None]],
) -> tuple[pd.DataFrame, ReadStats]:
    """One row per point: window values (NaN below ``min_coverage``) and coverage.

    Points of groups whose reads failed get a reason in ``FAILURE_COLUMN``.
    """
    count, size = feature.windows.count, feature.windows.size.days
    values = np.full((n_points, count), np.nan)
    valid = np.zeros((n_points, count), np.int64)
    failure = np.full(n_points, None, dtype=object)
    stats = ReadStats()
    for point_rows, (group_values, group_valid, group_stats, reason) in zip(
        groups, results, strict=True
    ):
        values[point_rows] = group_values
        valid[point_rows] = group_valid
        failure[point_rows] = reason
        stats.merge(group_stats)
    coverage = valid / size
    values[coverage < feature.min_coverage - _COVERAGE_SLACK] = np.nan
    no_data = int(((valid == 0).all(axis=1)).sum())
    # Once per partition: the run logs the totals.
    logger.debug(
        "feature %s: %d of %d point(s) without any day of data in their windows",
        feature.name,
        no_data,
        n_points,
    )
    columns = window_columns(feature.name, count)
    table = pd.DataFrame(np.hstack([values, coverage]), columns=columns)
    if any(f is not None for f in failure):
        table[FAILURE_COLUMN] = failure
    return table, stats


def _spans(begin: np.ndarray, end: np.ndarray, gap: int) -> np.ndarray:
    """Label of the merged span of days each point falls in (input order).

    Points are sorted by their first day; a point starts a new span when it
    begins more than ``gap`` days after every earlier point has ended, so a span
    never reads more idle days than one point's windows would cost to read.
    """
    order = np.argsort(begin, kind="stable")
    reach = np.maximum.accumulate(end[order])
    new = np.r_[True, begin[order][1:] > reach[:-1] + gap]
    labels = np.empty(begin.size, np.int64)
    labels[order] = np.cumsum(new) - 1
    return labels


def plan_rainfall_feature(
    feature: RainfallFeature, points: Points, resolve=lambda p: p
) -> FeaturePlan:
    """Locate points, group them by pixel tile and span, build the read tasks."""
    if len(points) == 0:
        empty = dask.delayed(assemble, pure=True)(feature, 0, [], [])
        return FeaturePlan(name=feature.name, result=empty, column=f"{feature.name}_t0")
    source = open_source(feature.source, resolve)
    size, count = feature.windows.size.days, feature.windows.count
    end = to_days(points.day.values) + (1 if feature.windows.include_date else 0)
    begin = end - size * count
    # Sources split over catalogue items are described for the points' extent.
    bbox = (points.lon.min(), points.lat.min(), points.lon.max(), points.lat.max())
    info = source.describe(bbox, int(begin.min()), int(end.max()))

    row, col = info.grid.locate(points.lon, points.lat)
    inside = row >= 0
    in_time = (begin < info.end_day) & (end > info.first_day)
    todo = np.flatnonzero(inside & in_time)
    reasons = Counter()
    if (~inside).any():
        reasons["outside the precipitation source's extent"] = int((~inside).sum())
    if (inside & ~in_time).any():
        first = np.datetime64(info.first_day, "D")
        last = np.datetime64(info.end_day - 1, "D")
        reasons[f"windows outside the source's days ({first}..{last})"] = int(
            (inside & ~in_time).sum()
        )

    # Only the days that exist in the source are read.
    read_begin = np.maximum(begin, info.first_day)
    read_end = np.minimum(end, info.end_day)
    tile_rows, tile_cols = info.tile
    tile = (row // tile_rows) * (info.grid.shape[1] // tile_cols + 1) + col // tile_cols
    groups, tasks = [], []
    by_tile = todo[np.argsort(tile[todo], kind="stable")]
    cuts = np.flatnonzero(np.diff(tile[by_tile])) + 1
    for in_tile in np.split(by_tile, cuts) if by_tile.size else []:
        spans = _spans(read_begin[in_tile], read_end[in_tile], size * count)
        by_span = np.argsort(spans, kind="stable")
        span_cuts = np.flatnonzero(np.diff(spans[by_span])) + 1
        for members in np.split(in_tile[by_span], span_cuts):
            start, stop = int(read_begin[members].min()), int(read_end[members].max())
            pixel = row[members] * info.grid.shape[1] + col[members]
            unique, point_pixel = np.unique(pixel, return_inverse=True)
            groups.append(members)
            tasks.append(
                dask.delayed(read_windows, pure=True)(
                    source,
                    feature,
                    unique // info.grid.shape[1],
                    unique % info.grid.shape[1],
                    start,
                    stop,
                    point_pixel,
                    end[members] - start,
                )
            )
    # Once per partition: the run logs the totals.
    logger.debug(
        "feature %s: %d point(s) in %d read task(s); %d outside the source's "
        "extent, %d with windows outside its days",
        feature.name,
        todo.size,
        len(tasks),
        int((~inside).sum()),
        int((inside & ~in_time).sum()),
    )
    result = dask.delayed(assemble, pure=True)(feature, len(points), groups, tasks)
    # The job reports the filled count of the column named like the plan: t0.
    return FeaturePlan(
        name=feature.name, result=result, reasons=reasons, column=f"{feature.name}_t0"
    )
