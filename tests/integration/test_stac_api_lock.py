"""The lock of items a run used, and ``--from-lock`` reruns on the real Earth Search
scenes: the rerun reads the same scenes without touching the catalogue."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import geofeat
from geofeat.catalog.lock import lock_path, use_lock
from geofeat.errors import ConfigError
from geofeat.spec import load_spec

pytestmark = pytest.mark.realdata

GEOFEAT = shutil.which("geofeat", path=str(Path(sys.executable).parent)) or "geofeat"


def _spec(tmp_path: Path, catalog: str) -> Path:
    # Zagreb (33TWL) and Maribor (33TWM), 10-day windows ending 2023-08-21.
    pd.DataFrame(
        {
            "id": ["zagreb", "maribor"],
            "lon": [15.97, 15.65],
            "lat": [45.81, 46.55],
            "date": ["2023-08-21", "2023-08-21"],
        }
    ).to_csv(tmp_path / "points.csv", index=False)
    spec = {
        "points": "points.csv",
        "output": "out.parquet",
        "catalogs": {"es": {"url": catalog}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "es",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "10d"},
                "reducer": "median",
            }
        ],
        "cluster": "synchronous",
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_lock_records_items_and_from_lock_reads_the_same_scenes(s2_catalog, tmp_path):
    first = geofeat.run(_spec(tmp_path, str(s2_catalog)))
    lock = Path(lock_path(str(tmp_path / "out.parquet")))
    records = [json.loads(line) for line in lock.read_text().splitlines()]

    # By hand (data MANIFEST): windows [08-11, 08-21) hold 08-13, 08-15, 08-18 and
    # 08-20 for each tile; the 1-degree cells of the two points are searched apart.
    ids = sorted(r["item"]["id"] for r in records)
    assert len(ids) == len(set(ids))
    assert {r["catalog"] for r in records} == {"es"}
    for tile in ("33TWL", "33TWM"):
        for day in ("20230813", "20230815", "20230818", "20230820"):
            assert any(tile[2:] in i and day in i for i in ids), (tile, day)
    red = records[0]["item"]["assets"]["red"]["href"]
    assert red.endswith("B04.tif") and Path(red).is_file()

    # The catalogue "changes": the rerun's spec points at nothing, and the lock
    # alone serves the searches.
    rerun_dir = tmp_path / "rerun"
    rerun_dir.mkdir()
    shutil.copy(tmp_path / "points.csv", rerun_dir / "points.csv")
    gone = _spec(rerun_dir, str(tmp_path / "no-such-catalog.json"))
    done = subprocess.run(
        [GEOFEAT, "run", str(gone), "--from-lock", str(lock), "--log-level", "INFO"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "from lock" in done.stderr
    again = pd.read_parquet(rerun_dir / "out.parquet")
    np.testing.assert_array_equal(again["ndvi"], first.table["ndvi"])
    np.testing.assert_array_equal(again["ndvi_n"], first.table["ndvi_n"])
    assert (first.table["ndvi_n"] > 0).all()
    assert not Path(lock_path(str(rerun_dir / "out.parquet"))).exists()


def test_from_lock_that_does_not_exist(s2_catalog, tmp_path):
    spec = load_spec(_spec(tmp_path, str(s2_catalog)))
    with pytest.raises(ConfigError, match="does not exist"):
        use_lock(spec, str(tmp_path / "nope.lock.json"))
