"""The same job on a real multi-process Dask cluster equals the in-process run.

A ``dask scheduler`` and ``dask worker`` processes are started on 127.0.0.1 by
the tests, over the real Earth Search scenes in ../shared/data. Tasks can only
succeed there if they carry everything they need: the workers run in other
folders, in other processes, with nothing but the scheduler address in common.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from dask_processes import start, write_job

import geofeat
from geofeat.cluster import connect, parse_cluster
from geofeat.errors import ConfigError
from geofeat.resume import store_path
from geofeat.spec import AddressClusterSpec, KubernetesClusterSpec

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

GEOFEAT = Path(sys.executable).with_name("geofeat")


@pytest.fixture(scope="module")
def job(tmp_path_factory, s2_catalog: Path) -> Path:
    folder = tmp_path_factory.mktemp("job")
    return write_job(folder, s2_catalog)


@pytest.fixture(scope="module")
def reference(job: Path) -> pd.DataFrame:
    """The undisturbed run on Dask's in-process threaded scheduler."""
    result = geofeat.run(
        job, output=str(job.parent / "threads.parquet"), cluster="threads"
    )
    assert result.summary.partitions == 4
    # Enough real values that an equality below means something.
    assert result.table["ndvi"].notna().sum() >= 9
    assert result.table["ndvi_n"].max() >= 2
    return result.table


def test_multiprocess_cluster_equals_local_run(job, reference, tmp_path) -> None:
    """`geofeat run --cluster tcp://...` on a scheduler + 2 worker processes.

    The client is the installed command line, in a process of its own; the table
    it writes equals the in-process run's.
    """
    cluster = start(n_workers=2, log_dir=tmp_path)
    try:
        output = tmp_path / "cluster.parquet"
        done = subprocess.run(
            [str(GEOFEAT), "run", str(job), "--cluster", cluster.address]
            + ["--output", str(output)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        from distributed import Client

        with Client(cluster.address) as client:
            # Both worker processes executed tasks (their transition logs moved).
            ran = client.run(lambda dask_worker: len(dask_worker.state.log))
            pids = client.run(os.getpid)
    finally:
        cluster.stop()
    assert done.returncode == 0, done.stderr
    assert len(ran) == 2 and all(n > 0 for n in ran.values()), ran
    assert os.getpid() not in pids.values()
    assert "Dask dashboard: http://127.0.0.1:" in done.stderr
    assert "partitions 4/4" in done.stderr and "points 12/12" in done.stderr
    assert cluster.address in done.stdout  # the summary names the cluster
    pd.testing.assert_frame_equal(pd.read_parquet(output), reference)
    # The partition store is gone once the table is written.
    assert not Path(store_path(str(output))).exists()


def test_worker_killed_mid_run_loses_no_rows(s2_catalog, reference, tmp_path) -> None:
    """SIGKILL of a worker process while partitions are running: same table.

    One point per partition (twelve partitions, four in flight), so that the
    run is busy on both workers when the first partition is stored.
    """
    job = write_job(tmp_path, s2_catalog, partition_size=1)
    cluster = start(n_workers=2, log_dir=tmp_path)
    output = tmp_path / "killed.parquet"
    store = Path(store_path(str(output)))
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = geofeat.run(
                job,
                output=str(output),
                cluster=AddressClusterSpec(address=cluster.address),
            )
        except BaseException as err:  # reported by the assertions below
            outcome["error"] = err

    try:
        thread = threading.Thread(target=run)
        thread.start()
        # Kill as soon as the first partition is stored: the others are in flight.
        deadline = time.monotonic() + 120
        while not list(store.glob("part-*.parquet")):
            assert time.monotonic() < deadline, "no partition finished"
            assert thread.is_alive(), outcome
            time.sleep(0.05)
        stored_at_kill = len(list(store.glob("part-*.parquet")))
        # Kill the worker with the most tasks in hand: those must run elsewhere.
        from distributed import Client

        with Client(cluster.address) as client:
            names = {
                address: info["name"]
                for address, info in client.scheduler_info()["workers"].items()
            }
            held = {names[a]: len(t) for a, t in client.processing().items()}
        busiest = max(held, key=held.get)
        lost = held[busiest]
        victim = cluster.workers[int(busiest.rsplit("-", 1)[1])]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        thread.join(timeout=180)
        from distributed import Client

        with Client(cluster.address) as client:
            survivors = len(client.scheduler_info()["workers"])
    finally:
        cluster.stop()
    assert "error" not in outcome, outcome.get("error")
    assert stored_at_kill < 12, "the run ended before the kill; nothing was tested"
    assert lost > 0, "the killed worker held no task"
    assert victim.returncode == -signal.SIGKILL
    assert survivors == 1
    table = outcome["result"].table
    assert len(table) == len(reference)
    pd.testing.assert_frame_equal(table, reference)
    pd.testing.assert_frame_equal(pd.read_parquet(output), reference)


def test_connect_kinds_and_errors() -> None:
    """In-process schedulers yield no client; a dead address names the fix."""
    with connect("synchronous") as client:
        assert client is None
    assert parse_cluster("tcp://127.0.0.1:1") == AddressClusterSpec(
        address="tcp://127.0.0.1:1"
    )
    assert isinstance(parse_cluster("kubernetes"), KubernetesClusterSpec)
    with pytest.raises(ConfigError, match="--cluster 'gpu'"):
        parse_cluster("gpu")
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        import dask

        from geofeat.spec import AddressClusterSpec as Address

        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            with connect(Address(address="tcp://127.0.0.1:9")):
                pass


def test_local_cluster_is_the_default(job) -> None:
    """``cluster: local`` is the default: worker processes, a dashboard link."""
    spec = geofeat.spec.load_spec(job)
    assert spec.cluster == "local"
    with connect(spec.cluster) as client:
        workers = client.scheduler_info()["workers"]
        assert len(workers) >= 1
        assert all(os.getpid() != pid for pid in client.run(os.getpid).values())
        assert client.dashboard_link.startswith("http://127.0.0.1:")


def test_spec_cluster_field(tmp_path) -> None:
    """``cluster:`` in YAML, the older ``scheduler:``, and a wrong value's message."""
    base = {
        "points": "p.csv",
        "output": "o.parquet",
        "catalogs": {"c": {"url": "catalog.json"}},
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
    load = geofeat.spec.load_spec
    assert load(base).cluster == "local"
    assert load({**base, "scheduler": "synchronous"}).cluster == "synchronous"
    spec = load({**base, "cluster": {"kubernetes": {"workers": 7, "secret": "creds"}}})
    assert spec.cluster.kubernetes.workers == 7
    assert spec.cluster.kubernetes.secret == "creds"
    assert load({**base, "cluster": {"address": "tcp://h:8786"}}).cluster.address == (
        "tcp://h:8786"
    )
    assert (
        load({**base, "cluster": {"local": {"workers": 3}}}).cluster.local.workers == 3
    )
    with pytest.raises(ConfigError, match="cluster"):
        load({**base, "cluster": "gpu"})
    with pytest.raises(ConfigError, match="partition_size"):
        load({**base, "partition_size": 0})
