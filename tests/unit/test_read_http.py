"""Reads over HTTP range requests from the local range server (127.0.0.1)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from rasterio.transform import Affine

from geofeat.read import ReadStats, sample
from geofeat.scene import Asset
from geofeat.synthetic import write_raster
from geofeat.testing.range_server import RangeServer

X0, Y0 = 500000.0, 5000000.0


@pytest.fixture()
def served(tmp_path: Path):
    data = (np.arange(1024 * 1024) % 50000 + 1).astype("uint16").reshape(1024, 1024)
    write_raster(
        tmp_path / "band.tif", data, Affine(10, 0, X0, 0, -10, Y0), "EPSG:32633"
    )
    with RangeServer(tmp_path, aliases=True) as server:
        yield server, data, (tmp_path / "band.tif").stat().st_size


def test_range_requests_are_answered_and_counted(served) -> None:
    server, _, size = served
    request = urllib.request.Request(
        f"{server.url}/band.tif", headers={"Range": "bytes=10-19"}
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.status == 206
        assert answer.headers["Content-Range"] == f"bytes 10-19/{size}"
        assert len(answer.read()) == 10
    assert (server.bytes_served, server.requests) == (10, 1)


def test_point_reads_fetch_a_block_not_the_file(served) -> None:
    """Two points in one 256 x 256 block of a 1024 x 1024 file, read through an alias
    URL: values as in the array, and far fewer bytes than the file holds."""
    server, data, size = served
    cells = [(10, 20), (200, 100)]
    xs = [X0 + 10 * c + 5 for _, c in cells]
    ys = [Y0 - 10 * r - 5 for r, _ in cells]
    lon, lat = Transformer.from_crs(
        "EPSG:32633", "EPSG:4326", always_xy=True
    ).transform(xs, ys)
    server.reset()
    got = sample(
        Asset(key="b", href=f"{server.url}/scene-1/band.tif"),
        np.array(lon),
        np.array(lat),
        ReadStats(),
    )
    assert list(got) == [data[r, c] for r, c in cells]
    assert 0 < server.bytes_served < size / 4
