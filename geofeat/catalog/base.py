"""The catalogue interface that every kind of catalogue implements."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import pystac

from geofeat.catalog.presets import PRESETS
from geofeat.errors import ConfigError
from geofeat.spec import CatalogSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Search:
    """One catalogue query, with the meaning a STAC API gives its filters.

    ``bbox`` is (west, south, east, north) in WGS84 degrees; an item matches when
    its geometry intersects it. ``start`` and ``end`` are both included, as in a
    STAC ``datetime`` interval; an item with ``start_datetime``/``end_datetime``
    matches when its period overlaps the interval.
    """

    collection: str
    bbox: tuple[float, float, float, float]
    start: datetime
    end: datetime
    max_cloud_cover: float | None = None


class Catalog(Protocol):
    """Something that finds STAC items."""

    name: str

    def search(self, search: Search) -> list[pystac.Item]:
        """Items of ``search.collection`` matching the bbox and time interval."""
        ...


def open_catalog(name: str, spec: CatalogSpec | None, resolve=lambda p: p) -> Catalog:
    """The catalogue for one ``catalogs:`` entry (or a preset named directly).

    Parameters
    ----------
    name
        The entry's key, used in log lines and errors.
    spec
        The entry; None when ``name`` is a preset used without an entry.
    resolve
        Turns a relative path from the spec into an absolute one.
    """
    from geofeat.catalog.static import StaticCatalog

    if spec is None:
        spec = CatalogSpec(preset=name)
    if spec.preset is not None:
        from geofeat.catalog.api import ApiCatalog

        return ApiCatalog.from_preset(name, spec)
    url = spec.url
    if url.startswith(("http://", "https://")) and not url.endswith(".json"):
        from geofeat.catalog.api import ApiCatalog

        return ApiCatalog(name, url, max_items=spec.max_items)
    path = resolve(url)
    if "://" not in path and not Path(path).exists():
        raise ConfigError(
            f"catalog {name!r}: {path!r} does not exist; give the path of a static "
            "catalog.json, a stac-geoparquet file, the root URL of a STAC API, or "
            f"a preset ({', '.join(sorted(PRESETS))})"
        )
    if path.endswith(".lock.json"):
        from geofeat.catalog.lock import LockCatalog

        return LockCatalog(name, path, max_items=spec.max_items)
    if path.rstrip("/").endswith((".parquet", ".geoparquet")):
        from geofeat.catalog.geoparquet import GeoParquetCatalog

        return GeoParquetCatalog(name, path, max_items=spec.max_items)
    return StaticCatalog(name, path, max_items=spec.max_items)
