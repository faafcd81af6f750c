"""Sentinel-2 sampling and the radiometry self-check on the real Earth Search scenes.

Expected values are computed here from the raw files with rasterio and numpy,
independently of geofeat: pixel indices from the file's geotransform, SCL looked
up at each pixel centre, NDVI per pixel from DN / 10000 (these items say
``earthsearch:boa_offset_applied: true``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
from pyproj import Transformer

import geofeat
from geofeat.synthetic import write_catalog

pytestmark = pytest.mark.realdata

ITEM = "S2A_33TWL_20230815_0_L2A"  # clear (99 % valid), 33TWL only at this point
POINT = (15.98, 45.80)  # south of Zagreb, bare soil (SCL 5, red DN 1034); not in 33TWM
VEGETATION = (15.90, 45.70)  # SCL 4, red DN 368, NIR DN 4353
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)


def scene_dir(s2_catalog: Path) -> Path:
    return s2_catalog.parent / "sentinel-2-l2a" / ITEM


def run(catalog: Path, tmp_path: Path, point=POINT, **feature) -> pd.Series:
    pd.DataFrame(
        {"id": ["p"], "lon": [point[0]], "lat": [point[1]], "date": ["2023-08-16"]}
    ).to_csv(tmp_path / "points.csv", index=False)
    spec = {
        "points": str(tmp_path / "points.csv"),
        "output": str(tmp_path / "out.parquet"),
        "cluster": "threads",
        "catalogs": {"s2": {"url": str(catalog)}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "1d"},  # 2023-08-15 only
                "provenance": True,
                **feature,
            }
        ],
    }
    return geofeat.run(spec, write=False).table.iloc[0]


def raw_pixels(
    folder: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, rasterio.Affine]:
    with (
        rasterio.open(folder / "B04.tif") as red,
        rasterio.open(folder / "B08.tif") as nir,
    ):
        with rasterio.open(folder / "SCL.tif") as scl:
            assert red.transform == scl.transform  # 120 m crops: one grid
            return (
                red.read(1).astype(float),
                nir.read(1).astype(float),
                scl.read(1),
                red.transform,
            )


def pixel_ndvi(red, nir, scl, rows, cols) -> tuple[np.ndarray, np.ndarray]:
    r, n = red[rows, cols], nir[rows, cols]
    ok = np.isin(scl[rows, cols], (4, 5, 6)) & (r > 0) & (n > 0)
    return (n - r) / (n + r), ok


def test_bilinear_on_real_pixels(s2_catalog: Path, tmp_path: Path) -> None:
    red, nir, scl, transform = raw_pixels(scene_dir(s2_catalog))
    x, y = TO_UTM.transform(*POINT)
    u, v = ~transform @ (x, y)
    c0, r0 = int(np.floor(u - 0.5)), int(np.floor(v - 0.5))
    a, b = u - 0.5 - c0, v - 0.5 - r0
    rows = np.array([r0, r0, r0 + 1, r0 + 1])
    cols = np.array([c0, c0 + 1, c0, c0 + 1])
    weights = np.array([(1 - a) * (1 - b), a * (1 - b), (1 - a) * b, a * b])
    ndvi, ok = pixel_ndvi(red, nir, scl, rows, cols)
    assert ok.sum() >= 2
    expected = (weights * ndvi)[ok].sum() / weights[ok].sum()
    got = run(s2_catalog, tmp_path, sampling="bilinear")
    assert got["ndvi"] == pytest.approx(expected, abs=1e-12)
    assert (got["ndvi_tile"], got["ndvi_crs"]) == ("33TWL", "EPSG:32633")


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_buffer_on_real_pixels(
    s2_catalog: Path, tmp_path: Path, statistic: str
) -> None:
    """Radius 300 m on the 120 m grid: the centres within 2.5 pixels of the point."""
    red, nir, scl, transform = raw_pixels(scene_dir(s2_catalog))
    x, y = TO_UTM.transform(*POINT)
    rows, cols = np.mgrid[0 : red.shape[0], 0 : red.shape[1]]
    cx = transform.c + transform.a * (cols + 0.5)
    cy = transform.f + transform.e * (rows + 0.5)
    near = np.hypot(cx - x, cy - y) <= 300
    ndvi, ok = pixel_ndvi(red, nir, scl, rows[near], cols[near])
    assert ok.sum() >= 10
    expected = np.mean(ndvi[ok]) if statistic == "mean" else np.median(ndvi[ok])
    got = run(
        s2_catalog, tmp_path, sampling="buffer", buffer=300, buffer_statistic=statistic
    )
    assert got["ndvi"] == pytest.approx(expected, abs=1e-12)


def copied_item(s2_catalog: Path, **properties) -> pystac.Item:
    """The real item with its assets pointing at the real files, properties changed."""
    item = pystac.Item.from_file(str(scene_dir(s2_catalog) / f"{ITEM}.json"))
    item.make_asset_hrefs_absolute()
    item.properties.update(properties)
    item.clear_links()
    return item


def nearest_ndvi(s2_catalog: Path) -> float:
    red, nir, scl, transform = raw_pixels(scene_dir(s2_catalog))
    u, v = ~transform @ TO_UTM.transform(*POINT)
    ndvi, ok = pixel_ndvi(red, nir, scl, np.array([int(v)]), np.array([int(u)]))
    assert ok.all()
    return float(ndvi[0])


def test_flag_saying_offset_not_applied_is_corrected(
    s2_catalog: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same real scene flagged ``boa_offset_applied: false``: raster:bands then
    says -0.1, which would make most land pixels negative (median red DN ~300).
    The check on the scene's overview applies offset 0: NDVI as DN / 10000."""
    item = copied_item(s2_catalog, **{"earthsearch:boa_offset_applied": False})
    catalog = write_catalog(tmp_path / "catalog", [item])
    got = run(catalog, tmp_path)
    assert got["ndvi"] == pytest.approx(nearest_ndvi(s2_catalog), abs=1e-12)
    assert "pixels contradict offset -0.1" in got["ndvi_radiometry"]
    assert (
        "feature ndvi: 1 scene offset corrected by the radiometry check" in caplog.text
    )
    # Checked on the point's pixel alone: at a vegetation pixel (red DN 368) the
    # reflectance would be -0.063 under -0.1, so no value is emitted ...
    alone = run(catalog, tmp_path, VEGETATION, radiometry_check="points")
    assert np.isnan(alone["ndvi"]) and (alone["ndvi_n"], alone["ndvi_total"]) == (0, 1)
    # ... but one bare-soil pixel (red DN 1034, NIR 1330) cannot contradict the
    # flag: the value comes out with -0.1 applied, (330 - 34) / (330 + 34). This
    # is why the overview check is the default.
    alone = run(catalog, tmp_path, radiometry_check="points")
    assert alone["ndvi"] == pytest.approx(296 / 364, abs=1e-12)


