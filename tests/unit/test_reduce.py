"""Same-pass fusion and the temporal reducers, on observation tables built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geofeat.reduce import empty_observations, fuse_passes, reduce_observations

T = pd.Timestamp


def obs(*rows: tuple) -> pd.DataFrame:
    """Rows of (row, time, pass_key, rank, scene, tile, value, valid)."""
    frame = pd.DataFrame(
        rows,
        columns=["row", "time", "pass_key", "rank", "scene", "tile", "value", "valid"],
    )
    frame["time"] = pd.to_datetime(frame["time"])
    frame["crs"] = np.where(
        frame["tile"].str.startswith("34"), "EPSG:32634", "EPSG:32633"
    )
    frame["baseline"] = "05.09"
    frame["radiometry"] = "x0.0001 +0"
    return frame


# Point 0: pass A seen on two tiles (TWL invalid, TWM valid) and republished
# (rank 0 = newest baseline); pass B valid; pass C invalid. Point 1: nothing valid.
OBS = obs(
    (0, "2023-08-10 10:00", "A", 2, "A_TWL", "33TWL", np.nan, False),
    (0, "2023-08-10 10:00", "A", 1, "A_TWM", "33TWM", 0.50, True),
    (0, "2023-08-10 10:00", "A", 0, "A_TWM_reprocessed", "33TWM", 0.52, True),
    (0, "2023-08-13 10:00", "B", 3, "B_TWL", "33TWL", 0.70, True),
    (0, "2023-08-15 10:00", "C", 4, "C_TWL", "33TWL", 0.10, False),
    (1, "2023-08-13 10:00", "B", 3, "B_TWL", "33TWL", 0.30, False),
)


def test_fusion_keeps_one_observation_per_pass() -> None:
    """Pass A: the valid observation of lowest rank (the reprocessed one)."""
    fused = fuse_passes(OBS)
    assert len(fused) == 4
    a = fused[(fused.row == 0) & (fused.pass_key == "A")].iloc[0]
    assert a.scene == "A_TWM_reprocessed" and a.value == 0.52


def test_fusion_prefers_valid_over_rank() -> None:
    """A valid observation beats an invalid one of lower rank."""
    frame = obs(
        (0, "2023-08-10", "A", 0, "first", "33TWL", np.nan, False),
        (0, "2023-08-10", "A", 1, "second", "33TWM", 0.4, True),
    )
    assert fuse_passes(frame)["scene"].tolist() == ["second"]


@pytest.mark.parametrize(
    "reducer, expected",
    [
        ("median", 0.61),
        ("mean", 0.61),
        ("min", 0.52),
        ("max", 0.70),
        ("count", 2.0),
        ("first", 0.52),
        ("last", 0.70),
    ],
)
def test_reducers(reducer: str, expected: float) -> None:
    """Point 0 has two valid passes (0.52, 0.70) of three; point 1 none of one."""
    out = reduce_observations(OBS, 3, reducer, "ndvi")
    assert out["ndvi"][0] == pytest.approx(expected)
    assert out["ndvi_n"].tolist() == [2, 0, 0]
    assert out["ndvi_total"].tolist() == [3, 1, 0]
    if reducer == "count":
        assert out["ndvi"].tolist()[1:] == [0.0, 0.0]
    else:
        assert np.isnan(out["ndvi"][1]) and np.isnan(out["ndvi"][2])


def test_first_and_last_give_the_date_used() -> None:
    first = reduce_observations(OBS, 2, "first", "ndvi")
    last = reduce_observations(OBS, 2, "last", "ndvi")
    assert first["ndvi_date"][0] == T("2023-08-10 10:00")
    assert last["ndvi_date"][0] == T("2023-08-13 10:00")
    assert pd.isna(last["ndvi_date"][1])
    assert (first["ndvi_tile"][0], last["ndvi_tile"][0]) == ("33TWM", "33TWL")


def test_tile_crs_and_provenance_columns() -> None:
    out = reduce_observations(OBS, 2, "median", "ndvi", provenance=True)
    assert out["ndvi_tile"][0] == "33TWM;33TWL"
    assert out["ndvi_crs"][0] == "EPSG:32633"
    assert out["ndvi_items"][0] == "A_TWM_reprocessed;B_TWL"
    assert out["ndvi_baseline"][0] == "05.09"
    assert out["ndvi_radiometry"][0] == "x0.0001 +0"
    assert pd.isna(out["ndvi_items"][1])


def test_no_observations() -> None:
    out = reduce_observations(empty_observations(), 2, "median", "ndvi")
    assert out["ndvi_n"].tolist() == [0, 0] and out["ndvi"].isna().all()
