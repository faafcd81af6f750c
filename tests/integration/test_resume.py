"""Nothing finished is lost: interrupted runs resume, outputs are atomic, and
failed reads become NaN plus a failures record, on the real Sentinel-2 scenes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely.geometry
from dask_processes import write_job

import geofeat
import geofeat.failures
from geofeat.errors import ConfigError, ReadError
from geofeat.output import write_parts
from geofeat.read import ReadStats
from geofeat.resume import PartitionResult, PartitionStore, failures_path, store_path

GEOFEAT = Path(sys.executable).with_name("geofeat")
BROKEN = "S2A_33TWL_20230815_0_L2A"


@pytest.fixture(scope="module")
def job(tmp_path_factory, s2_catalog: Path) -> Path:
    """Twelve points, one per partition.

    The radiometry check looks at the points' own pixels only: a scene's
    overview is read once per process, by whichever partition meets it first,
    so with overviews the windows a partition reads would depend on what ran
    before it in the same process, and could not be compared across runs.
    """
    return write_job(
        tmp_path_factory.mktemp("job"),
        s2_catalog,
        partition_size=1,
        radiometry_check="points",
    )


@pytest.fixture(scope="module")
def undisturbed(job: Path):
    result = geofeat.run(job, output=str(job.parent / "ref.parquet"), cluster="threads")
    assert result.summary.partitions == 12
    assert result.table["ndvi"].notna().sum() >= 9
    return result


@pytest.mark.realdata
def test_interrupted_run_resumes_only_what_is_missing(job, undisturbed, caplog):
    """Ctrl-C after a few partitions; the rerun reads only the missing ones."""
    output = job.parent / "out" / "features.parquet"
    store = Path(store_path(str(output)))
    proc = subprocess.Popen(
        [str(GEOFEAT), "run", str(job), "--cluster", "synchronous"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(list(store.glob("part-*.parquet"))) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert not output.exists()

    done = sorted(store.glob("part-*.parquet"))
    assert 3 <= len(done) < 12, "the run ended before the interrupt"
    stored = [json.loads(p.with_suffix(".json").read_text()) for p in done]
    windows_stored = sum(s["reads"]["windows"] for s in stored)
    assert windows_stored > 0

    with caplog.at_level(logging.INFO, logger="geofeat"):
        resumed = geofeat.run(job, cluster="threads")
    summary = resumed.summary
    assert summary.partitions_reused == len(done)
    assert f"{len(done)} of 12 partition(s) already done" in caplog.text
    # The rerun read exactly what the undisturbed run read for the missing partitions.
    assert summary.reads.windows == undisturbed.summary.reads.windows - windows_stored
    assert summary.reads.windows < undisturbed.summary.reads.windows
    pd.testing.assert_frame_equal(resumed.table, undisturbed.table)
    pd.testing.assert_frame_equal(pd.read_parquet(output), undisturbed.table)
    assert not store.exists()


def test_store_of_another_job_is_refused_until_restart(tmp_path) -> None:
    """A store written by a different job is never mixed in; --restart drops it."""
    root = str(tmp_path / "features.parquet.parts")
    first = PartitionStore(root, "job-a", 2)
    assert first.open() == set()
    table = pd.DataFrame({"id": ["a"], "ndvi": [0.5]})
    none = pd.DataFrame(columns=["id", "feature", "reason"])
    first.write(PartitionResult(0, table, none, ReadStats(windows=3), {"ndvi": 1}, {}))
    assert PartitionStore(root, "job-a", 2).open() == {0}
    with pytest.raises(ConfigError, match="--restart"):
        PartitionStore(root, "job-b", 2).open()
    assert PartitionStore(root, "job-b", 2).open(restart=True) == set()


def test_failed_write_leaves_the_previous_output(tmp_path) -> None:
    """An error while streaming parts: the old file stays, no temporary is left."""
    target = tmp_path / "features.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(target)
    schema = pa.schema([("x", pa.int64())])

    def broken() -> pa.Table:
        raise OSError("disk full")

    parts = [lambda: pa.table({"x": [5, 6]}), broken]
    with pytest.raises(OSError, match="disk full"):
        write_parts(parts, schema, str(target))
    assert pd.read_parquet(target)["x"].tolist() == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.parquet"]


def test_killed_writer_never_leaves_a_truncated_parquet(tmp_path) -> None:
    """SIGKILL of a process in the middle of writing: nothing at the target."""
    target = tmp_path / "features.parquet"
    script = textwrap.dedent(
        f"""
        import time
        import pyarrow as pa
        from geofeat.output import write_parts

        def slow():
            time.sleep(60)
            return pa.table({{"x": [2]}})

        big = pa.table({{"x": list(range(200_000))}})
        write_parts([lambda: big, slow], big.schema, {str(target)!r})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".features.parquet.*.tmp")):
        assert proc.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # the first row group is being written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert not target.exists()


