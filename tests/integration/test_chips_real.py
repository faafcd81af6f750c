"""Chips on the real Earth Search scenes, compared with windows read by rasterio.

Expected values are read here independently: the window of each file around the
point's pixel (``rasterio`` boundless reads, DN * 1e-4 as the items say the
offset is already applied, nodata 0 -> NaN), the neighbouring tile's pixel
found from its own transform, and SCL fractions counted with numpy.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from pyproj import Transformer
from rasterio.windows import Window

from geofeat.chips import make_chips
from geofeat.errors import ReadError

pytestmark = pytest.mark.realdata

TWL_TOP, TWM_TOP, LEFT, RES = 5100000.0, 5200020.0, 499980.0, 120.0
#: TWM pixel rows are offset from TWL rows by 833.5 pixels (60 m): a TWL pixel
#: centre lies on a TWM pixel edge, and takes the TWM pixel south of it.
TWL_TO_TWM_ROWS = 834
TO_LONLAT = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)


def scene_dir(s2_catalog: Path, tile: str, day: str) -> Path:
    platform = "S2A" if day in ("15", "18") else "S2B"
    return (
        s2_catalog.parent / "sentinel-2-l2a" / f"{platform}_33{tile}_202308{day}_0_L2A"
    )


def window(path: Path, row0: int, col0: int, height: int, width: int) -> np.ndarray:
    """DNs of a window (float, NaN for nodata 0 and outside the file)."""
    with rasterio.open(path) as ds:
        data = ds.read(
            1, window=Window(col0, row0, width, height), boundless=True, fill_value=0
        ).astype("float64")
    data[data == 0] = np.nan
    return data


def lonlat_of_twl_pixel(row: int, col: int) -> tuple[float, float]:
    """A point a quarter pixel south-east of the centre of a TWL pixel."""
    x = LEFT + RES * (col + 0.75)
    y = TWL_TOP - RES * (row + 0.75)
    return TO_LONLAT.transform(x, y)


def run_chips(
    tmp_path: Path, s2_catalog: Path, rows: list[dict], **chips
) -> xr.Dataset:
    tmp_path.mkdir(parents=True, exist_ok=True)
    points = tmp_path / "points.csv"
    pd.DataFrame(rows).to_csv(points, index=False)
    spec = {
        "points": str(points),
        "output": str(tmp_path / "chips.zarr"),
        "catalogs": {"s2": {"url": str(s2_catalog)}},
        "chips": {
            "catalog": "s2",
            "collection": "sentinel-2-l2a",
            "bands": ["red", "nir"],
            "size": 32,
            "window": {"before": "2d"},
            **chips,
        },
        "cluster": "synchronous",
    }
    result = make_chips(spec)
    return xr.open_zarr(result.path).load()


def point(name: str, row: int, col: int, date: str, **labels) -> dict:
    lon, lat = lonlat_of_twl_pixel(row, col)
    return {"id": name, "lon": lon, "lat": lat, "date": date, **labels}


@pytest.fixture(scope="module")
def august15(tmp_path_factory, s2_catalog: Path) -> xr.Dataset:
    """One job on 2023-08-15: inside a tile, in the overlap, at the south edge."""
    rows = [
        point("inside", 400, 400, "2023-08-16", crop="maize"),
        # TWL row 5: its chip leaves TWL at the top; TWM holds it whole.
        point("overlap", 5, 400, "2023-08-16", crop="wheat"),
        # TWL row 910: the chip passes the south edge, and no tile lies south.
        point("south-edge", 910, 300, "2023-08-16", crop="forest"),
    ]
    return run_chips(tmp_path_factory.mktemp("aug15"), s2_catalog, rows)


def test_inside_a_tile_equals_the_rasterio_window(august15, s2_catalog) -> None:
    """A chip inside one tile is the file's window, pixel for pixel, DN * 1e-4."""
    chip = august15.chips.sel(point="inside")
    folder = scene_dir(s2_catalog, "TWL", "15")
    for band, name in (("red", "B04"), ("nir", "B08")):
        expected = window(folder / f"{name}.tif", 400 - 16, 400 - 16, 32, 32) * 1e-4
        np.testing.assert_array_equal(
            chip.sel(band=band).values, expected.astype("float32")
        )
    record = august15.sel(point="inside")
    assert str(record.scenes.values) == "S2A_33TWL_20230815_0_L2A"
    assert str(record.crs.values) == "EPSG:32633"
    # Upper-left corner of the chip: 16 pixels west and north of the point's pixel.
    assert tuple(record.transform.values) == (
        RES,
        0.0,
        LEFT + RES * 384,
        0.0,
        -RES,
        TWL_TOP - RES * 384,
    )
    assert record.acquired_first.values == np.datetime64("2023-08-15T09:58:11.662")
    assert str(record.read.values) == "window"


