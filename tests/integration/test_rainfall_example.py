"""`geofeat run` on the example flood-events spec, end to end, on real CHIRPS."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import rasterio
import yaml

pytestmark = pytest.mark.realdata

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_spec_runs(shared_data: Path, tmp_path: Path) -> None:
    """The example writes four 30-day sums per event that match the raw bands."""
    chirps = shared_data / "precipitation" / "chirps_p25_daily_nicaragua_1981-1982.tif"
    spec = yaml.safe_load((EXAMPLES / "flood_rainfall.yaml").read_text())
    spec["points"] = str(EXAMPLES / spec["points"])
    spec["features"][0]["source"]["url"] = str(chirps)
    spec["cluster"] = "threads"  # no local cluster to start: a faster test
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    exe = Path(sys.executable).with_name("geofeat")
    out = tmp_path / "rain.parquet"
    done = subprocess.run(
        [str(exe), "run", str(path), "--output", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(out).set_index("id")
    units = json.loads(pq.read_schema(out).metadata[b"geofeat:units"])
    assert units["rain_t0"] == "mm" and units["rain_t3_coverage"] == "1"
    events = pd.read_csv(EXAMPLES / "flood_events_nicaragua.csv").set_index("id")
    assert list(table.index) == list(events.index)

    with rasterio.open(chirps) as ds:
        for event in ["managua-1982-05", "bluefields-1981-10"]:
            row, col = ds.index(events.loc[event, "lon"], events.loc[event, "lat"])
            series = ds.read(window=((row, row + 1), (col, col + 1)))[:, 0, 0]
            d = (date.fromisoformat(events.loc[event, "date"]) - date(1981, 1, 1)).days
            for k in range(4):
                want = float(series[d - 30 * (k + 1) : d - 30 * k].astype(float).sum())
                assert table.loc[event, f"rain_t{k}"] == pytest.approx(want, rel=1e-9)
    assert np.isnan(table.loc["offshore-1982-05", "rain_t0"])
    assert table.loc["offshore-1982-05", "rain_t0_coverage"] == 0
    # 1981-02-15: t1 starts 1980-12-17, before the record; t0 is whole.
    assert table.loc["somoto-1981-02", "rain_t0_coverage"] == 1.0
    assert np.isnan(table.loc["somoto-1981-02", "rain_t1"])
