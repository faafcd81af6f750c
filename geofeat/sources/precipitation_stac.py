"""Precipitation from STAC items: Zarr cubes split by time, or one raster per day.

``stac-zarr``: ERA5 on Planetary Computer is laid out this way: one item per
month, each with a Zarr asset per variable (hourly accumulations in metres,
stamped at the end of each hour). A read searches the items overlapping its
span, reads the steps of each, and only then sums them into UTC days, so a day
whose last hour sits in the next month's item is still whole.

``stac-rasters``: one item per day (its ``datetime``, or ``start_datetime``,
names the UTC day), with a raster asset on one grid shared by all items, as
daily CHIRPS collections are published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pystac
import rasterio

from geofeat.catalog.base import Search, open_catalog
from geofeat.errors import ConfigError, ReadError, SearchError
from geofeat.read import ReadStats
from geofeat.sources.precipitation import (
    CubeSource,
    SourceInfo,
    clip_negative,
    daily_totals,
    days_per_block,
    mm_per_step,
    raster_grid,
    read_window,
    to_days,
)
from geofeat.spec import CatalogSpec, PrecipitationSource

logger = logging.getLogger(__name__)

_WORLD = (-180.0, -90.0, 180.0, 90.0)


def _time_dim(da) -> str:
    return next(d for d in da.dims if np.issubdtype(da[d].dtype, np.datetime64))


def _day_datetime(day: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(days=int(day))


@dataclass(frozen=True)
class StacZarrSource:
    """Items of ``collection`` at the STAC catalogue ``url``, Zarr asset ``asset``."""

    url: str
    collection: str
    asset: str
    variable: str | None = None
    units: str | None = None
    timestamp: str = "start"
    query: tuple[tuple[str, object], ...] = ()
    """Item properties that must match (``era5:kind`` = ``fc``)."""
    sign: str | None = None

    @classmethod
    def from_spec(cls, spec: PrecipitationSource, url: str) -> StacZarrSource:
        if spec.collection is None or spec.asset is None:
            raise ConfigError(
                "a stac-zarr source needs 'collection' and 'asset' (the STAC "
                "collection id and the key of the Zarr asset to read)"
            )
        query = tuple(sorted((spec.query or {}).items()))
        return cls(
            url,
            spec.collection,
            spec.asset,
            spec.variable,
            spec.units,
            spec.timestamp,
            query,
            spec.sign,
        )

    def items(self, start: int, end: int, bbox=_WORLD) -> list[pystac.Item]:
        """Items overlapping days ``[start, end)`` (a day's margin either side)."""
        catalog = open_catalog("precipitation", CatalogSpec(url=self.url))
        found = catalog.search(
            Search(
                collection=self.collection,
                bbox=tuple(bbox),
                start=_day_datetime(start - 1),
                end=_day_datetime(end + 1),
            )
        )
        wanted = dict(self.query)
        found = [
            item
            for item in found
            if all(item.properties.get(k) == v for k, v in wanted.items())
            and self.asset in item.assets
        ]
        if self.sign == "planetary-computer":
            import planetary_computer

            found = [planetary_computer.sign(item) for item in found]
        return sorted(
            found, key=lambda item: item.datetime or item.common_metadata.start_datetime
        )

    def cube(self, item: pystac.Item) -> CubeSource:
        """The item's Zarr asset as a cube source (open options from xarray-assets)."""
        asset = item.assets[self.asset]
        open_kwargs = dict(asset.extra_fields.get("xarray:open_kwargs") or {})
        storage = dict(asset.extra_fields.get("xarray:storage_options") or {})
        storage.update(open_kwargs.pop("storage_options", None) or {})
        open_kwargs = {k: v for k, v in open_kwargs.items() if k != "chunks"}
        open_kwargs.setdefault("engine", "zarr")
        return CubeSource(
            asset.href, self.variable, self.units, self.timestamp, storage, open_kwargs
        )

    def describe(self, bbox=_WORLD, start: int | None = None, end: int | None = None):
        """Grid of the first item found, days covered by the items found."""
        if start is None or end is None:
            raise ConfigError("a stac-zarr source is described for a span of days")
        found = self.items(start, end, bbox)
        if not found:
            raise SearchError(
                f"no item of {self.collection!r} at {self.url} with asset "
                f"{self.asset!r} overlaps the points' days; check the source's "
                "collection, asset and query"
            )
        first = self.cube(found[0]).describe()
        days = [first.first_day, first.end_day]
        for item in found[1:]:
            meta = item.common_metadata
            lo = meta.start_datetime or item.datetime
            hi = meta.end_datetime or item.datetime
            days += [
                int(to_days(np.datetime64(lo.replace(tzinfo=None)))),
                int(to_days(np.datetime64(hi.replace(tzinfo=None)))) + 1,
            ]
        return SourceInfo(first.grid, min(days), max(days), first.tile)

    def read(
        self, rows: np.ndarray, cols: np.ndarray, start: int, end: int, stats: ReadStats
    ) -> np.ndarray:
        """mm per UTC day ``(n_pixels, end - start)``, across item boundaries."""
        out = np.full((rows.size, end - start), np.nan)
        cubes = [self.cube(item) for item in self.items(start, end)]
        opened = [cube.open() for cube in cubes]
        if not cubes:
            return out
        first = opened[0]
        step = cubes[0]._step_seconds(np.asarray(first[_time_dim(first)].values))
        block = days_per_block(step, cubes[0].pixels_read(rows, cols))
        for b0 in range(start, end, block):
            b1 = min(b0 + block, end)
            times, amounts, step = [], [], None
            for cube, da in zip(cubes, opened, strict=True):
                t, a, s = cube.read_steps(rows, cols, b0, b1, stats, da)
                times.append(t)
                amounts.append(a)
                step = step or s
            if step is None:
                continue
            t = np.concatenate(times)
            a = np.concatenate(amounts)
            t, first = np.unique(t, return_index=True)  # items may share a stamp
            out[:, b0 - start : b1 - start] = daily_totals(
                t, a[first], step, self.timestamp, b0, b1 - b0
            )
        return out


def _item_day(item: pystac.Item) -> int:
    stamp = item.datetime or item.common_metadata.start_datetime
    return int(to_days(np.datetime64(stamp.replace(tzinfo=None))))


@dataclass(frozen=True)
class StacRasterSource:
    """One item per day in ``collection``, raster asset ``asset`` (mm/day)."""

    url: str
    collection: str
    asset: str
    units: str = "mm"
    nodata: float | None = None
    query: tuple[tuple[str, object], ...] = ()
    sign: str | None = None

    @classmethod
    def from_spec(cls, spec: PrecipitationSource, url: str) -> StacRasterSource:
        if spec.collection is None or spec.asset is None:
            raise ConfigError(
                "a stac-rasters source needs 'collection' and 'asset' (the STAC "
                "collection id and the key of the daily raster asset)"
            )
        query = tuple(sorted((spec.query or {}).items()))
        return cls(
            url,
            spec.collection,
            spec.asset,
            spec.units or "mm",
            spec.nodata,
            query,
            spec.sign,
        )

    def items(self, start: int, end: int, bbox=_WORLD) -> list[pystac.Item]:
        """Items whose day lies in ``[start, end)``, by day."""
        finder = StacZarrSource(
            self.url, self.collection, self.asset, query=self.query, sign=self.sign
        )
        found = [
            i for i in finder.items(start, end, bbox) if start <= _item_day(i) < end
        ]
        return sorted(found, key=_item_day)

    def describe(self, bbox=_WORLD, start: int | None = None, end: int | None = None):
        """Grid of the first item's raster, days of the items found."""
        if start is None or end is None:
            raise ConfigError("a stac-rasters source is described for a span of days")
        found = self.items(start, end, bbox)
        if not found:
            raise SearchError(
                f"no item of {self.collection!r} at {self.url} with asset "
                f"{self.asset!r} lies in the points' days; check the source's "
                "collection, asset and query"
            )
        href = found[0].assets[self.asset].href
        try:
            with rasterio.open(href) as ds:
                grid = raster_grid(ds)
        except rasterio.errors.RasterioIOError as err:
            raise ReadError(f"cannot open {href} (item {found[0].id}): {err}") from err
        days = [_item_day(i) for i in found]
        # Each task opens every day's file: large tiles keep the opens few.
        return SourceInfo(grid, min(days), max(days) + 1, (512, 512))

    def read(
        self, rows: np.ndarray, cols: np.ndarray, start: int, end: int, stats: ReadStats
    ) -> np.ndarray:
        """mm per UTC day ``(n_pixels, end - start)``; days without an item are NaN."""
        out = np.full((rows.size, end - start), np.nan)
        factor = mm_per_step(self.units, 86400.0)
        grid = None
        for item in self.items(start, end):
            href = item.assets[self.asset].href
            try:
                with rasterio.open(href) as ds:
                    stats.assets += 1
                    here = raster_grid(ds)
                    grid = grid or here
                    if here.shape != grid.shape or tuple(here.transform) != tuple(
                        grid.transform
                    ):
                        raise ReadError(
                            f"item {item.id} ({href}) is on another grid than the "
                            "collection's first item; stac-rasters needs one raster "
                            "per day on one grid"
                        )
                    nodata = self.nodata if self.nodata is not None else ds.nodata
                    picked = read_window(ds, [1], rows, cols, nodata, stats)
            except rasterio.errors.RasterioIOError as err:
                raise ReadError(f"cannot read {href} (item {item.id}): {err}") from err
            out[:, _item_day(item) - start] = clip_negative(picked[0] * factor)
        return out
