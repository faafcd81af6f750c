"""Samples for kriging: read, clean, transform, put in the working CRS.

Cleaning is explicit and logged: rows with a missing value or coordinate are
dropped, samples at identical coordinates are averaged into one (kriging cannot
tell them apart, and with a zero nugget they make the system singular), and a
log transform refuses values that are not positive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from geofeat.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Samples:
    """Clean samples in the working CRS, one per location."""

    x: np.ndarray
    """Easting, CRS units."""
    y: np.ndarray
    """Northing, CRS units."""
    z: np.ndarray
    """Value (transformed when a transform is set)."""
    crs: CRS
    """The working CRS (projected)."""
    dropped: int = 0
    """Rows dropped for a missing value or coordinate."""
    merged: int = 0
    """Rows merged into another at the same coordinates."""

    def __len__(self) -> int:
        return int(self.x.shape[0])


def read_table(path: str, what: str = "samples") -> pd.DataFrame:
    """Read a CSV or Parquet table, naming the file and the fix on failure."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ConfigError(
            f"{what} file {path!r} has format {suffix!r}; use .csv or .parquet"
        )
    try:
        return pd.read_parquet(path) if suffix != ".csv" else pd.read_csv(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{what} file {path!r} does not exist; check the spec"
        ) from None
    except Exception as err:  # pandas raises many kinds; the message is what matters
        raise ConfigError(f"{what} file {path!r} could not be read: {err}") from err


def projected_crs(crs: CRS | str, field: str) -> CRS:
    """``crs`` as a pyproj CRS, refusing geographic ones (distances in degrees)."""
    try:
        crs = CRS.from_user_input(crs)
    except Exception as err:
        raise ConfigError(f"{field}: {crs!r} is not a CRS pyproj knows") from err
    if not crs.is_projected:
        raise ConfigError(
            f"{field}: kriging needs distances in metres, but {crs.name!r} is "
            "geographic; give the grid a projected crs (e.g. a UTM zone)"
        )
    return crs


def prepare_samples(
    table: pd.DataFrame,
    value: str,
    x: str,
    y: str,
    crs: CRS | str,
    target_crs: CRS | None = None,
    transform: str = "none",
    source: str = "samples",
) -> Samples:
    """Clean samples and move them into ``target_crs`` (default: their own).

    Parameters
    ----------
    table
        The samples table.
    value, x, y
        Column names of the value and the coordinates.
    crs
        CRS of ``x``/``y``.
    target_crs
        Working CRS; must be projected.
    transform
        ``"log"`` to krige the natural logarithm of the value.
    source
        Name of the table in messages.
    """
    missing = [c for c in (value, x, y) if c not in table.columns]
    if missing:
        raise ConfigError(
            f"{source}: column(s) {missing} not found "
            f"(columns: {list(table.columns)}); "
            "set samples.x, samples.y/samples.lon, samples.lat and samples.value"
        )
    xs = pd.to_numeric(table[x], errors="coerce").to_numpy(dtype=np.float64)
    ys = pd.to_numeric(table[y], errors="coerce").to_numpy(dtype=np.float64)
    zs = pd.to_numeric(table[value], errors="coerce").to_numpy(dtype=np.float64)
    keep = np.isfinite(xs) & np.isfinite(ys) & np.isfinite(zs)
    dropped = int((~keep).sum())
    if dropped:
        logger.warning(
            "%s: dropped %d of %d row(s) with a missing value or coordinate",
            source,
            dropped,
            keep.size,
        )
    xs, ys, zs = xs[keep], ys[keep], zs[keep]
    if transform == "log":
        bad = np.flatnonzero(zs <= 0)
        if bad.size:
            raise ConfigError(
                f"{source}: transform 'log' needs positive values, but {bad.size} "
                f"row(s) are <= 0 (first value {zs[bad[0]]}); remove them or drop "
                "the transform"
            )
        zs = np.log(zs)
    source_crs = CRS.from_user_input(crs)
    target = projected_crs(target_crs or source_crs, "grid.crs")
    if source_crs != target:
        xs, ys = Transformer.from_crs(source_crs, target, always_xy=True).transform(
            xs, ys
        )
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    xs, ys, zs, merged = merge_duplicates(xs, ys, zs)
    if merged:
        logger.warning(
            "%s: %d sample(s) share coordinates with another; each location is "
            "kriged from the mean of its values",
            source,
            merged,
        )
    if xs.size == 0:
        raise ConfigError(
            f"{source}: no sample has a value and coordinates; check columns"
        )
    return Samples(xs, ys, zs, target, dropped, merged)


def merge_duplicates(
    x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Average values at identical coordinates; keep first-seen order.

    Returns the unique ``x, y``, their mean ``z`` and how many rows were merged.
    """
    frame = pd.DataFrame({"x": x, "y": y, "z": z})
    grouped = frame.groupby(["x", "y"], sort=False)["z"].mean()
    merged = len(frame) - len(grouped)
    if not merged:
        return x, y, z, 0
    xs = grouped.index.get_level_values(0).to_numpy(dtype=np.float64)
    ys = grouped.index.get_level_values(1).to_numpy(dtype=np.float64)
    return xs, ys, grouped.to_numpy(dtype=np.float64), merged
