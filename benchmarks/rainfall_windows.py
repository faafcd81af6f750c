"""Rainfall windows: geofeat's grouped reads against per-point loops.

A synthetic daily Zarr cube (lon/lat grid, years of days, chunks of a year by
50 x 50 pixels) and random points with dates spread over the whole period; four
30-day sums per point. Compared, on the same cube:

- ``geofeat``: the rainfall feature (pixel tiles x spans of days, one read per
  group, cumulative-sum kernel), computed with the threaded scheduler;
- ``xarray per point``: what a notebook loop does, ``sel`` the point's pixel and
  120 days and sum, timed on a sample of points and scaled to all of them;
- ``kernel``: the numba kernel against its NumPy reference on the same series.

Pixel-days read are counted: geofeat's from its read statistics, the loop's as
120 per point (its lower bound; it decodes a whole chunk each time), and the
"whole record per point" bound a plain per-point read of the series would cost.

    python benchmarks/rainfall_windows.py --small   # CI size, well under a minute
    python benchmarks/rainfall_windows.py           # 100,000 points, ten years
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import xarray as xr
from geofeat.kernels.rolling import window_stats, window_stats_reference

from geofeat.features.rainfall import plan_rainfall_feature
from geofeat.points import Points
from geofeat.spec import RainfallFeature


def _cube(folder: Path, size: int, years: int, seed: int) -> tuple[Path, xr.DataArray]:
    rng = np.random.default_rng(seed)
    time_ = pd.date_range("2010-01-01", periods=365 * years, freq="D")
    lat = 10.0 - 0.25 * np.arange(size)
    lon = -90.0 + 0.25 * np.arange(size)
    values = rng.gamma(0.5, 6.0, (time_.size, size, size)).astype("float32")
    da = xr.DataArray(
        values,
        dims=("time", "lat", "lon"),
        coords={"time": time_, "lat": lat, "lon": lon},
        attrs={"units": "mm"},
        name="pr",
    )
    path = folder / "cube.zarr"
    da.chunk({"time": 365, "lat": 50, "lon": 50}).to_dataset().to_zarr(path, mode="w")
    return path, da


def _points(da: xr.DataArray, n: int, seed: int) -> Points:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(da.lon.min() - 0.1, da.lon.max() + 0.1, n)
    lat = rng.uniform(da.lat.min() - 0.1, da.lat.max() + 0.1, n)
    first = da.time.values[0] + np.timedelta64(120, "D")
    span = (da.time.values[-1] - first).astype("timedelta64[D]").astype(int)
    day = first + rng.integers(0, span, n).astype("timedelta64[D]")
    ids = np.arange(n)
    return Points(pd.DataFrame({"id": ids}), ids, lon, lat, pd.DatetimeIndex(day))


def main(small: bool) -> None:
    size, years, n, sample = (40, 3, 5_000, 100) if small else (100, 10, 100_000, 300)
    with tempfile.TemporaryDirectory() as tmp:
        path, da = _cube(Path(tmp), size, years, seed=1)
        points = _points(da, n, seed=2)
        feature = RainfallFeature.model_validate(
            {
                "name": "rain",
                "source": {"kind": "cube", "url": str(path), "variable": "pr"},
                "windows": {"size": "30d", "count": 4},
            }
        )
        window_stats(np.ones((1, 10)), np.zeros(1, int), np.ones(1, int), 1, 1)  # JIT
        started = time.perf_counter()
        plan = plan_rainfall_feature(feature, points)
        table, stats = dask.compute(plan.result, scheduler="threads")[0]
        ours = time.perf_counter() - started

        cube = xr.open_zarr(path)["pr"]
        pick = np.random.default_rng(3).choice(n, sample, replace=False)
        started = time.perf_counter()
        for i in pick:
            end = points.day[i] - pd.Timedelta(days=1)
            pixel = cube.sel(lon=points.lon[i], lat=points.lat[i], method="nearest")
            series = pixel.sel(time=slice(end - pd.Timedelta(days=119), end)).values
            series.reshape(4, 30).sum(axis=1)
        loop = (time.perf_counter() - started) / sample * n

        # Kernel alone: 20,000 points on 500 pixels (40 per pixel, as dense event
        # tables have), over the first three years, arrays prepared beforehand.
        series = np.ascontiguousarray(
            da.values[: 3 * 365].reshape(3 * 365, -1).T[:500], dtype=np.float64
        )
        pix = np.random.default_rng(4).integers(0, series.shape[0], 20_000)
        ends = np.random.default_rng(5).integers(120, series.shape[1], 20_000)
        started = time.perf_counter()
        window_stats(series, pix, ends, 30, 4)
        kernel = time.perf_counter() - started
        started = time.perf_counter()
        window_stats_reference(series, pix[:2000], ends[:2000], 30, 4)
        reference = (time.perf_counter() - started) * 10

    filled = int(table["rain_t0"].notna().sum())
    days = da.shape[0]
    print(f"cube {size}x{size} pixels x {days} days; {n:,} points, 4 x 30-day sums")
    print(f"points filled: {filled:,} of {n:,} (points may fall just outside the grid)")
    print(f"{'method':<22}{'seconds':>10}{'pixel-days read':>18}")
    print(f"{'geofeat':<22}{ours:>10.2f}{stats.pixels:>18,}")
    print(
        f"{'xarray per point':<22}{loop:>10.2f}{n * 120:>18,}  (scaled from {sample})"
    )
    print(f"{'whole record per point':<22}{'':>10}{n * days:>18,}")
    print(f"speed-up over the per-point loop: {loop / ours:.1f}x")
    print(
        f"kernel, 20,000 points on 500 pixels: numba {kernel * 1e3:.1f} ms, "
        f"NumPy reference {reference * 1e3:.0f} ms ({reference / kernel:.0f}x)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    main(parser.parse_args().small)
