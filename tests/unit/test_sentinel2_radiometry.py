"""Sentinel-2 radiometry: the rule chosen per item, and the self-check on pixels.

Rules are checked on the recorded catalogue items in ../shared/data (Earth
Search baseline 05.11 with ``boa_offset_applied``; Planetary Computer baselines
02.12 and 05.10, which declare no scale or offset). The pinned examples and the
self-check run end to end on small synthetic scenes with hand-computed values.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
from pyproj import Transformer

import geofeat
from geofeat.sources.sentinel2 import OFFSET, SENTINEL2_L2A, judge, radiometry
from geofeat.synthetic import write_catalog, write_scene

WHEN = datetime(2023, 8, 15, 10, 0)
ORIGIN = (500000.0, 5100000.0)
#: The centre of the 320 m synthetic scene at ORIGIN, in lon/lat.
POINT = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(
    ORIGIN[0] + 155.0, ORIGIN[1] - 155.0
)


def pc_items(shared_data: Path, name: str) -> list[pystac.Item]:
    data = json.loads((shared_data / "stac" / "planetary-computer" / name).read_text())
    features = data["features"] if isinstance(data, dict) else data
    return [pystac.Item.from_dict(f) for f in features]


@pytest.mark.realdata
def test_planetary_computer_baseline_02_12_has_no_offset(shared_data: Path) -> None:
    """PC 2019 items (baseline 02.12, no raster scale/offset): DN / 10000."""
    items = pc_items(shared_data, "search_sentinel-2-l2a_2019-01-01T000001-000010.json")
    for item in items:
        scale, offset, reason = radiometry(item, item.assets["B04"])
        assert (scale, offset) == (1e-4, 0.0)
        assert "02.12 < 04.00" in reason


@pytest.mark.realdata
def test_planetary_computer_baseline_05_10_applies_the_offset(
    shared_data: Path,
) -> None:
    """PC 2024 items (baseline 05.10, no raster scale/offset): DN / 10000 - 0.1."""
    items = pc_items(
        shared_data, "items_sentinel-2-l2a_2024-04-19_stac-geoparquet.json"
    )
    assert len(items) == 4
    for item in items:
        scale, offset, reason = radiometry(item, item.assets["B08"])
        assert (scale, offset) == (1e-4, -0.1)
        assert "05.10 >= 04.00" in reason


@pytest.mark.realdata
def test_earth_search_flag_wins_over_raster_bands(shared_data: Path) -> None:
    """Earth Search l2a: raster:bands says -0.1, boa_offset_applied says it is done."""
    path = (
        shared_data
        / "stac"
        / "earth-search"
        / "search_cql2_cloudcover_lte40_page1.json"
    )
    features = json.loads(path.read_text())["features"]
    l2a = [f for f in features if f["collection"] == "sentinel-2-l2a"]
    assert l2a
    for feature in l2a:
        item = pystac.Item.from_dict(feature)
        assert item.assets["red"].extra_fields["raster:bands"][0]["offset"] == -0.1
        scale, offset, _ = radiometry(item, item.assets["red"])
        assert (scale, offset) == (1e-4, 0.0)


@pytest.mark.realdata
def test_earth_search_collection_1_applies_the_declared_offset(
    shared_data: Path,
) -> None:
    """Earth Search c1-l2a: no boa flag, raster:bands -0.1 is applied as declared;
    its pass key is the l2a twin's (same datatake)."""
    path = (
        shared_data
        / "stac"
        / "earth-search"
        / "search_cql2_cloudcover_lte40_page1.json"
    )
    features = json.loads(path.read_text())["features"]
    items = {
        f["collection"]: SENTINEL2_L2A.scene(pystac.Item.from_dict(f))
        for f in features
        if f["id"] in ("S2B_T20EPT_20250731T131905_L2A", "S2B_20EPT_20250731_0_L2A")
    }
    c1, l2a = items["sentinel-2-c1-l2a"], items["sentinel-2-l2a"]
    assert (c1.assets["red"].scale, c1.assets["red"].offset) == (1e-4, -0.1)
    assert (l2a.assets["red"].scale, l2a.assets["red"].offset) == (1e-4, 0.0)
    assert c1.pass_key == l2a.pass_key == "GS2B_20250731T131909_043879"


