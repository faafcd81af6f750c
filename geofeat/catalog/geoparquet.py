"""A stac-geoparquet file (or folder of files) searched like a STAC API.

Each search reads only the rows whose collection and bbox match (the filter is
pushed down to Parquet row groups by ``pyarrow.dataset``), then keeps the items
whose time overlaps the interval, whose cloud cover is within the limit and whose
geometry intersects the bbox: the meaning a STAC API gives these filters (see
:class:`~geofeat.catalog.base.Search`). A bbox crossing the antimeridian is split
in two. Rows become item dicts with ``stac_geoparquet.arrow.stac_table_to_items``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pyarrow.dataset as pads
import pystac
import shapely
from shapely.geometry import box, shape

from geofeat.catalog.api import split_antimeridian
from geofeat.catalog.base import Search
from geofeat.catalog.dedupe import dedupe
from geofeat.errors import SearchError

logger = logging.getLogger(__name__)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _corner(name: str) -> pads.Expression:
    return pads.field(("bbox", name))


def _time(text: str | None) -> datetime | None:
    return None if not text else _utc(pystac.utils.str_to_datetime(text))


class GeoParquetCatalog:
    """Items stored as stac-geoparquet at ``path`` (a file, folder or URL)."""

    def __init__(self, name: str, path: str, max_items: int | None = None) -> None:
        self.name = name
        self.path = path
        self.max_items = max_items
        self._dataset: pads.Dataset | None = None

    def dataset(self) -> pads.Dataset:
        if self._dataset is None:
            try:
                self._dataset = pads.dataset(self.path, format="parquet")
            except (OSError, ValueError) as err:
                raise SearchError(
                    f"catalog {self.name!r}: cannot read stac-geoparquet {self.path!r}:"
                    f" {err}; give a .parquet file written by stac-geoparquet"
                ) from err
        return self._dataset

    def collections(self) -> list[str]:
        table = self.dataset().to_table(columns=["collection"])
        return sorted(set(table.column("collection").to_pylist()) - {None})

    def search(self, search: Search) -> list[pystac.Item]:
        """Items of ``search.collection`` in the bbox and time interval."""
        from stac_geoparquet.arrow import stac_table_to_items

        dataset = self.dataset()
        if search.collection not in self.collections():
            raise SearchError(
                f"catalog {self.name!r} ({self.path}) has no collection "
                f"{search.collection!r}; it has {self.collections()}"
            )
        start, end = _utc(search.start), _utc(search.end)
        found: list[dict] = []
        for west, south, east, north in split_antimeridian(search.bbox):
            where = (
                (pads.field("collection") == search.collection)
                & (_corner("xmax") >= west)
                & (_corner("xmin") <= east)
                & (_corner("ymax") >= south)
                & (_corner("ymin") <= north)
            )
            area = box(west, south, east, north)
            for item in stac_table_to_items(dataset.to_table(filter=where)):
                if self._keep(item, area, start, end, search.max_cloud_cover):
                    found.append(item)
        kept, dropped = dedupe(found)
        if self.max_items is not None:
            kept = kept[: self.max_items]
        logger.info(
            "search %s/%s bbox=%s %s..%s: %d item(s)%s",
            self.name,
            search.collection,
            tuple(round(v, 4) for v in search.bbox),
            start.isoformat(),
            end.isoformat(),
            len(kept),
            "".join(f"; dropped {n} ({why})" for why, n in sorted(dropped.items())),
        )
        return [pystac.Item.from_dict(d, preserve_dict=False) for d in kept]

    @staticmethod
    def _keep(item: dict, area, start, end, max_cloud: float | None) -> bool:
        props = item["properties"]
        item_start = _time(props.get("start_datetime")) or _time(props.get("datetime"))
        item_end = _time(props.get("end_datetime")) or _time(props.get("datetime"))
        if item_start is None or item_end < start or item_start > end:
            return False
        cloud = props.get("eo:cloud_cover")
        if max_cloud is not None and cloud is not None and cloud > max_cloud:
            return False
        geometry = item.get("geometry")
        return geometry is None or shapely.intersects(shape(geometry), area)
