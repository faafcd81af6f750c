"""``geofeat run``: points and a spec in, one row of features per point out."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pandas as pd

from geofeat.features import plan_feature
from geofeat.output import write_table
from geofeat.points import read_points
from geofeat.read import ReadStats
from geofeat.spec import JobSpec, load_spec

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """What a run did, for the operator."""

    output: str | None
    points: int
    searches: int = 0
    items: int = 0
    filled: dict[str, int] = field(default_factory=dict)
    """Per feature column: how many points got a value."""
    reads: ReadStats = field(default_factory=ReadStats)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0


@dataclass
class RunResult:
    table: pd.DataFrame
    summary: RunSummary


def run(
    spec: JobSpec | str | Path | dict,
    *,
    points: str | None = None,
    output: str | None = None,
    write: bool = True,
) -> RunResult:
    """Run a job: read the points, compute every feature, write the table.

    Parameters
    ----------
    spec
        A :class:`~geofeat.spec.JobSpec`, a path to a YAML spec, or a dict.
    points, output
        Override the spec's points path and output.
    write
        Write the table to the spec's output (the default); with False only
        return it.

    Returns
    -------
    RunResult
        ``table``: every input row in input order with its input columns, plus
        per feature ``{name}`` (NaN where nothing valid), ``{name}_n`` (valid
        observations) and ``{name}_total``. ``summary``: counts and timings.

    Examples
    --------
    >>> result = geofeat.run("spec.yaml", write=False)  # doctest: +SKIP
    >>> result.table[["id", "ndvi", "ndvi_n"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    if not isinstance(spec, JobSpec):
        spec = load_spec(spec, points=points, output=output)
    pts = read_points(spec.resolve(spec.points.path), spec.points)
    summary = RunSummary(output=None, points=len(pts))

    catalogs: dict = {}
    plans = [plan_feature(spec, feature, pts, catalogs) for feature in spec.features]
    for plan in plans:
        summary.searches += plan.searches
        summary.items += plan.items

    with dask.config.set(scheduler=spec.scheduler):
        computed = dask.compute(*[plan.result for plan in plans])

    table = pts.table.copy()
    for plan, (columns, stats) in zip(plans, computed):
        clash = set(columns.columns) & set(table.columns)
        if clash:
            # Input columns are kept as they are; feature columns never overwrite them.
            columns = columns.rename(columns={c: f"{c}_feature" for c in clash})
        table = pd.concat([table, columns], axis=1)
        summary.reads.merge(stats)
        summary.filled[plan.name] = int(columns[plan.name].notna().sum())
        missing = len(pts) - summary.filled[plan.name]
        for reason, count in plan.reasons.items():
            summary.reasons[f"{plan.name}: {reason}"] += count
        no_valid = missing - sum(plan.reasons.values())
        if no_valid > 0:
            summary.reasons[f"{plan.name}: no valid observation (masked, nodata or outside the raster)"] += no_valid

    if summary.reads.geometry_from_file:
        logger.info(
            "%d asset(s) had a pixel grid different from the item's proj:* metadata; "
            "their files' own geometry was used",
            summary.reads.geometry_from_file,
        )
    for reason, count in sorted(summary.reasons.items()):
        logger.info("%d point(s) without value: %s", count, reason)
    logger.info(
        "reads: %d asset(s), %d window(s), %d pixel(s), %.1f MB decoded",
        summary.reads.assets,
        summary.reads.windows,
        summary.reads.pixels,
        summary.reads.bytes / 1e6,
    )
    if write:
        summary.output = write_table(
            table,
            spec.resolve(spec.output),
            metadata={"geofeat:spec": json.dumps(spec.model_dump(mode="json"), default=str)},
        )
    summary.seconds = time.perf_counter() - started
    return RunResult(table=table, summary=summary)
