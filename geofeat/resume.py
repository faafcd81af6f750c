"""Partitions of a job, and the store that keeps the finished ones.

The points are cut into partitions of consecutive rows (``partition_size``).
Each partition is planned, computed and stored on its own, in a partition store
beside the output (``features.parquet.parts/``), so that:

- memory stays bounded by the partitions in flight, not by the number of points;
- an interrupted run, rerun with the same spec and points, computes only the
  partitions that are missing; the final table is assembled (streamed, one
  partition at a time) only when every partition is stored;
- a store written by a different spec, points table or partition size is never
  mixed in: it is refused, and ``--restart`` discards it.

Each partition is three files: ``part-NNNNN.json`` (counts, read statistics),
``failures-NNNNN.parquet`` (failed point reads) and ``part-NNNNN.parquet`` (its
rows, every input column plus the features), written in that order, each
atomically; the Parquet part is the commit marker of the partition.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass

import pandas as pd
import pyarrow as pa

from geofeat.errors import ConfigError
from geofeat.output import (
    filesystem,
    join,
    read_parquet,
    read_schema,
    write_bytes,
    write_table,
)
from geofeat.points import Points
from geofeat.read import ReadStats
from geofeat.spec import JobSpec

logger = logging.getLogger(__name__)

#: Columns of a failures table.
FAILURE_COLUMNS = ["id", "feature", "reason"]

_MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Partition:
    """Rows ``[start, stop)`` of the points table."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def partitions(n_points: int, size: int) -> list[Partition]:
    """Cut ``n_points`` rows into partitions of at most ``size`` rows, in order."""
    starts = range(0, max(n_points, 1), size)
    return [Partition(i, s, min(s + size, n_points)) for i, s in enumerate(starts)]


def fingerprint(spec: JobSpec, points: Points) -> str:
    """A hash of everything that decides a partition's rows.

    The features, catalogues, partition size and the points table's content;
    not the output, the cluster or where the spec file lives.
    """
    described = {
        "features": [f.model_dump(mode="json") for f in spec.features],
        "catalogs": {
            name: {**c.model_dump(mode="json"), "url": c.url and spec.resolve(c.url)}
            for name, c in sorted(spec.catalogs.items())
        },
        "partition_size": spec.partition_size,
        "columns": [str(c) for c in points.table.columns],
    }
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    digest.update(pd.util.hash_pandas_object(points.table, index=False).to_numpy())
    return digest.hexdigest()


def store_path(output: str) -> str:
    """Where the partition store of ``output`` lives: beside it."""
    return output.rstrip("/") + ".parts"


def failures_path(output: str) -> str:
    """Where the failures table of ``output`` is written: beside it."""
    base = output[: -len(".parquet")] if output.endswith(".parquet") else output
    return base + ".failures.parquet"


@dataclass
class PartitionResult:
    """One computed partition: its rows, failed reads and counts."""

    index: int
    table: pd.DataFrame
    failures: pd.DataFrame
    stats: ReadStats
    filled: dict[str, int]
    reasons: dict[str, int]
    searches: int = 0
    items: int = 0


def stats_to_json(result: PartitionResult) -> dict:
    stats = asdict(result.stats)
    stats["failures"] = dict(result.stats.failures)
    return {
        "index": result.index,
        "points": len(result.table),
        "failures": len(result.failures),
        "reads": stats,
        "filled": result.filled,
        "reasons": result.reasons,
        "searches": result.searches,
        "items": result.items,
    }


def stats_from_json(data: dict) -> ReadStats:
    reads = dict(data["reads"])
    from collections import Counter

    reads["failures"] = Counter(reads.get("failures", {}))
    return ReadStats(**reads)


