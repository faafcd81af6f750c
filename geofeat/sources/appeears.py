"""A static STAC catalogue over NASA AppEEARS area exports of MODIS LST GeoTIFFs.

AppEEARS writes one GeoTIFF per layer and composite, named
``MOD11A2.061_LST_Day_1km_doy2024017000000_aid0001.tif``: product, version,
layer, and the composite's first day as ``doyYYYYDDD``. This module turns such
folders into a catalogue that :class:`~geofeat.catalog.static.StaticCatalog`
reads, with one item per product and composite. Only JSON (and small VRTs, see
below) are written; the items' hrefs point at the GeoTIFFs where they are.

Time. An item covers its composite period: ``start_datetime`` is the first day
at 00:00 UTC and ``end_datetime`` the last second of its last day (8 days for
``*11A2``/``*11B2``, 1 for ``*11A1``), cut at 31 December: composites restart
on 1 January, so the year's last one is shorter.

Omitted QC. AppEEARS leaves out the QC file of a composite where every pixel's
QC is 0 ("good"). When a folder holds QC files for a layer at all, a composite
without one gets a QC asset that is a VRT on the LST file's grid with no
source: GDAL reads it as 0 everywhere. A folder with no QC file for a layer
(QC was not exported) gets no QC asset; read it with ``quality: none``.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pystac
import rasterio
from rasterio.warp import transform_bounds
from shapely.geometry import box, mapping

logger = logging.getLogger(__name__)

_NAME = re.compile(
    r"^(?P<product>M[OY]D\w+?)\.(?P<version>\d{3})_(?P<layer>.+)_doy"
    r"(?P<year>\d{4})(?P<doy>\d{3})\d{6}_aid\d{4}\.tif$"
)
#: Days in one composite, per product kind.
_PERIOD_DAYS = {"A1": 1, "A2": 8, "B2": 8}
#: QC layer of each LST layer.
_QC_OF = {"LST_Day_1km": "QC_Day", "LST_Night_1km": "QC_Night"}


def composite_period(product: str, year: int, doy: int) -> tuple[datetime, datetime]:
    """First instant and end (excluded) of a composite, UTC."""
    start = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=doy - 1)
    days = _PERIOD_DAYS.get(product[-2:].upper(), 8)
    next_year = datetime(year + 1, 1, 1, tzinfo=UTC)
    return start, min(start + timedelta(days=days), next_year)


def _zero_vrt(path: Path, like: Path) -> Path:
    """A VRT on ``like``'s grid with one Byte band and no source (reads as 0)."""
    with rasterio.open(like) as ds:
        transform = ", ".join(repr(v) for v in ds.transform.to_gdal())
        path.write_text(
            f'<VRTDataset rasterXSize="{ds.width}" rasterYSize="{ds.height}">\n'
            f"  <SRS>{ds.crs.to_wkt()}</SRS>\n"
            f"  <GeoTransform>{transform}</GeoTransform>\n"
            '  <VRTRasterBand dataType="Byte" band="1"/>\n'
            "</VRTDataset>\n"
        )
    return path


def build_appeears_catalog(folders: list[Path], out_dir: Path) -> Path:
    """Write a static catalogue over AppEEARS MODIS exports; return its path.

    Parameters
    ----------
    folders
        Folders of AppEEARS GeoTIFFs. Each product becomes a collection named
        ``{product}.{version}`` (e.g. ``MOD11A2.061``); items are named
        ``{product}.A{YYYYDDD}.{version}.{folder name}``.
    out_dir
        Where ``catalog.json`` and the items are written (created if needed).

    Returns
    -------
    Path
        The ``catalog.json`` written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalog = pystac.Catalog(id="appeears", description="AppEEARS MODIS exports")
    collections: dict[str, pystac.Collection] = {}
    for folder in map(Path, folders):
        files = defaultdict(dict)
        exported = set()
        for path in sorted(folder.glob("*.tif")):
            match = _NAME.match(path.name)
            if match is None:
                continue
            key = (
                match["product"],
                match["version"],
                int(match["year"]),
                int(match["doy"]),
            )
            files[key][match["layer"]] = path
            exported.add((match["product"], match["layer"]))
        for (product, version, year, doy), layers in sorted(files.items()):
            collection_id = f"{product}.{version}"
            if collection_id not in collections:
                collections[collection_id] = pystac.Collection(
                    id=collection_id,
                    description=f"{product} version {version} (AppEEARS export)",
                    extent=pystac.Extent(
                        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
                        pystac.TemporalExtent([[None, None]]),
                    ),
                )
            item = _item(product, version, year, doy, layers, exported, folder, out_dir)
            collections[collection_id].add_item(item)
    for collection in collections.values():
        collection.update_extent_from_items()
        catalog.add_child(collection)
    catalog.normalize_hrefs(str(out_dir))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    logger.info(
        "wrote an AppEEARS catalogue of %d collection(s) to %s",
        len(collections),
        out_dir,
    )
    return out_dir / "catalog.json"


def _item(
    product: str,
    version: str,
    year: int,
    doy: int,
    layers: dict[str, Path],
    exported: set[tuple[str, str]],
    folder: Path,
    out_dir: Path,
) -> pystac.Item:
    start, end = composite_period(product, year, doy)
    reference = next(iter(layers.values()))
    with rasterio.open(reference) as ds:
        bounds = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
        epsg = ds.crs.to_epsg()
        wkt = ds.crs.to_wkt()
    item_id = f"{product}.A{year}{doy:03d}.{version}.{folder.name}"
    properties = {
        "start_datetime": start.isoformat().replace("+00:00", "Z"),
        "end_datetime": (end - timedelta(seconds=1)).isoformat().replace("+00:00", "Z"),
        "platform": "aqua" if product.upper().startswith("MYD") else "terra",
        "instruments": ["modis"],
    }
    properties.update({"proj:epsg": epsg} if epsg else {"proj:wkt2": wkt})
    item = pystac.Item(
        id=item_id,
        geometry=mapping(box(*bounds)),
        bbox=list(bounds),
        datetime=None,
        properties=properties,
    )
    for layer, path in layers.items():
        with rasterio.open(path) as ds:
            band = {"data_type": ds.dtypes[0], "scale": ds.scales[0]}
        item.add_asset(
            layer,
            pystac.Asset(
                href=str(path.resolve()),
                media_type=pystac.MediaType.GEOTIFF,
                roles=["data"],
                extra_fields={"raster:bands": [band]},
            ),
        )
    omitted = []
    for lst, qc in _QC_OF.items():
        if lst in layers and qc not in layers and (product, qc) in exported:
            vrt = out_dir / "qc-omitted" / f"{item_id}_{qc}.vrt"
            vrt.parent.mkdir(parents=True, exist_ok=True)
            item.add_asset(
                qc,
                pystac.Asset(
                    href=str(_zero_vrt(vrt, layers[lst]).resolve()),
                    title=f"{qc} omitted by AppEEARS (every pixel 0): a sourceless VRT",
                    roles=["data"],
                ),
            )
            omitted.append(qc)
    if omitted:
        item.properties["appeears:qc_omitted"] = omitted
    return item
