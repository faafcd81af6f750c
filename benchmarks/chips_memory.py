"""Chips stream to the store: peak memory against the size of the chip set.

Workload: a synthetic Sentinel-2-shaped tile (2048 x 2048 pixels at 10 m, red,
green, blue, nir, SCL at 20 m; two dates, one half cloudy, noise so that chunks
do not compress away), N points at random inside it, 256 x 256 chips of four
bands, least-cloudy pick. The script prints wall time, chips per second, the
size the whole set would take in memory, the process's peak resident memory
and their ratio, the store's size on disk, and checks a sample of chips against
windows read directly with rasterio.

    python benchmarks/chips_memory.py --small        # 100 chips (CI size)
    python benchmarks/chips_memory.py --chips 2000
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import zarr
from pyproj import Transformer
from rasterio.windows import Window

from geofeat.chips import make_chips
from geofeat.synthetic import write_catalog, write_scene

SIDE, SIZE, X0, Y0 = 2048, 256, 500000.0, 5100000.0


def build(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    items = []
    for day, cloudy in ((1, True), (5, False)):
        bands = {
            b: rng.integers(200, 4000, (SIDE, SIDE), dtype="uint16")
            for b in ("red", "green", "blue", "nir")
        }
        scl = np.full((SIDE // 2, SIDE // 2), 4, "uint8")
        if cloudy:
            scl[: SIDE // 4] = 9
        bands["scl"] = scl
        items.append(
            write_scene(
                folder,
                f"S2B_33TWL_202406{day:02d}_0_L2A",
                datetime(2024, 6, day, 10),
                bands,
                (X0, Y0),
            )
        )
    return write_catalog(folder, items)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=2000)
    parser.add_argument("--small", action="store_true", help="100 chips (CI size)")
    args = parser.parse_args()
    n = 100 if args.small else args.chips

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        catalog = build(folder / "catalog")
        rng = np.random.default_rng(1)
        rows, cols = rng.integers(0, SIDE, n), rng.integers(0, SIDE, n)
        to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(X0 + 10 * (cols + 0.5), Y0 - 10 * (rows + 0.5))
        points = pd.DataFrame(
            {
                "id": [f"p{i}" for i in range(n)],
                "lon": lon,
                "lat": lat,
                "date": "2024-06-06",
                "label": rng.integers(0, 5, n),
            }
        )
        points.to_csv(folder / "points.csv", index=False)
        spec = {
            "points": str(folder / "points.csv"),
            "output": str(folder / "chips.zarr"),
            "catalogs": {"s2": {"url": str(catalog)}},
            "chips": {
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "bands": ["red", "green", "blue", "nir"],
                "size": SIZE,
                "window": {"before": "10d"},
                "pick": "least-cloudy",
            },
        }
        before = peak_rss_mb()
        started = time.perf_counter()
        result = make_chips(spec)
        seconds = time.perf_counter() - started
        peak = peak_rss_mb()

        array = zarr.open_array(f"{result.path}/chips", mode="r")
        checked = 0
        for i in rng.choice(n, size=min(n, 20), replace=False):
            scene = result.table.scenes[i]
            r0, c0 = rows[i] - SIZE // 2, cols[i] - SIZE // 2
            with rasterio.open(catalog.parent / scene / "nir.tif") as ds:
                dns = ds.read(
                    1, window=Window(c0, r0, SIZE, SIZE), boundless=True, fill_value=0
                ).astype("float64")
            expected = np.where(dns == 0, np.nan, dns * 1e-4).astype("float32")
            np.testing.assert_array_equal(array[i, 3], expected)
            checked += 1
        on_disk = sum(
            f.stat().st_size for f in Path(result.path).rglob("*") if f.is_file()
        )
        set_mb = n * 4 * SIZE * SIZE * 4 / 2**20
        print(
            f"chips: {n} x 4 bands x {SIZE} x {SIZE} float32, least-cloudy of 2 dates"
        )
        print(
            f"time: {seconds:.1f} s ({n / seconds:.1f} chips/s, {os.cpu_count()} cores)"
        )
        print(f"chip set in memory would be: {set_mb:,.0f} MB")
        print(f"peak RSS: {peak:,.0f} MB (before the job: {before:,.0f} MB)")
        print(f"peak RSS / chip set: {peak / set_mb:.2f}")
        print(f"store on disk: {on_disk / 2**20:,.0f} MB")
        print(
            f"picks: {dict(result.summary.picks)}; {checked} chips equal rasterio reads"
        )


if __name__ == "__main__":
    main()
