"""The embedded demo runs end to end and its values match the synthetic pixels."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import geofeat


def test_demo_cli(tmp_path: Path) -> None:
    """`geofeat demo` (the installed console script) writes a table and says SYNTHETIC."""
    exe = Path(sys.executable).with_name("geofeat")
    done = subprocess.run(
        [str(exe), "demo", "--folder", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "SYNTHETIC" in done.stdout
    table = pd.read_parquet(tmp_path / "features.parquet")
    assert list(table["id"]) == [
        "field-west",
        "field-east",
        "overlap",
        "cloudy-north",
        "too-early",
        "far-away",
    ]
    assert table.loc[table.id == "far-away", "ndvi_n"].item() == 0
    assert np.isnan(table.loc[table.id == "too-early", "ndvi"].item())
    # The overlap point sees three passes on two tiles: three observations, not six.
    assert table.loc[table.id == "overlap", "ndvi_n"].item() == 3
    # The cloudy pass is masked by SCL for the northern point.
    row = table[table.id == "cloudy-north"].iloc[0]
    assert (row.ndvi_n, row.ndvi_total) == (1, 2)
    assert (
        geofeat.__version__
        in subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True
        ).stdout
    )
