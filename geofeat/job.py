"""``geofeat run``: points and a spec in, one row of features per point out.

The points are cut into partitions (:mod:`geofeat.resume`). For each partition
the client plans every feature (searches are metadata) and hands the read and
reduce tasks to the cluster (:mod:`geofeat.cluster`); a bounded number of
partitions is in flight at once. Each finished partition comes back to the
client, which stores it beside the output; when all are stored, the final table
is streamed together from them and committed atomically (:mod:`geofeat.output`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow as pa

from geofeat.catalog.lock import run_catalogs
from geofeat.cluster import connect, dashboard_link, describe
from geofeat.errors import ReadError
from geofeat.features import plan_feature
from geofeat.features.base import FAILURE_COLUMN
from geofeat.output import check_target, write_parts, write_table
from geofeat.points import Points, read_points
from geofeat.read import ReadStats
from geofeat.resume import (
    FAILURE_COLUMNS,
    Partition,
    PartitionResult,
    PartitionStore,
    failures_path,
    fingerprint,
    partitions,
    store_path,
)
from geofeat.sources import product_for
from geofeat.spec import (
    ClusterSpec,
    JobSpec,
    RainfallFeature,
    command_line_path,
    load_spec,
)

logger = logging.getLogger(__name__)

#: Task-level retries of a partition's graph on errors (worker loss is handled
#: by the scheduler, which reruns the lost tasks on other workers).
TASK_RETRIES = 2

_NO_VALID = "no valid observation (masked, nodata or outside the raster)"


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
    """Reads done by this run (partitions reused from the store read nothing)."""
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    partitions: int = 0
    partitions_reused: int = 0
    """Partitions found finished in the partition store and not recomputed."""
    failures: int = 0
    """Point reads that failed after retries (rows of the failures table)."""
    failures_output: str | None = None
    cluster: str = ""
    dashboard: str | None = None


@dataclass
class RunResult:
    table: pd.DataFrame | None
    summary: RunSummary
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=FAILURE_COLUMNS)
    )
    """One row per point and feature whose reads failed: id, feature, reason."""


@dataclass
class RunProgress:
    """Where a run is, as reported to a ``progress`` callback."""

    partitions_done: int
    partitions: int
    points_done: int
    points: int
    reads: ReadStats
    dashboard: str | None = None


def run(
    spec: JobSpec | str | Path | dict,
    *,
    points: str | None = None,
    output: str | None = None,
    write: bool = True,
    cluster: ClusterSpec | None = None,
    restart: bool = False,
    strict: bool = False,
    keep_table: bool = True,
    progress: Callable[[RunProgress], None] | None = None,
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
        return it (no partition store, nothing resumable).
    cluster
        Overrides the spec's ``cluster``.
    restart
        Discard finished partitions of an earlier run of this output.
    strict
        Raise :class:`~geofeat.errors.ReadError` if any point's reads failed
        after retries; the output is then not written (the failures table is).
    keep_table
        Return the table in the result; False keeps memory bounded by a few
        partitions however many points there are (``result.table`` is None).
    progress
        Called with a :class:`RunProgress` each time a partition is done.

    Returns
    -------
    RunResult
        ``table``: every input row in input order with its input columns, plus
        per feature ``{name}`` (NaN where nothing valid), ``{name}_n`` (valid
        observations) and ``{name}_total``. ``summary``: counts and timings.
        ``failures``: failed point reads.

    Examples
    --------
    >>> result = geofeat.run("spec.yaml", write=False)  # doctest: +SKIP
    >>> result.table[["id", "ndvi", "ndvi_n"]]  # doctest: +SKIP
    """
    started = time.perf_counter()
    if not isinstance(spec, JobSpec):
        spec = load_spec(spec, points=points, output=output)
    else:
        # Overrides are relative to the current folder, as on the command line.
        if output is not None:
            spec = spec.model_copy(update={"output": command_line_path(output)})
        if points is not None:
            path = command_line_path(points)
            spec = spec.model_copy(
                update={"points": spec.points.model_copy(update={"path": path})}
            )
    if cluster is not None:
        spec = spec.model_copy(update={"cluster": cluster})
    pts = read_points(spec.resolve(spec.points.path), spec.points)
    parts = partitions(len(pts), spec.partition_size)
    summary = RunSummary(
        output=None,
        points=len(pts),
        partitions=len(parts),
        cluster=describe(spec.cluster),
    )
    target = spec.resolve(spec.output) if write else None
    if target is not None:
        check_target(target)

    store = None
    done: set[int] = set()
    if target is not None:
        store = PartitionStore(store_path(target), fingerprint(spec, pts), len(parts))
        done = store.open(restart=restart)
        if done:
            logger.info(
                "resuming from %s: %d of %d partition(s) already done, %d to compute",
                store.root,
                len(done),
                len(parts),
                len(parts) - len(done),
            )
    summary.partitions_reused = len(done)
    results: dict[int, PartitionResult] = {}
    tally = _Tally(summary, len(parts), len(pts), progress)
    for index in sorted(done):
        tally.reused(store.stats(index))
    pending = [p for p in parts if p.index not in done]

    try:
        # Items found are recorded beside the output (a fresh run starts a new lock).
        catalogs = run_catalogs(spec, target, fresh=not done)
        # Search once for all points: partitions are cut in input order, so each
        # would otherwise search every cell again.
        catalogs.prefetch(spec, pts, pending)
        # With every partition already stored there is nothing to start.
        with connect(spec.cluster) if pending else nullcontext() as client:
            summary.dashboard = tally.dashboard = dashboard_link(client)
            if summary.dashboard:
                logger.info("Dask dashboard: %s", summary.dashboard)
            tally.report()
            for result in _compute(spec, pts, pending, client, catalogs):
                tally.computed(result)
                if store is not None:
                    store.write(result)
                else:
                    results[result.index] = result
                tally.report()
    except Exception:
        if store is not None and not store.done():
            store.remove()  # nothing finished: leave nothing behind
        raise
    except KeyboardInterrupt:
        if store is not None:
            logger.warning(
                "interrupted: %d of %d partition(s) are stored in %s; run the same "
                "command again to compute only the rest",
                len(store.done()),
                len(parts),
                store.root,
            )
        raise

    if pending:
        # Partitions report the searches they planned, answered from the run's
        # cache; what reached the catalogues is counted there.
        summary.searches, summary.items = catalogs.totals()
    _log_reads(summary)
    if store is not None:
        failures = store.failures()
        stored = [store.stats(p.index) for p in parts]
        summary.filled = _sum_counts(s["filled"] for s in stored)
        summary.reasons = Counter(_sum_counts(s["reasons"] for s in stored))
    else:
        failures = _concat_failures([results[p.index].failures for p in parts])
        summary.filled = _sum_counts(results[p.index].filled for p in parts)
        summary.reasons = Counter(_sum_counts(results[p.index].reasons for p in parts))
    summary.failures = len(failures)
    for reason, count in sorted(summary.reasons.items()):
        logger.info("%d point(s) without value: %s", count, reason)
    for column, filled in summary.filled.items():
        if filled == 0:
            logger.warning(
                "%s: no point got a value; check that lon and lat are not swapped "
                "and that the dates fall inside the source's time span",
                column,
            )

    if target is not None:
        summary.failures_output = write_table(failures, failures_path(target))
        if summary.failures:
            logger.warning(
                "%d point read(s) failed after retries; their values are NaN; see %s",
                summary.failures,
                summary.failures_output,
            )
    if strict and summary.failures:
        raise ReadError(
            f"{summary.failures} point read(s) failed after retries (listed in "
            f"{summary.failures_output or 'the run result'}); --strict stops the "
            "run before the output is written; fix the cause and rerun with "
            "--restart, or run without --strict to accept NaN for those points"
        )

    table = None
    if store is not None:
        metadata = {
            "geofeat:spec": json.dumps(spec.model_dump(mode="json"), default=str),
            "geofeat:units": json.dumps(column_units(spec)),
        }
        schema = pa.unify_schemas(
            [store.schema(p.index) for p in parts], promote_options="permissive"
        )
        loaders = [lambda i=p.index: store.load(i) for p in parts]
        write_parts(loaders, schema, target, metadata=metadata)
        summary.output = target
        logger.info("wrote %d row(s) to %s", len(pts), target)
        if keep_table:
            table = pd.concat(
                [store.load(p.index).to_pandas() for p in parts], ignore_index=True
            )
        store.remove()
    elif keep_table:
        table = pd.concat([results[p.index].table for p in parts], ignore_index=True)
    summary.seconds = time.perf_counter() - started
    return RunResult(table=table, summary=summary, failures=failures)


