"""Planning of rainfall features: each pixel-day read once, only the days needed."""

from __future__ import annotations

from collections import Counter

import dask
import numpy as np
import pandas as pd
import pytest

import geofeat.features.rainfall as rainfall
from geofeat.errors import ConfigError
from geofeat.points import Points
from geofeat.sources.precipitation import Grid, SourceInfo, to_days
from geofeat.spec import RainfallFeature, load_spec

FIRST = int(to_days(np.datetime64("1990-01-01")))
END = int(to_days(np.datetime64("2000-01-01")))


def _value(pixel: np.ndarray, day: np.ndarray) -> np.ndarray:
    """A known daily amount per pixel and day (mm)."""
    return (pixel[:, None] % 7) + (day[None, :] % 11) * 0.5


class CountingSource:
    """A 100 x 100 one-degree grid over ten years that records every pixel-day read."""

    def __init__(self) -> None:
        self.reads: Counter = Counter()
        self.calls = 0

    def describe(self, bbox=None, start=None, end=None) -> SourceInfo:
        centres = np.arange(100) + 0.5
        return SourceInfo(Grid(centres, centres[::-1]), FIRST, END, (32, 32))

    def read(self, rows, cols, start, end, stats) -> np.ndarray:
        self.calls += 1
        pixel = rows * 100 + cols
        days = np.arange(start, end)
        for p in pixel:
            self.reads.update((int(p), int(d)) for d in days)
        return _value(pixel, days)


@pytest.fixture
def source(monkeypatch) -> CountingSource:
    fake = CountingSource()
    monkeypatch.setattr(rainfall, "open_source", lambda spec, resolve: fake)
    return fake


def _feature(**windows) -> RainfallFeature:
    return RainfallFeature.model_validate(
        {
            "name": "rain",
            "source": {"kind": "cube", "url": "unused.zarr"},
            "windows": {"size": "30d", "count": 4, **windows},
        }
    )


def test_each_pixel_day_read_once_and_only_needed(source: CountingSource) -> None:
    """20,000 points on 50 pixels over ten years: no pixel-day read twice, and
    the days read are those the windows need plus short gaps between them."""
    rng = np.random.default_rng(7)
    n = 20_000
    pixel = rng.integers(0, 50, n) * 173 % 10_000  # 50 pixels spread over tiles
    lon, lat = pixel % 100 + 0.5, 99.5 - pixel // 100
    # Dates cluster in a few seasons, as event tables do.
    season = rng.choice(np.arange(FIRST + 400, END, 700), n)
    day = season + rng.integers(0, 60, n)
    points = Points(
        pd.DataFrame({"id": np.arange(n)}),
        np.arange(n),
        lon.astype(float),
        lat.astype(float),
        pd.DatetimeIndex(day.astype("datetime64[D]")),
    )
    plan = rainfall.plan_rainfall_feature(_feature(), points)
    table, _ = dask.compute(plan.result, scheduler="synchronous")[0]

    assert max(source.reads.values()) == 1
    needed = set()
    for p in np.unique(pixel):
        for d in np.unique(day[pixel == p]):
            needed.update((int(p), int(x)) for x in range(d - 120, d))
    assert needed <= set(source.reads)
    # Seasons are 700 days apart: nothing between them is read.
    assert len(source.reads) < 1.1 * len(needed) < 0.3 * 50 * (END - FIRST)

    # Values: a few points checked against the known series directly.
    for i in rng.choice(n, 20, replace=False):
        days = np.arange(day[i] - 30, day[i])
        want = _value(np.array([pixel[i]]), days).sum()
        assert table.loc[i, "rain_t0"] == pytest.approx(want)


def test_include_date_moves_windows(source: CountingSource) -> None:
    """With include_date, t0 is (date - 30d, date]: the date's own day counts."""
    points = Points(
        pd.DataFrame({"id": [0]}),
        np.array([0]),
        np.array([10.5]),
        np.array([89.5]),
        pd.DatetimeIndex(["1995-06-01"]),
    )
    day = int(to_days(np.datetime64("1995-06-01")))
    plan = rainfall.plan_rainfall_feature(_feature(include_date=True), points)
    table, _ = dask.compute(plan.result, scheduler="synchronous")[0]
    # lon 10.5, lat 89.5: row 10 (centres run north to south), column 10.
    want = _value(np.array([10 * 100 + 10]), np.arange(day - 29, day + 1)).sum()
    assert table.loc[0, "rain_t0"] == pytest.approx(want)


def test_spec_routes_and_validates(tmp_path) -> None:
    """A YAML entry with source/windows is a rainfall feature; bad ones name the fix."""
    spec = {
        "points": "p.csv",
        "output": "o.parquet",
        "features": [
            {
                "name": "rain",
                "source": "chirps-daily",
                "windows": {"size": "30d", "count": 4},
            }
        ],
    }
    feature = load_spec(spec).features[0]
    assert isinstance(feature, RainfallFeature)
    assert feature.source.kind == "daily-rasters" and feature.source.units == "mm"
    assert feature.windows.size == pd.Timedelta(days=30)
    bad = {**spec, "features": [{**spec["features"][0], "source": "chirps-weekly"}]}
    with pytest.raises(ConfigError, match="unknown precipitation preset"):
        load_spec(bad)
    bad = {**spec, "features": [{**spec["features"][0], "source": {"kind": "cube"}}]}
    with pytest.raises(ConfigError, match="'kind' and 'url'"):
        load_spec(bad)
    bad = {**spec, "features": [{**spec["features"][0], "windows": {"size": "0d"}}]}
    with pytest.raises(ConfigError, match="at least one day"):
        load_spec(bad)


def test_failed_reads_become_records(source: CountingSource, monkeypatch) -> None:
    """A tile whose reads keep failing: its points get NaN and a reason, after
    three attempts; points of other tiles are unaffected."""
    from geofeat.errors import ReadError
    from geofeat.features.base import FAILURE_COLUMN

    attempts = Counter()
    good_read = source.read

    def flaky(rows, cols, start, end, stats):
        if rows.min() < 32 and cols.min() < 32:  # the first tile
            attempts[(int(rows.min()), int(cols.min()))] += 1
            raise ReadError("HTTP 503 from the test")
        return good_read(rows, cols, start, end, stats)

    monkeypatch.setattr(source, "read", flaky)
    monkeypatch.setattr(rainfall, "RETRY_DELAY", 0.0)
    points = Points(
        pd.DataFrame({"id": [0, 1]}),
        np.array([0, 1]),
        np.array([5.5, 60.5]),
        np.array([95.5, 20.5]),
        pd.DatetimeIndex(["1995-06-01", "1995-06-01"]),
    )
    plan = rainfall.plan_rainfall_feature(_feature(), points)
    table, _ = dask.compute(plan.result, scheduler="synchronous")[0]
    assert list(attempts.values()) == [3]
    assert np.isnan(table.loc[0, "rain_t0"]) and table.loc[0, "rain_t0_coverage"] == 0
    assert "503" in table.loc[0, FAILURE_COLUMN]
    assert table.loc[1, "rain_t0"] > 0 and table.loc[1, FAILURE_COLUMN] is None
