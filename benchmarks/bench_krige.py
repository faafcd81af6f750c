"""Ordinary kriging: geofeat against PyKrige and GSTools on the same workload.

Each case is one set of samples, one square grid of cell centres, one spherical
variogram with a nugget and one neighbourhood:

- moving, 32 nearest samples: geofeat (KD-tree per chunk, parallel numba kernel,
  through the same chunked Dask path as ``geofeat krige``) against PyKrige's
  fastest moving-window backend (``backend="C"``, ``n_closest_points=32``);
- global (all samples): geofeat against GSTools (``krige.Ordinary``, which has no
  moving neighbourhood) and PyKrige's vectorised backend, where the dense
  systems fit the time and memory budget.

Samples: Meuse (155, log zinc, real data when ../shared/data is there) and
synthetic smooth fields of 2,000 and 20,000 samples on a 10 km square. Grids:
100 x 100 up to 1000 x 1000 cells over the samples' extent. The script prints
wall and CPU times (best of ``--repeat``; numba compiles before timing), each
tool's times over geofeat's, and the largest absolute differences in estimate and
variance. ``--stream SIDE`` instead writes a SIDE x SIDE grid to Zarr chunk by
chunk (2,000 samples, 32 nearest) and reports the peak resident memory.

    python benchmarks/bench_krige.py --small      # CI size, well under a minute
    python benchmarks/bench_krige.py              # 155/2000/20000 x 100..1000 cells
    python benchmarks/bench_krige.py --stream 20000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

NEIGHBOURS = 32
SHARED = Path(
    os.environ.get(
        "GEOFEAT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)
# PyKrige assembles the dense n x n kriging matrix (and a distance matrix of the
# same size) even for a moving window; beyond this it needs gigabytes.
PYKRIGE_MAX_SAMPLES = 5000
# GSTools (global only) costs about n**2 * cells multiply-adds for the variance.
GSTOOLS_MAX_WORK = 1e10
GEOFEAT_GLOBAL_MAX_WORK = 1e10


def meuse() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    table = pd.read_csv(SHARED / "points" / "meuse.csv")
    return (
        table.x.to_numpy(float),
        table.y.to_numpy(float),
        np.log(table.zinc.to_numpy(float)),
        (0.05, 0.6, 900.0),
    )


def synthetic(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(500_000, 510_000, n)
    y = rng.uniform(4_000_000, 4_010_000, n)
    z = np.sin(x / 1500) + np.cos(y / 2100) + 0.2 * rng.normal(size=n)
    return x, y, z, (0.04, 1.0, 3000.0)


def grid_over(x: np.ndarray, y: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres of a side x side grid of square cells over the samples."""
    step = max(np.ptp(x), np.ptp(y)) / (side - 1)
    return x.min() + step * np.arange(side), y.max() - step * np.arange(side)


def best_of(repeat: int, fn):
    """Best wall time and the CPU time (all threads) of that run, and the result.

    CPU time shows the work done when other processes share the cores.
    """
    times, result = [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times), result


def run_geofeat(x, y, z, params, gx, gy, max_points):
    import dask
    from pyproj import CRS

    from geofeat.krige.grid import Grid
    from geofeat.krige.run import grid_dataset
    from geofeat.krige.solve import Kriger
    from geofeat.krige.variogram import VariogramModel

    model = VariogramModel("spherical", *params)
    step = gx[1] - gx[0]
    # The CRS only labels the output; distances are in the samples' units.
    crs = CRS.from_epsg(32631)
    grid = Grid(gx[0] - step / 2, gy[0] + step / 2, step, gx.size, gy.size, crs)
    kriger = Kriger(x, y, z, model, max_points)
    with dask.config.set(scheduler="synchronous"):
        computed = grid_dataset(kriger, grid, 1024).compute()
    return computed.estimate.values, computed.variance.values


def run_pykrige(x, y, z, params, gx, gy, max_points):
    from pykrige.ok import OrdinaryKriging

    nugget, psill, rng = params
    ok = OrdinaryKriging(
        x,
        y,
        z,
        variogram_model="spherical",
        variogram_parameters={"psill": psill, "range": rng, "nugget": nugget},
    )
    if max_points is None:
        est, var = ok.execute("grid", gx, gy, backend="vectorized")
    else:
        est, var = ok.execute("grid", gx, gy, backend="C", n_closest_points=max_points)
    return np.asarray(est), np.asarray(var)


def run_gstools(x, y, z, params, gx, gy, max_points):
    import gstools as gs

    nugget, psill, rng = params
    model = gs.Spherical(dim=2, var=psill, len_scale=rng, nugget=nugget)
    # exact=True: the nugget is not filtered, so data are honoured as in PyKrige
    # and geofeat (gamma(0) = 0 at a sample).
    krige = gs.krige.Ordinary(model, cond_pos=[x, y], cond_val=z, exact=True)
    est, var = krige.structured([gx, gy], return_var=True)
    # GSTools' structured output is indexed (x, y); ours is (y, x).
    return np.asarray(est).T, np.asarray(var).T


def warm_up() -> None:
    x, y, z, params = synthetic(60, seed=1)
    gx, gy = grid_over(x, y, 8)
    run_geofeat(x, y, z, params, gx, gy, NEIGHBOURS)
    run_geofeat(x, y, z, params, gx, gy, None)