def test_overlap_point_gets_a_whole_chip_from_the_tile_that_holds_it(
    august15, s2_catalog
) -> None:
    """In the overlap, near TWL's top edge, the chip comes whole from TWM."""
    record = august15.sel(point="overlap")
    assert str(record.scenes.values) == "S2A_33TWM_20230815_0_L2A"
    assert float(record.valid_fraction) == 1.0
    row = 5 + TWL_TO_TWM_ROWS  # the point (a quarter pixel off centre) in TWM
    expected = window(
        scene_dir(s2_catalog, "TWM", "15") / "B04.tif", row - 16, 384, 32, 32
    )
    np.testing.assert_array_equal(
        record.chips.sel(band="red").values, (expected * 1e-4).astype("float32")
    )
    assert record.transform.values[5] == TWM_TOP - RES * (row - 16)


def test_chip_crossing_the_scene_edge_is_padded_not_shrunk(
    august15, s2_catalog
) -> None:
    """Past the south edge the chip keeps its size, NaN-padded, and says so."""
    chip = august15.chips.sel(point="south-edge", band="nir").values
    assert chip.shape == (32, 32)
    expected = window(scene_dir(s2_catalog, "TWL", "15") / "B08.tif", 894, 284, 32, 32)
    np.testing.assert_array_equal(chip, (expected * 1e-4).astype("float32"))
    assert np.isnan(chip[915 - 894 :]).all()  # rows 915..925 are past the edge
    red = window(scene_dir(s2_catalog, "TWL", "15") / "B04.tif", 894, 284, 32, 32)
    valid = np.isfinite(expected) & np.isfinite(red)
    fraction = float(august15.valid_fraction.sel(point="south-edge"))
    assert fraction == pytest.approx(valid.mean())
    assert fraction < 21 * 32 / 1024 + 1e-9


def test_labels_and_ids_are_carried(august15) -> None:
    assert list(august15.point.values) == ["inside", "overlap", "south-edge"]
    assert list(august15.crop.values) == ["maize", "wheat", "forest"]
    assert august15.chips.encoding["chunks"] == (1, 2, 32, 32)


def test_chip_larger_than_the_overlap_is_a_mosaic_of_both_tiles(tmp_path, s2_catalog):
    """A 128-pixel chip fits in neither tile: TWL holds most; TWM fills the top."""
    ds = run_chips(
        tmp_path, s2_catalog, [point("big", 41, 400, "2023-08-16")], size=128
    )
    record = ds.sel(point="big")
    assert (
        str(record.scenes.values) == "S2A_33TWL_20230815_0_L2A;S2A_33TWM_20230815_0_L2A"
    )
    chip = record.chips.sel(band="red").values
    twl = window(scene_dir(s2_catalog, "TWL", "15") / "B04.tif", 41 - 64, 336, 128, 128)
    twm = window(
        scene_dir(s2_catalog, "TWM", "15") / "B04.tif",
        41 - 64 + TWL_TO_TWM_ROWS,
        336,
        128,
        128,
    )
    expected = np.where(np.isnan(twl), twm, twl) * 1e-4
    assert np.isnan(twl[:23]).all() and np.isfinite(twm[:23]).all()
    np.testing.assert_array_equal(chip, expected.astype("float32"))
    assert float(record.valid_fraction) == 1.0


