"""Searches made once per run, not once per partition.

``geofeat run`` plans its points in partitions (in input order), and each
partition groups its own points into searches. Points of one cell land in every
partition, so without a cache each cell is searched once per partition: 10,000
points over a country in five partitions make about 1,500 searches instead of 117
(``benchmarks/search_groups.py``).

Before the partitions are planned, :meth:`SearchCache.prefetch` runs the searches
of all the points at once (the same grouping), and keeps their items. A later
search is answered from the cache when one cached search covers it: same
collection and cloud limit, its bbox inside the cached bbox, its interval inside
the cached interval. The cached items are then filtered with the meaning a STAC
API gives the filters (geometry intersects the bbox, time overlaps the interval).
Every partition's search is covered, since its points are a subset of the run's
and its time clusters fall inside the run's. Anything not covered is searched as
usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pystac
import shapely
from shapely.geometry import box, shape

from geofeat.catalog.base import Catalog, Search
from geofeat.catalog.static import item_interval

logger = logging.getLogger(__name__)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass
class _Entry:
    search: Search
    items: list[pystac.Item]
    footprints: list = field(default_factory=list)

    def covers(self, other: Search) -> bool:
        mine, theirs = self.search, other
        return (
            mine.collection == theirs.collection
            and mine.max_cloud_cover == theirs.max_cloud_cover
            and mine.bbox[0] <= mine.bbox[2]  # no antimeridian boxes here
            and theirs.bbox[0] <= theirs.bbox[2]
            and mine.bbox[0] <= theirs.bbox[0]
            and mine.bbox[1] <= theirs.bbox[1]
            and theirs.bbox[2] <= mine.bbox[2]
            and theirs.bbox[3] <= mine.bbox[3]
            and _utc(mine.start) <= _utc(theirs.start)
            and _utc(theirs.end) <= _utc(mine.end)
        )

    def answer(self, search: Search) -> list[pystac.Item]:
        area = box(*search.bbox)
        start, end = _utc(search.start), _utc(search.end)
        found = []
        for item, footprint in zip(self.items, self.footprints, strict=True):
            item_start, item_end = item_interval(item)
            if item_end < start or item_start > end:
                continue
            if footprint is not None and not shapely.intersects(footprint, area):
                continue
            found.append(item)
        return found


class SearchCache:
    """A catalogue whose searches are answered from covering earlier searches."""

    def __init__(self, inner: Catalog) -> None:
        self.inner = inner
        self.name = inner.name
        self.entries: list[_Entry] = []
        self.hits = 0
        self.misses = 0
        """Searches sent to the catalogue itself."""
        self.found: set[str] = set()
        """Ids of every item the catalogue itself returned."""

    def __getattr__(self, attr):
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    @property
    def enabled(self) -> bool:
        # A search cut at max_items is not the whole answer: never reuse it.
        return getattr(self.inner, "max_items", None) is None

    def search(self, search: Search) -> list[pystac.Item]:
        if self.enabled:
            for entry in self.entries:
                if entry.covers(search):
                    self.hits += 1
                    found = entry.answer(search)
                    logger.debug(
                        "search %s/%s answered from the run's cache: %d item(s)",
                        self.name,
                        search.collection,
                        len(found),
                    )
                    return found
        self.misses += 1
        found = self.inner.search(search)
        self.found.update(i.id for i in found)
        if self.enabled:
            footprints = [
                shape(i.geometry) if i.geometry is not None else None for i in found
            ]
            self.entries.append(_Entry(search, found, footprints))
        return found


def prefetch(catalogs: dict, spec, points) -> None:
    """Search once for all ``points`` of every scene feature of ``spec``.

    ``catalogs`` is the run's mapping of opened catalogues (opened here when
    needed, as :func:`geofeat.features.plan_feature` would).
    """
    from geofeat.catalog.base import open_catalog
    from geofeat.plan import searches
    from geofeat.sources.base import before_availability, product_for, validate_feature
    from geofeat.spec import SceneFeature

    if len(points) == 0:
        return
    for feature in spec.features:
        if not isinstance(feature, SceneFeature):
            continue
        # The checks the feature's planning makes before it searches.
        product = product_for(feature.collection)
        validate_feature(product, feature)
        start, end = feature.window.bounds(points.day)
        before_availability(product, feature, end)
        if feature.catalog not in catalogs:
            catalogs[feature.catalog] = open_catalog(
                feature.catalog, spec.catalogs.get(feature.catalog), spec.resolve
            )
        catalog = catalogs[feature.catalog]
        stats = getattr(catalog, "stats", None)  # a STAC API counts its pages
        pages_before = stats.pages if stats is not None else 0
        queries = searches(
            feature.collection,
            points.lon,
            points.lat,
            start,
            end,
            feature.max_cloud_cover,
        )
        found: set[str] = set()
        for query in queries:
            found.update(i.id for i in catalog.search(query))
        pages = f"{stats.pages - pages_before} page(s), " if stats is not None else ""
        logger.info(
            "feature %s: %d search(es) for all %d point(s), made once for the run: "
            "%s%d item(s)",
            feature.name,
            len(queries),
            len(points),
            pages,
            len(found),
        )
