"""Chip parts without I/O: spec rules, safe names, stretch, contact sheet, grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS, Transformer

from geofeat.chips.preview import contact_sheet, stretch
from geofeat.chips.spec import load_chip_spec
from geofeat.chips.store import safe_name
from geofeat.chips.window import aligned_grid, margin, native_grid
from geofeat.errors import ConfigError

UTM = CRS.from_epsg(32633)
TO_LONLAT = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def spec(**chips) -> dict:
    return {
        "points": "p.csv",
        "output": "c.zarr",
        "catalogs": {"s2": {"url": "catalog.json"}},
        "chips": {
            "catalog": "s2",
            "collection": "sentinel-2-l2a",
            "bands": ["red"],
            "size": 16,
            "window": {"before": "10d"},
            **chips,
        },
    }


def test_size_is_a_square_or_height_and_width() -> None:
    assert load_chip_spec(spec()).chips.size == (16, 16)
    assert load_chip_spec(spec(size=[275, 750])).chips.size == (275, 750)


@pytest.mark.parametrize(
    ("chips", "message"),
    [
        ({"crs": "EPSG:3035"}, "needs a 'resolution'"),
        ({"pick": "median", "dates": 2}, "one composite per point"),
        ({"size": 0}, "must be positive"),
        ({"pick": "cloudless"}, "least-cloudy"),
        ({"catalog": "nowhere"}, "neither in 'catalogs'"),
        ({"bands": ["red", "red"]}, "bands repeated"),
    ],
)
def test_bad_specs_name_the_fault(chips: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_chip_spec(spec(**chips))


def test_paths_are_relative_to_the_spec_file(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "points: p.csv\noutput: out/c.zarr\ncatalogs: {s2: {url: x.json}}\n"
        "chips: {catalog: s2, collection: sentinel-2-l2a, bands: [red], size: 8,"
        " window: {before: 5d}}\n"
    )
    job = load_chip_spec(tmp_path / "s.yaml")
    assert job.resolve(job.output) == str(tmp_path / "out" / "c.zarr")


@pytest.mark.parametrize(
    "text", ["../x", "../../etc/passwd", "/abs", "a/b", ".hidden", ""]
)
def test_safe_names_never_leave_their_folder(tmp_path: Path, text: str) -> None:
    name = safe_name(text)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert name and (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_safe_names_stay_distinct_and_plain_ids_unchanged() -> None:
    assert safe_name("field-7") == "field-7"
    assert safe_name(12) == "12"
    assert safe_name("a/b") != safe_name("a_b")
    assert safe_name("../x") != safe_name("x")
    assert safe_name("../x").startswith("x-") and not safe_name("__zarr").startswith(
        "_"
    )


def test_stretch_maps_2nd_and_98th_percentiles() -> None:
    band = np.arange(100, dtype="float64").reshape(10, 10)
    band[0, 0] = np.nan
    out = stretch(band)
    low, high = np.percentile(np.arange(1, 100), [2, 98])
    assert out[5, 0] == round((50 - low) / (high - low) * 255)
    assert out[0, 1] == 0 and out[9, 9] == 255 and out[0, 0] == 0  # NaN is black


def test_contact_sheet_tiles_images_with_gaps() -> None:
    images = [np.full((4, 6, 3), i, "uint8") for i in range(5)]
    sheet = contact_sheet(images, gap=2)
    # ceil(sqrt(5)) = 3 columns, 2 rows
    assert sheet.shape == (2 * 4 + 2, 3 * 6 + 2 * 2, 3)
    assert (sheet[0:4, 8:14] == 1).all() and (sheet[6:10, 0:6] == 3).all()
    assert (sheet[4:6] == 255).all()


def test_native_grid_centres_the_point_pixel() -> None:
    transform = Affine(10, 0, 500000, 0, -10, 5100000)
    x, y = 500000 + 10 * 30.25, 5100000 - 10 * 20.75  # pixel row 20, col 30
    lon, lat = TO_LONLAT.transform(x, y)
    grid = native_grid(UTM, transform, lon, lat, (5, 8))
    # Centre pixel is (5 // 2, 8 // 2) = (2, 4): the chip starts at row 18, col 26.
    assert tuple(grid.transform)[:6] == (10, 0, 500000 + 260, 0, -10, 5100000 - 180)
    assert margin(grid, UTM, transform, (64, 64)) == 18
    assert margin(grid, UTM, transform, (22, 64)) == -1  # one row past the bottom


def test_aligned_grid_snaps_to_the_resolution() -> None:
    lon, lat = TO_LONLAT.transform(500033.0, 5099977.0)
    grid = aligned_grid(UTM, 20.0, lon, lat, (4, 4))
    # The point's 20 m pixel starts at x 500020, y top 5099980; two pixels each way.
    assert grid.transform.c == pytest.approx(500020 - 40)
    assert grid.transform.f == pytest.approx(5099980 + 40)
    assert grid.transform.a == 20 and grid.transform.e == -20
