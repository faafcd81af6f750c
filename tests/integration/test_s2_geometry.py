"""Sentinel-2 geometry end to end on synthetic scenes with hand-set pixels.

Points in two UTM zones in one run, each read in its own tile's CRS; tiles that
overlap and a republished scene counted once per pass; bands on their own
grids (10 m red/NIR, 20 m SCL) with the edge rule and the sampling modes.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pystac
import pytest
from pyproj import Transformer

import geofeat
from geofeat.synthetic import write_catalog, write_scene

DAY1 = datetime(2023, 8, 13, 10, 0)
DAY2 = datetime(2023, 8, 15, 10, 0)


def lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)


def uniform(red: int, nir: int, scl: int = 4, size: int = 32) -> dict[str, np.ndarray]:
    return {
        "red": np.full((size, size), red, "uint16"),
        "nir": np.full((size, size), nir, "uint16"),
        "scl": np.full((size // 2, size // 2), scl, "uint8"),
    }


def run(
    tmp_path: Path, items: list[pystac.Item], points: list[tuple], **feature
) -> pd.DataFrame:
    catalog = write_catalog(tmp_path / "catalog", items)
    ids, lons, lats = zip(*points, strict=True)
    pd.DataFrame({"id": ids, "lon": lons, "lat": lats, "date": "2023-08-16"}).to_csv(
        tmp_path / "points.csv", index=False
    )
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
                "window": {"before": "10d"},
                "radiometry_check": "points",
                **feature,
            }
        ],
    }
    return geofeat.run(spec, write=False).table.set_index("id")


def test_two_utm_zones_in_one_run(tmp_path: Path) -> None:
    """A point in zone 33 and one in zone 34, each read in its tile's own CRS."""
    west = write_scene(
        tmp_path,
        "S2B_33TWL",
        DAY1,
        uniform(1000, 3000),
        (500000, 5100000),
        crs="EPSG:32633",
        tile="33TWL",
    )
    east = write_scene(
        tmp_path,
        "S2B_34TDR",
        DAY1,
        uniform(1000, 4000),
        (500000, 5000000),
        crs="EPSG:32634",
        tile="34TDR",
        datatake_id="GS2B_20230813T100000_999999_N05.09",
    )
    points = [
        ("w", *lonlat("EPSG:32633", 500155, 5099845)),
        ("e", *lonlat("EPSG:32634", 500155, 4999845)),
    ]
    table = run(tmp_path, [west, east], points)
    assert table.loc["w", "ndvi"] == pytest.approx(2000 / 4000)
    assert table.loc["e", "ndvi"] == pytest.approx(3000 / 5000)
    assert table.loc["w", "ndvi_crs"] == "EPSG:32633"
    assert table.loc["e", "ndvi_crs"] == "EPSG:32634"
    assert (table.loc["w", "ndvi_tile"], table.loc["e", "ndvi_tile"]) == (
        "33TWL",
        "34TDR",
    )


def test_overlap_and_duplicates_count_one_observation_per_pass(tmp_path: Path) -> None:
    """Pass 1 on two overlapping tiles (cloudy on TWL, clear on TWM) and republished
    on TWM with a newer baseline; pass 2 on TWL only. Two passes, not four scenes.

    Pass 1 fuses to the newest valid scene: TWM 05.10 (red 1000, NIR 4000, 0.6);
    pass 2 gives 0.5. Median of (0.6, 0.5) = 0.55.
    """
    take1 = "GS2B_20230813T100000_033567"
    items = [
        write_scene(
            tmp_path,
            "TWL_1",
            DAY1,
            uniform(1000, 3000, scl=9),
            (500000, 5100000),
            tile="33TWL",
            datatake_id=f"{take1}_N05.09",
        ),
        write_scene(
            tmp_path,
            "TWM_1",
            DAY1,
            uniform(1000, 2000),
            (500000, 5100000),
            tile="33TWM",
            datatake_id=f"{take1}_N05.09",
        ),
        write_scene(
            tmp_path,
            "TWM_1_reprocessed",
            DAY1,
            uniform(1000, 4000),
            (500000, 5100000),
            tile="33TWM",
            baseline="05.10",
            datatake_id=f"{take1}_N05.10",
        ),
        write_scene(
            tmp_path,
            "TWL_2",
            DAY2,
            uniform(1000, 3000),
            (500000, 5100000),
            tile="33TWL",
        ),
    ]
    point = [("p", *lonlat("EPSG:32633", 500155, 5099845))]
    table = run(tmp_path, items, point, provenance=True)
    assert table.loc["p", "ndvi_n"] == 2
    assert table.loc["p", "ndvi_total"] == 2
    assert table.loc["p", "ndvi"] == pytest.approx(0.55)
    assert table.loc["p", "ndvi_items"] == "TWM_1_reprocessed;TWL_2"
    assert table.loc["p", "ndvi_baseline"] == "05.10;05.09"


