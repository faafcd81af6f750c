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

Self-check. Catalogues have published items whose flag contradicts the pixels
(flagged "offset not applied" with DNs already shifted, and the reverse), so the
rule is checked against the pixels of each scene before anything is reduced
(:func:`judge`): the pixels read at the points, plus (by default) a decimated
view of the scene read from its overviews. An interpretation is consistent when

- at most :data:`NEGATIVE_MAX` of the land pixels (SCL 4, 5) come out below
  zero reflectance, and
- the "dark reference" pixels (visible bands over vegetation, SCL 4; infrared
  bands over water, SCL 6), which are below 0.1 reflectance in nature, have a
  median below :data:`DARK_MAX`.

The dark test is made only for items that can carry the offset (baseline
04.00 or later, or no baseline and acquired from 2022-01-25). The rule's
interpretation is kept when consistent; otherwise the other one
(offset or no offset; considered only for items that can carry the offset,
baseline 04.00 or later) is taken when it is consistent; otherwise the scene is
set aside with the reason. With fewer than :data:`MIN_PIXELS` pixels for a test
that test is not made, and the note says so. Whatever the rule, a pixel whose
reflectance comes out negative is invalid: no value is computed from it.

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
from dataclasses import replace

import numpy as np
import pandas as pd
import pystac

from geofeat.errors import ConfigError
from geofeat.indices import compute_index, index_bands
from geofeat.read import ReadStats, overview
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

#: Self-check: largest share of land pixels (SCL 4, 5) allowed below zero.
NEGATIVE_MAX = 0.05
#: Self-check: largest median reflectance allowed for dark reference pixels.
DARK_MAX = 0.1
#: Self-check: fewest pixels a test needs to be made.
MIN_PIXELS = 10
#: Self-check: side in pixels of the decimated view of each scene.
CHECK_SIZE = 256
LAND_SCL = (4, 5)
VEGETATION_SCL, WATER_SCL = 4, 6
VISIBLE = frozenset({"coastal", "blue", "green", "red"})
INFRARED = frozenset({"nir", "nir08", "swir16", "swir22"})


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


def _may_carry_offset(scene: Scene) -> bool:
    baseline = scene.properties.get("s2:processing_baseline") or ""
    if baseline:
        return baseline >= BASELINE_OFFSET_FROM
    return scene.start >= BASELINE_04_DATE


