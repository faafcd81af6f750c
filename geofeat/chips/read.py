"""Reading a satellite pass onto a chip grid, tile by tile, in physical units.

A pass (one satellite overflight) may be published as several tiles that
overlap. The tiles of a pass are read onto the chip grid in a given order: the
first fills what it can, each next tile only fills the pixels still missing
(outside the tiles read so far, or nodata in them). Where no tile has data the
chip keeps NaN. Radiometry is the product's, per scene and asset:
value = DN * scale + offset (:class:`geofeat.scene.Asset`).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import rasterio

from geofeat.chips.window import ChipGrid, read_band
from geofeat.errors import ReadError
from geofeat.read import GDAL_ENV
from geofeat.scene import Asset, Scene

logger = logging.getLogger(__name__)


#: At most this many files stay open in one task; the least recently used
#: is closed first (a task's points may touch many scenes and bands).
MAX_OPEN = 64


class OpenFiles:
    """Raster files opened once per task, kept open while in use, closed at the end."""

    def __init__(self) -> None:
        self._files: OrderedDict[str, rasterio.DatasetReader] = OrderedDict()
        self._env: rasterio.Env | None = None
        self.opened = 0

    def __enter__(self) -> OpenFiles:
        self._env = rasterio.Env(**GDAL_ENV)
        self._env.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for ds in self._files.values():
            ds.close()
        self._files.clear()
        if self._env is not None:
            self._env.__exit__(*exc)

    def asset(self, scene: Scene, key: str) -> tuple[Asset, rasterio.DatasetReader]:
        """The asset ``key`` of ``scene`` and its open file.

        Raises
        ------
        ReadError
            The scene has no such asset, its file cannot be opened, or it has
            no CRS.
        """
        asset = scene.assets.get(key)
        if asset is None:
            raise ReadError(
                f"scene {scene.id!r} has no asset {key!r}; it has "
                f"{sorted(scene.assets)}; name one of those in chips.bands"
            )
        ds = self._files.get(asset.href)
        if ds is not None:
            self._files.move_to_end(asset.href)
        else:
            if len(self._files) >= MAX_OPEN:
                self._files.popitem(last=False)[1].close()
            try:
                ds = rasterio.open(asset.href)
            except rasterio.errors.RasterioIOError as err:
                raise ReadError(
                    f"cannot read asset {key!r} of scene {scene.id!r} at {asset.href}: "
                    f"{err}; check that the file exists, or leave {key!r} out of "
                    "chips.bands"
                ) from err
            if ds.crs is None:
                ds.close()
                raise ReadError(
                    f"asset {key!r} of scene {scene.id!r} at {asset.href} has no CRS; "
                    "if its georeferencing lives in a .aux.xml sidecar, keep the "
                    "sidecar next to it and do not set "
                    "GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR"
                )
            self._files[asset.href] = ds
            self.opened += 1
        return asset, ds


@dataclass
class PassRead:
    """The bands of one pass on a chip grid, in physical units (NaN: missing)."""

    values: dict[str, np.ndarray]
    scenes: list[str] = field(default_factory=list)
    """Ids of the scenes (tiles) that filled at least one pixel, in order."""
    how: set[str] = field(default_factory=set)
    """How bands were read: ``window`` and/or ``warp:<method>``."""


def _nodata(asset: Asset, ds: rasterio.DatasetReader) -> float | None:
    if not getattr(asset, "mask_nodata", True):
        return None
    return asset.nodata if asset.nodata is not None else ds.nodata


def read_pass(
    files: OpenFiles,
    tiles: list[Scene],
    keys: tuple[str, ...],
    grid: ChipGrid,
    resampling: str = "nearest",
) -> PassRead:
    """Read ``keys`` of a pass onto ``grid``, filling from ``tiles`` in order.

    Class layers (``scl``) are always resampled with ``nearest``: averaging
    class codes would invent classes.
    """
    result = PassRead(values={})
    for key in keys:
        out = np.full((grid.height, grid.width), np.nan)
        for scene in tiles:
            missing = np.isnan(out)
            if not missing.any():
                break
            asset, ds = files.asset(scene, key)
            method = "nearest" if key == "scl" else resampling
            dns, how = read_band(ds, grid, _nodata(asset, ds), method)
            fill = missing & ~np.isnan(dns)
            if not fill.any():
                continue
            out[fill] = dns[fill] * asset.scale + asset.offset
            result.how.add(how)
            if scene.id not in result.scenes:
                result.scenes.append(scene.id)
        result.values[key] = out
    return result
