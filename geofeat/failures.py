"""Reads that fail: retried, then recorded per point instead of failing the job.

A scene read task that raises :class:`~geofeat.errors.ReadError` (a file that
cannot be opened, a request that still fails after GDAL's own HTTP retries) is
tried again :data:`READ_ATTEMPTS` times in all. If it still fails, the points it
served get NaN for the feature and a reason in the feature's
:data:`~geofeat.features.base.FAILURE_COLUMN`, which the job turns into rows of
the failures table. Other points of the job are not affected.

A point with one failed scene gets NaN even if other scenes in its window were
read: its value would otherwise silently come from fewer observations.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from geofeat.errors import ReadError
from geofeat.features.base import FAILURE_COLUMN
from geofeat.read import ReadStats

logger = logging.getLogger(__name__)

#: Attempts of one scene read before its points are recorded as failed.
READ_ATTEMPTS = 3
#: Seconds before the second attempt; doubled before each further one.
RETRY_DELAY = 0.5


def observe_guarded(product, feature, scene, rank, rows, lon, lat):
    """:func:`geofeat.features.scene.observe`, retried; failures become records.

    Returns
    -------
    tuple
        ``(observations, stats)`` as ``observe`` returns them, or, after the
        last failed attempt, ``(failed, stats)`` where ``failed`` has columns
        ``row`` and ``failure`` (the reason) for every point of the task.
    """
    from geofeat.features.scene import observe

    delay = RETRY_DELAY
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return observe(product, feature, scene, rank, rows, lon, lat)
        except ReadError as err:
            if attempt == READ_ATTEMPTS or not err.retry:
                logger.warning(
                    "scene %s, feature %s: reads failed %d time(s); %d point(s) get "
                    "NaN and a failures record: %s",
                    scene.id,
                    feature.name,
                    attempt,
                    len(rows),
                    err,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                reason = f"scene {scene.id}: {err}"
                failed = pd.DataFrame({"row": np.asarray(rows), "failure": reason})
                return failed, ReadStats()
            logger.info(
                "scene %s: read failed (attempt %d of %d), retrying in %.1f s: %s",
                scene.id,
                attempt,
                READ_ATTEMPTS,
                delay,
                err,
            )
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def summarise_guarded(feature, n_points: int, results: list):
    """:func:`geofeat.features.scene.summarise`, with failed reads set apart.

    Points with a failed scene read get NaN for the feature and the reason in
    :data:`~geofeat.features.base.FAILURE_COLUMN` (the first reason if several).
    """
    from geofeat.features.scene import summarise

    good, failed = [], []
    for obs, stats in results:
        (failed if "failure" in obs.columns else good).append((obs, stats))
    table, stats = summarise(feature, n_points, good)
    if failed:
        records = pd.concat([obs for obs, _ in failed], ignore_index=True)
        first = records.drop_duplicates("row").set_index("row")["failure"]
        reasons = pd.Series(None, index=table.index, dtype=object)
        reasons.iloc[first.index.to_numpy()] = first.to_numpy()
        table[feature.name] = table[feature.name].where(reasons.isna())
        table[FAILURE_COLUMN] = reasons
    return table, stats
