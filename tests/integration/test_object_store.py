"""Outputs on object storage: an S3-compatible server (moto) on 127.0.0.1.

The job writes its partition store and its table to ``s3://`` through fsspec,
with credentials and the endpoint taken from the environment only, exactly as
on a cluster. The table is read back and compared with the local run's.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from dask_processes import free_port, write_job

import geofeat
from geofeat.errors import ConfigError
from geofeat.output import write_parts
from geofeat.read import ReadStats
from geofeat.resume import PartitionResult, PartitionStore

BUCKET = "geofeat-test"


@pytest.fixture(scope="module")
def s3_server():
    """A moto S3 server on a free port of 127.0.0.1, stopped after the module."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """Credentials and endpoint in the environment; a fresh bucket."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    if fs.exists(BUCKET):
        fs.rm(BUCKET, recursive=True)
    fs.mkdir(BUCKET)
    yield fs
    s3fs.S3FileSystem.clear_instance_cache()


def keys(fs) -> list[str]:
    return sorted(p.removeprefix(f"{BUCKET}/") for p in fs.find(BUCKET))


@pytest.mark.realdata
def test_job_writes_to_s3_and_reads_back(s3, s2_catalog, tmp_path) -> None:
    """The table on S3 equals the table the same job writes to a local path."""
    job = write_job(tmp_path, s2_catalog, n_points=6, partition_size=2)
    local = geofeat.run(job, output=str(tmp_path / "local.parquet"), cluster="threads")
    url = f"s3://{BUCKET}/runs/features.parquet"
    remote = geofeat.run(job, output=url, cluster="threads")
    assert remote.summary.output == url
    assert remote.summary.partitions == 3
    back = pd.read_parquet(url)
    pd.testing.assert_frame_equal(back, local.table)
    assert back["ndvi"].notna().sum() >= 4
    # Only the table and its failures table: no temporary objects, no store.
    assert keys(s3) == ["runs/features.failures.parquet", "runs/features.parquet"]
    assert b"geofeat:spec" in pa.parquet.read_schema(s3.open(url)).metadata


def test_interrupted_write_to_s3_leaves_nothing(s3) -> None:
    """An error while streaming the table: no object at the key, no temporary."""
    url = f"s3://{BUCKET}/runs/broken.parquet"
    schema = pa.schema([("x", pa.int64())])

    def broken() -> pa.Table:
        raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        write_parts([lambda: pa.table({"x": [1]}), broken], schema, url)
    assert keys(s3) == []


def test_partition_store_on_s3_resumes(s3) -> None:
    """Finished partitions on S3 are found again; another job's are refused."""
    root = f"s3://{BUCKET}/runs/features.parquet.parts"
    store = PartitionStore(root, "job-a", 3)
    assert store.open() == set()
    table = pd.DataFrame({"id": ["a", "b"], "ndvi": [0.5, None]})
    none = pd.DataFrame(columns=["id", "feature", "reason"])
    for index in (0, 2):
        stats = ReadStats(windows=index + 1)
        store.write(PartitionResult(index, table, none, stats, {"ndvi": 1}, {}))
    again = PartitionStore(root, "job-a", 3)
    assert again.open() == {0, 2}
    assert again.stats(2)["reads"]["windows"] == 3
    pd.testing.assert_frame_equal(again.load(0).to_pandas(), table)
    with pytest.raises(ConfigError, match="different job"):
        PartitionStore(root, "job-b", 3).open()

    assert all(not k.endswith(".tmp") for k in keys(s3))
    again.remove()
    assert keys(s3) == []
