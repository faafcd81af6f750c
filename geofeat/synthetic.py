"""Synthetic Sentinel-2-shaped scenes and static catalogues with known pixels.

Used by the offline demo and by tests that need exact answers: the pixel values
are chosen by the caller, the layout and metadata are those of Earth Search's
``sentinel-2-l2a`` items (asset keys, ``raster:bands``, ``proj:*``, MGRS tile,
datatake id, ``earthsearch:boa_offset_applied``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pystac
import rasterio
from pyproj import Transformer
from rasterio.transform import Affine
from shapely.geometry import box, mapping

#: Pixel size in metres of each band written, as in Sentinel-2.
RESOLUTION = {"red": 10, "green": 10, "blue": 10, "nir": 10, "swir16": 20, "scl": 20}


def write_raster(
    path: Path, data: np.ndarray, transform: Affine, crs: str, nodata: float | None = 0
) -> None:
    """Write one band as a tiled, DEFLATE-compressed GeoTIFF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = data.shape
    tiled = height >= 256 and width >= 256
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=1,
        dtype=data.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
        compress="deflate",
        tiled=tiled,
        **({"blockxsize": 256, "blockysize": 256} if tiled else {}),
    ) as ds:
        ds.write(data, 1)


def write_scene(
    folder: Path,
    item_id: str,
    when: datetime,
    bands: dict[str, np.ndarray],
    origin: tuple[float, float],
    crs: str = "EPSG:32633",
    tile: str = "33TWL",
    platform: str = "sentinel-2b",
    baseline: str = "05.09",
    boa_offset_applied: bool | None = True,
    declare_offset: bool = True,
    datatake_id: str | None = None,
    cloud_cover: float = 0.0,
) -> pystac.Item:
    """Write the bands of one scene and return its STAC item.

    ``bands`` maps canonical names (``red``, ``nir``, ``scl``...) to arrays on the
    band's own grid (:data:`RESOLUTION`), all starting at ``origin`` (x, y of the
    upper-left corner in ``crs``).
    """
    folder = Path(folder) / item_id
    assets = {}
    footprint = None
    for name, data in bands.items():
        res = RESOLUTION.get(name, 10)
        transform = Affine(res, 0, origin[0], 0, -res, origin[1])
        href = folder / f"{name}.tif"
        write_raster(href, data, transform, crs)
        height, width = data.shape
        raster_band = {
            "nodata": 0,
            "data_type": str(data.dtype),
            "spatial_resolution": res,
        }
        if name != "scl":
            raster_band["scale"] = 0.0001
            if declare_offset:
                raster_band["offset"] = -0.1
        assets[name] = pystac.Asset(
            href=str(href),
            media_type=pystac.MediaType.GEOTIFF,
            roles=["data"],
            extra_fields={
                "proj:shape": [height, width],
                "proj:transform": list(transform)[:6],
                "raster:bands": [raster_band],
            },
        )
        bounds = (
            origin[0],
            origin[1] - res * height,
            origin[0] + res * width,
            origin[1],
        )
        footprint = bounds if footprint is None else footprint
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    west, south, east, north = to_lonlat.transform_bounds(*footprint)
    geometry = mapping(box(west, south, east, north))
    properties = {
        "platform": platform,
        "constellation": "sentinel-2",
        "eo:cloud_cover": cloud_cover,
        "proj:epsg": int(crs.split(":")[1]),
        "grid:code": f"MGRS-{tile}",
        "s2:processing_baseline": baseline,
        "s2:datatake_id": datatake_id
        or f"G{platform[-2:].upper()}_{when:%Y%m%dT%H%M%S}_000000_N{baseline}",
    }
    if boa_offset_applied is not None:
        properties["earthsearch:boa_offset_applied"] = boa_offset_applied
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=[west, south, east, north],
        datetime=when,
        properties=properties,
        collection="sentinel-2-l2a",
    )
    for key, asset in assets.items():
        item.add_asset(key, asset)
    return item


def write_catalog(
    folder: Path, items: list[pystac.Item], collection: str = "sentinel-2-l2a"
) -> Path:
    """Save items as a self-contained static catalogue; returns the catalog.json path."""
    folder = Path(folder)
    catalog = pystac.Catalog(id="geofeat-synthetic", description="Synthetic scenes")
    extent = pystac.Extent(
        pystac.SpatialExtent([[-180.0, -90.0, 180.0, 90.0]]),
        pystac.TemporalExtent(
            [[min(i.datetime for i in items), max(i.datetime for i in items)]]
        ),
    )
    coll = pystac.Collection(
        id=collection, description="Synthetic scenes", extent=extent
    )
    catalog.add_child(coll)
    for item in items:
        coll.add_item(item)
    catalog.normalize_hrefs(str(folder))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return folder / "catalog.json"