def column_units(spec: JobSpec) -> dict[str, str]:
    """Units of each feature's value columns, for the output's metadata.

    Written as JSON under the Parquet key ``geofeat:units``; ``"1"`` means
    unitless. Counts, dates and provenance columns are not listed.
    """
    units: dict[str, str] = {}
    for feature in spec.features:
        if isinstance(feature, RainfallFeature):
            unit = {"sum": "mm", "count_wet_days": "days"}.get(
                feature.reducer, "mm/day"
            )
            for k in range(feature.windows.count):
                units[f"{feature.name}_t{k}"] = unit
                units[f"{feature.name}_t{k}_coverage"] = "1"
        else:
            product = product_for(feature.collection)
            if hasattr(product, "units"):
                units[feature.name] = product.units(feature)
    return units


def _compute(
    spec: JobSpec, pts: Points, pending: list[Partition], client, catalogs: dict
) -> Iterator[PartitionResult]:
    """Compute partitions, yielding each as it finishes (any order).

    ``catalogs`` caches the opened catalogues by name across partitions.
    """

    def plan(part: Partition):
        sub = pts.take(slice(part.start, part.stop))
        plans = [
            plan_feature(spec, feature, sub, catalogs) for feature in spec.features
        ]
        return sub, plans

    if client is None:
        for part in pending:
            sub, plans = plan(part)
            computed = dask.compute(*[p.result for p in plans])
            yield _partition_result(part, sub, plans, computed)
        return

    from distributed import as_completed

    # Enough partitions in flight to keep every worker thread busy while the
    # client plans the next ones; few enough that memory stays bounded.
    in_flight = max(2, 2 * sum(client.nthreads().values()))
    queue = iter(pending)
    running = as_completed()
    context: dict = {}

    def submit() -> bool:
        part = next(queue, None)
        if part is None:
            return False
        sub, plans = plan(part)
        graph = dask.delayed(list)([p.result for p in plans])
        future = client.compute(graph, retries=TASK_RETRIES)
        context[future.key] = (part, sub, plans)
        running.add(future)
        return True

    for _ in range(in_flight):
        if not submit():
            break
    for future in running:
        part, sub, plans = context.pop(future.key)
        computed = future.result()
        future.release()
        yield _partition_result(part, sub, plans, computed)
        submit()