def context() -> str:
    import numba

    return (
        f"python {platform.python_version()}, {os.cpu_count()} cpu(s), numba "
        f"{numba.__version__} ({numba.config.NUMBA_NUM_THREADS} threads, layer "
        f"{numba.config.THREADING_LAYER}), platform {platform.platform()}"
    )


def cases(small: bool) -> list[tuple[str, int]]:
    if small:
        return [("meuse", 100), ("2000", 100)]
    return [
        (name, side) for name in ("meuse", "2000", "20000") for side in (100, 300, 1000)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="CI size (< 1 min)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs")
    parser.add_argument(
        "--stream",
        type=int,
        default=0,
        help="only write a SIDE x SIDE grid to Zarr and report peak memory",
    )
    args = parser.parse_args()

    print(f"context: {context()}")
    if args.stream:
        # Alone in the process, so the peak resident memory is the stream's own.
        stream(args.stream)
        return 0
    warm_up()
    rows = []
    for name, side in cases(args.small):
        if name == "meuse":
            if not (SHARED / "points" / "meuse.csv").is_file():
                print("meuse: ../shared/data not found, skipped")
                continue
            x, y, z, params = meuse()
        else:
            x, y, z, params = synthetic(int(name))
        gx, gy = grid_over(x, y, side)
        n, cells = x.size, side * side
        for hood, max_points in (("32 nearest", NEIGHBOURS), ("global", None)):
            if max_points is None and n * n * cells > GEOFEAT_GLOBAL_MAX_WORK:
                continue
            t_geo, (e_geo, v_geo) = best_of(
                args.repeat,
                lambda a=(x, y, z, params, gx, gy, max_points): run_geofeat(*a),
            )
            (t_geo, cpu_geo) = t_geo
            rows.append(
                (n, f"{side}x{side}", hood, "geofeat", t_geo, cpu_geo, 1.0, 1.0, 0, 0)
            )
            others = []
            if n <= PYKRIGE_MAX_SAMPLES and (
                max_points is not None or n * n * cells <= GSTOOLS_MAX_WORK
            ):
                others.append(("pykrige", run_pykrige))
            elif n > PYKRIGE_MAX_SAMPLES:
                print(
                    f"{n} samples: PyKrige skipped (it assembles a dense {n} x {n} "
                    "matrix, also for a moving window)"
                )
            if max_points is None and n * n * cells <= GSTOOLS_MAX_WORK:
                others.append(("gstools", run_gstools))
            for tool, fn in others:
                t, (e, v) = best_of(
                    args.repeat,
                    lambda fn=fn, a=(x, y, z, params, gx, gy, max_points): fn(*a),
                )
                rows.append(
                    (
                        n,
                        f"{side}x{side}",
                        hood,
                        tool,
                        t[0],
                        t[1],
                        t[0] / t_geo,
                        t[1] / cpu_geo,
                        float(np.nanmax(np.abs(e - e_geo))),
                        float(np.nanmax(np.abs(v - v_geo))),
                    )
                )
            print(
                f"done: {n} samples, {side}x{side}, {hood}: geofeat {t_geo:.3f} s",
                flush=True,
            )
    table = pd.DataFrame(
        rows,
        columns=[
            "samples",
            "grid",
            "neighbourhood",
            "tool",
            "wall s",
            "cpu s",
            "x geofeat wall",
            "x geofeat cpu",
            "max |d estimate|",
            "max |d variance|",
        ],
    )
    with pd.option_context("display.width", 140, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    # Speed only counts with equal results: differences beyond 1e-6 fail the run.
    worst = table[["max |d estimate|", "max |d variance|"]].to_numpy().max()
    if not worst <= 1e-6:
        print(f"results differ by up to {worst:.3g} (more than 1e-6)")
        return 1
    return 0


def stream(side: int) -> None:
    """Write a side x side grid to Zarr through the chunked path; report memory."""
    from geofeat.krige import krige

    x, y, z, (nugget, psill, rng) = synthetic(2000)
    with tempfile.TemporaryDirectory() as folder:
        pd.DataFrame({"x": x, "y": y, "v": z}).to_csv(f"{folder}/s.csv", index=False)
        res = 10_000 / side
        spec = {
            "samples": {
                "path": f"{folder}/s.csv",
                "x": "x",
                "y": "y",
                "crs": "EPSG:32631",
                "value": "v",
            },
            "variogram": {
                "model": "spherical",
                "nugget": nugget,
                "psill": psill,
                "range": rng,
            },
            "neighbourhood": {"max_points": NEIGHBOURS},
            "grid": {
                "bounds": [500_000, 4_000_000, 510_000, 4_010_000],
                "resolution": res,
            },
            "output": f"{folder}/big.zarr",
        }
        start = time.perf_counter()
        krige(spec)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        full = side * side * 2 * 8 / 2**20
        rate = side * side / seconds / 1e6
        print(
            f"stream: {side}x{side} cells ({rate:.2f} M cells/s), "
            f"{seconds:.1f} s, peak RSS {peak:.0f} MiB vs {full:.0f} MiB for the "
            "whole surface in memory"
        )


if __name__ == "__main__":
    sys.exit(main())
