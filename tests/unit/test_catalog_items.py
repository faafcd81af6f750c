"""Every recorded catalogue item parsed into geofeat scenes, checked against values
read off the JSON by hand; the presets' metadata facts checked against the items;
the de-duplication rule on real items.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pystac
import pytest

from geofeat.catalog.dedupe import REPUBLISHED, SAME_ID, dedupe
from geofeat.catalog.presets import (
    GENERIC,
    PRESETS,
    collection_facts,
    facts_for_item,
    preset_for_url,
)
from geofeat.errors import ConfigError
from geofeat.scene import item_crs
from geofeat.sources import product_for

pytestmark = pytest.mark.realdata

ES_FILES = [
    "earth-search/search_cql2_cloudcover_lte40_page1.json",
    "earth-search/search_cql2_cloudcover_lte40_page2.json",
    "earth-search/search_s2l2a_landsat_point_2023-10-08.json",
    "earth-search/search_s2c1l2a_point_fields_excluded.json",
]
PC_SEARCH = "planetary-computer/search_sentinel-2-l2a_2019-01-01T000001-000010.json"
PC_PARQUET_JSON = (
    "planetary-computer/items_sentinel-2-l2a_2024-04-19_stac-geoparquet.json"
)
MODIS = [
    "stactools-modis/MOD11A2.A2022033.h19v10.061.json",
    "stactools-modis/MYD11A2.A2022025.h17v00.061.json",
]


def _load(stac: Path, name: str) -> list[dict]:
    data = json.loads((stac / name).read_text())
    if isinstance(data, list):
        return data
    return data["features"] if data.get("type") == "FeatureCollection" else [data]


@pytest.fixture(scope="module")
def recorded(shared_data) -> dict[str, dict]:
    """Every recorded item, by id, with the catalogue it came from."""
    stac = shared_data / "stac"
    items = {}
    for name in ES_FILES:
        for d in _load(stac, name):
            items[d["id"]] = {"catalog": "earth-search", "item": d}
    for name in (PC_SEARCH, PC_PARQUET_JSON):
        for d in _load(stac, name):
            items[d["id"]] = {"catalog": "planetary-computer", "item": d}
    for name in MODIS:
        for d in _load(stac, name):
            items[d["id"]] = {"catalog": "planetary-computer", "item": d}
    return items


def _scene(entry):
    item = pystac.Item.from_dict(copy.deepcopy(entry["item"]))
    return product_for(item.collection_id).scene(item)


def test_every_recorded_item_parses(recorded):
    parsed, other = 0, set()
    for entry in recorded.values():
        collection = entry["item"]["collection"]
        try:
            product_for(collection)
        except ConfigError:
            other.add(collection)  # Sentinel-1, L1C, Landsat: no geofeat product
            continue
        scene = _scene(entry)
        parsed += 1
        assert scene.id == entry["item"]["id"]
        assert scene.start < scene.end
        for asset in scene.assets.values():
            assert asset.scale > 0 and asset.href
    # Counted by hand in the recorded files: Earth Search S2 L2A (l2a and c1-l2a)
    # 5 on page 1, 7 on page 2, 1 in the point search, 10 without assets; PC S2
    # 33 searched and 4 stac-geoparquet; 2 MODIS.
    assert parsed == 5 + 7 + 1 + 10 + 33 + 4 + 2
    assert other == {"sentinel-1-grd", "sentinel-2-l1c", "landsat-c2-l2"}


def test_earth_search_l2a_offset_already_applied(recorded):
    scene = _scene(recorded["S2B_20EPT_20250731_0_L2A"])
    red, scl = scene.assets["red"], scene.assets["scl"]
    assert red.href == (
        "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/"
        "20/E/PT/2025/7/S2B_20EPT_20250731_0_L2A/B04.tif"
    )
    # raster:bands declares offset -0.1, but boa_offset_applied is true.
    assert (red.scale, red.offset, red.nodata) == (0.0001, 0.0, 0)
    assert red.shape == (10980, 10980)
    assert red.transform == (10, 0, 600000, 0, -10, 3300040)
    assert scl.shape == (5490, 5490) and scl.scale == 1.0
    assert scene.crs == "EPSG:32720" and scene.tile == "20EPT"
    assert scene.cloud_cover == 26.02542
    assert scene.properties["s2:processing_baseline"] == "05.11"


def test_earth_search_collection_1_keeps_the_declared_offset(recorded):
    scene = _scene(recorded["S2B_T24MVV_20250731T130245_L2A"])
    nir = scene.assets["nir"]
    assert (nir.scale, nir.offset, nir.nodata) == (0.0001, -0.1, 0)
    assert scene.crs == "EPSG:32724" and scene.tile == "24MVV"
    assert scene.cloud_cover == 34.760532


def test_planetary_computer_baseline_02_12_has_no_offset(recorded):
    scene = _scene(recorded["S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652"])
    red = scene.assets["red"]
    assert red.href.startswith("https://sentinel2l2a01.blob.core.windows.net/")
    assert red.href.endswith("/IMG_DATA/R10m/T60VUK_20190101T000001_B04_10m.tif")
    assert (red.scale, red.offset) == (0.0001, 0.0)
    assert red.shape == (10980, 10980)
    assert red.transform == (10.0, 0.0, 300000.0, 0.0, -10.0, 6500040.0)
    assert scene.assets["scl"].shape == (5490, 5490)
    assert scene.crs == "EPSG:32660" and scene.tile == "60VUK"
    assert scene.cloud_cover == 56.297088
    assert str(scene.start) == "2019-01-01 00:00:01.024000"


def test_planetary_computer_baseline_05_10_offset_from_the_baseline(recorded):
    scene = _scene(recorded["S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458"])
    nir = scene.assets["nir"]
    # No scale/offset anywhere in the item: baseline 05.10 >= 04.00 gives -0.1.
    assert (nir.scale, nir.offset) == (0.0001, -0.1)
    assert nir.transform == (10.0, 0.0, 399960.0, 0.0, -10.0, 9100020.0)
    assert scene.crs == "EPSG:32647" and scene.tile == "47XML"
    assert scene.cloud_cover == 0.219774
    assert scene.properties["s2:processing_baseline"] == "05.10"


def test_modis_sinusoidal_crs_from_wkt2(recorded):
    scene = _scene(recorded["MOD11A2.A2022033.h19v10.061"])
    lst = scene.assets["LST_Day_1km"]
    assert (lst.scale, lst.offset) == (0.02, 0.0)
    assert scene.crs.startswith("PROJCRS[") and "Sinusoidal" in scene.crs
    assert (str(scene.start), str(scene.end)) == (
        "2022-02-02 00:00:00",
        "2022-02-10 00:00:00",
    )


def test_crs_prefers_stac_1_1_proj_code():
    assert item_crs({"proj:code": "EPSG:32633", "proj:epsg": 32634}) == "EPSG:32633"
    assert item_crs({"proj:epsg": 32634}) == "EPSG:32634"


def test_preset_facts_match_the_recorded_items(recorded):
    """Each fact a preset states holds for every recorded item it describes."""
    checked = 0
    for entry in recorded.values():
        item, catalog = entry["item"], entry["catalog"]
        facts = collection_facts(catalog, item["collection"])
        if item["collection"] not in PRESETS[catalog].collections:
            continue
        props, assets = item["properties"], item.get("assets", {})
        if not assets:  # the recording that excluded assets
            continue
        checked += 1
        if facts.offset_applied_flag:
            assert props[facts.offset_applied_flag] is True
        red = assets.get("red") or assets.get("B04") or assets.get("LST_Day_1km")
        bands = red.get("raster:bands") or [{}]
        declared = "scale" in bands[0] or "raster:scale" in red
        assert declared == facts.declares_scale_offset, item["id"]
        if facts.baseline_property:
            assert props[facts.baseline_property]
        assert any(props.get(p) for p in facts.crs_properties), item["id"]
    assert checked == 5 + 7 + 1 + 33 + 4 + 2  # every item with assets


def test_presets_by_url():
    assert preset_for_url("https://earth-search.aws.element84.com/v1/") == (
        "earth-search"
    )
    assert PRESETS["planetary-computer"].signer == "planetary-computer"
    assert PRESETS["earth-search"].signer is None


def test_dedupe_rule_on_real_items(recorded):
    original = recorded["S2B_24MVV_20250731_0_L2A"]["item"]
    newer = copy.deepcopy(original)
    newer["id"] = "S2B_24MVV_20250731_1_L2A"
    newer["properties"]["updated"] = "2025-09-01T00:00:00Z"
    other_tile = recorded["S2B_24MWV_20250731_0_L2A"]["item"]
    c1 = recorded["S2B_T24MVV_20250731T130245_L2A"]["item"]  # other collection
    kept, dropped = dedupe([original, other_tile, original, newer, c1])
    assert [i["id"] for i in kept] == [
        "S2B_24MWV_20250731_0_L2A",
        "S2B_24MVV_20250731_1_L2A",
        "S2B_T24MVV_20250731T130245_L2A",
    ]
    assert dropped == {SAME_ID: 1, REPUBLISHED: 1}


def test_dedupe_keeps_terra_and_aqua_of_one_tile(recorded):
    terra = recorded["MOD11A2.A2022033.h19v10.061"]["item"]
    aqua = copy.deepcopy(terra)
    aqua["id"] = "MYD11A2.A2022033.h19v10.061"
    aqua["properties"]["platform"] = "aqua"
    kept, dropped = dedupe([terra, aqua])
    assert len(kept) == 2 and not dropped


def test_facts_found_from_the_item_root_link(recorded):
    es = recorded["S2B_20EPT_20250731_0_L2A"]["item"]
    pc = recorded["S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652"]["item"]
    assert facts_for_item(es).offset_applied_flag == "earthsearch:boa_offset_applied"
    assert facts_for_item(pc).declares_scale_offset is False  # root ends with "/"
    modis = recorded["MOD11A2.A2022033.h19v10.061"]["item"]  # stactools: no PC root
    assert facts_for_item(modis) is GENERIC
