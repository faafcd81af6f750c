"""The pixel grid of a chip, and reading one raster band onto it.

A chip's grid is ``height`` x ``width`` pixels in one CRS. Its centre pixel,
row ``height // 2`` and column ``width // 2``, is the pixel that holds the point,
with the pixel rule of :mod:`geofeat.read` (half-open pixels, a point on an edge
belongs to the pixel east or south of it).

- Native grid (no resolution or CRS asked for): the grid of the file itself, so
  the chip is a plain window of the file and no pixel is resampled.
- Requested grid: pixels of ``resolution`` CRS units aligned to multiples of the
  resolution (the pixel edges fall on 0, res, 2 res, ...), in the requested
  CRS or the scene's own.

Reading a band onto a grid takes one of two paths. When the file has the same
CRS and pixel size as the grid (the file's own grid, or a neighbouring tile's
grid shifted by whole or part pixels), the chip is a window of the file: each
chip pixel takes the file pixel holding its centre, and no value is
interpolated. Otherwise the file is warped onto the grid through a
:class:`rasterio.vrt.WarpedVRT` with the named resampling method. Pixels
outside the file or equal to its nodata come out NaN: a chip never shrinks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import rasterio
import rasterio.warp
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from geofeat.read import pixel_of

logger = logging.getLogger(__name__)

#: Tolerance, in pixels, when deciding that two grids share a pixel size, and
#: when a chip pixel's centre falls on a file pixel's edge.
_PIXEL_TOLERANCE = 1e-6


@dataclass(frozen=True)
class ChipGrid:
    """The pixel grid of one chip."""

    crs: CRS
    transform: Affine
    """Upper-left corner and pixel size, in CRS units."""
    height: int
    width: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in CRS units."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return min(left, right), min(top, bottom), max(left, right), max(top, bottom)


@lru_cache(maxsize=64)
def _from_lonlat(crs_wkt: str) -> Transformer:
    return Transformer.from_crs(
        CRS.from_epsg(4326), CRS.from_wkt(crs_wkt), always_xy=True
    )


def _point_in(crs: CRS, lon: float, lat: float) -> tuple[float, float]:
    x, y = _from_lonlat(crs.to_wkt()).transform(lon, lat)
    return float(x), float(y)


def native_grid(
    crs: CRS, transform: Affine, lon: float, lat: float, size: tuple[int, int]
) -> ChipGrid:
    """The chip grid centred on the point, as a window of a file's own grid."""
    x, y = _point_in(crs, lon, lat)
    row, col = pixel_of(transform, np.array([x]), np.array([y]))
    height, width = size
    origin = transform @ Affine.translation(
        int(col[0]) - width // 2, int(row[0]) - height // 2
    )
    return ChipGrid(crs, origin, height, width)


def aligned_grid(
    crs: CRS, resolution: float, lon: float, lat: float, size: tuple[int, int]
) -> ChipGrid:
    """The chip grid centred on the point, with pixels aligned to the resolution."""
    x, y = _point_in(crs, lon, lat)
    base = Affine(resolution, 0, 0, 0, -resolution, 0)
    row, col = pixel_of(base, np.array([x]), np.array([y]))
    height, width = size
    origin = base @ Affine.translation(
        int(col[0]) - width // 2, int(row[0]) - height // 2
    )
    return ChipGrid(crs, origin, height, width)


def margin(
    grid: ChipGrid, crs: CRS, transform: Affine, shape: tuple[int, int]
) -> float:
    """How far, in file pixels, the chip stays inside a file (negative: it leaves it).

    The chip's bounds are taken into the file's CRS; the margin is the smallest
    distance from them to the file's edges.
    """
    bounds = grid.bounds
    if crs != grid.crs:
        bounds = rasterio.warp.transform_bounds(grid.crs, crs, *bounds)
    inverse = ~transform
    cols, rows = zip(
        *(inverse @ (x, y) for x in bounds[0::2] for y in bounds[1::2]), strict=True
    )
    height, width = shape
    return float(min(min(rows), min(cols), height - max(rows), width - max(cols)))


def _same_pixels(ds: rasterio.DatasetReader, grid: ChipGrid) -> bool:
    a, b, d, e = (
        grid.transform.a,
        grid.transform.b,
        grid.transform.d,
        grid.transform.e,
    )
    fa, fb, fd, fe = (ds.transform.a, ds.transform.b, ds.transform.d, ds.transform.e)
    return (
        ds.crs == grid.crs
        and b == 0
        and d == 0
        and fb == 0
        and fd == 0
        and abs(a - fa) <= _PIXEL_TOLERANCE * abs(fa)
        and abs(e - fe) <= _PIXEL_TOLERANCE * abs(fe)
    )


def read_band(
    ds: rasterio.DatasetReader,
    grid: ChipGrid,
    nodata: float | None,
    resampling: str = "nearest",
) -> tuple[np.ndarray, str]:
    """DNs of band 1 of ``ds`` on the chip grid, float64, NaN where missing.

    Returns the array and how it was read: ``"window"`` (file pixels taken as
    they are) or ``"warp:<method>"``.
    """
    out = np.full((grid.height, grid.width), np.nan)
    if _same_pixels(ds, grid):
        # The file pixel holding the centre of the chip's upper-left pixel.
        cx, cy = grid.transform @ (0.5, 0.5)
        col, row = ~ds.transform @ (cx, cy)
        row0 = int(np.floor(row + _PIXEL_TOLERANCE))
        col0 = int(np.floor(col + _PIXEL_TOLERANCE))
        r0, c0 = max(row0, 0), max(col0, 0)
        r1 = min(row0 + grid.height, ds.height)
        c1 = min(col0 + grid.width, ds.width)
        if r1 > r0 and c1 > c0:
            data = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)).astype("float64")
            if nodata is not None and not np.isnan(nodata):
                data[data == nodata] = np.nan
            out[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = data
        return out, "window"
    method = Resampling[resampling]
    with WarpedVRT(
        ds,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=method,
        src_nodata=nodata,
        nodata=nodata,
        add_alpha=nodata is None,
    ) as vrt:
        data = vrt.read(1).astype("float64")
        if nodata is None:
            data[vrt.read(vrt.count) == 0] = np.nan
        elif not np.isnan(nodata):
            data[data == nodata] = np.nan
    out[:] = data
    return out, f"warp:{resampling}"
