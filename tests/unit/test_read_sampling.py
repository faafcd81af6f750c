"""Sampling rules at points: nearest (with its edge rule), bilinear, buffer.

Small GeoTIFFs with chosen pixels on a 10 m UTM grid; expected values are worked
out by hand in each test from the pixel layout drawn in its docstring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.transform import Affine

from geofeat.errors import ReadError
from geofeat.read import ReadStats, read_taps, sample
from geofeat.sampling import combine
from geofeat.scene import Asset
from geofeat.synthetic import write_raster

CRS = "EPSG:32633"
X0, Y0 = 500000.0, 5000000.0
TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def lonlat(x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = TO_LONLAT.transform(x, y)
    return np.array([lon]), np.array([lat])


@pytest.fixture()
def grid(tmp_path: Path) -> Asset:
    """A 4 x 4 grid of 10 m pixels, value 10 * row + col + 1, nodata 0 at (1, 2).

    ::

        1   2   3   4
        11  12  0   14
        21  22  23  24
        31  32  33  34
    """
    data = (10 * np.arange(4)[:, None] + np.arange(4)[None, :] + 1).astype("uint16")
    data[1, 2] = 0
    path = tmp_path / "grid.tif"
    write_raster(path, data, Affine(10, 0, X0, 0, -10, Y0), CRS, nodata=0)
    return Asset(key="red", href=str(path))


def value_at(
    asset: Asset,
    x: float,
    y: float,
    sampling: str = "nearest",
    radius: float | None = None,
    statistic: str = "mean",
) -> float:
    read = read_taps(
        asset, *lonlat(x, y), ReadStats(), sampling=sampling, radius=radius
    )
    value, _, _ = combine(read.taps, read.values, np.isfinite(read.values), statistic)
    return float(value[0])


def test_nearest_inside_a_pixel(grid: Asset) -> None:
    """A point inside pixel (2, 1) takes its value, 22."""
    assert value_at(grid, X0 + 15, Y0 - 25) == 22


def test_nearest_on_an_edge_takes_the_east_pixel(grid: Asset) -> None:
    """On the edge between (2, 0) = 21 and (2, 1) = 22 the east pixel wins."""
    assert value_at(grid, X0 + 10, Y0 - 25) == 22


def test_nearest_on_a_horizontal_edge_takes_the_south_pixel(grid: Asset) -> None:
    """On the edge between (2, 1) = 22 and (3, 1) = 32 the south pixel wins."""
    assert value_at(grid, X0 + 15, Y0 - 30) == 32


def test_nearest_on_an_edge_falls_back_to_the_valid_neighbour(grid: Asset) -> None:
    """East of the edge is nodata (1, 2); the valid west pixel (1, 1) = 12 touches."""
    assert value_at(grid, X0 + 20, Y0 - 15) == 12
    # The public `sample` follows the same rule.
    assert sample(grid, *lonlat(X0 + 20, Y0 - 15), ReadStats())[0] == 12


def test_nearest_on_a_corner_falls_back_in_order(grid: Asset) -> None:
    """Corner of (1,2)=nodata [owner], (1,1)=12 [west], (0,2)=3, (0,1)=2: west wins."""
    assert value_at(grid, X0 + 20, Y0 - 10) == 12


def test_nearest_inside_nodata_is_missing(grid: Asset) -> None:
    """Strictly inside the nodata pixel no other pixel touches the point."""
    assert np.isnan(value_at(grid, X0 + 25, Y0 - 15))


def test_nearest_outside_the_raster_is_missing(grid: Asset) -> None:
    assert np.isnan(value_at(grid, X0 - 5, Y0 - 15))


def test_bilinear_weights(grid: Asset) -> None:
    """Point 2.5 m east and 2.5 m south of the centre of (2, 0) = 21.

    Weights: (2,0) 0.75*0.75, (2,1) 0.25*0.75, (3,0) 0.75*0.25, (3,1) 0.25*0.25.
    """
    expected = 21 * 0.5625 + 22 * 0.1875 + 31 * 0.1875 + 32 * 0.0625
    assert value_at(grid, X0 + 7.5, Y0 - 27.5, "bilinear") == pytest.approx(expected)


def test_bilinear_renormalises_over_valid_pixels(grid: Asset) -> None:
    """Around nodata (1, 2): the three valid neighbours' weights are renormalised.

    Point at x = 22.5, y = -17.5: centres of (1,1)=12 and (1,2)=0 at x 15, 25,
    rows 1 and 2 at y -15, -25. Weights: (1,1) .25*.75, (1,2) .75*.75 [nodata],
    (2,1) .25*.25, (2,2) .75*.25.
    """
    w = {12: 0.25 * 0.75, 22: 0.25 * 0.25, 23: 0.75 * 0.25}
    expected = sum(v * wt for v, wt in w.items()) / sum(w.values())
    assert value_at(grid, X0 + 22.5, Y0 - 17.5, "bilinear") == pytest.approx(expected)


def test_bilinear_at_a_pixel_centre_is_that_pixel(grid: Asset) -> None:
    assert value_at(grid, X0 + 35, Y0 - 35, "bilinear") == pytest.approx(34)


def test_bilinear_on_an_edge_takes_the_valid_side(grid: Asset) -> None:
    """Edge between nodata (1,2) and (1,3)=14, on the row centre: 14 alone."""
    assert value_at(grid, X0 + 30, Y0 - 15, "bilinear") == pytest.approx(14)


def test_buffer_mean_and_median(grid: Asset) -> None:
    """Radius 10 m around the centre of (2, 2) = 23: the centre and its 4 neighbours.

    Neighbours: (1,2) nodata, (3,2)=33, (2,1)=22, (2,3)=24; diagonals are 14.1 m off.
    """
    valid = [23, 33, 22, 24]
    x, y = X0 + 25, Y0 - 25
    assert value_at(grid, x, y, "buffer", radius=10.0) == pytest.approx(np.mean(valid))
    assert value_at(
        grid, x, y, "buffer", radius=10.0, statistic="median"
    ) == pytest.approx(np.median(valid))


def test_buffer_smaller_than_a_pixel_is_nearest(grid: Asset) -> None:
    """Radius 1 m, 4 m from the nearest centre: the nearest rule, pixel 22."""
    assert value_at(grid, X0 + 11, Y0 - 21, "buffer", radius=1.0) == 22


def test_buffer_needs_a_projected_grid(tmp_path: Path) -> None:
    path = tmp_path / "geo.tif"
    data = np.ones((4, 4), "uint16")
    write_raster(path, data, Affine(0.01, 0, 15, 0, -0.01, 46), "EPSG:4326")
    with pytest.raises(ReadError, match="buffer sampling needs a radius in metres"):
        read_taps(
            Asset(key="x", href=str(path)),
            np.array([15.015]),
            np.array([45.985]),
            ReadStats(),
            sampling="buffer",
            radius=30.0,
        )


def test_each_block_is_read_once(tmp_path: Path) -> None:
    """Points in two of four 256 x 256 blocks: two windows, values exact."""
    data = (np.arange(512 * 512) % 60000 + 1).astype("uint16").reshape(512, 512)
    path = tmp_path / "big.tif"
    write_raster(path, data, Affine(10, 0, X0, 0, -10, Y0), CRS)
    cells = [(3, 4), (100, 200), (300, 400)]
    xs = [X0 + 10 * c + 5 for _, c in cells]
    ys = [Y0 - 10 * r - 5 for r, _ in cells]
    lon, lat = TO_LONLAT.transform(xs, ys)
    stats = ReadStats()
    got = sample(Asset(key="b", href=str(path)), np.array(lon), np.array(lat), stats)
    assert list(got) == [data[r, c] for r, c in cells]
    assert stats.windows == 2
