"""STAC API searches over real HTTP on 127.0.0.1, against recorded real responses.

The replay server (``tests/stac_replay.py``) serves the Earth Search and Planetary
Computer responses recorded in ``shared/data/stac``; pystac-client talks to it as
it would to the real APIs. Expected ids and counts were read off the recorded JSON
by hand (see each test).
"""

from __future__ import annotations

import copy
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stac_replay import CORE, FILTER, QUERY, ReplayServer  # noqa: E402

from geofeat.catalog.api import ApiCatalog, HttpPolicy  # noqa: E402
from geofeat.catalog.base import Search  # noqa: E402
from geofeat.catalog.dedupe import REPUBLISHED, SAME_ID  # noqa: E402
from geofeat.errors import SearchError  # noqa: E402

pytestmark = pytest.mark.realdata

FAST = HttpPolicy(retries=3, backoff=0.01, backoff_max=0.05, read_timeout=5)
WORLD = (-180.0, -90.0, 180.0, 90.0)
JULY_31 = (datetime(2025, 7, 31), datetime(2025, 7, 31, 23, 59, 59))


@pytest.fixture
def stac_dir(shared_data: Path) -> Path:
    return shared_data / "stac"


@pytest.fixture
def earth_search(stac_dir):
    with ReplayServer(stac_dir, "earth-search") as server:
        yield server


@pytest.fixture
def planetary(stac_dir):
    with ReplayServer(stac_dir, "planetary-computer") as server:
        yield server


def _ids(items):
    return [i.id for i in items]


def test_paging_follows_next_links_to_the_end(earth_search):
    catalog = ApiCatalog("es", earth_search.url, page_size=2, policy=FAST)
    items = catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31, 40))
    # By hand from the two recorded pages: sentinel-2-l2a items with
    # eo:cloud_cover <= 40 are 20EPT (26.0), 24MVV (34.8), 24MWV (25.3) and
    # 24MXV (24.7); 24MUV (56.8) and 24MUA (41.5) are cloudier.
    assert _ids(items) == [
        "S2B_20EPT_20250731_0_L2A",
        "S2B_24MVV_20250731_0_L2A",
        "S2B_24MWV_20250731_0_L2A",
        "S2B_24MXV_20250731_0_L2A",
    ]
    searches = earth_search.searches()
    assert len(searches) == 2 and catalog.stats.pages == 2
    assert searches[0].body["limit"] == 2 and "token" not in searches[0].body
    assert searches[1].body["token"] == "next:2"
    assert catalog.stats.searches == 1 and catalog.stats.items == 4


def test_recorded_earth_search_pages_are_followed_as_recorded(earth_search):
    """The real Earth Search next link (POST, body {"next": token}) is followed."""
    from pystac_client import Client

    client = Client.open(earth_search.url, stac_io=FAST.stac_io())
    expr = {"op": "lte", "args": [{"property": "eo:cloud_cover"}, 40]}
    pages = list(client.search(filter=expr, filter_lang="cql2-json").pages_as_dicts())
    stac = earth_search.data
    name = "earth-search/search_cql2_cloudcover_lte40_page{}.json"
    recorded = [json.loads((stac / name.format(n)).read_text()) for n in (1, 2)]
    assert [[f["id"] for f in p["features"]] for p in pages] == [
        [f["id"] for f in p["features"]] for p in recorded
    ]
    second = earth_search.searches()[1].body
    assert second == {"next": recorded[0]["links"][0]["body"]["next"]}


def test_planetary_computer_search_pages(planetary):
    catalog = ApiCatalog("pc", planetary.url, page_size=10, policy=FAST)
    start, end = datetime(2019, 1, 1, 0, 0, 1), datetime(2019, 1, 1, 0, 0, 10)
    items = catalog.search(Search("sentinel-2-l2a", WORLD, start, end))
    # The recorded search returned 33 items: 4 pages of at most 10.
    assert len(items) == 33 and catalog.stats.pages == 4
    assert items[0].id == "S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652"
    assert all(i.properties["s2:processing_baseline"] == "02.12" for i in items)


def test_max_items_stops_paging(planetary):
    catalog = ApiCatalog("pc", planetary.url, page_size=10, max_items=12, policy=FAST)
    start, end = datetime(2019, 1, 1), datetime(2019, 1, 2)
    items = catalog.search(Search("sentinel-2-l2a", WORLD, start, end))
    assert len(items) == 12 and catalog.stats.pages == 2