def test_edge_of_valid_data_is_filled_from_the_neighbouring_tile(tmp_path, s2_catalog):
    """On 2023-08-13 TWL has no data at its east edge; TWM fills what it has."""
    ds = run_chips(
        tmp_path, s2_catalog, [point("swath", 68, 898, "2023-08-14")], size=32
    )
    chip = ds.chips.sel(point="swath", band="red").values
    twl = window(scene_dir(s2_catalog, "TWL", "13") / "B04.tif", 52, 882, 32, 32)
    twm = window(
        scene_dir(s2_catalog, "TWM", "13") / "B04.tif",
        52 + TWL_TO_TWM_ROWS,
        882,
        32,
        32,
    )
    expected = np.where(np.isnan(twl), twm, twl) * 1e-4
    filled = np.isnan(twl) & np.isfinite(twm)
    assert filled.sum() > 50  # the neighbour really contributed
    np.testing.assert_array_equal(chip, expected.astype("float32"))
    nir_l = window(scene_dir(s2_catalog, "TWL", "13") / "B08.tif", 52, 882, 32, 32)
    nir_m = window(
        scene_dir(s2_catalog, "TWM", "13") / "B08.tif",
        52 + TWL_TO_TWM_ROWS,
        882,
        32,
        32,
    )
    nir = np.where(np.isnan(nir_l), nir_m, nir_l)
    assert float(ds.valid_fraction.sel(point="swath")) == pytest.approx(
        (np.isfinite(expected) & np.isfinite(nir)).mean()
    )


def clear_share(s2_catalog: Path, day: str, row0: int, col0: int) -> float:
    scl = window(scene_dir(s2_catalog, "TWL", day) / "SCL.tif", row0, col0, 32, 32)
    return float(np.isin(scl, (4, 5, 6)).mean())


def test_least_cloudy_is_judged_on_the_chip_not_the_scene(tmp_path, s2_catalog) -> None:
    """08-18 (45.7 % cloudy scene) is clearer over this chip than 08-20 (8.1 %)."""
    clear18 = clear_share(s2_catalog, "18", 784, 64)
    clear20 = clear_share(s2_catalog, "20", 784, 64)
    assert clear18 > clear20 + 0.3  # the premise, counted here with numpy
    rows = [point("chip-clear-scene-cloudy", 800, 80, "2023-08-21")]
    ds = run_chips(tmp_path, s2_catalog, rows, window={"before": "4d"})
    record = ds.sel(point="chip-clear-scene-cloudy")
    assert str(record.scenes.values) == "S2A_33TWL_20230818_0_L2A"
    assert float(record.clear_fraction) == pytest.approx(clear18)
    assert int(record.candidates) == 2
    expected = window(scene_dir(s2_catalog, "TWL", "18") / "B04.tif", 784, 64, 32, 32)
    np.testing.assert_array_equal(
        record.chips.sel(band="red").values, (expected * 1e-4).astype("float32")
    )


def test_least_cloudy_takes_the_clear_date_over_the_cloudy_one(tmp_path, s2_catalog):
    """From 08-11, 08-10 (cloudy here) is nearest; least-cloudy takes a clear date."""
    clear = {day: clear_share(s2_catalog, day, 384, 384) for day in ("10", "13", "15")}
    assert clear["10"] < 0.5 and clear["13"] == clear["15"] == 1.0  # the premise
    rows = [point("inside", 400, 400, "2023-08-11")]
    window_ = {"before": "2d", "after": "5d"}  # 08-10, 08-13 and 08-15
    ds = run_chips(tmp_path / "a", s2_catalog, rows, window=window_)
    # 08-13 and 08-15 are equally clear over the chip: the nearer in time wins.
    assert str(ds.scenes.values[0]) == "S2B_33TWL_20230813_0_L2A"
    assert float(ds.clear_fraction.values[0]) == 1.0
    assert int(ds.candidates.values[0]) == 3
    ds = run_chips(tmp_path / "b", s2_catalog, rows, window=window_, pick="nearest")
    assert str(ds.scenes.values[0]) == "S2B_33TWL_20230810_0_L2A"
    assert str(ds.pick.values[0]) == "nearest"
    assert float(ds.clear_fraction.values[0]) == pytest.approx(clear["10"])


