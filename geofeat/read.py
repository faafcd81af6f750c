"""Windowed reads of the pixels under points, in each asset's native grid.

Points are transformed into the CRS of the file itself (never the raster warped
to the points), the pixels each point takes are found from the file's own
geotransform (the sampling rules are in :mod:`geofeat.sampling`), and pixels are
grouped by the file's internal blocks so that each block holding points is read
once, as one window spanning just the pixels wanted in it. Whole scenes are
never read.

Pixel rule (``nearest``): a point belongs to the pixel whose half-open extent
``[x0, x0 + dx) x (y0 - dy, y0]`` contains it, so a point exactly on an edge
between two pixels takes the pixel to its east (or south); where that pixel is
invalid, the valid pixel touching the point is taken (see :mod:`geofeat.sampling`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.windows import Window

from geofeat.errors import ReadError
from geofeat.sampling import Taps, bilinear_taps, buffer_taps, nearest_taps
from geofeat.scene import Asset

logger = logging.getLogger(__name__)

#: GDAL settings for every read. Remote reads retry transient HTTP failures.
GDAL_ENV = {
    "GDAL_HTTP_MAX_RETRY": "4",  # 429 and 5xx answers are retried this often
    "GDAL_HTTP_RETRY_DELAY": "1",  # seconds, doubled by GDAL at each retry
    "GDAL_HTTP_TIMEOUT": "60",  # seconds for one HTTP request
    "VSI_CACHE": "TRUE",  # keep fetched ranges while a file is open
}


@dataclass
class ReadStats:
    """What reads cost, summed over assets; merged across tasks by the job."""

    assets: int = 0
    windows: int = 0
    pixels: int = 0
    bytes: int = 0
    """Bytes of decoded pixels (compressed bytes fetched are fewer)."""
    geometry_from_file: int = 0
    """Assets whose pixel grid differed from the item's ``proj:*`` metadata."""
    failures: Counter = field(default_factory=Counter)

    def merge(self, other: ReadStats) -> ReadStats:
        self.assets += other.assets
        self.windows += other.windows
        self.pixels += other.pixels
        self.bytes += other.bytes
        self.geometry_from_file += other.geometry_from_file
        self.failures.update(other.failures)
        return self


@dataclass(frozen=True)
class PointTaps:
    """The pixels each point takes in one asset, with their DNs.

    All arrays are ``(n_points, k)``; ``x`` and ``y`` are the pixel centres in
    ``crs`` (the file's own CRS, as WKT), so other assets can be sampled at the
    very same places on their own grids.
    """

    taps: Taps
    values: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: str


@lru_cache(maxsize=64)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(
        CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True
    )


_WGS84 = CRS.from_epsg(4326).to_wkt()


def open_raster(href: str):
    """Open a raster for reading: the one place every read opens a file.

    URLs that need a token (Planetary Computer blob storage) are signed here, on
    the worker at read time, and signed again once if refused with HTTP 403.
    """
    from geofeat.catalog.signing import open_signed

    return open_signed(href)


def _io_error(asset: Asset, err: Exception) -> ReadError:
    """The error for an asset GDAL could not read; a missing local file is final."""
    local = "://" not in asset.href and not asset.href.startswith("/vsi")
    return ReadError(
        f"cannot read asset {asset.key!r} at {asset.href}: {err}",
        retry=not (local and not os.path.exists(asset.href)),
    )


def _check_crs(asset: Asset, ds) -> None:
    if ds.crs is None:
        raise ReadError(
            f"asset {asset.key!r} at {asset.href} has no CRS; if its "
            "georeferencing lives in a .aux.xml sidecar, keep the sidecar next "
            "to it and do not set GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR"
        )


def _check_geometry(asset: Asset, ds, stats: ReadStats) -> None:
    if asset.transform is None and asset.shape is None:
        return
    claimed = tuple(asset.transform[:6]) if asset.transform is not None else None
    actual = tuple(ds.transform)[:6]
    same_transform = claimed is None or np.allclose(claimed, actual, rtol=0, atol=1e-6)
    same_shape = asset.shape is None or tuple(asset.shape) == (ds.height, ds.width)
    if not (same_transform and same_shape):
        stats.geometry_from_file += 1
        logger.debug(
            "asset %s: file grid %sx%s %s differs from item proj:shape %s "
            "proj:transform %s; using the file's",
            asset.href,
            ds.height,
            ds.width,
            actual,
            asset.shape,
            claimed,
        )


