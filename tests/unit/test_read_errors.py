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