@pytest.fixture()
def striped(tmp_path: Path) -> pystac.Item:
    """NIR 3000; red 100 + 50 * col (10 m); SCL cloudy (9) on 20 m column 8,
    which covers 10 m columns 16 and 17, clear (4) elsewhere."""
    bands = uniform(0, 3000)
    bands["red"][:] = 100 + 50 * np.arange(32)[None, :]
    bands["scl"][:, 8] = 9
    return write_scene(tmp_path, "striped", DAY1, bands, (500000, 5100000))


def ndvi_of_col(col: int) -> float:
    red = 100 + 50 * col
    return (3000 - red) / (3000 + red)


@pytest.mark.parametrize("sampling", ["nearest", "bilinear"])
def test_edge_of_a_cloud_takes_the_clear_side(
    tmp_path: Path, striped: pystac.Item, sampling: str
) -> None:
    """On the 10 m edge between column 15 (clear) and 16 (under the 20 m cloud),
    at a row centre: nearest falls back from the cloudy owner to the clear west
    pixel; bilinear's weights (0.5, 0.5) renormalise onto column 15 alone."""
    point = [("p", *lonlat("EPSG:32633", 500160, 5099845))]
    table = run(tmp_path, [striped], point, sampling=sampling)
    assert table.loc["p", "ndvi"] == pytest.approx(ndvi_of_col(15))


def test_inside_the_cloud_is_masked_on_the_scl_grid(tmp_path: Path, striped) -> None:
    """Column 17 is 10 m wide but its SCL pixel (20 m, column 8) is cloudy."""
    point = [("p", *lonlat("EPSG:32633", 500175, 5099845))]
    table = run(tmp_path, [striped], point)
    assert np.isnan(table.loc["p", "ndvi"]) and table.loc["p", "ndvi_total"] == 1


@pytest.mark.parametrize("statistic", ["mean", "median"])
def test_buffer_of_valid_pixels(tmp_path: Path, striped, statistic: str) -> None:
    """Radius 20 m at the centre of column 14, row 5: the 13 pixel centres with
    dc^2 + dr^2 <= 4 minus the cloudy one (dc = +2); NDVI per pixel, reduced."""
    offsets = [
        (dc, dr) for dc in range(-2, 3) for dr in range(-2, 3) if dc * dc + dr * dr <= 4
    ]
    values = [ndvi_of_col(14 + dc) for dc, _ in offsets if 14 + dc not in (16, 17)]
    assert len(values) == 12
    point = [("p", *lonlat("EPSG:32633", 500145, 5099945))]
    table = run(
        tmp_path,
        [striped],
        point,
        sampling="buffer",
        buffer=20,
        buffer_statistic=statistic,
    )
    expected = np.mean(values) if statistic == "mean" else np.median(values)
    assert table.loc["p", "ndvi"] == pytest.approx(expected)


@pytest.mark.parametrize("sampling", ["nearest", "bilinear"])
def test_a_20_m_band_is_sampled_on_its_own_grid(tmp_path: Path, sampling: str) -> None:
    """NDMI from NIR (10 m, 3000) and SWIR 1.6 (20 m, 1000 + 10 * col20).

    Point on the 10 m edge between columns 15 and 16, at a row centre: nearest
    takes column 16, under 20 m column 8 (SWIR 1080); bilinear takes columns 15
    and 16 at weight 0.5 each, under 20 m columns 7 and 8 (SWIR 1070, 1080).
    """
    bands = uniform(300, 3000)
    bands["swir16"] = (1000 + 10 * np.arange(16)[None, :].repeat(16, 0)).astype(
        "uint16"
    )
    item = write_scene(tmp_path, "swir", DAY1, bands, (500000, 5100000))
    point = [("p", *lonlat("EPSG:32633", 500160, 5099845))]
    table = run(tmp_path, [item], point, name="ndmi", index="ndmi", sampling=sampling)

    def ndmi(swir: int) -> float:
        return (3000 - swir) / (3000 + swir)

    expected = ndmi(1080) if sampling == "nearest" else (ndmi(1070) + ndmi(1080)) / 2
    assert table.loc["p", "ndmi"] == pytest.approx(expected)