def pixel_of(transform, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (int64) of the pixel holding each point (see module docs)."""
    u, v = fractional_pixel(transform, x, y)
    return np.floor(v).astype("int64"), np.floor(u).astype("int64")


def fractional_pixel(
    transform, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional column ``u`` and row ``v`` of points given in the grid's CRS."""
    inverse = ~transform
    u = inverse.a * x + inverse.b * y + inverse.c
    v = inverse.d * x + inverse.e * y + inverse.f
    return np.asarray(u, "float64"), np.asarray(v, "float64")


def _nodata(asset: Asset, ds) -> float | None:
    if not asset.mask_nodata:
        return None
    nodata = asset.nodata if asset.nodata is not None else ds.nodata
    return None if nodata is None or np.isnan(nodata) else nodata


def read_pixels(
    ds, rows: np.ndarray, cols: np.ndarray, nodata: float | None, stats: ReadStats
) -> np.ndarray:
    """Values (float64) of the pixels at ``rows``/``cols`` (any shape).

    Pixels outside the raster and pixels equal to ``nodata`` come out NaN. Each
    file block holding wanted pixels is read once, as one window spanning the
    wanted pixels in it.
    """
    values = np.full(rows.shape, np.nan)
    flat_r, flat_c = rows.ravel(), cols.ravel()
    inside = (flat_r >= 0) & (flat_r < ds.height) & (flat_c >= 0) & (flat_c < ds.width)
    if not inside.any():
        return values
    pixel = flat_r[inside] * ds.width + flat_c[inside]
    unique, inverse = np.unique(pixel, return_inverse=True)
    ur, uc = unique // ds.width, unique % ds.width
    block_h, block_w = ds.block_shapes[0]
    block = (ur // block_h) * (ds.width // block_w + 1) + uc // block_w
    order = np.argsort(block, kind="stable")
    starts = np.flatnonzero(np.r_[True, block[order][1:] != block[order][:-1]])
    picked = np.empty(unique.shape, "float64")
    for group in np.split(order, starts[1:]):
        r0, r1 = ur[group].min(), ur[group].max() + 1
        c0, c1 = uc[group].min(), uc[group].max() + 1
        data = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
        stats.windows += 1
        stats.pixels += data.size
        stats.bytes += data.nbytes
        picked[group] = data[ur[group] - r0, uc[group] - c0]
    if nodata is not None:
        picked[picked == nodata] = np.nan
    out = values.ravel()
    out[np.flatnonzero(inside)] = picked[inverse]
    return out.reshape(rows.shape)


def read_taps(
    asset: Asset,
    lon: np.ndarray,
    lat: np.ndarray,
    stats: ReadStats,
    sampling: str = "nearest",
    radius: float | None = None,
) -> PointTaps:
    """DNs of the pixels each point takes in ``asset`` under a sampling rule.

    Parameters
    ----------
    asset
        The raster; its file's own CRS and grid are used.
    lon, lat
        Points in WGS84 degrees.
    sampling
        ``nearest``, ``bilinear`` or ``buffer`` (see :mod:`geofeat.sampling`).
    radius
        Buffer radius in metres (CRS units), for ``buffer``.

    Raises
    ------
    ReadError
        The file cannot be opened, has no CRS, or a buffer is asked on a grid
        whose units are not metres.
    """
    try:
        with rasterio.Env(**GDAL_ENV), open_raster(asset.href) as ds:
            _check_crs(asset, ds)
            _check_geometry(asset, ds, stats)
            stats.assets += 1
            crs = ds.crs.to_wkt()
            x, y = _transformer(_WGS84, crs).transform(np.asarray(lon), np.asarray(lat))
            u, v = fractional_pixel(ds.transform, np.asarray(x), np.asarray(y))
            if sampling == "bilinear":
                taps = bilinear_taps(u, v)
            elif sampling == "buffer":
                if radius is None or ds.crs.is_geographic:
                    raise ReadError(
                        f"asset {asset.key!r} at {asset.href}: buffer sampling needs a "
                        "radius in metres on a projected grid; this grid is in "
                        f"{ds.crs.to_string()}; use sampling: nearest or bilinear"
                    )
                t = ds.transform
                taps = buffer_taps(u, v, radius / abs(t.a), radius / abs(t.e))
            else:
                taps = nearest_taps(u, v)
            values = read_pixels(ds, taps.rows, taps.cols, _nodata(asset, ds), stats)
            t = ds.transform
            cx = t.a * (taps.cols + 0.5) + t.b * (taps.rows + 0.5) + t.c
            cy = t.d * (taps.cols + 0.5) + t.e * (taps.rows + 0.5) + t.f
    except rasterio.errors.RasterioIOError as err:
        raise _io_error(asset, err) from err
    return PointTaps(taps, values, np.asarray(cx), np.asarray(cy), crs)


def sample_xy(
    asset: Asset, x: np.ndarray, y: np.ndarray, crs: str, stats: ReadStats
) -> np.ndarray:
    """DNs (float64) of the pixels of ``asset`` holding points given in ``crs``.

    Used to sample masks and other bands at the centres of another band's
    taps, each on its own grid. Points should not lie on this grid's edges
    (pixel centres of a finer aligned grid never do); an edge point takes the
    pixel east or south of it. Outside and nodata come out NaN.
    """
    try:
        with rasterio.Env(**GDAL_ENV), open_raster(asset.href) as ds:
            _check_crs(asset, ds)
            _check_geometry(asset, ds, stats)
            stats.assets += 1
            own = ds.crs.to_wkt()
            if own != crs:
                x, y = _transformer(crs, own).transform(x, y)
            row, col = pixel_of(ds.transform, np.asarray(x), np.asarray(y))
            return read_pixels(ds, row, col, _nodata(asset, ds), stats)
    except rasterio.errors.RasterioIOError as err:
        raise _io_error(asset, err) from err


def sample(
    asset: Asset, lon: np.ndarray, lat: np.ndarray, stats: ReadStats
) -> np.ndarray:
    """DNs of ``asset`` at the pixels holding each point (``nearest``), as float64.

    Points outside the raster and pixels equal to nodata come out NaN; a point
    exactly on an edge takes the first non-nodata pixel touching it. Scale and
    offset are *not* applied: that is the product's decision.

    Raises
    ------
    ReadError
        The file cannot be opened or has no CRS.
    """
    read = read_taps(asset, np.asarray(lon), np.asarray(lat), stats)
    ok = np.isfinite(read.values) & (read.taps.weight > 0)
    first = np.argmax(ok, axis=1)
    value = read.values[np.arange(len(first)), first]
    return np.where(ok.any(axis=1), value, np.nan)


#: Overviews already read in this process, by (asset, size, max_full): every
#: partition checks the radiometry of the same scenes, and a scene's overview
#: does not change during a run. Cleared when full (64 views of 256 x 256
#: float64 are 32 MiB); a worker that never saw a scene simply reads it.
_OVERVIEWS: dict[tuple, np.ndarray | None] = {}
_OVERVIEWS_MAX = 64
_OVERVIEWS_LOCK = threading.Lock()


def overview(
    asset: Asset, size: int, stats: ReadStats, max_full: int = 1024
) -> np.ndarray | None:
    """A decimated view of the whole asset, ``size`` x ``size`` pixels (float64).

    Read from the file's overviews (COG overviews, JPEG2000 resolution levels),
    so it costs a few blocks, not the scene, and once per process (later calls
    reuse it, read-only, and add nothing to ``stats``). A file without overviews
    is only read when neither side exceeds ``max_full`` pixels; otherwise None.
    Nodata comes out NaN.
    """
    key = (asset, size, max_full)
    with _OVERVIEWS_LOCK:
        if key in _OVERVIEWS:
            return _OVERVIEWS[key]
    values = _read_overview(asset, size, stats, max_full)
    if values is not None:
        values.flags.writeable = False
    with _OVERVIEWS_LOCK:
        if len(_OVERVIEWS) >= _OVERVIEWS_MAX:
            _OVERVIEWS.clear()
        _OVERVIEWS[key] = values
    return values


def _read_overview(
    asset: Asset, size: int, stats: ReadStats, max_full: int
) -> np.ndarray | None:
    try:
        with rasterio.Env(**GDAL_ENV), open_raster(asset.href) as ds:
            if not ds.overviews(1) and max(ds.width, ds.height) > max_full:
                return None
            data = ds.read(
                1, out_shape=(size, size), resampling=rasterio.enums.Resampling.nearest
            )
            stats.windows += 1
            stats.pixels += data.size
            stats.bytes += data.nbytes
            nodata = _nodata(asset, ds)
    except rasterio.errors.RasterioIOError as err:
        raise _io_error(asset, err) from err
    values = data.astype("float64")
    if nodata is not None:
        values[data == nodata] = np.nan
    return values