def test_pixels_still_shifted_are_corrected(s2_catalog: Path, tmp_path: Path) -> None:
    """Real pixels + 1000 (as delivered before the offset is removed), flagged
    ``boa_offset_applied: true``: vegetation red would be >= 0.1; the check
    applies -0.1 and gets the original NDVI back."""
    src = scene_dir(s2_catalog)
    item = copied_item(s2_catalog)
    for key, name in (("red", "B04"), ("nir", "B08"), ("scl", "SCL")):
        with rasterio.open(src / f"{name}.tif") as ds:
            data = ds.read(1)
            profile = {
                "driver": "GTiff",
                "height": ds.height,
                "width": ds.width,
                "count": 1,
                "dtype": data.dtype,
                "crs": ds.crs,
                "transform": ds.transform,
                "nodata": 0,
            }
        if key != "scl":
            data = np.where(data > 0, data + 1000, 0).astype(data.dtype)
        path = tmp_path / f"{name}.tif"
        with rasterio.open(path, "w", **profile) as out:
            out.write(data, 1)
        item.assets[key].href = str(path)
    catalog = write_catalog(tmp_path / "catalog", [item])
    got = run(catalog, tmp_path)
    assert got["ndvi"] == pytest.approx(nearest_ndvi(s2_catalog), abs=1e-12)
    assert "offset -0.1 is consistent, applied" in got["ndvi_radiometry"]