class PartitionStore:
    """The finished partitions of one job, in a folder or object-store prefix.

    Parameters
    ----------
    root
        Local folder or URL of the store (see :func:`store_path`).
    fingerprint
        Of the job (see :func:`fingerprint`); a store made by another job is
        refused.
    n_partitions
        How many partitions the job has.
    """

    def __init__(self, root: str, fingerprint: str, n_partitions: int) -> None:
        self.root = root.rstrip("/")
        self.fingerprint = fingerprint
        self.n_partitions = n_partitions
        self.fs, self._inner = filesystem(self.root)

    def _name(self, kind: str, index: int, suffix: str) -> str:
        return join(self.root, f"{kind}-{index:05d}.{suffix}")

    def open(self, restart: bool = False) -> set[int]:
        """Create the store, or check an existing one; return finished partitions.

        Raises
        ------
        ConfigError
            The store holds partitions of a different job and ``restart`` is
            false.
        """
        manifest = join(self.root, _MANIFEST)
        if restart and self.fs.exists(self._inner):
            logger.info("--restart: removing the partition store %s", self.root)
            self.remove()
        if self.fs.exists(filesystem(manifest)[1]):
            with self.fs.open(filesystem(manifest)[1], "rb") as handle:
                found = json.load(handle)
            if found.get("fingerprint") != self.fingerprint and not self.done():
                # Nothing finished to lose (a run that failed before its first
                # partition, then a corrected spec): start this job's store.
                logger.info("replacing the empty partition store %s", self.root)
                body = {"fingerprint": self.fingerprint, "partitions": self.n_partitions}
                write_bytes(json.dumps(body).encode(), manifest)
            elif found.get("fingerprint") != self.fingerprint:
                raise ConfigError(
                    f"the partition store {self.root} holds partitions of a different "
                    "job (the spec's features or catalogues, the points or the "
                    "partition size changed since it was written); rerun with "
                    "--restart to discard it, or write to another output"
                )
        else:
            if not self.fs.exists(self._inner):
                self.fs.makedirs(self._inner, exist_ok=True)
            body = {"fingerprint": self.fingerprint, "partitions": self.n_partitions}
            write_bytes(json.dumps(body).encode(), manifest)
        return self.done()

    def done(self) -> set[int]:
        """Indexes of the partitions whose rows are stored."""
        try:
            names = [
                p.rsplit("/", 1)[-1] for p in self.fs.ls(self._inner, detail=False)
            ]
        except FileNotFoundError:
            return set()
        found = set()
        for name in names:
            if name.startswith("part-") and name.endswith(".parquet"):
                found.add(int(name[len("part-") : -len(".parquet")]))
        return {i for i in found if i < self.n_partitions}

    def write(self, result: PartitionResult) -> None:
        """Store one partition; its Parquet part, written last, commits it."""
        write_bytes(
            json.dumps(stats_to_json(result)).encode(),
            self._name("part", result.index, "json"),
        )
        failures = result.failures
        if failures.empty:
            failures = pd.DataFrame(
                {c: pd.Series(dtype="str") for c in FAILURE_COLUMNS}
            )
        write_table(failures, self._name("failures", result.index, "parquet"))
        write_table(result.table, self._name("part", result.index, "parquet"))

    def stats(self, index: int) -> dict:
        """The counts stored with a partition."""
        with self.fs.open(filesystem(self._name("part", index, "json"))[1]) as handle:
            return json.load(handle)

    def schema(self, index: int) -> pa.Schema:
        return read_schema(self._name("part", index, "parquet"))

    def load(self, index: int) -> pa.Table:
        return read_parquet(self._name("part", index, "parquet"))

    def failures(self) -> pd.DataFrame:
        """Every failed read recorded in the store, in partition order."""
        frames = [
            read_parquet(self._name("failures", i, "parquet")).to_pandas()
            for i in range(self.n_partitions)
        ]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="str") for c in FAILURE_COLUMNS})
        return pd.concat(frames, ignore_index=True)

    def remove(self) -> None:
        """Delete the store and everything in it."""
        if self.fs.exists(self._inner):
            self.fs.rm(self._inner, recursive=True)
