"""Daily precipitation at pixels, in mm per UTC day, from cubes and rasters.

A source is opened twice: once on the client (:meth:`describe`: its grid and the
days it covers, metadata only) and once in each read task (:meth:`read`: the
daily series of a few pixels over a span of days). Sources are frozen
dataclasses holding only paths and settings, so tasks can carry them anywhere.

Daily convention
    Day ``D`` is the UTC day ``[D 00:00, D+1 00:00)``. Daily data are labelled by
    the day they cover. Sub-daily data are summed into days: with
    ``timestamp: start`` a value stamped ``t`` covers ``[t, t + step)``; with
    ``timestamp: end`` (ERA5 accumulations) it covers ``(t - step, t]``, so the
    value stamped at 00:00 belongs to the day before. A day whose sub-daily steps
    are not all present is a day without data.

Units
    Depths per time step (``mm``, ``cm``, ``m``) are scaled to mm; rates
    (``kg m-2 s-1``, ``mm s-1``, ``mm/h``, ``mm/day``) are multiplied by the
    step length (x 86400 for a daily mean of ``kg m-2 s-1``).

Negative values
    Reanalyses carry tiny negative amounts (ERA5 down to about -5e-5 mm/day):
    values between ``-NEGATIVE_TOLERANCE`` and 0 mm per step become 0; anything
    more negative is a fill value and counts as no data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from pyproj import CRS, Transformer
from rasterio.windows import Window

from geofeat.errors import ConfigError, ReadError
from geofeat.read import ReadStats
from geofeat.spec import PrecipitationSource

logger = logging.getLogger(__name__)

#: Amounts between this (mm per time step, negative) and zero are clipped to zero.
NEGATIVE_TOLERANCE = 0.1

#: Values (time steps x pixels) decoded per read, bounding a task's memory; the
#: days per read follow from the step length and the pixels read.
VALUES_PER_BLOCK = 16_000_000

#: A tile's bounding box is read whole unless it holds more than this many times
#: the pixels wanted; sparser points are read pixel by pixel (pointwise indexing).
DENSE_FACTOR = 4


def days_per_block(step_seconds: float, pixels: int) -> int:
    """Days to read at once so that a block holds about VALUES_PER_BLOCK values."""
    per_day = max(1, round(86400.0 / step_seconds))
    return int(max(1, min(4 * 366, VALUES_PER_BLOCK // (per_day * max(pixels, 1)))))


_DAY = np.timedelta64(1, "D")

# units -> (mm per unit of depth, seconds of the rate's time unit or None for a
# depth per time step)
_UNITS: dict[str, tuple[float, float | None]] = {
    "mm": (1.0, None),
    "cm": (10.0, None),
    "m": (1000.0, None),
    "kg m-2": (1.0, None),
    "kg m-2 s-1": (1.0, 1.0),
    "mm s-1": (1.0, 1.0),
    "m s-1": (1000.0, 1.0),
    "mm h-1": (1.0, 3600.0),
    "mm d-1": (1.0, 86400.0),
    "mm day-1": (1.0, 86400.0),
}
_UNIT_ALIASES = {
    "kg/m2/s": "kg m-2 s-1",
    "kg m^-2 s^-1": "kg m-2 s-1",
    "kg m**-2 s**-1": "kg m-2 s-1",
    "mm/s": "mm s-1",
    "m/s": "m s-1",
    "mm/h": "mm h-1",
    "mm/hr": "mm h-1",
    "mm/day": "mm d-1",
    "mm/d": "mm d-1",
    "millimeters": "mm",
    "millimetres": "mm",
    "metres": "m",
    "meters": "m",
}


def mm_per_step(units: str, step_seconds: float) -> float:
    """Factor turning one stored value into mm accumulated over one time step.

    Raises
    ------
    ConfigError
        The units are not known.
    """
    key = " ".join(units.strip().lower().split())
    key = _UNIT_ALIASES.get(key, key)
    if key not in _UNITS:
        raise ConfigError(
            f"precipitation units {units!r} are not known; give 'units' in the "
            f"source as one of {sorted(_UNITS)}"
        )
    depth, per_seconds = _UNITS[key]
    return depth if per_seconds is None else depth * step_seconds / per_seconds


def to_days(values: np.datetime64 | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (int64) of datetimes, floored to the UTC day."""
    return (
        np.asarray(values, dtype="datetime64[ns]")
        .astype("datetime64[D]")
        .astype("int64")
    )


