"""Precipitation sources: units, UTC days, sub-daily sums, clipping, cubes."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geofeat.errors import ConfigError
from geofeat.features.rainfall import plan_rainfall_feature
from geofeat.points import Points
from geofeat.sources.precipitation import (
    CubeSource,
    clip_negative,
    daily_totals,
    mm_per_step,
    to_days,
)
from geofeat.spec import RainfallFeature


def _points(lon, lat, days) -> Points:
    n = len(days)
    ids = np.array([f"p{i}" for i in range(n)])
    return Points(
        pd.DataFrame({"id": ids}),
        ids,
        np.asarray(lon, float),
        np.asarray(lat, float),
        pd.DatetimeIndex(days),
    )


def _run(source: dict, points: Points, **extra) -> tuple[pd.DataFrame, object]:
    feature = RainfallFeature.model_validate(
        {
            "name": "rain",
            "source": source,
            "windows": {"size": "30d", "count": 4},
            **extra,
        }
    )
    plan = plan_rainfall_feature(feature, points)
    table, _ = dask.compute(plan.result, scheduler="synchronous")[0]
    return table, plan


def _daily_cube(path: Path, start: str, n_days: int, values=None, units="mm") -> Path:
    """A 3 x 4 lon/lat cube; by default day d (from 0) holds d + 1 mm everywhere."""
    time = pd.date_range(start, periods=n_days, freq="D")
    lat, lon = np.array([10.5, 10.0, 9.5]), np.array([20.0, 20.5, 21.0, 21.5])
    if values is None:
        values = np.broadcast_to(
            np.arange(1, n_days + 1, dtype=float)[:, None, None], (n_days, 3, 4)
        ).copy()
    da = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": time, "lat": lat, "lon": lon},
    )
    da.attrs["units"] = units
    da.to_dataset(name="pr").to_zarr(path, mode="w")
    return path


def test_units_to_mm() -> None:
    """kg m-2 s-1 is x86400 per day (x3600 per hour), metres x1000, mm x1."""
    assert mm_per_step("kg m-2 s-1", 86400) == 86400
    assert mm_per_step("kg m**-2 s**-1", 3600) == 3600
    assert mm_per_step("m", 3600) == 1000
    assert mm_per_step("mm/day", 86400) == 1
    assert mm_per_step("mm", 86400) == 1
    with pytest.raises(ConfigError, match="not known"):
        mm_per_step("inches", 86400)


def test_hourly_accumulations_end_stamped() -> None:
    """With stamps at the end of each hour, 00:00 belongs to the day before."""
    times = pd.date_range("2020-02-28 00:00", "2020-03-01 00:00", freq="h").values
    amounts = np.ones((times.size, 1))
    day0 = int(to_days(np.datetime64("2020-02-27")))
    daily = daily_totals(times, amounts, 3600, "end", day0, 4)
    # 02-27 has only its last hour (stamp 02-28 00:00): incomplete, so NaN;
    # 02-28 and 02-29 (leap day) are complete; 03-01 has no step at all.
    np.testing.assert_array_equal(daily[0, 1:3], [24, 24])
    assert np.isnan(daily[0, 0]) and np.isnan(daily[0, 3])
    start_stamped = daily_totals(times, amounts, 3600, "start", day0 + 1, 3)
    np.testing.assert_array_equal(start_stamped[0, :2], [24, 24])
    assert np.isnan(start_stamped[0, 2])  # 03-01 has only its 00:00 hour


def test_clip_small_negatives_only() -> None:
    """-5e-5 mm becomes 0; a fill value of -9999 becomes no data."""
    got = clip_negative(np.array([1.0, -5e-5, -9999.0, 0.0]))
    np.testing.assert_array_equal(got[[0, 1, 3]], [1.0, 0.0, 0.0])
    assert np.isnan(got[2])


def test_leap_year_and_year_boundary(tmp_path: Path) -> None:
    """Windows crossing 29 Feb and New Year hold exactly their 30 days each."""
    cube = _daily_cube(tmp_path / "daily.zarr", "2019-08-01", 240)
    day_no = {d: i + 1 for i, d in enumerate(pd.date_range("2019-08-01", periods=240))}
    points = _points([20.1, 21.4], [10.4, 9.6], ["2020-03-15", "2020-01-10"])
    table, _ = _run({"kind": "cube", "url": str(cube), "variable": "pr"}, points)
    for i, date in enumerate(points.day):
        for k in range(4):
            days = pd.date_range(end=date - pd.Timedelta(days=1 + 30 * k), periods=30)
            assert table.loc[i, f"rain_t{k}"] == sum(day_no[d] for d in days)
        whole = sum(
            day_no[d]
            for d in pd.date_range(end=date - pd.Timedelta(days=1), periods=120)
        )
        assert table.loc[i, [f"rain_t{k}" for k in range(4)]].sum() == whole
    # t0 of 2020-03-15 is 02-14..03-14: 30 days only because 2020 has 02-29.
    first = day_no[pd.Timestamp("2020-02-14")]
    assert table.loc[0, "rain_t0"] == sum(range(first, first + 30))


def test_gaps_give_nan_unless_coverage_allows(tmp_path: Path) -> None:
    """A missing day makes t0 NaN at min_coverage 1; at 0.9 the 29-day sum remains."""
    values = np.ones((150, 3, 4))
    values[140, 0, 0] = np.nan  # 2020-05-20 at the first pixel
    cube = _daily_cube(tmp_path / "gap.zarr", "2020-01-01", 150, values)
    points = _points([20.0, 20.5], [10.5, 10.5], ["2020-05-25", "2020-05-25"])
    table, _ = _run({"kind": "cube", "url": str(cube)}, points)
    assert np.isnan(table.loc[0, "rain_t0"]) and table.loc[1, "rain_t0"] == 30
    assert table.loc[0, "rain_t0_coverage"] == pytest.approx(29 / 30)
    table, _ = _run({"kind": "cube", "url": str(cube)}, points, min_coverage=0.9)
    assert table.loc[0, "rain_t0"] == 29


def test_outside_extent_and_dates_get_reasons(tmp_path: Path) -> None:
    """Outside the grid or the days: NaN, coverage 0, and a reason each."""
    cube = _daily_cube(tmp_path / "c.zarr", "2020-01-01", 60)
    points = _points(
        [30.0, 20.0, 20.0],
        [10.0, 10.0, 10.0],
        ["2020-02-01", "2021-01-01", "2020-02-01"],
    )
    table, plan = _run({"kind": "cube", "url": str(cube)}, points, min_coverage=0.5)
    assert table.loc[:1, "rain_t0"].isna().all()
    assert (table.loc[:1, "rain_t0_coverage"] == 0).all()
    assert table.loc[2, "rain_t0"] == sum(range(2, 32))  # days 01-02..01-31
    assert sorted(plan.reasons.values()) == [1, 1]
    assert any("extent" in r for r in plan.reasons)


def test_hourly_metres_cube(tmp_path: Path) -> None:
    """Hourly accumulations in metres (ERA5 layout) sum to mm per UTC day."""
    time = pd.date_range("2021-01-01 01:00", "2021-03-01 00:00", freq="h")
    values = np.full((time.size, 2, 2), 0.0001)  # 0.1 mm per hour
    values[time.day == 15] = -2e-9  # a dry day of tiny negative amounts
    da = xr.DataArray(
        values,
        dims=("time", "latitude", "longitude"),
        coords={"time": time, "latitude": [50.25, 50.0], "longitude": [359.5, 359.75]},
    )
    da.attrs["units"] = "m"
    path = tmp_path / "era5.zarr"
    da.to_dataset(name="tp").to_zarr(path, mode="w")
    source = CubeSource(str(path), "tp", None, "end")
    info = source.describe()
    assert info.first_day == int(to_days(np.datetime64("2021-01-01")))
    points = _points([-0.4], [50.1], ["2021-02-20"])  # lon -0.4 is 359.6 on the grid
    table, _ = _run(
        {"kind": "cube", "url": str(path), "variable": "tp", "timestamp": "end"},
        points,
        windows={"size": "10d", "count": 2},
    )
    # t1 = 01-31..02-09: 10 days x 2.4 mm; t0 = 02-10..02-19 with the dry 15th.
    assert table.loc[0, "rain_t1"] == pytest.approx(24.0, rel=1e-9)
    assert table.loc[0, "rain_t0"] == pytest.approx(21.6, rel=1e-9)


def test_projected_cube_with_crs(tmp_path: Path) -> None:
    """A UTM x/y cube with a grid_mapping: points are transformed, not the grid."""
    import rioxarray  # noqa: F401
    from pyproj import Transformer

    x = 500_000.0 + 1000.0 * np.arange(5) + 500.0  # 1 km cells, centres
    y = 1_400_000.0 - 1000.0 * np.arange(4) - 500.0
    time = pd.date_range("2020-01-01", periods=40, freq="D")
    values = np.zeros((40, 4, 5))
    values[:, 2, 3] = 2.0  # one pixel with 2 mm/day
    da = xr.DataArray(
        values, dims=("time", "y", "x"), coords={"time": time, "y": y, "x": x}
    )
    da.attrs["units"] = "mm"
    da = da.rio.write_crs("EPSG:32616")
    path = tmp_path / "utm.zarr"
    da.to_dataset(name="pr").to_zarr(path, mode="w")
    to_lonlat = Transformer.from_crs("EPSG:32616", "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(
        [x[3] + 300, x[1], x[0] - 2000], [y[2] - 200, y[2], y[0]]
    )
    points = _points(lon, lat, ["2020-02-05"] * 3)
    table, plan = _run({"kind": "cube", "url": str(path), "variable": "pr"}, points)
    assert table.loc[0, "rain_t0"] == 60.0 and table.loc[1, "rain_t0"] == 0.0
    assert np.isnan(table.loc[2, "rain_t0"])  # 1.5 km west of the grid
    assert list(plan.reasons.values()) == [1]


def test_sparse_points_read_pixel_by_pixel(tmp_path: Path) -> None:
    """Two far-apart points of one tile: only their two pixels are decoded."""
    time = pd.date_range("2020-01-01", periods=100, freq="D")
    lat, lon = 20.0 - 0.25 * np.arange(30), 0.25 * np.arange(30)
    values = np.arange(30 * 30, dtype=float).reshape(1, 30, 30) * np.ones((100, 1, 1))
    da = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": time, "lat": lat, "lon": lon},
    )
    da.attrs["units"] = "mm"
    path = tmp_path / "wide.zarr"
    da.to_dataset(name="pr").to_zarr(path, mode="w")
    source = CubeSource(str(path), "pr")
    from geofeat.read import ReadStats

    stats = ReadStats()
    rows, cols = np.array([0, 29]), np.array([1, 28])
    start = int(to_days(np.datetime64("2020-01-10")))
    series = source.read(rows, cols, start, start + 30, stats)
    np.testing.assert_array_equal(series[:, 0], [1.0, 29 * 30 + 28])
    assert stats.pixels == 2 * 30
