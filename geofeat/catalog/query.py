"""One catalogue search as a user types it on the command line (``geofeat search``).

Parses the catalogue (preset name, STAC API URL, or local path), the bbox or
point, the datetime range and the cloud limit, runs the search through the same
catalogue classes as ``geofeat run``, and summarises each item in one row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pystac

from geofeat.catalog.base import Catalog, Search, open_catalog
from geofeat.catalog.dedupe import tile_of
from geofeat.catalog.presets import PRESETS
from geofeat.errors import ConfigError
from geofeat.scene import item_crs
from geofeat.spec import CatalogSpec

logger = logging.getLogger(__name__)


#: What a listing does not need from a STAC API (most of an item's bytes).
LISTING_EXCLUDES = ("assets", "links", "geometry")


def catalog_from_text(
    text: str, max_items: int | None = None, listing: bool = False
) -> Catalog:
    """A catalogue from a preset name, a STAC API root URL, or a local path.

    With ``listing``, a STAC API is asked (fields extension) not to send the
    assets, links and geometry of the items.
    """
    if text in PRESETS:
        catalog = open_catalog(text, CatalogSpec(preset=text, max_items=max_items))
    else:
        catalog = open_catalog("catalog", CatalogSpec(url=text, max_items=max_items))
    if listing and hasattr(catalog, "exclude"):
        catalog.exclude = LISTING_EXCLUDES
    return catalog


def _numbers(text: str, count: int, what: str, example: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise ConfigError(
            f"{what} {text!r} is not {count} numbers; write it as {example}"
        )
    return values


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"west,south,east,north"`` in degrees; west > east crosses the antimeridian."""
    west, south, east, north = _numbers(text, 4, "--bbox", "15.0,45.0,16.5,46.9")
    if not (
        -180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90
    ):
        raise ConfigError(
            f"--bbox {text!r}: give west,south,east,north in degrees with south <= "
            "north (west > east means the box crosses the antimeridian)"
        )
    return west, south, east, north


def parse_point(text: str) -> tuple[float, float, float, float]:
    """``"lon,lat"`` as a bbox of zero size."""
    lon, lat = _numbers(text, 2, "--point", "15.97,45.81")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ConfigError(
            f"--point {text!r}: give lon,lat in degrees (lon within ±180, lat within "
            "±90; check they are not swapped)"
        )
    return lon, lat, lon, lat


def parse_datetime(text: str | None) -> tuple[datetime, datetime]:
    """A STAC-like range of UTC days or instants, both ends included.

    ``"2023-08-13"`` is that whole day; ``"2023-08-01/2023-08-31"`` runs from the
    start of the first day to the end of the last; ``..`` leaves an end open;
    times may be given (``2023-08-13T10:00:00Z``). None means all time.
    """
    if not text:
        text = "../.."
    first, _, last = text.partition("/")
    last = last or first

    def when(part: str, end: bool) -> datetime:
        if part in ("", ".."):
            return datetime(1970, 1, 1) if not end else datetime(2100, 1, 1)
        try:
            stamp = pd.Timestamp(part)
        except ValueError as err:
            raise ConfigError(
                f"--datetime {text!r}: {part!r} is not a date; write "
                "2023-08-01/2023-08-31 or 2023-08-13"
            ) from err
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        is_day = "T" not in part and " " not in part
        if end and is_day:
            stamp = stamp + timedelta(days=1) - timedelta(microseconds=1)
        return stamp.to_pydatetime()

    start, end = when(first, False), when(last, True)
    if start > end:
        raise ConfigError(f"--datetime {text!r}: the start is after the end")
    return start, end


@dataclass(frozen=True)
class ItemRow:
    """One line of the ``geofeat search`` table."""

    id: str
    datetime: str
    cloud_cover: float | None
    crs: str | None
    tile: str | None


def item_row(item: pystac.Item) -> ItemRow:
    props = item.properties
    when = props.get("datetime") or props.get("start_datetime") or ""
    crs = item_crs(item)
    if crs is not None and len(crs) > 24:  # a WKT: show its name only
        crs = crs.split('"')[1] if '"' in crs else crs[:24]
    return ItemRow(item.id, str(when), props.get("eo:cloud_cover"), crs, tile_of(props))


def run_search(
    catalog: str,
    collection: str,
    bbox: tuple[float, float, float, float],
    datetime_range: str | None = None,
    max_cloud: float | None = None,
    max_items: int | None = None,
    listing: bool = False,
) -> list[pystac.Item]:
    """Search ``collection`` of ``catalog`` (preset, URL or path) once.

    With ``listing`` a STAC API may leave out assets, links and geometry.
    """
    start, end = parse_datetime(datetime_range)
    found = catalog_from_text(catalog, max_items, listing).search(
        Search(collection, bbox, start, end, max_cloud)
    )
    return found[:max_items] if max_items is not None else found
