"""Target grids: a regular lattice with a CRS, an affine transform and a mask.

A grid comes from bounds + resolution + CRS, from a table of cell centres on a
regular lattice (the lattice is filled; cells not listed are masked and get
NaN), or from an existing GeoTIFF or Zarr store to align with. Rows run north to
south (``y`` decreasing), columns west to east, as in GDAL.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS

from geofeat.errors import ConfigError

logger = logging.getLogger(__name__)

LATTICE_TOLERANCE = 1e-6
"""How far (in cells) a listed centre may sit off the lattice."""


@dataclass(frozen=True, eq=False)
class Grid:
    """A north-up regular grid of square cells."""

    west: float
    """Western edge (minx), CRS units."""
    north: float
    """Northern edge (maxy), CRS units."""
    resolution: float
    """Cell size, CRS units."""
    width: int
    """Columns."""
    height: int
    """Rows."""
    crs: CRS | None
    """CRS of the grid (None: the samples' CRS)."""
    mask: np.ndarray | None = None
    """``(height, width)`` bool, True where a cell is to be kriged; None for all."""
    cells: tuple[np.ndarray, np.ndarray] | None = None
    """Row and column of each listed cell, in table order (table grids only)."""

    @property
    def transform(self) -> Affine:
        """Pixel-corner affine transform (GDAL convention)."""
        return Affine(
            self.resolution, 0.0, self.west, 0.0, -self.resolution, self.north
        )

    @property
    def x(self) -> np.ndarray:
        """Cell-centre eastings of the columns."""
        return self.west + (np.arange(self.width) + 0.5) * self.resolution

    @property
    def y(self) -> np.ndarray:
        """Cell-centre northings of the rows (decreasing)."""
        return self.north - (np.arange(self.height) + 0.5) * self.resolution

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width)."""
        return (self.height, self.width)

    def with_crs(self, crs: CRS) -> Grid:
        """The same grid with ``crs`` set (when it had none)."""
        return Grid(
            self.west,
            self.north,
            self.resolution,
            self.width,
            self.height,
            crs,
            self.mask,
            self.cells,
        )


def grid_from_bounds(
    bounds: tuple[float, float, float, float], resolution: float, crs: CRS | None
) -> Grid:
    """Cells of ``resolution`` from (minx, maxy) covering ``bounds``."""
    minx, miny, maxx, maxy = bounds
    width = max(1, math.ceil((maxx - minx) / resolution - LATTICE_TOLERANCE))
    height = max(1, math.ceil((maxy - miny) / resolution - LATTICE_TOLERANCE))
    return Grid(float(minx), float(maxy), float(resolution), width, height, crs)


def grid_from_table(
    x: np.ndarray,
    y: np.ndarray,
    crs: CRS | None,
    resolution: float | None = None,
    source: str = "grid",
) -> Grid:
    """The lattice through cell centres ``x, y``; unlisted cells are masked.

    The resolution is the smallest spacing between distinct centres unless given.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ConfigError(
            f"{source}: cell centres are empty or not all finite; check the columns"
        )
    if resolution is None:
        steps = np.concatenate([np.diff(np.unique(x)), np.diff(np.unique(y))])
        steps = steps[steps > 0]
        if steps.size == 0:
            raise ConfigError(f"{source}: a single cell centre; give grid.resolution")
        resolution = float(steps.min())
    col = (x - x.min()) / resolution
    row = (y.max() - y) / resolution
    off = np.maximum(np.abs(col - np.round(col)), np.abs(row - np.round(row)))
    if off.max() > LATTICE_TOLERANCE:
        worst = int(np.argmax(off))
        raise ConfigError(
            f"{source}: cell centre {worst} ({x[worst]}, {y[worst]}) is off the "
            f"{resolution} lattice by {off[worst]:.3g} cells; give grid.resolution "
            "or a regular table"
        )
    col = np.round(col).astype(np.int64)
    row = np.round(row).astype(np.int64)
    width, height = int(col.max()) + 1, int(row.max()) + 1
    mask = np.zeros((height, width), dtype=bool)
    mask[row, col] = True
    if int(mask.sum()) < x.size:
        logger.warning(
            "%s: %d duplicate cell centre(s)", source, x.size - int(mask.sum())
        )
    west = float(x.min()) - resolution / 2
    north = float(y.max()) + resolution / 2
    return Grid(west, north, float(resolution), width, height, crs, mask, (row, col))


def grid_like(path: str) -> Grid:
    """The grid of an existing GeoTIFF or Zarr store (north-up, square cells)."""
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    import xarray as xr

    if not Path(path).exists():
        raise ConfigError(f"grid.like: {path!r} does not exist; check the path")
    try:
        if Path(path).suffix.lower() == ".zarr" or Path(path).is_dir():
            data = xr.open_zarr(path)
            data = data[next(iter(data.data_vars))]
        else:
            data = rioxarray.open_rasterio(path)
        transform, crs = data.rio.transform(), data.rio.crs
        height, width = data.rio.height, data.rio.width
    except Exception as err:
        raise ConfigError(
            f"grid.like: {path!r} could not be read as a raster: {err}"
        ) from err
    if (
        transform.b != 0
        or transform.d != 0
        or not math.isclose(transform.a, -transform.e)
    ):
        raise ConfigError(
            f"grid.like: {path!r} is rotated or has non-square cells ({transform}); "
            "give grid.bounds and grid.resolution instead"
        )
    if transform.e > 0:
        raise ConfigError(f"grid.like: {path!r} is south-up; give grid.bounds instead")
    return Grid(
        transform.c,
        transform.f,
        transform.a,
        int(width),
        int(height),
        CRS.from_user_input(crs) if crs else None,
    )


def read_grid_table(path: str, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres from a CSV or Parquet table."""
    from geofeat.krige.samples import read_table

    table: pd.DataFrame = read_table(path, "grid")
    missing = [c for c in (x, y) if c not in table.columns]
    if missing:
        raise ConfigError(
            f"grid file {path!r}: column(s) {missing} not found (columns: "
            f"{list(table.columns)}); set grid.x and grid.y"
        )
    return table[x].to_numpy(dtype=np.float64), table[y].to_numpy(dtype=np.float64)
