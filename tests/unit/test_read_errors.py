"""Read errors say whether trying again can help."""

from __future__ import annotations

import numpy as np
import pytest

from geofeat.errors import ReadError
from geofeat.read import ReadStats, sample
from geofeat.scene import Asset


def _sample(href: str) -> None:
    sample(Asset(key="red", href=href), np.array([15.0]), np.array([45.0]), ReadStats())


def test_missing_local_file_is_final(tmp_path):
    with pytest.raises(ReadError, match="red") as err:
        _sample(str(tmp_path / "B04.tif"))
    assert err.value.retry is False


def test_unreadable_existing_file_may_be_retried(tmp_path):
    path = tmp_path / "B04.tif"
    path.write_text("not a raster")
    with pytest.raises(ReadError) as err:
        _sample(str(path))
    assert err.value.retry is True


def test_overview_is_read_once_per_process(tmp_path):
    """Every partition checks the same scenes: the second look reads nothing."""
    from rasterio.transform import Affine

    from geofeat.read import overview
    from geofeat.synthetic import write_raster

    data = np.arange(64 * 64, dtype="uint16").reshape(64, 64) + 1
    path = tmp_path / "red.tif"
    write_raster(path, data, Affine(10, 0, 500000, 0, -10, 5000000), "EPSG:32633")
    asset = Asset(key="red", href=str(path))
    first, second = ReadStats(), ReadStats()
    a = overview(asset, 16, first)
    b = overview(asset, 16, second)
    assert (first.windows, second.windows) == (1, 0)
    # Nearest decimation by 4 takes the source pixel under each output centre.
    np.testing.assert_array_equal(a, data[2::4, 2::4])
    assert b is a and not b.flags.writeable