def daily_totals(
    times: np.ndarray,
    amounts: np.ndarray,
    step_seconds: float,
    timestamp: str,
    start: int,
    n_days: int,
) -> np.ndarray:
    """Sum per-step amounts (mm) into UTC days ``start .. start + n_days - 1``.

    Parameters
    ----------
    times
        Time stamps of the steps (``datetime64``), shape ``(n_steps,)``.
    amounts
        mm per step, ``(n_steps, n_pixels)``; NaN where no data.
    step_seconds
        Length of one step, in seconds; must divide a day.
    timestamp
        ``start`` or ``end``: which end of its period a stamp labels.
    start, n_days
        First day (days since 1970-01-01) and number of days wanted.

    Returns
    -------
    numpy.ndarray
        ``(n_pixels, n_days)`` mm per day; NaN where any step of the day is
        missing.
    """
    per_day = 86400.0 / step_seconds
    if abs(per_day - round(per_day)) > 1e-9 or per_day < 1:
        raise ConfigError(
            f"time step of {step_seconds:g} s does not divide a day; rainfall "
            "windows need daily or sub-daily data"
        )
    stamps = np.asarray(times, dtype="datetime64[ns]")
    if timestamp == "end":
        stamps = stamps - np.timedelta64(int(step_seconds * 1e9), "ns")
    day = to_days(stamps) - start
    keep = (day >= 0) & (day < n_days)
    day, amounts = day[keep], amounts[keep]
    n_pixels = amounts.shape[1]
    total = np.zeros((n_days, n_pixels))
    steps = np.zeros((n_days, n_pixels), np.int64)
    has = ~np.isnan(amounts)
    np.add.at(total, day, np.where(has, amounts, 0.0))
    np.add.at(steps, day, has)
    total[steps != round(per_day)] = np.nan
    return total.T


def clip_negative(amounts: np.ndarray) -> np.ndarray:
    """Small negative amounts to zero, fill-like negatives to NaN (in place)."""
    negative = amounts < 0
    if negative.any():
        fill = amounts < -NEGATIVE_TOLERANCE
        logger.debug(
            "%d negative amount(s) clipped to zero, %d below -%s mm taken as no data",
            int((negative & ~fill).sum()),
            int(fill.sum()),
            NEGATIVE_TOLERANCE,
        )
        amounts[negative] = 0.0
        amounts[fill] = np.nan
    return amounts


@dataclass(frozen=True)
class Grid:
    """Where a source's pixels are: centre coordinates, or an affine transform.

    ``crs`` is WKT, or None for longitude/latitude degrees. With ``transform``
    (rasters), a point belongs to the pixel whose half-open extent holds it; with
    centres only (cubes), to the nearest centre within half a cell.
    """

    x: np.ndarray
    y: np.ndarray
    crs: str | None = None
    transform: Any = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.y.size, self.x.size

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each point's pixel; -1 for both where outside."""
        x, y = np.asarray(lon, float), np.asarray(lat, float)
        if self.crs is not None:
            to_grid = Transformer.from_crs(
                CRS.from_epsg(4326), CRS.from_wkt(self.crs), always_xy=True
            )
            x, y = (np.asarray(v) for v in to_grid.transform(x, y))
        elif self.x.size and np.nanmax(self.x) > 180:
            x = np.mod(x, 360.0)  # a 0..360 longitude grid
        if self.transform is not None:
            inverse = ~self.transform
            col = np.floor(inverse.a * x + inverse.b * y + inverse.c).astype("int64")
            row = np.floor(inverse.d * x + inverse.e * y + inverse.f).astype("int64")
        else:
            row, col = _nearest(self.y, y), _nearest(self.x, x)
        outside = (row < 0) | (row >= self.y.size) | (col < 0) | (col >= self.x.size)
        row[outside], col[outside] = -1, -1
        return row, col


