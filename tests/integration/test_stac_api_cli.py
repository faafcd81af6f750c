"""``geofeat search`` run as the installed command against the loopback replay of
recorded Earth Search responses, and on a local static catalogue of real items."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stac_replay import ReplayServer  # noqa: E402

from geofeat.catalog.query import parse_bbox, parse_datetime  # noqa: E402
from geofeat.errors import ConfigError  # noqa: E402

pytestmark = pytest.mark.realdata

GEOFEAT = shutil.which("geofeat", path=str(Path(sys.executable).parent)) or "geofeat"


def _geofeat(*args: str) -> subprocess.CompletedProcess:
    """The installed command, in its own process."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [GEOFEAT, "search", *args], capture_output=True, text=True, env=env, timeout=120
    )


def _in_process(*args: str):
    """The same command in this process (faster: no second import of geofeat)."""
    from typer.testing import CliRunner

    from geofeat.cli import app

    # The command configures logging; give the test session its own back.
    root, ours = logging.getLogger(), logging.getLogger("geofeat")
    saved = (root.handlers[:], root.level, ours.level)
    try:
        return CliRunner().invoke(app, ["search", *args], env={"COLUMNS": "200"})
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        ours.setLevel(saved[2])


@pytest.fixture
def earth_search(shared_data):
    with ReplayServer(shared_data / "stac", "earth-search") as server:
        yield server


def test_search_table(earth_search):
    done = _geofeat(
        earth_search.url,
        "sentinel-2-c1-l2a",
        "--bbox",
        "-42,-8,-36,-2",
        "--datetime",
        "2025-07-31",
        "--max-cloud",
        "30",
    )
    assert done.returncode == 0, done.stderr
    # By hand: the c1-l2a items of tiles 24M* with cloud <= 30 are 24MWV (25.3)
    # and 24MXV (24.7), both in EPSG:32724.
    lines = [line for line in done.stdout.splitlines() if "S2B_T24M" in line]
    assert len(lines) == 2
    assert "S2B_T24MWV_20250731T130245_L2A" in lines[0] + lines[1]
    assert all("EPSG:32724" in line for line in lines)
    assert any("25.3" in line and "24MWV" in line for line in lines)
    body = earth_search.searches()[0].body
    assert body["filter"]["args"][1] == 30.0 and body["bbox"] == [-42, -8, -36, -2]


def test_search_json_is_the_item_collection(earth_search):
    done = _in_process(
        earth_search.url,
        "sentinel-2-l2a",
        "--point",
        "-105.1019,40.1672",
        "--datetime",
        "2023-10-08",
        "--json",
    )
    assert done.exit_code == 0, done.output
    collection = json.loads(done.stdout)
    assert [f["id"] for f in collection["features"]] == ["S2A_13TDE_20231008_0_L2A"]
    assert collection["features"][0]["properties"]["eo:cloud_cover"] == 0.000299


def test_search_empty_and_missing_collection(earth_search):
    done = _in_process(
        earth_search.url,
        "sentinel-2-l2a",
        "--point",
        "15,45",
        "--datetime",
        "2001-01-01",
    )
    assert done.exit_code == 0 and "no items in" in done.output
    done = _in_process(earth_search.url, "sentinel-2-l3", "--point", "15,45")
    assert done.exit_code == 2
    assert "has no collection 'sentinel-2-l3'" in done.output


def test_search_static_catalogue(s2_catalog):
    done = _in_process(
        str(s2_catalog),
        "sentinel-2-l2a",
        "--point",
        "15.97,45.81",
        "--datetime",
        "2023-08-13/2023-08-15",
        "--max-cloud",
        "10",
    )
    assert done.exit_code == 0, done.output
    # Zagreb (33TWL) on Aug 13 (cloud 1.7) and Aug 15: see the data MANIFEST.
    assert "S2B_33TWL_20230813_0_L2A" in done.stdout


def test_parse_arguments():
    assert parse_bbox("170,-10,-170,10") == (170, -10, -170, 10)
    with pytest.raises(ConfigError, match="4 numbers"):
        parse_bbox("1,2,3")
    start, end = parse_datetime("2023-08-01/2023-08-31")
    assert (start.isoformat(), end.isoformat()) == (
        "2023-08-01T00:00:00",
        "2023-08-31T23:59:59.999999",
    )
    with pytest.raises(ConfigError, match="start is after the end"):
        parse_datetime("2023-09-01/2023-08-01")


def test_search_refuses_a_point_out_of_range():
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("geofeat")),
            "search",
            "earth-search",
            "sentinel-2-l2a",
            "--point",
            "200,15",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "lon within ±180" in done.stderr
