"""Rainfall windows on the real CHIRPS daily grid over Nicaragua (1981-1982).

Expected values are computed here straight from the file with rasterio and the
sidecar's dates, independently of geofeat's reader and kernel.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import rasterio

from geofeat.features.rainfall import plan_rainfall_feature
from geofeat.points import Points
from geofeat.spec import RainfallFeature

pytestmark = pytest.mark.realdata

# (id, row, col, date): land pixels of the 20 x 20 grid, sea (0, 17), and dates
# in the May 1982 flood month, across the 1981/1982 year boundary, and at the
# ends of the record.
CASES = [
    ("may-31", 5, 5, "1982-05-31"),
    ("may-31-same-pixel", 5, 5, "1982-05-15"),
    ("may-20", 10, 8, "1982-05-20"),
    ("june-01", 15, 10, "1982-06-01"),
    ("new-year", 7, 12, "1982-01-15"),
    ("early", 3, 3, "1981-02-10"),
    ("before-record", 3, 3, "1981-01-01"),
    ("after-record", 12, 6, "1983-01-05"),
    ("sea", 0, 17, "1982-05-31"),
]


@pytest.fixture(scope="module")
def chirps(shared_data: Path) -> Path:
    return shared_data / "precipitation" / "chirps_p25_daily_nicaragua_1981-1982.tif"


def _points(path: Path) -> Points:
    with rasterio.open(path) as ds:
        t = ds.transform
    lon = np.array([t.c + t.a * (c + 0.3) for _, _, c, _ in CASES])
    lat = np.array([t.f + t.e * (r + 0.6) for _, r, _, _ in CASES])
    ids = np.array([c[0] for c in CASES])
    day = pd.DatetimeIndex([c[3] for c in CASES])
    return Points(pd.DataFrame({"id": ids}), ids, lon, lat, day)


def _expected(
    path: Path, row: int, col: int, day: str, size: int, count: int, shift: int
):
    """Per window: (sum, days with data) from the raw pixel series."""
    meta = json.loads(Path(str(path) + ".aux.json").read_text())
    dates = [datetime.strptime(s, "%Y-%m-%d %H:%M:%S").date() for s in meta["time"]]
    with rasterio.open(path) as ds:
        series = ds.read(window=((row, row + 1), (col, col + 1)))[:, 0, 0].astype(float)
    by_day = dict(zip(dates, series, strict=True))
    end = date.fromisoformat(day) + timedelta(days=shift)
    out = []
    for k in range(count):
        days = [end - timedelta(days=k * size + i) for i in range(1, size + 1)]
        got = [by_day[d] for d in days if d in by_day and not np.isnan(by_day[d])]
        out.append((sum(got), len(got)))
    return out


def _run(feature: RainfallFeature, points: Points):
    plan = plan_rainfall_feature(feature, points)
    (table, stats) = dask.compute(plan.result, scheduler="synchronous")[0]
    return plan, table, stats


def _feature(path: Path, **extra) -> RainfallFeature:
    return RainfallFeature.model_validate(
        {
            "name": "rain",
            "source": {"kind": "raster", "url": str(path)},
            "windows": {"size": "30d", "count": 4},
            **extra,
        }
    )


def test_sums_match_the_raw_file(chirps: Path) -> None:
    """Four 30-day sums per point equal sums of the raw bands, by date."""
    points = _points(chirps)
    plan, table, _ = _run(_feature(chirps), points)
    for i, (name, row, col, day) in enumerate(CASES):
        for k, (total, n) in enumerate(_expected(chirps, row, col, day, 30, 4, 0)):
            assert table.loc[i, f"rain_t{k}_coverage"] == pytest.approx(n / 30), name
            if n == 30:
                assert table.loc[i, f"rain_t{k}"] == pytest.approx(total, rel=1e-9), (
                    name
                )
            else:
                assert np.isnan(table.loc[i, f"rain_t{k}"]), name
    # May 1982 was a flood month: the window ending on May 31 is far wetter than
    # the dry-season one before it.
    assert table.loc[0, "rain_t0"] > 200 > 4 * table.loc[0, "rain_t1"]
    assert plan.reasons == {
        "windows outside the source's days (1981-01-01..1982-12-31)": 1
    }


def test_sea_and_record_edges_are_nan(chirps: Path) -> None:
    """Sea: NaN, coverage 0; windows before the record: coverage 0; partial: NaN."""
    _, table, _ = _run(_feature(chirps), _points(chirps))
    table.index = [c[0] for c in CASES]
    assert np.isnan(
        table.loc["sea", ["rain_t0", "rain_t1", "rain_t2", "rain_t3"]]
    ).all()
    assert (table.loc["sea", [f"rain_t{k}_coverage" for k in range(4)]] == 0).all()
    assert (
        table.loc["before-record", [f"rain_t{k}_coverage" for k in range(4)]] == 0
    ).all()
    # 1983-01-05: t0 is 1982-12-06..1983-01-04, of which 26 days are in the record.
    assert table.loc["after-record", "rain_t0_coverage"] == pytest.approx(26 / 30)
    assert np.isnan(table.loc["after-record", "rain_t0"])
    assert table.loc["after-record", "rain_t1_coverage"] == 1.0
    # 1981-02-10: t1 starts 1980-12-12, 20 of its 30 days are before the record.
    assert table.loc["early", "rain_t1_coverage"] == pytest.approx(10 / 30)


def test_partial_coverage_and_include_date(chirps: Path) -> None:
    """min_coverage 0.8 keeps the 26-day sum; include_date moves every window a day."""
    points = _points(chirps)
    _, table, _ = _run(_feature(chirps, min_coverage=0.8), points)
    total, n = _expected(chirps, 12, 6, "1983-01-05", 30, 4, 0)[0]
    assert n == 26 and table.loc[7, "rain_t0"] == pytest.approx(total, rel=1e-9)

    feature = _feature(chirps)
    shifted = feature.model_copy(
        update={"windows": feature.windows.model_copy(update={"include_date": True})}
    )
    _, table, _ = _run(shifted, points)
    for k, (total, _) in enumerate(_expected(chirps, 5, 5, "1982-05-31", 30, 4, 1)):
        assert table.loc[0, f"rain_t{k}"] == pytest.approx(total, rel=1e-9)


@pytest.mark.parametrize("reducer", ["mean", "max", "count_wet_days"])
def test_other_reducers(chirps: Path, reducer: str) -> None:
    """mean, max and wet days (>= 10 mm) over the May 1982 window, from the raw file."""
    points = _points(chirps)
    _, table, _ = _run(_feature(chirps, reducer=reducer, wet_day_threshold=10), points)
    with rasterio.open(chirps) as ds:
        series = ds.read(window=((5, 6), (5, 6)))[:, 0, 0].astype(float)
    d = (date(1982, 5, 31) - date(1981, 1, 1)).days
    window = series[d - 30 : d]
    want = {
        "mean": window.mean(),
        "max": window.max(),
        "count_wet_days": float((window >= 10).sum()),
    }[reducer]
    assert table.loc[0, "rain_t0"] == pytest.approx(want, rel=1e-9)


def test_only_needed_days_are_read_once(chirps: Path) -> None:
    """One read per span of days, over only the days the windows need.

    The points share one tile. "early" needs 1981-01-01..02-09 (40 days of the
    record); the others need 1981-09-17 (120 days before 1982-01-15) up to the end
    of the record (471 days), over the rows 0..15 and columns 5..17 they span;
    "before-record" needs no day of the record and is not read at all.
    """
    points = _points(chirps)
    _, _, stats = _run(_feature(chirps), points)
    assert stats.assets == 2 and stats.windows == 2
    assert stats.pixels == 40 * 1 + 471 * 16 * 13
