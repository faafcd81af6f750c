"""The installed `geofeat` command on bad input: one clear error, no output file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXE = str(Path(sys.executable).with_name("geofeat"))

GOOD = "id,lon,lat,date\na,15.7,45.6,2023-08-21\nb,15.8,45.7,2023-08-20\n"


def _job(tmp_path: Path, csv: str, **spec_changes) -> tuple[Path, Path]:
    (tmp_path / "points.csv").write_text(csv)
    spec = {
        "points": "points.csv",
        "output": "out/features.parquet",
        "catalogs": {"s2": {"url": "catalog/catalog.json"}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "10d"},
            }
        ],
    }
    spec.update(spec_changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, tmp_path / "out" / "features.parquet"


def _geofeat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        (GOOD + "c,15.7,95.0,2023-08-21\n", ["row 3", "lat", "±90"]),
        (GOOD + "c,-181,45.0,2023-08-21\n", ["row 3", "lon", "±180"]),
        (GOOD + "c,15.7,45.0,21/13/2023\n", ["row 3", "date", "YYYY-MM-DD"]),
        (GOOD + ",15.7,45.0,2023-08-21\n", ["row 3", "id", "empty"]),
        (GOOD + "a,15.7,45.0,2023-08-21\n", ["rows 1, 3", "duplicate", "'a'"]),
        (
            "id,x,lat,date\na,15.7,45.6,2023-08-21\n",
            ["missing column", "'lon'", "lon: <column>"],
        ),
    ],
    ids=["lat", "lon", "date", "missing-id", "duplicate-id", "missing-column"],
)
def test_bad_points(tmp_path, csv, expected):
    spec, output = _job(tmp_path, csv)
    done = _geofeat("run", str(spec))
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    for text in expected:
        assert text in message, message
    assert "Traceback" not in done.stderr
    assert not output.exists()


def test_all_bad_rows_are_reported_at_once(tmp_path):
    csv = GOOD + "c,15.7,95.0,2023-08-21\nd,200,45,2023-08-21\ne,15.7,45.0,yesterday\n"
    spec, output = _job(tmp_path, csv)
    done = _geofeat("run", str(spec))
    message = " ".join(done.stderr.split())
    assert "3 bad row(s)" in message
    assert all(text in message for text in ("row 3", "row 4", "row 5"))
    assert not output.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {
                "features": [
                    {
                        "name": "ndvi",
                        "catalog": "nope",
                        "collection": "sentinel-2-l2a",
                        "index": "ndvi",
                        "window": {"before": "10d"},
                    }
                ]
            },
            ["features[0]", "'nope'", "catalogs"],
        ),
        (
            {
                "features": [
                    {
                        "name": "ndvi",
                        "catalog": "s2",
                        "collection": "sentinel-2-l2a",
                        "index": "ndvi",
                        "window": {"before": "ten days"},
                    }
                ]
            },
            ["features[0].window.before", "10d"],
        ),
        ({"features": []}, ["features", "at least 1"]),
        ({"colour": "blue"}, ["colour", "unknown field"]),
    ],
    ids=["unknown-catalog", "bad-duration", "no-features", "unknown-field"],
)
def test_bad_spec(tmp_path, change, expected):
    spec, output = _job(tmp_path, GOOD, **change)
    done = _geofeat("run", str(spec))
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    for text in expected:
        assert text in message, message
    assert not output.exists()


def test_missing_spec_file(tmp_path):
    done = _geofeat("run", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2
    assert "does not exist" in done.stderr


def test_overrides_on_the_real_catalogue(tmp_path, s2_catalog):
    """--points and --output override the spec; paths are relative to the shell."""
    spec, default_output = _job(
        tmp_path, GOOD, catalogs={"s2": {"url": str(s2_catalog)}}
    )
    (tmp_path / "other.csv").write_text(GOOD)
    done = subprocess.run(
        [
            EXE,
            "run",
            str(spec),
            "--points",
            "other.csv",
            "--output",
            "elsewhere.parquet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "elsewhere.parquet").is_file()
    assert not default_output.exists()
    assert "points" in done.stdout and "scenes found" in done.stdout


def test_output_folder_is_refused_before_work(tmp_path):
    spec, _ = _job(tmp_path, GOOD, output="taken.parquet")
    (tmp_path / "taken.parquet").mkdir()
    done = _geofeat("run", str(spec))
    assert done.returncode == 2
    assert "is a folder" in done.stderr
    assert not (tmp_path / "taken.parquet.parts").exists()


def test_unwritable_output_is_refused_before_work(tmp_path):
    spec, _ = _job(tmp_path, GOOD, output="/proc/geofeat/out.parquet")
    done = _geofeat("run", str(spec))
    assert done.returncode == 2
    assert "cannot create its folder" in " ".join(done.stderr.split())
