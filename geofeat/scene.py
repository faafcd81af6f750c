"""geofeat's own view of a STAC item: a scene with the assets it reads.

A :class:`Scene` holds what the read and reduce steps need from an item, already
decided: the asset hrefs, the scale and offset to apply to each (after the
product's rules on which metadata to trust), nodata, the CRS, the tile, and the
key of the satellite pass it belongs to. Scenes are small frozen values, so they
travel inside Dask tasks to any worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
import pystac

from geofeat.catalog.static import item_interval

#: An instant observation covers [start, start + 1 ns), so that the test
#: ``start < window_end and end > window_start`` means ``start`` is inside.
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class Asset:
    """One raster asset of a scene, with the radiometry to apply to its DNs.

    Physical value = DN * ``scale`` + ``offset``; pixels equal to ``nodata`` are
    invalid. ``shape`` and ``transform`` are what the item's ``proj:*`` fields
    claim; the file's own geometry wins where they disagree.
    """

    key: str
    href: str
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = None
    shape: tuple[int, int] | None = None
    transform: tuple[float, ...] | None = None
    radiometry: str = ""
    """Why this scale and offset were chosen, for the provenance columns."""
    mask_nodata: bool = True
    """Whether DNs equal to nodata (declared here or in the file) become NaN.
    False for bit-field layers such as MODIS QC, where 0 is a value ("good")
    even though the files declare nodata 0."""


@dataclass(frozen=True)
class Scene:
    """A STAC item as geofeat reads it."""

    id: str
    collection: str
    start: pd.Timestamp
    """Start of the time the scene covers (UTC, time-zone naive)."""
    end: pd.Timestamp
    """End (excluded) of the time the scene covers."""
    crs: str | None
    assets: dict[str, Asset]
    tile: str | None = None
    pass_key: str = ""
    """Scenes with the same key were seen on the same satellite pass."""
    rank: tuple = ()
    """Order among scenes of one pass: the lowest rank is taken first."""
    cloud_cover: float | None = None
    properties: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def datetime(self) -> pd.Timestamp:
        return self.start


def item_crs(item: pystac.Item | dict) -> str | None:
    """The CRS an item declares: ``proj:code`` (STAC 1.1) or ``proj:epsg``."""
    props = item.properties if isinstance(item, pystac.Item) else item
    if props.get("proj:code"):
        return str(props["proj:code"])
    if props.get("proj:epsg"):
        return f"EPSG:{int(props['proj:epsg'])}"
    if props.get("proj:wkt2"):
        return str(props["proj:wkt2"])
    return None


def item_times(item: pystac.Item) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and end (excluded) of an item's time, UTC and time-zone naive."""
    start, end = item_interval(item)
    if start == end:
        end = start + _INSTANT
    return (
        pd.Timestamp(start).tz_convert("UTC").tz_localize(None),
        pd.Timestamp(end).tz_convert("UTC").tz_localize(None),
    )


def utc_naive(value: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp
