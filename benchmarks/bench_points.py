"""NDVI at points with their own dates: geofeat against stackstac and odc-stac.

Workload: one Sentinel-2-sized tile (10980 x 10980 uint16 red and NIR at 10 m,
5490 x 5490 uint8 SCL at 20 m; cloud-optimised GeoTIFFs with 1024 x 1024 DEFLATE
blocks and overviews, as Earth Search serves them) seen on ``--scenes`` dates over
a year, served over HTTP with range requests by a local server on 127.0.0.1
that counts the bytes it sends. ``--points`` points, each with its own date and
a ``--window``-day window before it; median NDVI of SCL-valid passes.

- geofeat: ``geofeat run`` (threads), reading only the scenes inside each point's
  window; once with its radiometry self-check on each scene's overview (the
  default) and once checking the points' own pixels only.
- stackstac, odc-stac: what their users write: a lazy cube of the tile over the
  year (1024-pixel chunks), then the points picked out of it (vectorised
  ``sel(method="nearest")``), then the window and the median per point in numpy.

Each tool runs in its own process: wall time, bytes fetched (counted by the
server), requests, and peak resident memory of that process (``VmHWM``).
The scenes share their pixels (one file per band, generated once and cached)
but each scene has its own URLs, so nothing fetched for one scene can serve
another. The values of all tools are compared.

    python benchmarks/bench_points.py --small    # CI size, about a minute
    python benchmarks/bench_points.py            # full size (generates ~1 GB once)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

ORIGIN = (499980.0, 5100000.0)  # 33TWL
CRS = "EPSG:32633"
YEAR = datetime(2023, 1, 1, 10, 0)
VALID_SCL = (4, 5, 6)


# Data: COGs, items, points.


def write_cogs(folder: Path, size: int, block: int) -> None:
    """red, nir (uint16, size^2) and scl (uint8, (size/2)^2) as COGs, once."""
    import rasterio
    from rasterio.shutil import copy
    from rasterio.transform import Affine

    folder.mkdir(parents=True, exist_ok=True)
    if all((folder / f"{name}.tif").exists() for name in ("red", "nir", "scl")):
        return
    rng = np.random.default_rng(0)
    y, x = np.ogrid[0:size, 0:size]
    field = np.sin(x / 300.0) * np.cos(y / 450.0)
    noise = rng.integers(0, 60, (size, size), dtype="uint16")
    half = size // 2
    cy, cx = np.ogrid[0:half, 0:half]
    cloud = (np.sin(cx / 97.0) + np.cos(cy / 131.0)) > 1.2
    bands = {
        "red": (600 - 300 * field).astype("uint16") + noise,
        "nir": (3000 + 1200 * field).astype("uint16") + noise,
        "scl": np.where(cloud, 9, 4).astype("uint8"),
    }
    for name, data in bands.items():
        target = folder / f"{name}.tif"
        if target.exists():
            continue
        res = 10 if name != "scl" else 20
        plain = folder / f"{name}.plain.tif"
        profile = {
            "driver": "GTiff",
            "height": data.shape[0],
            "width": data.shape[1],
            "count": 1,
            "dtype": data.dtype,
            "crs": CRS,
            "transform": Affine(res, 0, ORIGIN[0], 0, -res, ORIGIN[1]),
            "nodata": 0,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
        }
        with rasterio.open(plain, "w", **profile) as ds:
            ds.write(data, 1)
        copy(
            plain,
            folder / f"{name}.partial.tif",
            driver="COG",
            blocksize=block,
            compress="DEFLATE",
            predictor=2,
            overview_resampling="nearest",
        )
        (folder / f"{name}.partial.tif").rename(target)
        plain.unlink()


def make_items(url: str, size: int, scenes: int) -> list[dict]:
    """STAC items (dicts) of ``scenes`` dates over a year, Earth Search-like."""
    from pyproj import Transformer

    extent = size * 10
    west, south, east, north = Transformer.from_crs(
        CRS, "EPSG:4326", always_xy=True
    ).transform_bounds(ORIGIN[0], ORIGIN[1] - extent, ORIGIN[0] + extent, ORIGIN[1])
    items = []
    for k in range(scenes):
        when = YEAR + timedelta(days=365 * k / scenes)
        assets = {}
        for name, res in (("red", 10), ("nir", 10), ("scl", 20)):
            band = {"nodata": 0, "data_type": "uint8" if name == "scl" else "uint16"}
            if name != "scl":
                band["scale"] = 0.0001
            assets[name] = {
                "href": f"{url}/s{k:03d}/{name}.tif",
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "proj:shape": [extent // res, extent // res],
                "proj:transform": [res, 0, ORIGIN[0], 0, -res, ORIGIN[1]],
                "raster:bands": [band],
                "eo:bands": [{"name": name, "common_name": name}],
            }
        items.append(
            {
                "type": "Feature",
                "stac_version": "1.0.0",
                "stac_extensions": [
                    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
                    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
                    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
                ],
                "id": f"S2B_33TWL_{when:%Y%m%d}_0_L2A",
                "collection": "sentinel-2-l2a",
                "bbox": [west, south, east, north],
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [
                            [west, south],
                            [east, south],
                            [east, north],
                            [west, north],
                            [west, south],
                        ]
                    ],
                },
                "properties": {
                    "datetime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "platform": "sentinel-2b",
                    "proj:epsg": 32633,
                    "grid:code": "MGRS-33TWL",
                    "s2:processing_baseline": "05.09",
                    "s2:datatake_id": f"GS2B_{when:%Y%m%dT%H%M%S}_{k:06d}_N05.09",
                    "earthsearch:boa_offset_applied": True,
                },
                "assets": assets,
                "links": [],
            }
        )
    return items


def make_points(n: int, size: int, window: int, seed: int = 1) -> dict:
    """Points inside the tile (lon, lat, x, y) with dates in the year after a window."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    extent = size * 10
    x = ORIGIN[0] + rng.uniform(100, extent - 100, n)
    y = ORIGIN[1] - rng.uniform(100, extent - 100, n)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    days = rng.integers(window, 365, n)
    dates = [(YEAR.date() + timedelta(days=int(d))).isoformat() for d in days]
    return {
        "lon": list(lon),
        "lat": list(lat),
        "x": list(x),
        "y": list(y),
        "date": dates,
    }


# Workers: one process per tool.


def median_in_windows(times, red, nir, scl, dates, window: int) -> np.ndarray:
    """Median NDVI per point over valid passes in ``[date - window, date)``."""
    import pandas as pd

    times = pd.DatetimeIndex(times).values[:, None]
    end = pd.DatetimeIndex(dates).values[None, :]
    inside = (times >= end - np.timedelta64(window, "D")) & (times < end)
    valid = np.isin(scl, VALID_SCL) & (red > 0) & (nir > 0) & inside
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = (nir - red) / (nir + red)
        values = np.nanmedian(np.where(valid, ndvi, np.nan), axis=0)
    return values


def run_geofeat(job: dict, check: str) -> list[float]:
    import pandas as pd

    import geofeat

    folder = Path(job["workdir"]) / f"geofeat-{check}"
    (folder / "items").mkdir(parents=True, exist_ok=True)
    links = []
    for item in job["items"]:
        path = folder / "items" / f"{item['id']}.json"
        path.write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./items/{item['id']}.json"})
    collection = {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": "sentinel-2-l2a",
        "description": "benchmark scenes",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180, -90, 180, 90]]},
            "temporal": {"interval": [[None, None]]},
        },
        "links": links,
    }
    (folder / "collection.json").write_text(json.dumps(collection))
    points = pd.DataFrame({k: job["points"][k] for k in ("lon", "lat", "date")})
    points.insert(0, "id", range(len(points)))
    points.to_csv(folder / "points.csv", index=False)
    spec = {
        "points": str(folder / "points.csv"),
        "output": str(folder / "out.parquet"),
        "cluster": "threads",
        "catalogs": {"bench": {"url": str(folder / "collection.json")}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "bench",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": f"{job['window']}d"},
                "reducer": "median",
                "radiometry_check": check,
            }
        ],
    }
    return geofeat.run(spec, write=False).table["ndvi"].tolist()


def pick(cube, job: dict):
    import xarray as xr

    xs = xr.DataArray(job["points"]["x"], dims="point")
    ys = xr.DataArray(job["points"]["y"], dims="point")
    return cube.sel(x=xs, y=ys, method="nearest")


def run_stackstac(job: dict) -> list[float]:
    import pystac
    import stackstac

    items = [pystac.Item.from_dict(item) for item in job["items"]]
    cube = stackstac.stack(
        items,
        assets=["red", "nir", "scl"],
        epsg=32633,
        resolution=10,
        chunksize=job["block"],
        rescale=False,
        xy_coords="center",
    )
    picked = pick(cube, job).compute()
    bands = {b: picked.sel(band=b).values for b in ("red", "nir", "scl")}
    return median_in_windows(
        picked["time"].values,
        **bands,
        dates=job["points"]["date"],
        window=job["window"],
    ).tolist()


def run_odc(job: dict) -> list[float]:
    import odc.stac
    import pystac

    items = [pystac.Item.from_dict(item) for item in job["items"]]
    cube = odc.stac.load(
        items,
        bands=["red", "nir", "scl"],
        crs=CRS,
        resolution=10,
        chunks={"x": job["block"], "y": job["block"]},
    )
    picked = pick(cube, job).compute()
    bands = {b: picked[b].values.astype("float64") for b in ("red", "nir", "scl")}
    return median_in_windows(
        picked["time"].values,
        **bands,
        dates=job["points"]["date"],
        window=job["window"],
    ).tolist()


TOOLS = {
    "geofeat": lambda job: run_geofeat(job, "overview"),
    "geofeat (points check)": lambda job: run_geofeat(job, "points"),
    "stackstac": run_stackstac,
    "odc-stac": run_odc,
}


def worker(tool: str, job_path: Path) -> None:
    job = json.loads(job_path.read_text())
    started = time.perf_counter()
    values = TOOLS[tool](job)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb(), "values": values}))


def peak_mb() -> float:
    """Peak resident memory of this process in MB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` survives ``exec`` on Linux, so
    in a child it would report the parent's peak (here, COG generation).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# The driver.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument(
        "--size", type=int, default=10980, help="tile side, 10 m pixels"
    )
    parser.add_argument("--block", type=int, default=1024, help="COG block side")
    parser.add_argument("--scenes", type=int, default=36, help="dates over the year")
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--window", type=int, default=30, help="days before each date")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument(
        "--cache", default=str(Path(tempfile.gettempdir()) / "geofeat-bench-cogs")
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, Path(args.job))
        return
    if args.small:
        args.size, args.scenes, args.points = 3072, 8, 60

    from geofeat.testing.range_server import RangeServer

    folder = Path(args.cache) / f"{args.size}_{args.block}"
    started = time.perf_counter()
    write_cogs(folder, args.size, args.block)
    generated = time.perf_counter() - started
    sizes = {p.name: p.stat().st_size for p in sorted(folder.glob("*.tif"))}
    print(
        f"COGs in {folder} ({generated:.0f} s): "
        + ", ".join(f"{k} {v / 1e6:.0f} MB" for k, v in sizes.items())
    )
    print(
        f"workload: {args.points} points, {args.scenes} scenes over a year, "
        f"{args.window}-day windows, tile {args.size}^2, blocks {args.block}^2"
    )
    results = {}
    with (
        RangeServer(folder, aliases=True) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        job = {
            "items": make_items(server.url, args.size, args.scenes),
            "points": make_points(args.points, args.size, args.window),
            "window": args.window,
            "block": args.block,
            "workdir": tmp,
        }
        job_path = Path(tmp) / "job.json"
        job_path.write_text(json.dumps(job))
        for tool in args.tools.split(","):
            server.reset()
            done = subprocess.run(
                [sys.executable, __file__, "--worker", tool, "--job", str(job_path)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                print(f"{tool}: failed\n{done.stderr[-3000:]}")
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["bytes"] = server.bytes_served
            result["requests"] = server.requests
            results[tool] = result
    report(results)


def report(results: dict) -> None:
    base = results.get("geofeat")
    print()
    print(f"{'tool':<24}{'wall s':>9}{'MB fetched':>12}{'requests':>10}{'peak MB':>9}")
    for tool, r in results.items():
        print(
            f"{tool:<24}{r['seconds']:>9.1f}{r['bytes'] / 1e6:>12.1f}"
            f"{r['requests']:>10}{r['peak_mb']:>9.0f}"
        )
    if base is None:
        return
    print()
    print("ratios to geofeat (time, bytes, peak memory); agreement of values")
    ref = np.array(base["values"], dtype=float)
    for tool, r in results.items():
        values = np.array(r["values"], dtype=float)
        same_nan = np.isnan(values) == np.isnan(ref)
        both = ~np.isnan(values) & ~np.isnan(ref)
        diff = np.max(np.abs(values[both] - ref[both])) if both.any() else 0.0
        print(
            f"{tool:<24}{r['seconds'] / base['seconds']:>7.1f}x"
            f"{r['bytes'] / max(base['bytes'], 1):>8.1f}x"
            f"{r['peak_mb'] / base['peak_mb']:>7.1f}x"
            f"   values: {int(both.sum())} compared, max |diff| {diff:.2e}, "
            f"NaN pattern {'same' if same_nan.all() else 'DIFFERS'}"
        )


if __name__ == "__main__":
    main()
