"""The Zarr store of chips: one chunk per chip, written as chips are computed.

Layout (Zarr format 3, readable with ``xarray.open_zarr``):

- ``chips``: float32 ``(point, band, y, x)``, or ``(point, time, band, y, x)``
  with several dates; chunks of one chip; NaN where no pixel (fill).
- ``point``: the input ids (as text); ``band``: band names.
- Per chip: ``crs`` (text), ``transform`` ``(point, affine)`` (a, b, c, d, e, f
  of the chip's upper-left corner and pixel size, in CRS units), ``pick``,
  ``candidates``, and per chip and date ``acquired_first``/``acquired_last``,
  ``scenes`` (ids joined by ``;``), ``valid_fraction``, ``clear_fraction``.
- Every other input column (labels, lon, lat, date...) as a coordinate along
  ``point``.

The store is built in a hidden folder beside the target and renamed into place
when complete, so a failed job never leaves a half-written store where the
result is expected. Ids are stored as values, never used as paths; column names
and file names built from ids go through :func:`safe_name`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
import zarr

logger = logging.getLogger(__name__)

#: Names the store uses itself; an input column with one of them gets a prefix.
RESERVED = frozenset(
    {
        "chips", "point", "band", "time", "y", "x", "affine", "crs", "transform",
        "pick", "candidates", "acquired_first", "acquired_last", "scenes",
        "valid_fraction", "clear_fraction", "read",
    }
)  # fmt: skip
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: object) -> str:
    """A file or array name made from any text, that cannot leave its folder.

    Characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_``
    and leading dots and underscores are dropped (Zarr reserves names starting
    with ``__``), so ``../x`` becomes ``x-<hash>`` and never a path. A name that
    had to change gets a short hash of the original, so two ids never map to
    one name.
    """
    raw = str(text)
    name = _UNSAFE.sub("_", raw).lstrip("._")[:100]
    if name != raw or not name:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        name = f"{name or 'id'}-{digest}"
    return name


def _column_values(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.to_numpy("datetime64[ns]")
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.to_numpy()
    return np.array(["" if pd.isna(v) else str(v) for v in values], dtype=object)


@dataclass(frozen=True)
class ChipWriter:
    """Writes chips into the store being built; small enough to travel in tasks."""

    path: str

    def open(self) -> zarr.Array:
        return zarr.open_array(os.path.join(self.path, "chips"), mode="r+")


class ChipStore:
    """A chip store under construction: create, write chips, then finish."""

    def __init__(self, target: str, building: str, timed: bool) -> None:
        self.target = target
        self.building = building
        self.timed = timed

    @classmethod
    def create(
        cls,
        target: str,
        table: pd.DataFrame,
        id_column: str,
        bands: tuple[str, ...],
        size: tuple[int, int],
        dates: int,
    ) -> ChipStore:
        """Start a store for the rows of ``table`` (ids and labels written now)."""
        parent = Path(target).parent
        parent.mkdir(parents=True, exist_ok=True)
        building = tempfile.mkdtemp(prefix=f".{Path(target).name}.", dir=parent)
        n, timed = len(table), dates > 1
        height, width = size
        dims = (
            ("point", "time", "band", "y", "x")
            if timed
            else ("point", "band", "y", "x")
        )
        shape = (
            (n, dates, len(bands), height, width)
            if timed
            else (n, len(bands), height, width)
        )
        chunks = (1, *shape[1:])
        coords = {
            "point": np.array([str(v) for v in table[id_column]], dtype=object),
            "band": np.array(bands, dtype=object),
        }
        for column in table.columns:
            if column == id_column:
                continue
            name = safe_name(column)
            name = f"label_{name}" if name in RESERVED else name
            coords[name] = ("point", _column_values(table[column]))
        empty = da.full(shape, np.nan, dtype="float32", chunks=chunks)
        template = xr.Dataset({"chips": (dims, empty)}, coords=coords)
        template["chips"].encoding.update({"chunks": chunks, "fill_value": np.nan})
        template.to_zarr(building, mode="w", compute=False, consolidated=False)
        logger.info(
            "chip store %s: %d chip(s) of %s, chunks %s", target, n, shape[1:], chunks
        )
        return cls(target, building, timed)

    def writer(self) -> ChipWriter:
        return ChipWriter(self.building)

    def finish(self, meta: dict[str, np.ndarray], transform: np.ndarray) -> str:
        """Add the per-chip records and move the store into place."""
        per_chip = ("point", "time") if self.timed else ("point",)
        data = {"transform": (("point", "affine"), transform)}
        for name, values in meta.items():
            dims = per_chip if np.ndim(values) == len(per_chip) else ("point",)
            if values.dtype.kind in "OU":
                values = values.astype(object)
            data[name] = (dims, values)
        xr.Dataset(data).to_zarr(self.building, mode="a", consolidated=False)
        with warnings.catch_warnings():
            # Consolidated metadata is not in the Zarr 3 spec yet; xarray uses it.
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(self.building)
        old = None
        if os.path.exists(self.target):
            old = tempfile.mkdtemp(
                prefix=f".{Path(self.target).name}.old.", dir=Path(self.target).parent
            )
            os.replace(self.target, os.path.join(old, "store"))
        os.replace(self.building, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("wrote chip store %s", self.target)
        return self.target

    def abort(self) -> None:
        shutil.rmtree(self.building, ignore_errors=True)