@pytest.mark.parametrize(
    "conformance, sent",
    [(CORE + QUERY + FILTER, "filter"), (CORE + QUERY, "query"), (CORE, None)],
)
def test_cloud_limit_uses_what_the_catalogue_supports(stac_dir, conformance, sent):
    with ReplayServer(stac_dir, "earth-search", conformance=conformance) as server:
        catalog = ApiCatalog("es", server.url, policy=FAST)
        items = catalog.search(Search("sentinel-2-c1-l2a", WORLD, *JULY_31, 30))
        body = server.searches()[0].body
    # c1-l2a items of July 31 with cloud <= 30: 20EPT (26.0), 24MWV (25.3),
    # 24MXV (24.7); 24MUV (56.8), 24MVV (34.8), 24MUA (41.5) are above.
    assert sorted(_ids(items)) == [
        "S2B_T20EPT_20250731T131905_L2A",
        "S2B_T24MWV_20250731T130245_L2A",
        "S2B_T24MXV_20250731T130245_L2A",
    ]
    if sent == "filter":
        assert body["filter"]["args"][1] == 30 and body["filter-lang"] == "cql2-json"
        assert "query" not in body
    elif sent == "query":
        assert body["query"] == {"eo:cloud_cover": {"lte": 30}} and "filter" not in body
    else:
        assert "query" not in body and "filter" not in body


def test_5xx_and_429_are_retried_honouring_retry_after(earth_search, caplog):
    catalog = ApiCatalog("es", earth_search.url, policy=FAST)
    catalog.client()
    earth_search.fail(status=503, times=2)
    earth_search.fail(status=429, retry_after="1")
    caplog.set_level(logging.WARNING, "geofeat.catalog.api")
    started = time.monotonic()
    items = catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31, 40))
    elapsed = time.monotonic() - started
    assert len(items) == 4
    statuses = [r.status for r in earth_search.searches()]
    assert statuses == [503, 503, 429, 200]
    assert elapsed >= 1.0  # the Retry-After second was waited
    messages = [r.getMessage() for r in caplog.records]
    assert any("HTTP 503; retry 1 of 3" in m for m in messages)
    assert any("HTTP 429; retry 3 of 3 after Retry-After 1 s" in m for m in messages)


def test_timeout_is_retried(earth_search, caplog):
    policy = HttpPolicy(retries=2, backoff=0.01, read_timeout=0.5)
    catalog = ApiCatalog("es", earth_search.url, policy=policy)
    catalog.client()
    earth_search.fail(delay=1.5)  # slower than the read timeout, once
    caplog.set_level(logging.WARNING, "geofeat.catalog.api")
    items = catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31, 40))
    assert len(items) == 4
    assert any(
        "ReadTimeoutError; retry 1 of 2" in r.getMessage() for r in caplog.records
    )


def test_a_catalogue_that_stays_down_ends_with_a_search_error(earth_search):
    policy = HttpPolicy(retries=2, backoff=0.01, backoff_max=0.05)
    catalog = ApiCatalog("es", earth_search.url, policy=policy)
    catalog.client()
    earth_search.fail(status=500, times=100)
    started = time.monotonic()
    with pytest.raises(SearchError, match=r"'es'.*failed \(HTTP 500\) after 2 retries"):
        catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31))
    assert time.monotonic() - started < 5
    assert len(earth_search.searches()) == 3  # the first try and two retries


def test_unreachable_landing_page(earth_search):
    earth_search.fail(path="/api/stac/v1", status=502, times=100)
    catalog = ApiCatalog(
        "es", earth_search.url, policy=HttpPolicy(retries=1, backoff=0)
    )
    with pytest.raises(SearchError, match="cannot open the landing page"):
        catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31))


def test_missing_collection_names_the_ones_there(earth_search):
    catalog = ApiCatalog("es", earth_search.url, policy=FAST)
    with pytest.raises(SearchError) as err:
        catalog.search(Search("sentinel-2-l3", WORLD, *JULY_31))
    message = str(err.value)
    assert "has no collection 'sentinel-2-l3'" in message
    assert "'sentinel-2-c1-l2a'" in message and "fix 'collection'" in message


def test_empty_result_is_an_empty_list_and_logged(earth_search, caplog):
    catalog = ApiCatalog("es", earth_search.url, policy=FAST)
    caplog.set_level(logging.INFO, "geofeat.catalog.api")
    items = catalog.search(
        Search("sentinel-2-l2a", WORLD, datetime(2001, 1, 1), datetime(2001, 2, 1))
    )
    assert items == []
    assert any(
        "1 page(s), 0 item(s)" in r.getMessage()
        or "0 page(s), 0 item(s)" in r.getMessage()
        for r in caplog.records
    )


