"""Partitions stream to storage: client memory against the number of points.

Workload: the demo's synthetic Sentinel-2-shaped catalogue (two overlapping
tiles, three dates; ``geofeat.demo``), N points at random inside it, NDVI
median over 15 days, ``partition_size`` fixed. Each size runs in a fresh
process (``cluster: threads``, ``keep_table=False``, as ``geofeat run`` does)
that reports its peak Python heap (tracemalloc) and peak resident memory. The
script prints both per size, and the growth between the smallest and the
largest size against the growth in points.

    python benchmarks/partitions_memory.py --small          # 2,000 and 8,000 points
    python benchmarks/partitions_memory.py --points 5000 50000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time, tracemalloc
    import geofeat
    tracemalloc.start()
    started = time.perf_counter()
    result = geofeat.run(sys.argv[1], cluster="threads", keep_table=False)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    print(json.dumps({
        "seconds": seconds,
        "heap_peak": peak,
        "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "partitions": result.summary.partitions,
        "windows": result.summary.reads.windows,
        "filled": result.summary.filled,
    }))
    """
)


def write_points(folder: Path, n: int, seed: int = 0) -> None:
    """N points inside the demo tiles, dated so that their windows see scenes."""
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "id": [f"p{i:07d}" for i in range(n)],
            "lon": rng.uniform(15.005, 15.055, n),
            "lat": rng.uniform(46.005, 46.035, n),
            "date": rng.choice(["2023-08-11", "2023-08-16", "2023-08-20"], n),
            "label": rng.choice(["crop", "bare"], n),
        }
    ).to_csv(folder / "points.csv", index=False)


def measure(spec: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    parser.add_argument("--points", type=int, nargs="+", default=[5_000, 40_000])
    parser.add_argument("--partition-size", type=int, default=1_000)
    args = parser.parse_args()
    sizes = [2_000, 8_000] if args.small else sorted(args.points)

    import yaml

    from geofeat.demo import build_demo

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = build_demo(Path(tmp))
        spec = yaml.safe_load(spec_path.read_text())
        spec["partition_size"] = args.partition_size
        spec_path.write_text(yaml.safe_dump(spec))
        for n in sizes:
            write_points(Path(tmp), n)
            figures = measure(spec_path)
            rows.append({"points": n, **figures})
            print(
                f"{n:>8,} points  {figures['partitions']:>4} partitions  "
                f"{figures['seconds']:7.1f} s  "
                f"{n / figures['seconds']:8,.0f} points/s  "
                f"heap peak {figures['heap_peak'] / 2**20:7.1f} MiB  "
                f"RSS peak {figures['rss_peak'] / 2**20:7.1f} MiB"
            )
    first, last = rows[0], rows[-1]
    print(
        f"points x{last['points'] / first['points']:.1f}: heap peak "
        f"x{last['heap_peak'] / first['heap_peak']:.2f}, RSS peak "
        f"x{last['rss_peak'] / first['rss_peak']:.2f} "
        f"(partition_size {args.partition_size:,})"
    )


if __name__ == "__main__":
    main()
