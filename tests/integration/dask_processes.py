"""A real multi-process Dask cluster on 127.0.0.1 for tests.

A ``dask scheduler`` process and ``dask worker`` processes, started with the
installed command line exactly as a user would start them, on free ports of
127.0.0.1 only, and torn down (by their own process ids) when the test ends.
Workers run without a nanny, so that killing one kills it for good.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import geofeat

BIN = Path(sys.executable).parent
REPO = Path(geofeat.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class DaskProcesses:
    """A scheduler and its workers, each a separate operating-system process."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start(n_workers: int = 2, log_dir: Path | None = None) -> DaskProcesses:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes.

    Each worker has one thread, runs from a folder of its own (not the test's)
    and shares nothing with the test process but the scheduler's address.
    """
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log_dir = log_dir or Path("/tmp")

    def spawn(args: list[str], name: str) -> subprocess.Popen:
        folder = log_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        log = open(folder / "log.txt", "w")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(
            [str(BIN / "dask"), *args],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    scheduler = spawn(
        [
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            f"127.0.0.1:{free_port()}",
        ],
        "scheduler",
    )
    cluster = DaskProcesses(address=address, scheduler=scheduler)
    try:
        for i in range(n_workers):
            cluster.workers.append(
                spawn(
                    [
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-nanny",
                        "--no-dashboard",
                        "--name",
                        f"worker-{i}",
                    ],
                    f"worker-{i}",
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                cluster.wait_for_workers(n_workers, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def write_job(
    folder: Path,
    catalog: Path,
    *,
    n_points: int = 12,
    partition_size: int = 3,
    output: str = "out/features.parquet",
    seed: int = 8,
    radiometry_check: str = "overview",
) -> Path:
    """A spec and a points table over the real Sentinel-2 catalogue.

    Points fall at random in tile 33TWL (lon 15.05-16.35 E, lat 45.2-45.85 N)
    with dates 2023-08-14..21 and windows of 6 days, so each sees 1-3 passes
    (few reads: the tests stay quick); the ids are ``p00``, ``p01``, ...
    """
    import numpy as np
    import pandas as pd
    import yaml

    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-08-14", "2023-08-21").strftime("%Y-%m-%d")
    pd.DataFrame(
        {
            "id": [f"p{i:02d}" for i in range(n_points)],
            "lon": rng.uniform(15.05, 16.35, n_points),
            "lat": rng.uniform(45.2, 45.85, n_points),
            "date": rng.choice(days, n_points),
        }
    ).to_csv(folder / "points.csv", index=False)
    spec = {
        "points": "points.csv",
        "output": output,
        "partition_size": partition_size,
        "catalogs": {"s2": {"url": str(catalog)}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "6d"},
                "radiometry_check": radiometry_check,
            }
        ],
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path
