"""The run's search cache answers covered searches as the catalogue would."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from geofeat.catalog.base import Search
from geofeat.catalog.cache import SearchCache
from geofeat.catalog.static import StaticCatalog

pytestmark = pytest.mark.realdata


class Counting(StaticCatalog):
    calls = 0

    def search(self, search):
        Counting.calls += 1
        return super().search(search)


def test_covered_searches_match_the_catalogue(s2_catalog):
    inner = StaticCatalog("es", str(s2_catalog))
    counting = Counting("es", str(s2_catalog))
    cache = SearchCache(counting)
    wide = Search(
        "sentinel-2-l2a",
        (15.0, 45.0, 16.5, 47.0),
        datetime(2023, 8, 1),
        datetime(2023, 8, 31),
        80,
    )
    assert len(cache.search(wide)) == len(inner.search(wide)) > 0

    rng = np.random.default_rng(3)
    for _ in range(40):
        west, south = rng.uniform(15.0, 16.3), rng.uniform(45.0, 46.8)
        east, north = west + rng.uniform(0, 0.2), south + rng.uniform(0, 0.2)
        start = datetime(2023, 8, 1) + timedelta(days=int(rng.integers(0, 25)))
        end = start + timedelta(days=int(rng.integers(1, 6)))
        sub = Search("sentinel-2-l2a", (west, south, east, north), start, end, 80)
        assert sorted(i.id for i in cache.search(sub)) == sorted(
            i.id for i in inner.search(sub)
        )
    assert Counting.calls == 1 and cache.hits == 40


def test_not_covered_goes_to_the_catalogue(s2_catalog):
    cache = SearchCache(StaticCatalog("es", str(s2_catalog)))
    first = Search(
        "sentinel-2-l2a",
        (15.9, 45.7, 16.0, 45.9),
        datetime(2023, 8, 10),
        datetime(2023, 8, 14),
    )
    cache.search(first)
    later = Search(
        "sentinel-2-l2a",
        (15.9, 45.7, 16.0, 45.9),
        datetime(2023, 8, 10),
        datetime(2023, 8, 21),
    )
    other_cloud = Search(
        "sentinel-2-l2a",
        (15.9, 45.7, 16.0, 45.9),
        datetime(2023, 8, 10),
        datetime(2023, 8, 14),
        10,
    )
    cache.search(later)
    cache.search(other_cloud)
    assert (cache.hits, cache.misses) == (0, 3)


def test_cut_searches_are_not_reused(s2_catalog):
    cache = SearchCache(StaticCatalog("es", str(s2_catalog), max_items=2))
    wide = Search(
        "sentinel-2-l2a",
        (15.0, 45.0, 16.5, 47.0),
        datetime(2023, 8, 1),
        datetime(2023, 8, 31),
    )
    cache.search(wide)
    cache.search(wide)
    assert cache.hits == 0
