"""Chips on a small synthetic catalogue with known pixels: sizes, resampling,
several dates, SCL on its own 20 m grid, previews, unsafe ids, atomic stores."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from PIL import Image
from pyproj import Transformer

from geofeat.chips import make_chips
from geofeat.chips.preview import rgb
from geofeat.chips.store import safe_name
from geofeat.errors import ReadError
from geofeat.synthetic import write_catalog, write_scene

X0, Y0 = 500000.0, 5100000.0
N = 64  # 10 m pixels per side
TO_LONLAT = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)


def red_dns() -> np.ndarray:
    """10 m DNs whose 2 x 2 blocks (one 20 m pixel) average to a whole number."""
    r, c = np.mgrid[0:N, 0:N]
    return (1000 + 100 * (r // 2) + 4 * (c // 2) + 2 * (r % 2) + 2 * (c % 2)).astype(
        "uint16"
    )


def scene_bands(shift: int, cloud_rows: slice | None = None) -> dict:
    red = red_dns() + shift
    scl = np.full((N // 2, N // 2), 4, "uint8")
    if cloud_rows is not None:
        scl[cloud_rows] = 9  # cloud high probability
    return {
        "red": red,
        "green": (red + 100).astype("uint16"),
        "blue": (red + 200).astype("uint16"),
        "nir": (red + 3000).astype("uint16"),
        "scl": scl,
    }


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """Two dates of one tile: 06-01 cloudy over rows 0-15 (20 m), 06-05 clear."""
    folder = tmp_path_factory.mktemp("synthetic")
    items = [
        write_scene(
            folder,
            "S2B_33TWL_20240601_0_L2A",
            datetime(2024, 6, 1, 10),
            scene_bands(0, slice(0, 16)),
            (X0, Y0),
        ),
        write_scene(
            folder,
            "S2A_33TWL_20240605_0_L2A",
            datetime(2024, 6, 5, 10),
            scene_bands(50),
            (X0, Y0),
            platform="sentinel-2a",
        ),
    ]
    return write_catalog(folder, items)


def lonlat(row: float, col: float) -> tuple[float, float]:
    return TO_LONLAT.transform(X0 + 10 * col, Y0 - 10 * row)


def run(
    tmp_path: Path, catalog: Path, rows: list[dict], cluster="synchronous", **chips
) -> xr.Dataset:
    tmp_path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(tmp_path / "points.csv", index=False)
    spec = {
        "points": str(tmp_path / "points.csv"),
        "output": str(tmp_path / "chips.zarr"),
        "catalogs": {"s2": {"url": str(catalog)}},
        "chips": {
            "catalog": "s2",
            "collection": "sentinel-2-l2a",
            "bands": ["red", "nir"],
            "size": 8,
            "window": {"before": "10d"},
            **chips,
        },
        "cluster": cluster,
    }
    return xr.open_zarr(make_chips(spec).path).load()


def at(name: str, row: float, col: float, date: str = "2024-06-10", **extra) -> dict:
    lon, lat = lonlat(row, col)
    return {"id": name, "lon": lon, "lat": lat, "date": date, **extra}


def test_non_square_size_is_centred_on_the_point_pixel(tmp_path, catalog) -> None:
    """A 5 x 7 chip at pixel (40, 30): rows 38-42, cols 27-33 of the clear date."""
    ds = run(tmp_path, catalog, [at("p", 40.3, 30.6)], size=[5, 7])
    chip = ds.chips.sel(point="p", band="red").values
    expected = (red_dns() + 50)[38:43, 27:34] * 1e-4
    np.testing.assert_array_equal(chip, expected.astype("float32"))
    assert tuple(ds.transform.values[0]) == (10, 0, X0 + 270, 0, -10, Y0 - 380)


def test_least_cloudy_uses_scl_upsampled_on_the_chip(tmp_path, catalog) -> None:
    """SCL (20 m) is read onto the 10 m chip by nearest; the cloudy date loses."""
    # Point at 10 m row 30: chip rows 26-33; 06-01 is cloudy over 10 m rows 0-31.
    ds = run(tmp_path, catalog, [at("p", 30.5, 30.5, "2024-06-06")], pick="nearest")
    assert str(ds.scenes.values[0]) == "S2A_33TWL_20240605_0_L2A"
    ds = run(
        tmp_path / "b",
        catalog,
        [at("p", 30.5, 30.5, "2024-06-02")],
        window={"before": "2d", "after": "4d"},
    )
    # Nearest would be 06-01 (cloudy on 6 of 8 chip rows); least-cloudy takes 06-05.
    assert str(ds.scenes.values[0]) == "S2A_33TWL_20240605_0_L2A"
    ds = run(
        tmp_path / "c",
        catalog,
        [at("p", 30.5, 30.5, "2024-06-02")],
        window={"before": "2d"},
        pick="nearest",
    )
    assert float(ds.clear_fraction.values[0]) == 2 / 8  # rows 32 and 33 are clear


def test_resampling_to_20m_with_average(tmp_path, catalog) -> None:
    """Each 20 m chip pixel is the mean of the four 10 m pixels under it."""
    ds = run(
        tmp_path,
        catalog,
        [at("p", 30.5, 30.5, "2024-06-06")],
        resolution=20,
        resampling="average",
        size=4,
    )
    # The point's 20 m pixel is (15, 15); the chip covers 20 m rows/cols 13-16.
    blocks = (red_dns() + 50).reshape(N // 2, 2, N // 2, 2).mean(axis=(1, 3))
    expected = blocks[13:17, 13:17] * 1e-4
    np.testing.assert_allclose(
        ds.chips.sel(point="p", band="red").values, expected, rtol=1e-6
    )
    assert tuple(ds.transform.values[0]) == (20, 0, X0 + 260, 0, -20, Y0 - 260)
    # Bands were warped; SCL, already on a 20 m grid, was read as a window.
    assert str(ds.read.values[0]) == "warp:average,window"


def test_another_crs_takes_the_pixel_under_each_chip_pixel(tmp_path, catalog) -> None:
    """In EPSG:3035 (nearest) each chip pixel holds the UTM pixel under its centre."""
    ds = run(
        tmp_path,
        catalog,
        [at("p", 30.5, 30.5, "2024-06-06")],
        crs="EPSG:3035",
        resolution=15,
        size=6,
    )
    assert str(ds.crs.values[0]) == "EPSG:3035"
    a, b, c, d, e, f = ds.transform.values[0]
    assert (a, e) == (15, -15) and c % 15 == 0 and f % 15 == 0
    rows, cols = np.mgrid[0:6, 0:6]
    x3035, y3035 = c + a * (cols + 0.5), f + e * (rows + 0.5)
    x, y = Transformer.from_crs("EPSG:3035", "EPSG:32633", always_xy=True).transform(
        x3035, y3035
    )
    src_rows = np.floor((Y0 - y) / 10).astype(int)
    src_cols = np.floor((x - X0) / 10).astype(int)
    expected = (red_dns() + 50)[src_rows, src_cols] * 1e-4
    np.testing.assert_array_equal(
        ds.chips.sel(point="p", band="red").values, expected.astype("float32")
    )


def test_upsampling_with_bilinear_interpolates_between_centres(tmp_path, catalog):
    """At 5 m, bilinear gives the interpolation of the four nearest 10 m centres."""
    ds = run(
        tmp_path,
        catalog,
        [at("p", 30.5, 30.5, "2024-06-06")],
        resolution=5,
        resampling="bilinear",
        size=6,
    )
    a, _, c, _, e, f = ds.transform.values[0]
    rows, cols = np.mgrid[0:6, 0:6]
    # Chip pixel centres in continuous 10 m pixel coordinates (0 = first centre).
    u = (c + a * (cols + 0.5) - X0) / 10 - 0.5
    v = (Y0 - (f + e * (rows + 0.5))) / 10 - 0.5
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - u0, v - v0
    dns = (red_dns() + 50).astype("float64")
    expected = (
        dns[v0, u0] * (1 - fu) * (1 - fv)
        + dns[v0, u0 + 1] * fu * (1 - fv)
        + dns[v0 + 1, u0] * (1 - fu) * fv
        + dns[v0 + 1, u0 + 1] * fu * fv
    )
    # The warp keeps the file's integer type: within one DN of the exact value.
    np.testing.assert_allclose(
        ds.chips.sel(point="p", band="red").values, expected * 1e-4, atol=1.01e-4
    )
    nearest = dns[np.round(v).astype(int), np.round(u).astype(int)] * 1e-4
    assert not np.allclose(
        ds.chips.sel(point="p", band="red").values, nearest, atol=1.01e-4
    )


def test_several_dates_add_a_time_axis(tmp_path, catalog) -> None:
    ds = run(tmp_path, catalog, [at("p", 40.5, 40.5)], dates=2, pick="nearest")
    assert ds.chips.dims == ("point", "time", "band", "y", "x")
    assert [str(v)[:10] for v in ds.acquired_first.values[0]] == [
        "2024-06-01",
        "2024-06-05",
    ]
    expected = [(red_dns() + s)[36:44, 36:44] * 1e-4 for s in (0, 50)]
    np.testing.assert_array_equal(
        ds.chips.values[0, :, 0], np.stack(expected).astype("float32")
    )


def test_point_without_scene_is_all_fill(tmp_path, catalog, caplog) -> None:
    with caplog.at_level("WARNING", logger="geofeat"):
        ds = run(tmp_path, catalog, [at("here", 20.5, 20.5), at("far", 5000, 5000)])
    assert "1 of 2 chip(s) hold no valid pixel" in caplog.text
    assert np.isnan(ds.chips.sel(point="far").values).all()
    assert str(ds.pick.sel(point="far").values) == "none"
    assert float(ds.valid_fraction.sel(point="far")) == 0.0
    assert float(ds.valid_fraction.sel(point="here")) == 1.0


def test_previews_and_unsafe_ids_stay_inside(tmp_path, catalog) -> None:
    """`../x` and a column named `../evil` write nothing outside the outputs."""
    rows = [
        at("../x", 20.5, 20.5, **{"../evil": 1, "time": "noon"}),
        at("ok", 40.5, 40.5, **{"../evil": 2, "time": "dusk"}),
    ]
    ds = run(
        tmp_path / "job", catalog, rows, bands=["red", "green", "blue"], previews="both"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job"]
    job = tmp_path / "job"
    assert sorted(p.name for p in job.iterdir()) == [
        "chips.zarr",
        "chips_previews",
        "points.csv",
    ]
    previews = job / "chips_previews"
    names = sorted(p.name for p in previews.iterdir())
    assert names == sorted(["contact_sheet.png", f"{safe_name('../x')}.png", "ok.png"])
    assert list(ds.point.values) == ["../x", "ok"]
    label = [v for v in ds.coords if "evil" in v]
    assert list(ds.label_time.values) == ["noon", "dusk"]  # "time" is the store's
    assert len(label) == 1 and list(ds[label[0]].values) == [1, 2]
    # The PNG is the chip stretched 2-98 % per band.
    png = np.asarray(Image.open(previews / "ok.png"))
    chip = ds.chips.sel(point="ok").values
    np.testing.assert_array_equal(
        png, rgb(chip, ("red", "green", "blue"), ("red", "green", "blue"))
    )
    assert png[..., 0].min() == 0 and png[..., 0].max() == 255
    sheet = np.asarray(Image.open(previews / "contact_sheet.png"))
    assert sheet.shape == (8, 2 * 8 + 2, 3)


def test_failed_job_keeps_the_previous_store(tmp_path, catalog) -> None:
    first = run(tmp_path, catalog, [at("p", 20.5, 20.5)])
    (catalog.parent / "S2A_33TWL_20240605_0_L2A" / "nir.tif").rename(
        tmp_path / "moved.tif"
    )
    try:
        with pytest.raises(ReadError, match="asset 'nir'"):
            run(tmp_path, catalog, [at("p", 20.5, 20.5), at("q", 30.5, 30.5)])
    finally:
        (tmp_path / "moved.tif").rename(
            catalog.parent / "S2A_33TWL_20240605_0_L2A" / "nir.tif"
        )
    again = xr.open_zarr(tmp_path / "chips.zarr").load()
    xr.testing.assert_identical(first, again)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_worker_processes_write_the_same_store(tmp_path, catalog) -> None:
    """Tasks run in other processes (Dask's process pool) write the same chips."""
    rows = [at(f"p{i}", 10.5 + 2 * i, 12.5 + 2 * i) for i in range(20)]  # 2 tasks
    here = run(tmp_path / "a", catalog, rows)
    there = run(tmp_path / "b", catalog, rows, cluster="processes")
    xr.testing.assert_identical(here, there)
    assert np.isfinite(there.chips.values).all()


def test_few_open_files_give_the_same_chips(tmp_path, catalog, monkeypatch) -> None:
    """Closing files early (at most 2 open) changes nothing but the open count."""
    rows = [at(f"p{i}", 10.5 + 3 * i, 40.5 - 2 * i) for i in range(12)]
    usual = run(tmp_path / "a", catalog, rows, dates=2, bands=["red", "nir", "scl"])
    monkeypatch.setattr("geofeat.chips.read.MAX_OPEN", 2)
    few = run(tmp_path / "b", catalog, rows, dates=2, bands=["red", "nir", "scl"])
    xr.testing.assert_identical(usual, few)
    assert set(np.unique(few.chips.sel(band="scl").values)) == {4.0, 9.0}


def test_chips_in_degrees_take_the_pixel_under_each_centre(tmp_path, catalog) -> None:
    """EPSG:4326 at 0.0001 degrees: resolution in the CRS's units, nearest pixels."""
    ds = run(
        tmp_path,
        catalog,
        [at("p", 30.5, 30.5, "2024-06-06")],
        crs="EPSG:4326",
        resolution=0.0001,
        size=[4, 6],
    )
    a, _, c, _, e, f = ds.transform.values[0]
    assert (a, e) == (0.0001, -0.0001)
    rows, cols = np.mgrid[0:4, 0:6]
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True).transform(
        c + a * (cols + 0.5), f + e * (rows + 0.5)
    )
    expected = (red_dns() + 50)[
        np.floor((Y0 - y) / 10).astype(int), np.floor((x - X0) / 10).astype(int)
    ]
    np.testing.assert_array_equal(
        ds.chips.sel(point="p", band="red").values, (expected * 1e-4).astype("float32")
    )


