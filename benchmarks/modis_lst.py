"""MODIS LST per point: geofeat against a per-point rasterio loop, on real files.

Workload: points scattered over the real AppEEARS Sahara export (47 composites of
2024, LST_Day_1km + QC_Day), each with its own date and a 32-day window, mean LST
of `good` pixels. The baseline is what a user writes by hand: for every point and
every composite overlapping its window, open the LST and QC files and read the
one pixel. Both must give the same table; the script prints times, reads and the
ratio.

    python benchmarks/modis_lst.py --small      # 200 points (CI size)
    python benchmarks/modis_lst.py --points 5000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

import geofeat
from geofeat.sources.appeears import build_appeears_catalog, composite_period
from geofeat.sources.modis import BANDS, decode

DATA = Path(
    os.environ.get("GEOFEAT_SHARED_DATA", Path(__file__).parents[2] / "shared/data")
)
SAHARA = DATA / "modis/appeears_mod11a2_061_sahara_2024"


def make_points(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2024-02-01") + pd.to_timedelta(rng.integers(0, 320, n), "D")
    return pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(n)],
            "lon": rng.uniform(24.0, 26.0, n),
            "lat": rng.uniform(22.06, 23.94, n),
            "date": days.strftime("%Y-%m-%d"),
        }
    )


def by_hand(points: pd.DataFrame, window_days: int) -> tuple[np.ndarray, int]:
    """The per-point loop: open each overlapping composite's files, read one pixel."""
    composites = []
    for path in sorted(SAHARA.glob("*LST_Day_1km_doy*.tif")):
        doy = path.name.split("_doy")[1][:7]
        start, end = composite_period("MOD11A2", int(doy[:4]), int(doy[4:]))
        qc = SAHARA / path.name.replace("LST_Day_1km", "QC_Day")
        composites.append(
            (
                pd.Timestamp(start).tz_convert(None),
                pd.Timestamp(end).tz_convert(None),
                path,
                qc,
            )
        )
    values, opens = np.full(len(points), np.nan), 0
    for i, p in enumerate(points.itertuples()):
        w_end = pd.Timestamp(p.date)
        w_start = w_end - pd.Timedelta(days=window_days)
        got = []
        for start, end, lst_path, qc_path in composites:
            if not (start < w_end and end > w_start):
                continue
            with rasterio.open(lst_path) as ds:
                row, col = ds.index(p.lon, p.lat)
                dn = ds.read(1, window=((row, row + 1), (col, col + 1)))[0, 0]
            qc = 0
            if qc_path.exists():  # AppEEARS omits all-zero QC files
                with rasterio.open(qc_path) as ds:
                    qc = ds.read(1, window=((row, row + 1), (col, col + 1)))[0, 0]
                opens += 1
            opens += 1
            value, valid = decode(
                BANDS["LST_Day_1km"], np.array([dn], float), np.array([qc], float)
            )
            if valid[0]:
                got.append(value[0])
        values[i] = np.mean(got) if got else np.nan
    return values, opens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--small", action="store_true", help="200 points, for CI")
    parser.add_argument("--window", type=int, default=32, help="days before each date")
    args = parser.parse_args()
    n = 200 if args.small else args.points
    points = make_points(n)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        catalog = build_appeears_catalog([SAHARA], tmp / "catalog")
        points.to_csv(tmp / "points.csv", index=False)
        spec = {
            "points": str(tmp / "points.csv"),
            "output": str(tmp / "out.parquet"),
            "cluster": "threads",
            "catalogs": {"local": {"url": str(catalog)}},
            "features": [
                {
                    "name": "lst",
                    "catalog": "local",
                    "collection": "MOD11A2.061",
                    "band": "LST_Day_1km",
                    "window": {"before": f"{args.window}d"},
                    "reducer": "mean",
                    "quality": "good",
                }
            ],
        }
        started = time.perf_counter()
        result = geofeat.run(spec, write=False)
        ours = time.perf_counter() - started
    started = time.perf_counter()
    expected, opens = by_hand(points, args.window)
    theirs = time.perf_counter() - started
    same = np.allclose(result.table["lst"], expected, rtol=0, atol=1e-9, equal_nan=True)
    reads = result.summary.reads
    print(f"points                 {n}")
    print(f"(point, composite)     {int(result.table['lst_total'].sum())}")
    print(
        f"geofeat                {ours:.2f} s; {reads.assets} asset opens, "
        f"{reads.windows} windows, {reads.pixels} pixels, "
        f"{reads.bytes / 1e3:.1f} kB decoded"
    )
    print(f"per-point rasterio     {theirs:.2f} s; {opens} file opens")
    print(f"speed-up               {theirs / ours:.1f}x")
    print(f"same values            {same}")
    if not same:
        raise SystemExit("geofeat and the per-point loop disagree")


if __name__ == "__main__":
    main()