def _catalog_with_a_broken_asset(s2_catalog: Path, folder: Path) -> Path:
    """A copy of the real catalogue's JSON whose ``BROKEN`` red band is missing.

    Rasters are not copied: every other href points into the real data.
    """
    source = s2_catalog.parent
    for path in source.rglob("*.json"):
        copy = folder / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        data = json.loads(path.read_text())
        for key, asset in data.get("assets", {}).items():
            if "://" not in asset["href"]:
                real = (path.parent / asset["href"]).resolve()
                asset["href"] = str(real)
                if data["id"] == BROKEN and key == "red":
                    asset["href"] = str(folder / "gone" / "B04.tif")
        copy.write_text(json.dumps(data))
    shutil.copy(s2_catalog, folder / "catalog.json")
    return folder / "catalog.json"


@pytest.mark.realdata
def test_failed_reads_become_nan_and_failure_records(
    job, undisturbed, s2_catalog, tmp_path, monkeypatch
) -> None:
    """Points served by an unreadable scene: NaN, a record each, --strict fails."""
    monkeypatch.setattr(geofeat.failures, "RETRY_DELAY", 0.0)
    catalog = _catalog_with_a_broken_asset(s2_catalog, tmp_path / "catalog")
    spec = geofeat.spec.load_spec(job, output=str(tmp_path / "features.parquet"))
    spec = spec.model_copy(
        update={
            "catalogs": {
                "s2": spec.catalogs["s2"].model_copy(update={"url": str(catalog)})
            }
        }
    )

    # Which points the broken scene serves, from the item JSON alone.
    item = json.loads(next(s2_catalog.parent.rglob(f"{BROKEN}.json")).read_text())
    footprint = shapely.geometry.shape(item["geometry"])
    when = pd.Timestamp(item["properties"]["datetime"]).tz_localize(None)
    points = pd.read_csv(job.parent / "points.csv")
    day = pd.to_datetime(points["date"])
    in_window = (day - pd.Timedelta(days=6) <= when) & (when < day)
    inside = np.array(
        [
            footprint.contains(shapely.Point(x, y))
            for x, y in zip(points.lon, points.lat, strict=True)
        ]
    )
    expected = set(points["id"][in_window & inside])
    assert 2 <= len(expected) < len(points)

    # --strict: the run fails, the output is not written, the failures table is.
    with pytest.raises(ReadError, match="--strict"):
        geofeat.run(spec, cluster="threads", strict=True)
    assert not Path(spec.output).exists()
    assert set(pd.read_parquet(failures_path(spec.output))["id"]) == expected

    # Without --strict the finished partitions are reused and the table written.
    result = geofeat.run(spec, cluster="threads")
    assert result.summary.partitions_reused == 12
    assert result.summary.reads.windows == 0
    table, failures = result.table, result.failures
    assert set(failures["id"]) == expected
    assert (failures["feature"] == "ndvi").all()
    assert failures["reason"].str.contains(BROKEN).all()
    assert result.summary.failures == len(expected)
    failed = table["id"].isin(expected)
    assert table.loc[failed, "ndvi"].isna().all()
    ref = undisturbed.table
    pd.testing.assert_series_equal(table.loc[~failed, "ndvi"], ref.loc[~failed, "ndvi"])
    assert set(pd.read_parquet(failures_path(spec.output))["id"]) == expected
    assert pd.read_parquet(spec.output)["ndvi"].isna().sum() >= len(expected)