def test_antimeridian_bbox_is_split_in_two_searches(planetary):
    catalog = ApiCatalog("pc", planetary.url, policy=FAST)
    start, end = datetime(2019, 1, 1), datetime(2019, 1, 2)
    crossing = catalog.search(
        Search("sentinel-2-l2a", (173.9, 57.0, -179.0, 59.0), start, end)
    )
    bodies = [r.body["bbox"] for r in planetary.searches()]
    assert bodies == [[173.9, 57.0, 180.0, 59.0], [-180.0, 57.0, -179.0, 59.0]]
    # By hand from the recorded items' bboxes: only 60VUK (east edge 174.145) and
    # 59VPE (174.145) reach east of 173.9 between 57 and 59 N; none reaches -179.
    east = _ids(crossing)
    assert sorted(east) == [
        "S2A_MSIL2A_20190101T000001_R116_T59VPE_20201007T214658",
        "S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652",
    ]
    again = ApiCatalog("pc", planetary.url, policy=FAST).search(
        Search("sentinel-2-l2a", (173.9, 57.0, 180.0, 59.0), start, end)
    )
    assert sorted(east) == sorted(_ids(again))


def _republished(item: dict) -> dict:
    twin = copy.deepcopy(item)
    twin["id"] = item["id"].replace("_0_L2A", "_1_L2A")
    twin["properties"]["s2:sequence"] = "1"
    twin["properties"]["updated"] = "2025-08-15T00:00:00.000Z"
    return twin


def test_duplicates_are_dropped_by_the_documented_rule(stac_dir, caplog):
    page = json.loads(
        (stac_dir / "earth-search/search_cql2_cloudcover_lte40_page1.json").read_text()
    )
    original = next(
        f for f in page["features"] if f["id"] == "S2B_20EPT_20250731_0_L2A"
    )
    # The same item again (as if it slid onto the next page) and a reprocessed
    # copy of it: same tile, same datetime, a later update.
    extra = [copy.deepcopy(original), _republished(original)]
    with ReplayServer(stac_dir, "earth-search", extra_items=extra) as server:
        catalog = ApiCatalog("es", server.url, page_size=3, policy=FAST)
        caplog.set_level(logging.INFO, "geofeat.catalog.api")
        items = catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31, 40))
    ids = _ids(items)
    assert "S2B_20EPT_20250731_1_L2A" in ids and "S2B_20EPT_20250731_0_L2A" not in ids
    assert len(ids) == 4
    assert catalog.stats.dropped == {SAME_ID: 1, REPUBLISHED: 1}
    line = next(r.getMessage() for r in caplog.records if "dropped" in r.getMessage())
    assert f"dropped 1 ({SAME_ID})" in line and f"dropped 1 ({REPUBLISHED})" in line


def test_fields_extension_recorded_response(earth_search):
    """The recorded Earth Search answer to a fields request (no assets, links or
    geometry) is followed and parsed."""
    from pystac_client import Client

    client = Client.open(earth_search.url, stac_io=FAST.stac_io())
    point = {"type": "Point", "coordinates": [-105.1019, 40.1672]}
    result = client.search(
        collections=["sentinel-2-c1-l2a"],
        intersects=point,
        fields={"include": [], "exclude": ["geometry", "assets", "links"]},
    )
    items = list(result.items_as_dicts())
    # By hand: 10 c1-l2a items of tile 13TDE from 2025-07-29 back to 07-11.
    assert len(items) == 10
    assert items[0]["id"] == "S2C_T13TDE_20250729T180310_L2A"
    assert items[-1]["id"] == "S2A_T13TDE_20250711T175745_L2A"
    assert all("assets" not in i and "geometry" not in i for i in items)


def test_listing_asks_the_api_to_leave_assets_out(earth_search):
    from geofeat.catalog.query import run_search

    items = run_search(
        earth_search.url, "sentinel-2-l2a", WORLD, "2025-07-31", 40, listing=True
    )
    assert len(items) == 4 and all(not i.assets for i in items)
    body = earth_search.searches()[0].body
    assert body["fields"] == {"exclude": ["assets", "links", "geometry"]}


def test_a_huge_retry_after_is_capped(earth_search):
    policy = HttpPolicy(retries=2, backoff=0.01, retry_after_max=0.2)
    catalog = ApiCatalog("es", earth_search.url, policy=policy)
    catalog.client()
    earth_search.fail(status=429, retry_after="3600", times=2)
    started = time.monotonic()
    items = catalog.search(Search("sentinel-2-l2a", WORLD, *JULY_31, 40))
    assert len(items) == 4
    assert [r.status for r in earth_search.searches()] == [429, 429, 200]
    assert 0.4 <= time.monotonic() - started < 3  # two capped waits of 0.2 s
