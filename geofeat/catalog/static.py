"""A local static STAC catalogue, searched like a STAC API.

The catalogue is walked once and its items kept in memory, grouped by
collection; searches then filter those items by bbox and time with the same
meaning a STAC API gives the filters (see :class:`~geofeat.catalog.base.Search`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pystac
import shapely
from shapely.geometry import box, shape

from geofeat.catalog.base import Search
from geofeat.errors import SearchError

logger = logging.getLogger(__name__)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def item_interval(item: pystac.Item) -> tuple[datetime, datetime]:
    """The time an item covers: its datetime, or its start and end datetimes."""
    props = item.properties
    start = (
        pystac.utils.str_to_datetime(props["start_datetime"])
        if props.get("start_datetime")
        else item.datetime
    )
    end = (
        pystac.utils.str_to_datetime(props["end_datetime"])
        if props.get("end_datetime")
        else item.datetime
    )
    if start is None or end is None:
        raise SearchError(
            f"item {item.id!r} has neither datetime nor start/end_datetime"
        )
    return _utc(start), _utc(end)


class StaticCatalog:
    """A static catalogue (``catalog.json`` and its children) on a path or URL."""

    def __init__(self, name: str, href: str, max_items: int | None = None) -> None:
        self.name = name
        self.href = href
        self.max_items = max_items
        self._items: dict[str, list[pystac.Item]] | None = None

    def _load(self) -> dict[str, list[pystac.Item]]:
        if self._items is None:
            try:
                root = pystac.read_file(self.href)
            except Exception as err:
                raise SearchError(
                    f"catalog {self.name!r}: cannot read {self.href!r}: {err}"
                ) from err
            items: dict[str, list[pystac.Item]] = {}
            for item in root.get_items(recursive=True):
                item.make_asset_hrefs_absolute()
                items.setdefault(item.collection_id or "", []).append(item)
            self._items = items
            logger.info(
                "catalog %s: loaded %d items in %d collection(s) from %s",
                self.name,
                sum(map(len, items.values())),
                len(items),
                self.href,
            )
        return self._items

    def search(self, search: Search) -> list[pystac.Item]:
        collections = self._load()
        if search.collection not in collections:
            raise SearchError(
                f"catalog {self.name!r} has no collection {search.collection!r}; "
                f"it has {sorted(collections)}"
            )
        area = box(*search.bbox)
        start, end = _utc(search.start), _utc(search.end)
        found = []
        for item in collections[search.collection]:
            item_start, item_end = item_interval(item)
            if item_end < start or item_start > end:
                continue
            if item.geometry is not None and not shapely.intersects(
                shape(item.geometry), area
            ):
                continue
            cloud = item.properties.get("eo:cloud_cover")
            if search.max_cloud_cover is not None and cloud is not None:
                if cloud > search.max_cloud_cover:
                    continue
            found.append(item)
            if self.max_items is not None and len(found) >= self.max_items:
                break
        logger.info(
            "search %s/%s bbox=%s %s..%s: %d item(s)",
            self.name,
            search.collection,
            tuple(round(v, 4) for v in search.bbox),
            start.isoformat(),
            end.isoformat(),
            len(found),
        )
        return found