def _nearest(centres: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the cell (given by its centre) holding each value; -1 outside."""
    centres = np.asarray(centres, float)
    if centres.size < 2:
        raise ConfigError(
            "a cube axis with fewer than two coordinates has no cell size; "
            "give a cube with at least two cells along each axis"
        )
    descending = centres[-1] < centres[0]
    c = centres[::-1] if descending else centres
    edges = np.r_[
        c[0] - (c[1] - c[0]) / 2, (c[1:] + c[:-1]) / 2, c[-1] + (c[-1] - c[-2]) / 2
    ]
    index = np.searchsorted(edges, values, side="right") - 1
    index[(index < 0) | (index >= c.size) | np.isnan(values)] = -1
    if descending:
        index = np.where(index >= 0, c.size - 1 - index, -1)
    return index


@dataclass(frozen=True)
class SourceInfo:
    """What planning needs to know about a source."""

    grid: Grid
    first_day: int
    """First day with data, days since 1970-01-01."""
    end_day: int
    """Day after the last day with data."""
    tile: tuple[int, int] = (32, 32)
    """Pixels (rows, columns) that one read task should group."""


def _dims(da) -> tuple[str, str, str]:
    time = [d for d in da.dims if np.issubdtype(da[d].dtype, np.datetime64)]
    y = [d for d in da.dims if d in ("lat", "latitude", "y")]
    x = [d for d in da.dims if d in ("lon", "longitude", "x")]
    if len(time) != 1 or len(y) != 1 or len(x) != 1 or da.ndim != 3:
        raise ConfigError(
            f"variable {da.name!r} has dims {da.dims}; a precipitation cube needs one "
            "time dimension and lat/lon (or projected y/x) dimensions"
        )
    return time[0], y[0], x[0]


@dataclass(frozen=True)
class CubeSource:
    """A Zarr or NetCDF store xarray opens (path or fsspec URL)."""

    url: str
    variable: str | None = None
    units: str | None = None
    timestamp: str = "start"
    storage_options: dict = field(default_factory=dict)
    open_kwargs: dict = field(default_factory=dict)

    def open(self):
        """The variable as a lazy (un-chunked) ``DataArray`` with time, y, x."""
        base = self.url.split("?")[0].rstrip("/")
        try:
            if base.endswith(".zarr") or self.open_kwargs.get("engine") == "zarr":
                kwargs = {k: v for k, v in self.open_kwargs.items() if k != "engine"}
                ds = xr.open_zarr(
                    self.url,
                    storage_options=self.storage_options or None,
                    chunks=None,
                    **kwargs,
                )
            elif "://" in self.url and not self.url.startswith("file://"):
                handle = fsspec.open(self.url, **self.storage_options).open()
                ds = xr.open_dataset(handle, engine="h5netcdf", chunks=None)
            else:
                ds = xr.open_dataset(self.url, chunks=None, **self.open_kwargs)
        except (OSError, ValueError, KeyError) as err:
            raise ReadError(
                f"cannot open precipitation cube {self.url}: {err}"
            ) from err
        # CF grid-mapping variables (the CRS) are coordinates, not data.
        mappings = {v.attrs.get("grid_mapping") for v in ds.data_vars.values()}
        ds = ds.set_coords([m for m in mappings if m in ds.data_vars])
        if self.variable is None:
            if len(ds.data_vars) != 1:
                raise ConfigError(
                    f"cube {self.url} has variables {sorted(ds.data_vars)}; say which "
                    "one with 'variable'"
                )
            name = next(iter(ds.data_vars))
        elif self.variable in ds.data_vars:
            name = self.variable
        else:
            raise ConfigError(
                f"cube {self.url} has no variable {self.variable!r}; it has "
                f"{sorted(ds.data_vars)}"
            )
        da = ds[name]
        extra = [d for d in da.dims if da.sizes[d] == 1 and d not in _dims_guess(da)]
        return da.isel({d: 0 for d in extra})

    def _units(self, da) -> str:
        units = self.units or da.attrs.get("units")
        if not units:
            raise ConfigError(
                f"cube {self.url}: variable {da.name!r} has no 'units' attribute; "
                "give 'units' in the source (mm, m or kg m-2 s-1)"
            )
        return units

    def _grid(self, da) -> Grid:
        _, ydim, xdim = _dims(da)
        crs = None
        if ydim == "y":
            import rioxarray  # noqa: F401  (registers the .rio accessor)

            if da.rio.crs is None:
                raise ConfigError(
                    f"cube {self.url} has projected x/y dimensions but no CRS "
                    "(grid_mapping); write one with rioxarray's write_crs"
                )
            crs = da.rio.crs.to_wkt()
        return Grid(
            np.asarray(da[xdim].values, float), np.asarray(da[ydim].values, float), crs
        )

    def _step_seconds(self, times: np.ndarray) -> float:
        if times.size < 2:
            return 86400.0
        return float(
            np.median(np.diff(times.astype("datetime64[ns]")).astype("int64")) / 1e9
        )

    def _labels(self, times: np.ndarray, step: float) -> np.ndarray:
        stamps = times.astype("datetime64[ns]")
        if self.timestamp == "end":
            stamps = stamps - np.timedelta64(int(step * 1e9), "ns")
        return to_days(stamps)

    def describe(self, bbox=None, start=None, end=None) -> SourceInfo:
        """Grid and days covered, from the cube's coordinates (no data read)."""
        da = self.open()
        tdim, ydim, xdim = _dims(da)
        self._units(da)
        times = np.asarray(da[tdim].values)
        labels = self._labels(times, self._step_seconds(times))
        chunks = da.encoding.get("chunks") or da.encoding.get("preferred_chunks")
        tile = (32, 32)
        if isinstance(chunks, tuple | list) and len(chunks) == da.ndim:
            sizes = dict(zip(da.dims, chunks, strict=True))
            tile = (max(int(sizes[ydim]), 1), max(int(sizes[xdim]), 1))
        return SourceInfo(
            self._grid(da), int(labels.min()), int(labels.max()) + 1, tile
        )

    def read_steps(
        self,
        rows: np.ndarray,
        cols: np.ndarray,
        start: int,
        end: int,
        stats: ReadStats,
        da=None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Time stamps, mm per step ``(n_steps, n_pixels)`` and step (s) of days
        ``[start, end)`` at the given pixels (``da``: the cube, if already open)."""
        da = self.open() if da is None else da
        tdim, ydim, xdim = _dims(da)
        times = np.asarray(da[tdim].values)
        step = self._step_seconds(times)
        labels = self._labels(times, step)
        i0, i1 = np.searchsorted(labels, [start, end])
        stats.assets += 1
        if i1 <= i0:
            return times[:0], np.zeros((0, rows.size)), step
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        if (r1 - r0) * (c1 - c0) <= DENSE_FACTOR * rows.size:
            box = da.isel(
                {tdim: slice(i0, i1), ydim: slice(r0, r1), xdim: slice(c0, c1)}
            )
            data = np.asarray(box.transpose(tdim, ydim, xdim).values, dtype=np.float64)
            stats.pixels += data.size
            data = data[:, rows - r0, cols - c0]
        else:
            picked = da.isel(
                {
                    tdim: slice(i0, i1),
                    ydim: xr.DataArray(rows, dims="pixel"),
                    xdim: xr.DataArray(cols, dims="pixel"),
                }
            )
            data = np.asarray(picked.transpose(tdim, "pixel").values, dtype=np.float64)
            stats.pixels += data.size
        stats.windows += 1
        stats.bytes += data.size * da.dtype.itemsize
        amounts = data * mm_per_step(self._units(da), step)
        return times[i0:i1], clip_negative(amounts), step

    def pixels_read(self, rows: np.ndarray, cols: np.ndarray) -> int:
        """Pixels one read decodes per time step (bounding box or pointwise)."""
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        return int(box) if box <= DENSE_FACTOR * rows.size else int(rows.size)

    def read(
        self, rows: np.ndarray, cols: np.ndarray, start: int, end: int, stats: ReadStats
    ) -> np.ndarray:
        """mm per UTC day, ``(n_pixels, end - start)``; NaN where no data."""
        out = np.full((rows.size, end - start), np.nan)
        da = self.open()
        times = np.asarray(da[_dims(da)[0]].values)
        block = days_per_block(self._step_seconds(times), self.pixels_read(rows, cols))
        for b0 in range(start, end, block):
            b1 = min(b0 + block, end)
            times, amounts, step = self.read_steps(rows, cols, b0, b1, stats, da)
            out[:, b0 - start : b1 - start] = daily_totals(
                times, amounts, step, self.timestamp, b0, b1 - b0
            )
        return out


def _dims_guess(da) -> tuple[str, ...]:
    names = ("lat", "latitude", "y", "lon", "longitude", "x")
    return tuple(
        d for d in da.dims if d in names or np.issubdtype(da[d].dtype, np.datetime64)
    )


def raster_grid(ds) -> Grid:
    t = ds.transform
    x = t.c + t.a * (np.arange(ds.width) + 0.5)
    y = t.f + t.e * (np.arange(ds.height) + 0.5)
    return Grid(x, y, None if ds.crs is None else ds.crs.to_wkt(), t)


def read_window(
    ds, indexes: list[int], rows, cols, nodata, stats: ReadStats
) -> np.ndarray:
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    data = ds.read(indexes, window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.float64)
    stats.windows += 1
    stats.pixels += data.size
    stats.bytes += data.size * np.dtype(ds.dtypes[0]).itemsize
    picked = data[:, rows - r0, cols - c0]
    if nodata is not None and not np.isnan(nodata):
        picked[picked == nodata] = np.nan
    return picked


def band_days(
    path: str, start: str | None = None, count: int | None = None
) -> np.ndarray:
    """The day (days since 1970-01-01) of each band of a multi-band daily raster.

    From the ``.aux.json`` sidecar that R's terra writes (key ``time``: one
    date-time string per band, or numbers with ``timestep: seconds``), else
    consecutive days from ``start``.
    """
    sidecar = path + ".aux.json"
    try:
        with fsspec.open(sidecar, "rt") as handle:
            meta = json.load(handle)
    except FileNotFoundError:
        meta = None
    if meta is not None and "time" in meta:
        stamps = meta["time"]
        if isinstance(stamps, list) and stamps and isinstance(stamps[0], int | float):
            unit = {"seconds": "s", "days": "D"}.get(
                meta.get("timestep", "seconds"), "s"
            )
            days = to_days(
                pd.to_datetime(stamps, unit=unit, utc=True).tz_localize(None)
            )
        else:
            days = to_days(pd.to_datetime(stamps, format="%Y-%m-%d %H:%M:%S").values)
    elif start is not None and count is not None:
        days = to_days(np.datetime64(start)) + np.arange(count)
    else:
        raise ConfigError(
            f"raster {path} has no dates: no .aux.json sidecar with 'time'; give the "
            "first band's day as 'start' in the source"
        )
    if count is not None and days.size != count:
        raise ConfigError(
            f"raster {path} has {count} bands but its sidecar lists {days.size} dates"
        )
    return np.asarray(days, np.int64)


@dataclass(frozen=True)
class BandRasterSource:
    """A multi-band raster with one band per day (mm/day unless told otherwise)."""

    url: str
    units: str = "mm"
    start: str | None = None
    nodata: float | None = None

    def _days(self, ds) -> np.ndarray:
        days = band_days(self.url, self.start, ds.count)
        if (np.diff(days) <= 0).any():
            raise ConfigError(f"raster {self.url}: band dates are not increasing")
        return days

    def describe(self, bbox=None, start=None, end=None) -> SourceInfo:
        with rasterio.open(self.url) as ds:
            days = self._days(ds)
            grid = raster_grid(ds)
            tile = ds.block_shapes[0]
        return SourceInfo(
            grid, int(days[0]), int(days[-1]) + 1, (max(tile[0], 32), max(tile[1], 32))
        )

    def read(
        self, rows: np.ndarray, cols: np.ndarray, start: int, end: int, stats: ReadStats
    ) -> np.ndarray:
        out = np.full((rows.size, end - start), np.nan)
        factor = mm_per_step(self.units, 86400.0)
        try:
            with rasterio.open(self.url) as ds:
                days = self._days(ds)
                bands = np.flatnonzero((days >= start) & (days < end))
                stats.assets += 1
                if bands.size == 0:
                    return out
                nodata = self.nodata if self.nodata is not None else ds.nodata
                picked = read_window(ds, list(bands + 1), rows, cols, nodata, stats)
        except rasterio.errors.RasterioIOError as err:
            raise ReadError(
                f"cannot read precipitation raster {self.url}: {err}"
            ) from err
        out[:, days[bands] - start] = clip_negative(picked * factor).T
        return out


@dataclass(frozen=True)
class DailyRasterSource:
    """One raster per day, found from a URL template such as CHIRPS's daily COGs."""

    url: str
    start: str
    end: str | None = None
    units: str = "mm"
    nodata: float | None = None

    def href(self, day: int) -> str:
        """The file of one day (days since 1970-01-01)."""
        stamp = pd.Timestamp(np.datetime64(int(day), "D"))
        return self.url.format(date=stamp)

    def describe(self, bbox=None, start=None, end=None) -> SourceInfo:
        first = int(to_days(np.datetime64(self.start)))
        if self.end is not None:
            end = int(to_days(np.datetime64(self.end))) + 1
        else:
            end = int(to_days(np.datetime64("now"))) + 1
        try:
            with rasterio.open(self.href(first)) as ds:
                grid = raster_grid(ds)
                tile = ds.block_shapes[0]
        except rasterio.errors.RasterioIOError as err:
            raise ReadError(
                f"cannot open the first day's raster {self.href(first)}: {err}; check "
                "the source's url template and start"
            ) from err
        # Every task opens each day's file: tiles much larger than a block keep
        # the opens per day few.
        return SourceInfo(grid, first, end, (max(tile[0], 512), max(tile[1], 512)))

    def read(
        self, rows: np.ndarray, cols: np.ndarray, start: int, end: int, stats: ReadStats
    ) -> np.ndarray:
        out = np.full((rows.size, end - start), np.nan)
        factor = mm_per_step(self.units, 86400.0)
        for day in range(start, end):
            href = self.href(day)
            try:
                # One file per day and no sidecars: do not list each day's folder.
                with (
                    rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
                    rasterio.open(href) as ds,
                ):
                    stats.assets += 1
                    nodata = self.nodata if self.nodata is not None else ds.nodata
                    picked = read_window(ds, [1], rows, cols, nodata, stats)
            except rasterio.errors.RasterioIOError as err:
                # A day without a file is a day without data, not a failed job.
                stats.failures["daily raster missing"] += 1
                logger.warning(
                    "no precipitation for %s: cannot open %s: %s",
                    np.datetime64(day, "D"),
                    href,
                    err,
                )
                continue
            out[:, day - start] = clip_negative(picked[0] * factor)
        return out


def open_source(spec: PrecipitationSource, resolve=lambda p: p):
    """The source object for a feature's ``source`` entry.

    ``resolve`` makes a relative path from the spec absolute.
    """
    url = spec.url if spec.kind in ("daily-rasters", "stac-zarr") else resolve(spec.url)
    if spec.kind == "cube":
        return CubeSource(url, spec.variable, spec.units, spec.timestamp)
    if spec.kind == "raster":
        return BandRasterSource(url, spec.units or "mm", spec.start, spec.nodata)
    if spec.kind == "daily-rasters":
        if spec.start is None:
            raise ConfigError(
                "a daily-rasters source needs 'start' (its first day, e.g. 1981-01-01)"
            )
        return DailyRasterSource(
            url, spec.start, spec.end, spec.units or "mm", spec.nodata
        )
    from geofeat.sources.precipitation_stac import StacRasterSource, StacZarrSource

    if spec.kind == "stac-rasters":
        return StacRasterSource.from_spec(spec, url)
    return StacZarrSource.from_spec(spec, url)
