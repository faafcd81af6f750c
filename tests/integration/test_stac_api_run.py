"""``geofeat run`` through a STAC API over HTTP gives what the static catalogue gives.

The ten real Earth Search items of the 33TWL/33TWM set are served by the replay
server (beside the recorded responses) with their asset hrefs made absolute; the
same job run against the static catalogue is the independent reference.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stac_replay import ReplayServer  # noqa: E402

import geofeat  # noqa: E402

pytestmark = pytest.mark.realdata


def _items(catalog: Path) -> list[dict]:
    items = []
    for path in sorted((catalog.parent / "sentinel-2-l2a").glob("*/*_L2A.json")):
        item = json.loads(path.read_text())
        for asset in item["assets"].values():
            if "://" not in asset["href"]:
                asset["href"] = str(path.parent / asset["href"])
        item["links"] = []
        items.append(item)
    return items


def _spec(catalog_url: str) -> dict:
    return {
        "points": {"path": "points.csv"},
        "output": "out.parquet",
        "catalogs": {"es": {"url": catalog_url}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "es",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "12d"},
                "max_cloud_cover": 50,
            }
        ],
        "cluster": "synchronous",
    }


def test_api_run_equals_static_run(
    shared_data, s2_catalog, tmp_path, monkeypatch, caplog
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "points.csv").write_text(
        "id,lon,lat,date\nzagreb,15.97,45.81,2023-08-21\nmaribor,15.65,46.55,2023-08-21\n"
        "near,15.90,45.70,2023-08-19\n"
    )
    static = geofeat.run(_spec(str(s2_catalog)), write=False)
    with ReplayServer(
        shared_data / "stac", "earth-search", extra_items=_items(s2_catalog)
    ) as server:
        caplog.set_level(logging.DEBUG, "geofeat")
        api = geofeat.run(_spec(server.url), write=False)
        searches = server.searches()
    np.testing.assert_array_equal(api.table["ndvi"], static.table["ndvi"])
    np.testing.assert_array_equal(api.table["ndvi_n"], static.table["ndvi_n"])
    assert (api.table["ndvi_n"] > 0).all()
    # Two cells (45N-46N and 46N-47N): two searches, one page each.
    assert len(searches) == 2
    assert all(s.body["filter"]["args"][1] == 50 for s in searches)
    messages = [r.getMessage() for r in caplog.records]
    assert any("3 point(s) in 2 search group(s) over 2 cell(s)" in m for m in messages)
    # By hand: cloud <= 50 leaves 4 scenes of 33TWL and 4 of 33TWM in the windows.
    assert any(
        "feature ndvi: 2 search(es) for all 3 point(s), made once for the run: "
        "2 page(s), 8 item(s)" in m
        for m in messages
    )
    assert (
        sum("search es/sentinel-2-l2a" in m and "1 page(s)" in m for m in messages) == 2
    )


def test_partitions_share_the_run_searches(
    shared_data, s2_catalog, tmp_path, monkeypatch
):
    """One partition per point: still one search per group of the whole run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "points.csv").write_text(
        "id,lon,lat,date\nzagreb,15.97,45.81,2023-08-21\nmaribor,15.65,46.55,2023-08-21\n"
        "near,15.90,45.70,2023-08-19\n"
    )
    static = geofeat.run(_spec(str(s2_catalog)), write=False)
    spec = {**_spec("http://placeholder"), "partition_size": 1}
    with ReplayServer(
        shared_data / "stac", "earth-search", extra_items=_items(s2_catalog)
    ) as server:
        spec["catalogs"] = {"es": {"url": server.url}}
        api = geofeat.run(spec, write=False)
        searches = server.searches()
    assert api.summary.partitions == 3
    assert len(searches) == 2  # the run's two groups, not one per partition
    np.testing.assert_array_equal(api.table["ndvi"], static.table["ndvi"])
    np.testing.assert_array_equal(api.table["ndvi_n"], static.table["ndvi_n"])