def test_stac_1_1_raster_scale_offset() -> None:
    """STAC 1.1 puts raster:scale/raster:offset on the asset itself."""
    item = pystac.Item("x", None, None, WHEN, {"s2:processing_baseline": "05.09"})
    asset = pystac.Asset(
        "a.tif", extra_fields={"raster:scale": 2e-4, "raster:offset": -0.2}
    )
    assert radiometry(item, asset)[:2] == (2e-4, -0.2)


def test_no_metadata_decides_by_date() -> None:
    before = pystac.Item("a", None, None, datetime(2021, 6, 1), {})
    after = pystac.Item("b", None, None, datetime(2022, 6, 1), {})
    assert radiometry(before, pystac.Asset("a.tif"))[1] == 0.0
    assert radiometry(after, pystac.Asset("a.tif"))[1] == OFFSET


# The self-check on pixels.
VEG = np.full(100, 4.0)


def test_judge_keeps_a_consistent_rule() -> None:
    """Unshifted vegetation (red 400) read as DN / 10000: nothing to correct."""
    offset, note = judge(VEG, {"red": np.full(100, 400.0)}, 1e-4, 0.0, (OFFSET,))
    assert offset == 0.0 and note.startswith("checked")


def test_judge_catches_an_offset_applied_twice() -> None:
    """Rule -0.1 on DNs already shifted: 100 % of land below zero -> offset 0."""
    offset, note = judge(VEG, {"red": np.full(100, 400.0)}, 1e-4, OFFSET, (0.0,))
    assert offset == 0.0
    assert "100% of land pixels below zero" in note


def test_judge_catches_a_missing_offset() -> None:
    """Rule 0 on raw DNs (red of vegetation 1400): dark median 0.14 -> offset -0.1."""
    offset, note = judge(VEG, {"red": np.full(100, 1400.0)}, 1e-4, 0.0, (OFFSET,))
    assert offset == OFFSET
    assert "dark pixels' median 0.140" in note


def test_judge_sets_aside_when_nothing_fits() -> None:
    """70 % of vegetation red at 1500, 30 % at 500: neither offset is consistent."""
    red = np.r_[np.full(70, 1500.0), np.full(30, 500.0)]
    offset, note = judge(VEG, {"red": red}, 1e-4, 0.0, (OFFSET,))
    assert offset is None and note.startswith("set aside")


def test_judge_without_enough_pixels_is_unchecked() -> None:
    offset, note = judge(
        np.full(3, 4.0), {"red": np.full(3, 400.0)}, 1e-4, OFFSET, (0.0,)
    )
    assert offset == OFFSET and note.startswith("unchecked")


def test_judge_ignores_dark_test_before_baseline_04() -> None:
    """A baseline 03.01 item cannot carry the shift: bright vegetation is kept."""
    red = np.full(100, 1500.0)
    assert judge(VEG, {"red": red}, 1e-4, 0.0, (), shift_possible=False)[0] == 0.0


# End to end on synthetic scenes.


def scene(
    folder: Path, item_id: str, red: int, nir: int, scl: int = 4, **kw
) -> pystac.Item:
    bands = {
        "red": np.full((32, 32), red, "uint16"),
        "nir": np.full((32, 32), nir, "uint16"),
        "scl": np.full((16, 16), scl, "uint8"),
    }
    return write_scene(folder, item_id, kw.pop("when", WHEN), bands, ORIGIN, **kw)


def run(tmp_path: Path, items: list[pystac.Item], **feature) -> pd.DataFrame:
    catalog = write_catalog(tmp_path / "catalog", items)
    pd.DataFrame(
        {"id": ["p"], "lon": [POINT[0]], "lat": [POINT[1]], "date": ["2023-08-16"]}
    ).to_csv(tmp_path / "points.csv", index=False)
    spec = {
        "points": str(tmp_path / "points.csv"),
        "output": str(tmp_path / "out.parquet"),
        "cluster": "threads",
        "catalogs": {"s2": {"url": str(catalog)}},
        "features": [
            {
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "window": {"before": "5d"},
                "provenance": True,
                **feature,
            }
        ],
    }
    return geofeat.run(spec, write=False).table


