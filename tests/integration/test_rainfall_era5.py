"""Unit conversion and clipping on the real ERA5 daily series (kg m-2 s-1).

The file holds series at five Canadian cities, not a grid; the test places each
city's series in its own cell of a small lon/lat cube (NetCDF, units copied
from the file) and compares with the file's own values x 86400, clipped.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geofeat.features.rainfall import plan_rainfall_feature
from geofeat.points import Points
from geofeat.spec import RainfallFeature

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def era5(shared_data: Path) -> xr.Dataset:
    path = shared_data / "precipitation" / "era5_daily_surface_cancities_1990-1993.nc"
    with xr.open_dataset(path) as ds:
        return ds[["pr"]].load()


@pytest.fixture(scope="module")
def city_cube(era5: xr.Dataset, tmp_path_factory) -> Path:
    lat = np.sort(era5.lat.values.astype(float))[::-1]
    lon = np.sort(era5.lon.values.astype(float))
    values = np.full((era5.time.size, lat.size, lon.size), np.nan, np.float32)
    for i in range(era5.location.size):
        r = int(np.flatnonzero(lat == float(era5.lat[i]))[0])
        c = int(np.flatnonzero(lon == float(era5.lon[i]))[0])
        values[:, r, c] = era5.pr.isel(location=i).values
    cube = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": era5.time.values, "lat": lat, "lon": lon},
        attrs=dict(era5.pr.attrs),
        name="pr",
    )
    path = tmp_path_factory.mktemp("era5") / "cities.nc"
    cube.to_dataset().to_netcdf(path)
    return path


def _run(path: Path, era5: xr.Dataset, dates: list[str], windows: dict, reducer="sum"):
    n = era5.location.size
    ids = era5.location.values
    points = Points(
        pd.DataFrame({"id": ids}),
        ids,
        era5.lon.values.astype(float),
        era5.lat.values.astype(float),
        pd.DatetimeIndex(dates[:n]),
    )
    feature = RainfallFeature.model_validate(
        {
            "name": "pr",
            "source": {"kind": "cube", "url": str(path), "variable": "pr"},
            "windows": windows,
            "reducer": reducer,
        }
    )
    plan = plan_rainfall_feature(feature, points)
    return dask.compute(plan.result, scheduler="synchronous")[0][0]


def test_units_attribute_converts_to_mm(city_cube: Path, era5: xr.Dataset) -> None:
    """Four 30-day sums equal the file's pr x 86400 (negatives clipped), per city."""
    assert era5.pr.attrs["units"] == "kg m-2 s-1"
    dates = ["1991-07-01", "1992-03-01", "1990-12-31", "1993-01-15", "1992-10-10"]
    table = _run(city_cube, era5, dates, {"size": "30d", "count": 4})
    mm = np.clip(era5.pr.to_pandas().T * 86400.0, 0, None)  # time x city
    for i, city in enumerate(era5.location.values):
        end = pd.Timestamp(dates[i])
        for k in range(4):
            days = pd.date_range(end=end - pd.Timedelta(days=1 + 30 * k), periods=30)
            want = mm.loc[days, city].sum()
            assert table.loc[i, f"pr_t{k}"] == pytest.approx(want, rel=1e-6), city
    # In mm, 120 days of Canadian rain and snow are tens to hundreds of mm.
    totals = table[[f"pr_t{k}" for k in range(4)]].sum(axis=1)
    assert ((totals > 50) & (totals < 900)).all()


def test_negative_days_become_zero(city_cube: Path, era5: xr.Dataset) -> None:
    """Days whose raw value is slightly negative come out as exactly 0 mm."""
    raw = era5.pr.to_pandas().T * 86400.0
    city = int(np.argmax((raw < 0).sum().values))
    name = era5.location.values[city]
    negative_days = raw.index[raw[name] < 0]
    assert len(negative_days) > 0 and raw[name].min() > -1e-3
    day = negative_days[0] + pd.Timedelta(days=1)
    dates = [str(day.date())] * era5.location.size
    table = _run(city_cube, era5, dates, {"size": "1d", "count": 1}, reducer="max")
    assert table.loc[city, "pr_t0"] == 0.0