def judge(
    scl: np.ndarray,
    dns: dict[str, np.ndarray],
    scale: float,
    offset: float,
    alternatives: tuple[float, ...],
    shift_possible: bool = True,
) -> tuple[float | None, str]:
    """Check an offset against pixels; the offset to use (None: set aside) and why.

    Parameters
    ----------
    scl
        Scene classes of the pixels (NaN where unknown).
    dns
        DNs per canonical band name at the same pixels (NaN where nodata).
    scale, offset
        The rule's radiometry: reflectance = DN * scale + offset.
    alternatives
        Other offsets the item could have, tried in order when the rule's fails.
    shift_possible
        Whether the item can carry the +1000 DN shift (baseline 04.00 or
        later); only then is the dark-pixel test made.
    """
    land = np.isin(scl, LAND_SCL)
    dark = {
        band: (scl == VEGETATION_SCL) if band in VISIBLE else (scl == WATER_SCL)
        for band in dns
        if shift_possible and band in VISIBLE | INFRARED
    }
    land_dn = np.concatenate([dn[land & np.isfinite(dn)] for dn in dns.values()])
    dark_dn = np.concatenate(
        [dns[b][m & np.isfinite(dns[b])] for b, m in dark.items()] or [np.empty(0)]
    )
    tested = []
    if land_dn.size >= MIN_PIXELS:
        tested.append(f"{land_dn.size} land values")
    if dark_dn.size >= MIN_PIXELS:
        tested.append(f"{dark_dn.size} dark values")
    if not tested:
        return offset, f"unchecked: fewer than {MIN_PIXELS} land or dark pixels"

    def faults(candidate: float) -> list[str]:
        found = []
        if land_dn.size >= MIN_PIXELS:
            negative = float(np.mean(land_dn * scale + candidate < 0))
            if negative > NEGATIVE_MAX:
                found.append(f"{negative:.0%} of land pixels below zero")
        if dark_dn.size >= MIN_PIXELS:
            median = float(np.median(dark_dn * scale + candidate))
            if median >= DARK_MAX:
                found.append(f"dark pixels' median {median:.3f} >= {DARK_MAX}")
        return found

    wrong = faults(offset)
    if not wrong:
        return offset, f"checked on {', '.join(tested)}"
    for candidate in alternatives:
        if not faults(candidate):
            return candidate, (
                f"pixels contradict offset {offset:g} ({'; '.join(wrong)}); "
                f"offset {candidate:g} is consistent, applied ({', '.join(tested)})"
            )
    return None, (
        f"set aside: pixels contradict offset {offset:g} ({'; '.join(wrong)}) "
        f"and every other offset tried {list(alternatives)}"
    )


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
                transform=tuple(fields["proj:transform"])
                if "proj:transform" in fields
                else None,
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

    def units(self, feature: SceneFeature) -> str:
        """Spectral indices are unitless; a band is surface reflectance (0-1)."""
        return "1" if feature.index is not None else "reflectance"

    def validate(self, feature: SceneFeature) -> None:
        """Check the index or band exists before any search or read."""
        for band in self.bands(feature):
            if band not in REFLECTANCE_BANDS:
                raise ConfigError(
                    f"feature {feature.name!r}: {feature.band!r} is not a Sentinel-2 "
                    f"band; use one of {sorted(REFLECTANCE_BANDS)} or its band id (B04)"
                )

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
            if band in REFLECTANCE_BANDS:
                # Never compute a value from a negative reflectance.
                valid &= ~(reflectance[band] < 0)
        if feature.index is not None:
            value = compute_index(feature.index, reflectance)
        else:
            value = reflectance[self.bands(feature)[0]]
        valid &= np.isfinite(value)
        return np.where(valid, value, np.nan), valid

    def check_radiometry(
        self,
        feature: SceneFeature,
        scene: Scene,
        dns: dict[str, np.ndarray],
        stats: ReadStats,
    ) -> tuple[Scene | None, str]:
        """Check the scene's offset against its pixels (see the module docs).

        Returns the scene with the offset to apply (None: set aside) and a note.
        """
        bands = [b for b in self.bands(feature) if b in REFLECTANCE_BANDS]
        if not bands:
            return scene, ""
        asset = scene.assets[bands[0]]
        scl = [dns["scl"]]
        pools = {band: [dns[band]] for band in bands}
        if getattr(feature, "radiometry_check", "overview") == "overview":
            views = {
                key: overview(scene.assets[key], CHECK_SIZE, stats)
                for key in ("scl", *bands)
            }
            if all(view is not None for view in views.values()):
                scl.append(views["scl"].ravel())
                for band in bands:
                    pools[band].append(views[band].ravel())
        alternatives = ()
        shift_possible = _may_carry_offset(scene)
        if shift_possible:
            alternatives = tuple(o for o in (0.0, OFFSET) if o != asset.offset)
        offset, note = judge(
            np.concatenate(scl),
            {band: np.concatenate(pool) for band, pool in pools.items()},
            asset.scale,
            asset.offset,
            alternatives,
            shift_possible,
        )
        if offset is None:
            logger.warning("scene %s %s", scene.id, note)
            stats.failures["scene set aside by the radiometry check"] += 1
            return None, note
        if offset != asset.offset:
            logger.warning("scene %s: %s", scene.id, note)
            stats.failures["scene offset corrected by the radiometry check"] += 1
        assets = {
            key: replace(a, offset=offset, radiometry=f"{a.radiometry}; {note}")
            if key in REFLECTANCE_BANDS
            else a
            for key, a in scene.assets.items()
        }
        return replace(scene, assets=assets), note


def _negate(text: str) -> tuple[int, ...]:
    """A sort key that orders strings from largest to smallest."""
    return tuple(-ord(c) for c in text) + (1,)


SENTINEL2_L2A = Sentinel2L2A()