def test_more_dates_than_passes_leave_fill(tmp_path, catalog) -> None:
    ds = run(tmp_path, catalog, [at("p", 40.5, 40.5)], dates=3)
    assert np.isfinite(ds.chips.values[0, :2]).all()
    assert np.isnan(ds.chips.values[0, 2]).all()
    assert np.isnat(ds.acquired_first.values[0, 2])
    assert list(ds.valid_fraction.values[0]) == [1.0, 1.0, 0.0]


def test_chip_equals_an_odc_stac_cube_on_the_same_grid(tmp_path, catalog) -> None:
    """The anchor library, loading the same items onto the chip's grid, agrees."""
    odc_stac = pytest.importorskip("odc.stac")
    import pystac
    from odc.geo.geobox import GeoBox

    ds = run(
        tmp_path,
        catalog,
        [at("p", 30.5, 30.5, "2024-06-06")],
        resolution=20,
        resampling="average",
        size=6,
    )
    a, b, c, d, e, f = ds.transform.values[0]
    geobox = GeoBox((6, 6), rasterio.Affine(a, b, c, d, e, f), "EPSG:32633")
    items = [
        i
        for i in pystac.read_file(str(catalog)).get_items(recursive=True)
        if i.id == "S2A_33TWL_20240605_0_L2A"
    ]
    cube = odc_stac.load(items, bands=["red"], geobox=geobox, resampling="average")
    np.testing.assert_allclose(
        ds.chips.sel(point="p", band="red").values,
        cube.red.isel(time=0).values * 1e-4,
        rtol=1e-6,
    )
