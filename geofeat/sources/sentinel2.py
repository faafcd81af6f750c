"""Sentinel-2 L2A: band names, the processing-baseline offset, SCL masks, passes.

Radiometry. Since processing baseline 04.00 (2022-01-25) L2A DNs carry a +1000
offset: reflectance = (DN - 1000) / 10000. Catalogues describe this differently,
so the rule for each item is decided from the metadata that exists, first match
wins:

1. ``earthsearch:boa_offset_applied: true`` (Earth Search): the offset is already
   in the DNs, whatever ``raster:bands`` still declares; reflectance = DN / 10000.
2. A scale/offset declared on the asset (STAC 1.0 ``raster:bands`` or STAC 1.1
   ``raster:scale``/``raster:offset``): applied as declared.
3. ``s2:processing_baseline`` (Planetary Computer declares no scale or offset):
   offset -0.1 from 04.00 on, none before.
4. Nothing at all: the acquisition date decides, as for 3.

Masks. The scene classification (SCL) marks each pixel; classes 4 (vegetation),
5 (not vegetated) and 6 (water) are valid by default. SCL is 20 m and is sampled
on its own grid at the point, like every band.

Passes. Tiles overlap, and catalogues sometimes publish one scene twice
(reprocessed). Scenes seen on the same pass share a ``pass_key`` (the datatake
id without its baseline suffix); among them the newest processing baseline,
then the latest generation time, then the item id, comes first.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pystac

from geofeat.indices import compute_index, index_bands
from geofeat.scene import Asset, Scene, item_crs, item_times
from geofeat.spec import SceneFeature

logger = logging.getLogger(__name__)

#: Band id -> canonical name. Earth Search uses the names as asset keys, the
#: Planetary Computer the band ids (and calls B8A "rededge" in eo:bands).
BAND_NAMES = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
}
REFLECTANCE_BANDS = frozenset(BAND_NAMES.values()) - {"scl"}

#: Scale of L2A reflectance DNs.
SCALE = 1e-4
#: Reflectance offset of baseline 04.00 and later (-1000 DN).
OFFSET = -0.1
BASELINE_OFFSET_FROM = "04.00"
#: Date baseline 04.00 entered production, for items that state no baseline.
BASELINE_04_DATE = pd.Timestamp("2022-01-25")
#: SCL classes that count as valid by default: vegetation, not vegetated, water.
VALID_SCL = (4, 5, 6)


def _declared(asset: pystac.Asset) -> tuple[float | None, float | None]:
    fields = asset.extra_fields
    bands = fields.get("raster:bands") or []
    if bands and ("scale" in bands[0] or "offset" in bands[0]):
        return bands[0].get("scale"), bands[0].get("offset")
    if "raster:scale" in fields or "raster:offset" in fields:
        return fields.get("raster:scale"), fields.get("raster:offset")
    return None, None


def _nodata(asset: pystac.Asset) -> float | None:
    fields = asset.extra_fields
    bands = fields.get("raster:bands") or []
    if bands and "nodata" in bands[0]:
        return bands[0]["nodata"]
    return fields.get("raster:nodata", fields.get("nodata", 0))


def radiometry(item: pystac.Item, asset: pystac.Asset) -> tuple[float, float, str]:
    """Scale, offset and the reason, for one reflectance asset of an item."""
    props = item.properties
    scale, offset = _declared(asset)
    if props.get("earthsearch:boa_offset_applied") is True:
        return (
            scale or SCALE,
            0.0,
            "earthsearch:boa_offset_applied=true: offset already in the DNs",
        )
    if scale is not None or offset is not None:
        return scale or SCALE, offset or 0.0, "declared in raster metadata"
    baseline = props.get("s2:processing_baseline")
    if baseline:
        applies = str(baseline) >= BASELINE_OFFSET_FROM
        return (
            SCALE,
            OFFSET if applies else 0.0,
            f"s2:processing_baseline {baseline} {'>=' if applies else '<'} 04.00",
        )
    start, _ = item_times(item)
    applies = start >= BASELINE_04_DATE
    return SCALE, OFFSET if applies else 0.0, f"no baseline; acquired {start.date()}"


def _pass_key(item: pystac.Item) -> str:
    props = item.properties
    datatake = props.get("s2:datatake_id")
    if datatake:
        return re.sub(r"_N\d\d\.\d\d$", "", str(datatake))
    orbit = props.get("sat:relative_orbit", "")
    start, _ = item_times(item)
    return f"{props.get('platform', '')}_{start.date()}_{orbit}".lower()


def _tile(item: pystac.Item) -> str | None:
    props = item.properties
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"])
    if props.get("grid:code"):
        return str(props["grid:code"]).removeprefix("MGRS-")
    if props.get("mgrs:utm_zone"):
        return f"{props['mgrs:utm_zone']}{props.get('mgrs:latitude_band', '')}" + str(
            props.get("mgrs:grid_square", "")
        )
    return None


class Sentinel2L2A:
    """Sentinel-2 Level-2A surface reflectance with its scene classification."""

    name = "sentinel-2-l2a"
    collections = ("sentinel-2-l2a", "sentinel-2-c1-l2a", "sentinel-2-l2a-*")

    def scene(self, item: pystac.Item) -> Scene:
        assets = {}
        for key, asset in item.assets.items():
            name = BAND_NAMES.get(key, key.lower())
            if name not in REFLECTANCE_BANDS and name != "scl":
                continue
            if name in assets:  # e.g. both "red" and "B04": keep the first
                continue
            scale, offset, reason = (
                radiometry(item, asset) if name != "scl" else (1.0, 0.0, "class codes")
            )
            fields = asset.extra_fields
            assets[name] = Asset(
                key=name,
                href=asset.get_absolute_href() or asset.href,
                scale=scale,
                offset=offset,
                nodata=_nodata(asset),
                shape=tuple(fields["proj:shape"]) if "proj:shape" in fields else None,
                transform=tuple(fields["proj:transform"]) if "proj:transform" in fields else None,
                radiometry=reason,
            )
        start, end = item_times(item)
        props = item.properties
        baseline = str(props.get("s2:processing_baseline", ""))
        generated = str(props.get("s2:generation_time", props.get("updated", "")))
        return Scene(
            id=item.id,
            collection=item.collection_id or "",
            start=start,
            end=end,
            crs=item_crs(item),
            assets=assets,
            tile=_tile(item),
            pass_key=_pass_key(item),
            # Lowest first: newest baseline, latest generation, then id.
            rank=(_negate(baseline), _negate(generated), item.id),
            cloud_cover=props.get("eo:cloud_cover"),
            properties={"s2:processing_baseline": baseline},
        )

    def bands(self, feature: SceneFeature) -> tuple[str, ...]:
        if feature.index is not None:
            return index_bands(feature.index)
        return (BAND_NAMES.get(feature.band, feature.band.lower()),)

    def assets(self, feature: SceneFeature) -> tuple[str, ...]:
        return (*self.bands(feature), "scl")

    def evaluate(
        self, feature: SceneFeature, scene: Scene, dns: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        classes = feature.valid_classes or VALID_SCL
        valid = np.isin(dns["scl"], classes)
        reflectance = {}
        for band in self.bands(feature):
            asset = scene.assets[band]
            reflectance[band] = dns[band] * asset.scale + asset.offset
            valid &= np.isfinite(reflectance[band])
        if feature.index is not None:
            value = compute_index(feature.index, reflectance)
        else:
            value = reflectance[self.bands(feature)[0]]
        valid &= np.isfinite(value)
        return np.where(valid, value, np.nan), valid


def _negate(text: str) -> tuple[int, ...]:
    """A sort key that orders strings from largest to smallest."""
    return tuple(-ord(c) for c in text) + (1,)


SENTINEL2_L2A = Sentinel2L2A()