def _partition_result(
    part: Partition, sub: Points, plans: list, computed
) -> PartitionResult:
    """Put a partition's feature columns beside its input rows; collect failures."""
    table = sub.table.copy()
    stats = ReadStats()
    failures = []
    filled, reasons = {}, Counter()
    for plan, (columns, read_stats) in zip(plans, computed, strict=True):
        columns = columns.reset_index(drop=True)
        n_failed = 0
        if FAILURE_COLUMN in columns.columns:
            failed = columns.pop(FAILURE_COLUMN)
            rows = np.flatnonzero(failed.notna().to_numpy())
            n_failed = rows.size
            if n_failed:
                failures.append(
                    pd.DataFrame(
                        {
                            "id": sub.ids[rows],
                            "feature": plan.name,
                            "reason": failed.iloc[rows].astype(str).to_numpy(),
                        }
                    )
                )
        clash = set(columns.columns) & set(table.columns)
        if clash:
            # Input columns are kept as they are; feature columns never overwrite them.
            columns = columns.rename(columns={c: f"{c}_feature" for c in clash})
        table = pd.concat([table, columns], axis=1)
        stats.merge(read_stats)
        filled[plan.name] = int(columns[plan.value_column].notna().sum())
        missing = len(sub) - filled[plan.name]
        for reason, count in plan.reasons.items():
            reasons[f"{plan.name}: {reason}"] += count
        no_valid = missing - sum(plan.reasons.values()) - n_failed
        if n_failed:
            reasons[f"{plan.name}: reads failed after retries"] += n_failed
        if no_valid > 0:
            reasons[f"{plan.name}: {_NO_VALID}"] += no_valid
    return PartitionResult(
        index=part.index,
        table=table,
        failures=_concat_failures(failures),
        stats=stats,
        filled=filled,
        reasons=dict(reasons),
        searches=sum(p.searches for p in plans),
        items=sum(p.items for p in plans),
    )


def _concat_failures(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in FAILURE_COLUMNS})
    return pd.concat(frames, ignore_index=True)[FAILURE_COLUMNS]


def _sum_counts(counts) -> dict[str, int]:
    total: Counter = Counter()
    for c in counts:
        total.update(c)
    return dict(total)


class _Tally:
    """Counts of a run as partitions finish, and the progress callback."""

    def __init__(self, summary: RunSummary, partitions: int, points: int, progress):
        self.summary = summary
        self.partitions = partitions
        self.points = points
        self.progress = progress
        self.partitions_done = 0
        self.points_done = 0
        self.dashboard = None

    def reused(self, stored: dict) -> None:
        self.partitions_done += 1
        self.points_done += stored["points"]
        self.summary.searches += stored.get("searches", 0)
        self.summary.items = max(self.summary.items, stored.get("items", 0))

    def computed(self, result: PartitionResult) -> None:
        self.partitions_done += 1
        self.points_done += len(result.table)
        self.summary.reads.merge(result.stats)
        self.summary.searches += result.searches
        self.summary.items = max(self.summary.items, result.items)
        logger.debug(
            "partition %d: %d point(s), %d window(s) read, %d failure(s)",
            result.index,
            len(result.table),
            result.stats.windows,
            len(result.failures),
        )

    def report(self) -> None:
        if self.progress is not None:
            self.progress(
                RunProgress(
                    partitions_done=self.partitions_done,
                    partitions=self.partitions,
                    points_done=self.points_done,
                    points=self.points,
                    reads=self.summary.reads,
                    dashboard=self.dashboard,
                )
            )


def _log_reads(summary: RunSummary) -> None:
    if summary.reads.geometry_from_file:
        logger.info(
            "%d asset(s) had a pixel grid different from the item's proj:* metadata; "
            "their files' own geometry was used",
            summary.reads.geometry_from_file,
        )
    logger.info(
        "reads: %d asset(s), %d window(s), %d pixel(s), %.1f MB decoded "
        "(%d of %d partition(s) computed by this run)",
        summary.reads.assets,
        summary.reads.windows,
        summary.reads.pixels,
        summary.reads.bytes / 1e6,
        summary.partitions - summary.partitions_reused,
        summary.partitions,
    )
