"""Windowed reads of the pixels under points, in each asset's native grid.

Points are transformed into the CRS of the file itself (never the raster warped
to the points), the pixel holding each point is found from the file's own
geotransform, and points are grouped by the file's internal blocks so that each
block holding points is read once, as one window spanning just those points.
Whole scenes are never read.

Pixel rule (``nearest``): a point belongs to the pixel whose half-open extent
``[x0, x0 + dx) x (y0 - dy, y0]`` contains it, so a point exactly on an edge
between two pixels takes the pixel to its east (or south).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import rasterio
from pyproj import CRS, Transformer
from rasterio.windows import Window

from geofeat.errors import ReadError
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


@lru_cache(maxsize=64)
def _to_crs(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_wkt(crs_wkt), always_xy=True)


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
            "asset %s: file grid %sx%s %s differs from item proj:shape %s proj:transform %s;"
            " using the file's",
            asset.href,
            ds.height,
            ds.width,
            actual,
            asset.shape,
            claimed,
        )


def pixel_of(transform, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (int64) of the pixel holding each point (see module docs)."""
    inverse = ~transform
    col = np.floor(inverse.a * x + inverse.b * y + inverse.c).astype("int64")
    row = np.floor(inverse.d * x + inverse.e * y + inverse.f).astype("int64")
    return row, col


def sample(asset: Asset, lon: np.ndarray, lat: np.ndarray, stats: ReadStats) -> np.ndarray:
    """DNs of ``asset`` at the pixels holding each point, as float64.

    Points outside the raster and pixels equal to nodata come out NaN.
    Scale and offset are *not* applied: that is the product's decision.

    Raises
    ------
    ReadError
        The file cannot be opened or has no CRS.
    """
    values = np.full(lon.shape, np.nan)
    try:
        with rasterio.Env(**GDAL_ENV), rasterio.open(asset.href) as ds:
            if ds.crs is None:
                raise ReadError(
                    f"asset {asset.key!r} at {asset.href} has no CRS; if its "
                    "georeferencing lives in a .aux.xml sidecar, keep the sidecar next "
                    "to it and do not set GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR"
                )
            _check_geometry(asset, ds, stats)
            x, y = _to_crs(ds.crs.to_wkt()).transform(lon, lat)
            row, col = pixel_of(ds.transform, np.asarray(x), np.asarray(y))
            inside = (row >= 0) & (row < ds.height) & (col >= 0) & (col < ds.width)
            nodata = asset.nodata if asset.nodata is not None else ds.nodata
            if not asset.mask_nodata:
                nodata = None
            block_h, block_w = ds.block_shapes[0]
            stats.assets += 1
            idx = np.flatnonzero(inside)
            if idx.size == 0:
                return values
            block = (row[idx] // block_h) * (ds.width // block_w + 1) + col[idx] // block_w
            order = np.argsort(block, kind="stable")
            idx, block = idx[order], block[order]
            starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
            for group in np.split(idx, starts[1:]):
                r0, r1 = row[group].min(), row[group].max() + 1
                c0, c1 = col[group].min(), col[group].max() + 1
                data = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
                stats.windows += 1
                stats.pixels += data.size
                stats.bytes += data.nbytes
                picked = data[row[group] - r0, col[group] - c0].astype("float64")
                if nodata is not None and not np.isnan(nodata):
                    picked[picked == nodata] = np.nan
                values[group] = picked
    except rasterio.errors.RasterioIOError as err:
        raise ReadError(f"cannot read asset {asset.key!r} at {asset.href}: {err}") from err
    return values