def test_pinned_baseline_03_01_ndvi(tmp_path: Path) -> None:
    """Baseline 03.01, red 1500, NIR 3000: no offset, NDVI = 1500 / 4500."""
    item = scene(
        tmp_path,
        "old",
        1500,
        3000,
        baseline="03.01",
        boa_offset_applied=None,
        declare_offset=False,
    )
    table = run(tmp_path, [item], name="ndvi", index="ndvi")
    assert table["ndvi"][0] == pytest.approx(1 / 3, abs=1e-12)
    assert table["ndvi_n"][0] == 1
    assert table["ndvi_baseline"][0] == "03.01"


@pytest.mark.parametrize(
    "metadata",
    [
        {"boa_offset_applied": False, "declare_offset": True},  # raster:bands -0.1
        {"boa_offset_applied": None, "declare_offset": False, "baseline": "05.09"},
    ],
    ids=["declared-offset", "baseline-only"],
)
def test_pinned_baseline_05_09_offset(tmp_path: Path, metadata: dict) -> None:
    """Baseline 05.09 with the offset to apply: red 0.05, NIR 0.20, NDVI 0.6."""
    item = scene(tmp_path, "new", 1500, 3000, **metadata)
    if not metadata.get("declare_offset"):
        # No scale or offset declared at all, as on the Planetary Computer.
        for asset in item.assets.values():
            asset.extra_fields["raster:bands"][0].pop("scale", None)
    ndvi = run(tmp_path / "a", [item], name="ndvi", index="ndvi")
    red = run(tmp_path / "b", [item], name="red", band="red")
    nir = run(tmp_path / "c", [item], name="nir", band="nir")
    assert red["red"][0] == pytest.approx(0.05, abs=1e-12)
    assert nir["nir"][0] == pytest.approx(0.20, abs=1e-12)
    assert ndvi["ndvi"][0] == pytest.approx(0.6, abs=1e-12)
    assert "-0.1" in ndvi["ndvi_radiometry"][0]


def test_red_above_nir_is_negative_not_wrapped(tmp_path: Path) -> None:
    """uint16 water-like pixel, red 900 > NIR 300 (no offset): NDVI = -600 / 1200."""
    item = scene(tmp_path, "water", 900, 300, scl=6)
    table = run(tmp_path, [item], name="ndvi", index="ndvi", radiometry_check="points")
    assert table["ndvi"][0] == pytest.approx(-0.5, abs=1e-12)


def test_flag_contradicted_by_pixels_is_corrected(tmp_path: Path) -> None:
    """Flagged "offset not applied" (raster -0.1) but vegetation red DN 400: shifted.

    With -0.1 every land pixel would be negative; the check applies offset 0:
    NDVI = (3000 - 400) / 3400.
    """
    item = scene(tmp_path, "lie", 400, 3000, boa_offset_applied=False)
    table = run(tmp_path, [item], name="ndvi", index="ndvi")
    assert table["ndvi"][0] == pytest.approx(2600 / 3400, abs=1e-12)
    assert "pixels contradict offset -0.1" in table["ndvi_radiometry"][0]


def test_the_reverse_contradiction_is_corrected(tmp_path: Path) -> None:
    """Flagged "offset applied" but DNs still carry +1000 (red 1400, NIR 4000).

    The vegetation red median would be 0.14; with -0.1: red 0.04, NIR 0.30,
    NDVI = 0.26 / 0.34.
    """
    item = scene(tmp_path, "raw", 1400, 4000, boa_offset_applied=True)
    table = run(tmp_path, [item], name="ndvi", index="ndvi")
    assert table["ndvi"][0] == pytest.approx(0.26 / 0.34, abs=1e-12)


def test_never_a_value_from_negative_reflectance(tmp_path: Path) -> None:
    """Offset -0.1 on red DN 950 at the point, checked on points only (too few to
    judge): the reflectance -0.005 makes the observation invalid, not NDVI > 1."""
    item = scene(tmp_path, "dark", 950, 3000, boa_offset_applied=False)
    table = run(tmp_path, [item], name="ndvi", index="ndvi", radiometry_check="points")
    assert np.isnan(table["ndvi"][0])
    assert (table["ndvi_n"][0], table["ndvi_total"][0]) == (0, 1)
