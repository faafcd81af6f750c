"""A stac-geoparquet file as a catalogue, written from the recorded Planetary
Computer items (the 33 searched ones and the 4 stac-geoparquet test items)."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from geofeat.catalog import open_catalog
from geofeat.catalog.base import Search
from geofeat.catalog.geoparquet import GeoParquetCatalog
from geofeat.errors import SearchError
from geofeat.spec import CatalogSpec

pytestmark = pytest.mark.realdata

PC = "planetary-computer/"


@pytest.fixture(scope="module")
def parquet(shared_data, tmp_path_factory):
    from stac_geoparquet.arrow import parse_stac_items_to_parquet

    stac = shared_data / "stac"
    search = json.loads(
        (stac / PC / "search_sentinel-2-l2a_2019-01-01T000001-000010.json").read_text()
    )["features"]
    extra = json.loads(
        (stac / PC / "items_sentinel-2-l2a_2024-04-19_stac-geoparquet.json").read_text()
    )
    path = tmp_path_factory.mktemp("gpq") / "pc-s2.parquet"
    parse_stac_items_to_parquet(search + extra, output_path=path)
    return path


def test_open_catalog_picks_geoparquet_by_suffix(parquet):
    catalog = open_catalog("pcgpq", CatalogSpec(url=str(parquet)))
    assert isinstance(catalog, GeoParquetCatalog)
    assert catalog.collections() == ["sentinel-2-l2a"]


def test_bbox_time_and_cloud_filters(parquet):
    catalog = GeoParquetCatalog("pcgpq", str(parquet))
    day = (datetime(2024, 4, 19), datetime(2024, 4, 19, 23, 59, 59))
    items = catalog.search(Search("sentinel-2-l2a", (-180, -90, 180, 90), *day, 0.5))
    # By hand: cloud cover 47XML 0.22, 46XER 0.13 (kept); 47XMJ 0.83, 46XES 0.84.
    assert sorted(i.id for i in items) == [
        "S2B_MSIL2A_20240419T095549_R122_T46XER_20240419T124342",
        "S2B_MSIL2A_20240419T095549_R122_T47XML_20240419T123458",
    ]
    # Assets survive the round trip through Parquet.
    red = next(i for i in items if "47XML" in i.id).assets["B04"]
    assert red.extra_fields["proj:transform"][:3] == [10.0, 0.0, 399960.0]


def test_antimeridian_bbox_gives_the_same_items(parquet):
    catalog = GeoParquetCatalog("pcgpq", str(parquet))
    day = (datetime(2019, 1, 1), datetime(2019, 1, 2))
    crossing = catalog.search(
        Search("sentinel-2-l2a", (173.9, 57.0, -179.0, 59.0), *day)
    )
    # Hand-checked from the item bboxes: only 59VPE and 60VUK reach east of 173.9.
    assert sorted(i.id[-30:] for i in crossing) == [
        "01_R116_T59VPE_20201007T214658",
        "01_R116_T60VUK_20201007T214652",
    ]


def test_missing_collection(parquet):
    catalog = GeoParquetCatalog("pcgpq", str(parquet))
    with pytest.raises(SearchError, match="has no collection 'modis-11A2-061'"):
        catalog.search(
            Search(
                "modis-11A2-061",
                (0, 0, 1, 1),
                datetime(2020, 1, 1),
                datetime(2020, 2, 1),
            )
        )