def test_median_composite_of_clear_pixels(tmp_path, s2_catalog) -> None:
    """The median of each pixel over the clear observations of four passes."""
    rows = [point("inside", 400, 400, "2023-08-21")]
    ds = run_chips(tmp_path, s2_catalog, rows, window={"before": "9d"}, pick="median")
    stack = []
    for day in ("13", "15", "18", "20"):
        folder = scene_dir(s2_catalog, "TWL", day)
        red = window(folder / "B04.tif", 384, 384, 32, 32)
        scl = window(folder / "SCL.tif", 384, 384, 32, 32)
        stack.append(np.where(np.isin(scl, (4, 5, 6)), red * 1e-4, np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-cloudy pixels
        expected = np.nanmedian(np.stack(stack), axis=0)
    np.testing.assert_allclose(
        ds.chips.sel(point="inside", band="red").values, expected, rtol=1e-6
    )
    record = ds.sel(point="inside")
    assert str(record.pick.values) == "median"
    assert str(record.acquired_first.values)[:10] == "2023-08-13"
    assert str(record.acquired_last.values)[:10] == "2023-08-20"


def test_missing_band_file_is_a_clear_error(tmp_path, s2_catalog) -> None:
    """blue's href dangles in these items: the error names the asset and file."""
    with pytest.raises(ReadError, match=r"asset 'blue' of scene .*B02\.tif"):
        run_chips(
            tmp_path,
            s2_catalog,
            [point("inside", 400, 400, "2023-08-16")],
            bands=["red", "nir", "blue"],
        )
    assert not (tmp_path / "chips.zarr").exists()
    assert [p.name for p in tmp_path.iterdir()] == [
        "points.csv"
    ]  # nothing half-written


def test_cli_writes_a_store(tmp_path, s2_catalog) -> None:
    """`geofeat chips` (the installed console script) writes the store."""
    pd.DataFrame([point("inside", 400, 400, "2023-08-16")]).to_csv(
        tmp_path / "points.csv", index=False
    )
    (tmp_path / "spec.yaml").write_text(
        f"""points: points.csv
output: out.zarr
catalogs: {{s2: {{url: {s2_catalog}}}}}
chips:
  catalog: s2
  collection: sentinel-2-l2a
  bands: [red, nir]
  size: 8
  window: {{before: 2d}}
"""
    )
    exe = Path(sys.executable).with_name("geofeat")
    done = subprocess.run(
        [str(exe), "chips", str(tmp_path / "spec.yaml"), "--cluster", "synchronous"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    ds = xr.open_zarr(tmp_path / "out.zarr")
    assert ds.chips.shape == (1, 2, 8, 8)
    expected = window(scene_dir(s2_catalog, "TWL", "15") / "B08.tif", 396, 396, 8, 8)
    np.testing.assert_array_equal(
        ds.chips.sel(point="inside", band="nir").values,
        (expected * 1e-4).astype("float32"),
    )


def test_two_least_cloudy_dates_on_a_time_axis(tmp_path, s2_catalog) -> None:
    """dates: 2 keeps the two clearest passes over the chip, in time order."""
    days = ("13", "15", "18", "20")
    clear = {day: clear_share(s2_catalog, day, 784, 64) for day in days}
    best = sorted(days, key=lambda d: (-clear[d], abs(int(d) - 21)))[:2]
    rows = [point("p", 800, 80, "2023-08-21")]
    ds = run_chips(
        tmp_path, s2_catalog, rows, window={"before": "9d"}, dates=2, resolution=120
    )
    assert ds.chips.dims == ("point", "time", "band", "y", "x")
    scenes = [str(s) for s in ds.scenes.values[0]]
    assert scenes == [
        f"{'S2A' if d in ('15', '18') else 'S2B'}_33TWL_202308{d}_0_L2A"
        for d in sorted(best)
    ]
    np.testing.assert_allclose(
        ds.clear_fraction.values[0], [clear[d] for d in sorted(best)]
    )
    for t, day in enumerate(sorted(best)):
        expected = window(
            scene_dir(s2_catalog, "TWL", day) / "B08.tif", 784, 64, 32, 32
        )
        np.testing.assert_array_equal(
            ds.chips.values[0, t, 1], (expected * 1e-4).astype("float32")
        )
    # 120 m is the files' own resolution: read as windows, nothing resampled.
    assert str(ds.read.values[0]) == "window"
