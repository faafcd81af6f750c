"""MODIS land surface temperature (MOD11/MYD11, collection 061): bands, QC, grid, time.

Values. Each band has its own radiometry, from the MOD11 user guide; the
product's facts win over catalogue metadata, which is incomplete (the Planetary
Computer declares no offset for the view angle or the emissivity):

=====================  ======  =====  ======  ==========  ====  =======
band                   type    scale  offset  valid DN    fill  unit
=====================  ======  =====  ======  ==========  ====  =======
``LST_Day_1km``        uint16  0.02   0       7500-65535  0     kelvin
``LST_Night_1km``      uint16  0.02   0       7500-65535  0     kelvin
``Day_view_time``      uint8   0.1    0       0-240       255   hours
``Night_view_time``    uint8   0.1    0       0-240       255   hours
``Day_view_angl``      uint8   1      -65     0-130       255   degrees
``Night_view_angl``    uint8   1      -65     0-130       255   degrees
``Emis_31``            uint8   0.002  0.49    1-255       0     1
``Emis_32``            uint8   0.002  0.49    1-255       0     1
=====================  ======  =====  ======  ==========  ====  =======

(MOD11B2 names its LST bands ``LST_Day_6km``/``LST_Night_6km``, same radiometry.)
A DN outside the valid range, or equal to the fill value, is invalid.
Temperatures are reported in kelvin unless the feature asks
``units: celsius`` (K - 273.15).

Quality. Each band is masked by its QC layer (``Day_*`` and ``Emis_*`` by
``QC_Day``, ``Night_*`` by ``QC_Night``) with the feature's ``quality`` rule
(:mod:`geofeat.sources.modis_qc`; default ``good``). QC DNs are read raw:
QC 0 means "good", never no-data.

Grid. MODIS tiles are on a sinusoidal projection of a *sphere* of radius
6371007.181 m. Pixels are located with the CRS the file declares; an item that
declares a sinusoidal CRS on any other figure (WGS84's ellipsoid puts points
kilometres off at mid latitudes) is refused, and so is a job whose first file
among items declaring no CRS is such a file.

Time. An 8-day composite covers ``[start, end)``, whole UTC days: the item's
``start_datetime`` and its ``end_datetime`` rounded up to the next midnight
(catalogues write ``...T23:59:59Z``). A window takes every composite whose
period overlaps it. The last composite of a year is shorter (it stops at
31 December). Points whose window ends before the product existed
(MOD11A2 2000-02-18, MYD11A2 2002-07-04) get no value, with that reason.

HDF4. The original ``.hdf`` files need GDAL's HDF4 driver, which the pip builds
of rasterio lack; catalogues also serve each band as a COG, which is what is
read. An item offering only HDF4 is refused with the fix.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pystac
import rasterio
from pyproj import CRS

from geofeat.errors import ConfigError, ReadError
from geofeat.scene import Asset, Scene, item_crs, item_times
from geofeat.sources.modis_qc import (
    LAYOUTS,
    MOD11_LAYOUT,
    QcLayout,
    passes,
    quality_rule,
)
from geofeat.spec import SceneFeature

logger = logging.getLogger(__name__)

#: Radius in metres of the sphere the MODIS sinusoidal grid is defined on.
MODIS_SPHERE_RADIUS = 6371007.181
#: Kelvin at 0 degrees Celsius.
ZERO_CELSIUS = 273.15


@dataclass(frozen=True)
class Band:
    """The radiometry of one MODIS LST band (from the MOD11 user guide)."""

    key: str
    scale: float
    offset: float
    valid_min: int
    valid_max: int
    fill: int
    unit: str
    qc: str | None
    """Key of the QC layer that rates this band."""

    @property
    def is_temperature(self) -> bool:
        return self.unit == "kelvin"


def _lst(key: str, qc: str) -> Band:
    return Band(key, 0.02, 0.0, 7500, 65535, 0, "kelvin", qc)


BANDS: dict[str, Band] = {
    band.key: band
    for band in (
        _lst("LST_Day_1km", "QC_Day"),
        _lst("LST_Night_1km", "QC_Night"),
        _lst("LST_Day_6km", "QC_Day"),
        _lst("LST_Night_6km", "QC_Night"),
        Band("Day_view_time", 0.1, 0.0, 0, 240, 255, "hours", "QC_Day"),
        Band("Night_view_time", 0.1, 0.0, 0, 240, 255, "hours", "QC_Night"),
        Band("Day_view_angl", 1.0, -65.0, 0, 130, 255, "degrees", "QC_Day"),
        Band("Night_view_angl", 1.0, -65.0, 0, 130, 255, "degrees", "QC_Night"),
        Band("Emis_31", 0.002, 0.49, 1, 255, 0, "1", "QC_Day"),
        Band("Emis_32", 0.002, 0.49, 1, 255, 0, "1", "QC_Day"),
    )
}
QC_BANDS = ("QC_Day", "QC_Night")

#: First day each product exists (UTC).
AVAILABLE_FROM: dict[str, pd.Timestamp] = {
    "MOD11A2": pd.Timestamp("2000-02-18"),
    "MYD11A2": pd.Timestamp("2002-07-04"),
    "MOD11A1": pd.Timestamp("2000-02-24"),
    "MYD11A1": pd.Timestamp("2002-07-04"),
}
#: Catalogue collections that hold more than one product.
COLLECTION_PRODUCTS: dict[str, tuple[str, ...]] = {
    "modis-11A2-061": ("MOD11A2", "MYD11A2"),
    "modis-11A1-061": ("MOD11A1", "MYD11A1"),
}
_SHORT_NAME = re.compile(r"(M[OY]D11[AB]\d)", re.IGNORECASE)
_TILE = re.compile(r"\b(h\d\dv\d\d)\b")
#: HDF-EOS grid of each product's bands (used only with a GDAL that has HDF4).
_HDF4_GRIDS = {
    "MOD11A2": "MODIS_Grid_8Day_1km_LST",
    "MYD11A2": "MODIS_Grid_8Day_1km_LST",
    "MOD11A1": "MODIS_Grid_Daily_1km_LST",
    "MYD11A1": "MODIS_Grid_Daily_1km_LST",
}


#: Platform of each product family prefix.
PLATFORMS = {"MOD": "terra", "MYD": "aqua"}


def products_of(collection: str, platform: str | None = None) -> tuple[str, ...]:
    """Product short names (``MOD11A2``...) a collection id stands for.

    With ``platform`` (``terra`` or ``aqua``), only that platform's products.
    """
    if collection in COLLECTION_PRODUCTS:
        products = COLLECTION_PRODUCTS[collection]
    else:
        match = _SHORT_NAME.search(collection)
        products = (match.group(1).upper(),) if match else ()
    if platform is None:
        return products
    return tuple(p for p in products if PLATFORMS[p[:3]] == platform.lower())


def available_from(collection: str, platform: str | None = None) -> pd.Timestamp | None:
    """First day any product of ``collection`` has data; None when unknown."""
    products = products_of(collection, platform)
    starts = [AVAILABLE_FROM[p] for p in products if p in AVAILABLE_FROM]
    return min(starts) if starts else None


def band_of(feature: SceneFeature) -> Band:
    """The band a feature asks for, with its units checked.

    Raises
    ------
    ConfigError
        An index instead of a band, an unknown band, or units the band cannot
        be reported in.
    """
    if feature.band is None or feature.band not in BANDS:
        raise ConfigError(
            f"feature {feature.name!r}: MODIS LST has no band {feature.band!r}"
            f"{' (spectral indices are Sentinel-2 only)' if feature.index else ''}; "
            f"give band: one of {sorted(BANDS)}"
        )
    band = BANDS[feature.band]
    units = (feature.units or "").lower()
    allowed = {"", "kelvin", "celsius"} if band.is_temperature else {"", band.unit}
    if units not in allowed:
        raise ConfigError(
            f"feature {feature.name!r}: band {band.key} cannot be reported in "
            f"units {feature.units!r}; use one of {sorted(allowed - {''})}"
        )
    return band


def decode(
    band: Band,
    dn: np.ndarray,
    qc: np.ndarray | None = None,
    quality: str | dict | None = None,
    units: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    layout: QcLayout = MOD11_LAYOUT,
) -> tuple[np.ndarray, np.ndarray]:
    """Physical values (float64) and validity of MODIS DNs.

    Parameters
    ----------
    band
        The band the DNs come from (:data:`BANDS`).
    dn
        Raw DNs; NaN where no DN was read (outside the raster, masked fill).
    qc
        Raw QC words at the same pixels (QC 0 is "good"); needed unless
        ``quality`` is ``"none"``.
    quality
        A :mod:`~geofeat.sources.modis_qc` preset name or rule.
    units
        ``"celsius"`` for temperatures in degrees Celsius; kelvin otherwise.
    scale, offset
        Override the band's radiometry (as decided per scene).
    layout
        Where the QC fields sit in this product's QC word.

    Returns
    -------
    value, valid
        ``value`` is NaN wherever ``valid`` is False.
    """
    dn = np.asarray(dn, dtype="float64")
    valid = np.isfinite(dn) & (dn >= band.valid_min) & (dn <= band.valid_max)
    valid &= dn != band.fill
    rule = quality_rule(quality, layout)
    if rule is not None:
        if qc is None:
            raise ConfigError(
                f"band {band.key} with a quality rule needs its {band.qc} layer; "
                "set quality: none to use the band without QC"
            )
        valid &= passes(qc, rule, layout)
    value = dn * (band.scale if scale is None else scale) + (
        band.offset if offset is None else offset
    )
    if band.is_temperature and (units or "").lower() == "celsius":
        value = value - ZERO_CELSIUS
    return np.where(valid, value, np.nan), valid


def check_sinusoidal(crs: str | CRS, where: str) -> None:
    """Refuse a sinusoidal CRS that is not on the MODIS sphere.

    Raises
    ------
    ReadError
        ``crs`` is sinusoidal on an ellipsoid, or on a sphere of another radius.
    """
    crs = CRS.from_user_input(crs)
    operation = crs.coordinate_operation
    if operation is None or "sinusoidal" not in operation.method_name.lower():
        return
    ellipsoid = crs.ellipsoid
    sphere = ellipsoid.semi_minor_metre == ellipsoid.semi_major_metre
    if sphere and abs(ellipsoid.semi_major_metre - MODIS_SPHERE_RADIUS) < 1e-3:
        return
    raise ReadError(
        f"{where} declares a sinusoidal CRS on {ellipsoid.name!r} (semi-major "
        f"{ellipsoid.semi_major_metre} m, semi-minor {ellipsoid.semi_minor_metre} m); "
        f"the MODIS grid is on a sphere of radius {MODIS_SPHERE_RADIUS} m, and any "
        "other figure puts points kilometres from their pixel; fix the catalogue's "
        "proj:wkt2 (or the files' CRS) to '+proj=sinu +R=6371007.181 +units=m'"
    )


@lru_cache(maxsize=1)
def has_hdf4() -> bool:
    """Whether the GDAL inside rasterio can read HDF4."""
    with rasterio.Env() as env:
        return "HDF4" in env.drivers()


def _hdf4_assets(item: pystac.Item, href: str, short_name: str) -> dict[str, str]:
    if not has_hdf4():
        raise ReadError(
            f"item {item.id!r} offers MODIS bands only as HDF4 ({href}), and the "
            "GDAL inside the installed rasterio has no HDF4 driver (pip builds never "
            "do); use a catalogue that serves each band as a COG (the Planetary "
            "Computer's modis-11A2-061 does), or convert the file with a GDAL that "
            'has HDF4, e.g. gdal_translate \'HDF4_EOS:EOS_GRID:"file.hdf":'
            "MODIS_Grid_8Day_1km_LST:LST_Day_1km' LST_Day_1km.tif"
        )
    grid = _HDF4_GRIDS.get(short_name, "MODIS_Grid_8Day_1km_LST")
    other_size = "_1km" if short_name.endswith("B2") else "_6km"
    keys = (*(k for k in BANDS if not k.endswith(other_size)), *QC_BANDS)
    return {key: f'HDF4_EOS:EOS_GRID:"{href}":{grid}:{key}' for key in keys}


def _declared(asset: pystac.Asset) -> tuple[float | None, float | None]:
    bands = asset.extra_fields.get("raster:bands") or [{}]
    return bands[0].get("scale"), bands[0].get("offset")


def _radiometry(band: Band, asset: pystac.Asset | None) -> str:
    if asset is None:
        return "MOD11 user guide"
    scale, offset = _declared(asset)
    if (scale is None or np.isclose(scale, band.scale)) and (
        offset is None or np.isclose(offset, band.offset)
    ):
        return "MOD11 user guide"
    logger.debug(
        "%s: catalogue declares scale %s offset %s; using the user guide's %s, %s",
        band.key,
        scale,
        offset,
        band.scale,
        band.offset,
    )
    return f"MOD11 user guide (catalogue declares scale {scale}, offset {offset})"


def _composite_times(item: pystac.Item) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, end = item_times(item)
    rounded = end.ceil("D")
    if rounded != end and rounded - end <= pd.Timedelta(seconds=1):
        end = rounded  # "...T23:59:59Z" means the whole of that day
    return start, end


def _tile(item: pystac.Item) -> str | None:
    props = item.properties
    if "modis:horizontal-tile" in props and "modis:vertical-tile" in props:
        h, v = int(props["modis:horizontal-tile"]), int(props["modis:vertical-tile"])
        return f"h{h:02d}v{v:02d}"
    match = _TILE.search(item.id.replace(".", " "))
    return match.group(1) if match else None


def _platform(scene: Scene) -> str:
    declared = scene.properties.get("platform")
    if declared:
        return str(declared).lower()
    return PLATFORMS.get(str(scene.properties.get("modis:product"))[:3], "")


def _short_name(item: pystac.Item) -> str:
    for text in (item.id, item.collection_id or ""):
        match = _SHORT_NAME.search(text)
        if match:
            return match.group(1).upper()
    platform = str(item.properties.get("platform", "")).lower()
    return "MYD11" if platform == "aqua" else "MOD11"  # family only: QC layout known


def _check_file_crs(scenes: list[Scene], key: str) -> None:
    """Check the CRS of one file among scenes whose items declare none.

    One header read per plan, not per scene: files of one catalogue are written
    alike, and a wrong figure shows in the first.
    """
    undeclared = [s for s in scenes if s.crs is None and key in s.assets]
    if not undeclared:
        return
    href = undeclared[0].assets[key].href
    try:
        with rasterio.open(href) as ds:
            crs = ds.crs
    except rasterio.errors.RasterioIOError:
        return  # the read itself reports an unreadable file, per point
    if crs is not None:
        check_sinusoidal(crs, f"file {href}")


class ModisLst:
    """MODIS land surface temperature and emissivity (MOD11/MYD11, 061)."""

    name = "modis-lst"
    collections = (
        "modis-11A2-061",
        "modis-11A1-061",
        "MOD11A2*",
        "MYD11A2*",
        "MOD11A1*",
        "MYD11A1*",
        "MOD11B2*",
        "MYD11B2*",
    )

    def available_from(self, feature: SceneFeature) -> pd.Timestamp | None:
        """First day the feature's collection (and platform) has data."""
        return available_from(feature.collection, feature.platform)

    def scene(self, item: pystac.Item) -> Scene:
        short_name = _short_name(item)
        crs = item_crs(item)
        if crs is not None:
            check_sinusoidal(crs, f"item {item.id!r}")
        hrefs = {
            key: asset.get_absolute_href() or asset.href
            for key, asset in item.assets.items()
            if key in BANDS or key in QC_BANDS
        }
        hdf = [
            asset.get_absolute_href() or asset.href
            for asset in item.assets.values()
            if (asset.get_absolute_href() or asset.href).lower().endswith(".hdf")
        ]
        if hdf and not any(not h.lower().endswith(".hdf") for h in hrefs.values()):
            hrefs = _hdf4_assets(item, hdf[0], short_name)

        assets = {}
        for key, href in hrefs.items():
            source = item.assets.get(key)
            if key in QC_BANDS:
                assets[key] = Asset(
                    key=key, href=href, radiometry="QC bit field", mask_nodata=False
                )
                continue
            band = BANDS[key]
            fields = source.extra_fields if source is not None else {}
            assets[key] = Asset(
                key=key,
                href=href,
                scale=band.scale,
                offset=band.offset,
                nodata=band.fill,
                shape=tuple(fields["proj:shape"]) if "proj:shape" in fields else None,
                transform=tuple(fields["proj:transform"])
                if "proj:transform" in fields
                else None,
                radiometry=_radiometry(band, source),
            )

        start, end = _composite_times(item)
        tile = _tile(item)
        return Scene(
            id=item.id,
            collection=item.collection_id or "",
            start=start,
            end=end,
            crs=crs,
            assets=assets,
            tile=tile,
            # Terra and Aqua composites share their periods; tiles do not overlap,
            # so a product and a period make one observation wherever it is seen.
            pass_key=f"{short_name}_{start:%Y%j}",
            rank=(tile or "", item.id),
            cloud_cover=item.properties.get("eo:cloud_cover"),
            properties={
                "platform": item.properties.get("platform"),
                "modis:product": short_name,
            },
        )

    def units(self, feature: SceneFeature) -> str:
        """Units of the feature's values: kelvin, celsius, hours, degrees..."""
        band = band_of(feature)
        return (feature.units or band.unit).lower()

    def validate(self, feature: SceneFeature) -> None:
        """Check the feature's band, units, quality rule and platform before reads."""
        band_of(feature)
        quality_rule(feature.quality, MOD11_LAYOUT)
        if feature.platform is None:
            return
        if feature.platform.lower() not in PLATFORMS.values():
            raise ConfigError(
                f"feature {feature.name!r}: platform {feature.platform!r} is not a "
                f"MODIS platform; use one of {sorted(PLATFORMS.values())}"
            )
        products = products_of(feature.collection)
        if products and not products_of(feature.collection, feature.platform):
            raise ConfigError(
                f"feature {feature.name!r}: collection {feature.collection!r} holds "
                f"{list(products)} only, none of platform {feature.platform!r}; drop "
                "'platform' or choose the collection of that platform"
            )

    def select_scenes(self, feature: SceneFeature, scenes: list[Scene]) -> list[Scene]:
        """The scenes of the feature's platform, checked to have the layers needed.

        Raises
        ------
        ConfigError
            Some scenes have no QC layer (or no band) for the feature.
        """
        if feature.platform is not None:
            platform = feature.platform.lower()
            scenes = [s for s in scenes if _platform(s) == platform]
        self.check_scenes(feature, scenes)
        return scenes

    def check_scenes(self, feature: SceneFeature, scenes: list[Scene]) -> None:
        """Refuse, before any read, scenes lacking a layer the feature needs.

        Raises
        ------
        ConfigError
            Some scenes have no QC layer (or no band) for the feature.
        """
        needed = self.assets(feature)
        lacking = [s for s in scenes if not set(needed) <= set(s.assets)]
        if not lacking:
            _check_file_crs(scenes, needed[0])
            return
        missing = sorted(set(needed) - set(lacking[0].assets))
        qc_only = set(missing) <= set(QC_BANDS)
        raise ConfigError(
            f"feature {feature.name!r}: {len(lacking)} of {len(scenes)} scene(s) "
            f"(e.g. {lacking[0].id!r}) have no {missing} layer; "
            + (
                "the catalogue has no QC for them (an AppEEARS export made without "
                "QC layers?); set quality: none to use the band without QC"
                if qc_only
                else f"use a band every scene has: {sorted(lacking[0].assets)}"
            )
        )

    def assets(self, feature: SceneFeature) -> tuple[str, ...]:
        band = band_of(feature)
        if quality_rule(feature.quality) is None:
            return (band.key,)
        return (band.key, band.qc)

    def evaluate(
        self, feature: SceneFeature, scene: Scene, dns: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        band = band_of(feature)
        product = str(scene.properties.get("modis:product"))
        layout = LAYOUTS.get(product)
        if layout is None:
            raise ConfigError(
                f"scene {scene.id!r}: no QC layout is known for product {product!r} "
                f"(known: {sorted(LAYOUTS)}); its QC cannot be decoded"
            )
        asset = scene.assets[band.key]
        return decode(
            band,
            dns[band.key],
            dns.get(band.qc),
            quality=feature.quality,
            units=feature.units,
            scale=asset.scale,
            offset=asset.offset,
            layout=layout,
        )


MODIS_LST = ModisLst()
"""The MODIS LST product, as registered in :func:`geofeat.sources.base._registry`."""