def test_read_retried_then_recorded(monkeypatch) -> None:
    """A scene read that fails twice then works gives its value; always failing
    gives a failure record per point and NaN for those points only."""
    import geofeat.features.scene as scene_feature
    from geofeat.failures import observe_guarded, summarise_guarded
    from geofeat.features.base import FAILURE_COLUMN

    monkeypatch.setattr(geofeat.failures, "RETRY_DELAY", 0.0)
    calls = []

    class Scene:
        id = "S2X_TEST"

    class Feature:
        name = "ndvi"
        reducer = "median"

    def flaky(product, feature, scene, rank, rows, lon, lat):
        calls.append(scene.id)
        if len(calls) < 3:
            raise ReadError("HTTP 503 from the object store")
        return "observations", ReadStats(windows=1)

    monkeypatch.setattr(scene_feature, "observe", flaky)
    rows = np.array([1, 3])
    assert (
        observe_guarded(None, Feature, Scene, 0, rows, None, None)[0] == "observations"
    )
    assert len(calls) == 3  # two failures, then success

    def broken(*args):
        raise ReadError("HTTP 503 from the object store")

    monkeypatch.setattr(scene_feature, "observe", broken)
    failed, stats = observe_guarded(None, Feature, Scene, 0, rows, None, None)
    assert failed["row"].tolist() == [1, 3]
    assert failed["failure"].str.contains("S2X_TEST: HTTP 503").all()

    def summarise(feature, n_points, results):
        assert results == []  # failed reads are not observations
        return pd.DataFrame({"ndvi": [0.1, 0.2, 0.3, 0.4], "ndvi_n": 1}), ReadStats()

    monkeypatch.setattr(scene_feature, "summarise", summarise)
    table, _ = summarise_guarded(Feature, 4, [(failed, stats)])
    assert table["ndvi"].tolist()[0::2] == [0.1, 0.3]
    assert table["ndvi"].isna().tolist() == [False, True, False, True]
    assert table[FAILURE_COLUMN].notna().tolist() == [False, True, False, True]


@pytest.mark.realdata
def test_restart_discards_a_stale_store(s2_catalog, tmp_path) -> None:
    """A store with finished partitions of another job stops the run with the fix;
    --restart drops it."""
    job = write_job(tmp_path, s2_catalog, n_points=2, partition_size=2)
    output = tmp_path / "out" / "features.parquet"
    stale = PartitionStore(store_path(str(output)), "another-job", 1)
    stale.open()
    none = pd.DataFrame(columns=["id", "feature", "reason"])
    table = pd.DataFrame({"id": ["x"], "ndvi": [0.5]})
    stale.write(PartitionResult(0, table, none, ReadStats(), {"ndvi": 1}, {}))
    refused = subprocess.run(
        [str(GEOFEAT), "run", str(job), "--cluster", "threads"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "different job" in refused.stderr and "--restart" in refused.stderr
    assert not output.exists()
    done = subprocess.run(
        [str(GEOFEAT), "run", str(job), "--cluster", "threads", "--restart"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "removing the partition store" in done.stderr
    assert len(pd.read_parquet(output)) == 2
    assert not Path(store_path(str(output))).exists()


def test_empty_store_of_another_job_is_replaced(tmp_path) -> None:
    """A store with no finished partition (a run that failed early) is not in the
    way of the corrected job: nothing would be lost by replacing it."""
    root = str(tmp_path / "features.parquet.parts")
    assert PartitionStore(root, "job-a", 2).open() == set()
    assert PartitionStore(root, "job-b", 2).open() == set()


def test_failed_run_leaves_no_store(tmp_path) -> None:
    """A run that fails before any partition is stored removes its empty store."""
    (tmp_path / "points.csv").write_text("id,lon,lat,date\na,15.7,45.6,2023-08-21\n")
    spec = {
        "points": str(tmp_path / "points.csv"),
        "output": str(tmp_path / "features.parquet"),
        "cluster": "synchronous",
        "catalogs": {"c": {"url": str(tmp_path / "missing" / "catalog.json")}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "c",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "10d"},
            }
        ],
    }
    with pytest.raises(ConfigError, match="does not exist"):
        geofeat.run(spec)
    assert not (tmp_path / "features.parquet.parts").exists()
    assert not (tmp_path / "features.parquet").exists()
