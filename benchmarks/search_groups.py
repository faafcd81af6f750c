"""How many catalogue requests a job makes: per point, per cell, per cell and time.

Random points over a France-sized area (13 x 9 degrees) with dates over one
year and 30-day windows; three rules for grouping the searches:

- ``per point``: one search per point (what a naive loop does);
- ``per cell``: one search per 1-degree cell over the union of its windows;
- ``cell + time``: geofeat's rule (cells, then clusters of windows in time);
- ``+ partitions``: the same rule applied per partition of 2,000 points in input
  order: what ``geofeat run`` would search if it did not make its searches once
  for the whole run (:mod:`geofeat.catalog.cache`).

For each rule the script prints searches, the days searched summed over searches,
and an estimate of items fetched and HTTP requests: a search over a bbox of
``w x h`` degrees meets about ``(w / 0.9 + 1) * (h / 0.9 + 1)`` Sentinel-2 tiles,
each seen every 2.5 days, in pages of 250 items. The estimate is a model, not a
measurement of a real catalogue; ratios are what matter.

    python benchmarks/search_groups.py --small   # CI size
    python benchmarks/search_groups.py           # dense and sparse cases
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from geofeat.plan import SearchGroup, search_groups

PAGE = 250
REVISIT_DAYS = 2.5
TILE_DEGREES = 0.9


def _cost(groups: list[SearchGroup]) -> tuple[int, int, int, int]:
    days = items = requests = 0
    for g in groups:
        span = max((g.end - g.start) / pd.Timedelta(days=1), 1.0)
        tiles = ((g.bbox[2] - g.bbox[0]) / TILE_DEGREES + 1) * (
            (g.bbox[3] - g.bbox[1]) / TILE_DEGREES + 1
        )
        found = tiles * span / REVISIT_DAYS
        days += span
        items += found
        requests += max(1, math.ceil(found / PAGE))
    return len(groups), int(days), int(items), requests


def _case(n: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    lon = rng.uniform(-5.0, 8.0, n)
    lat = rng.uniform(42.0, 51.0, n)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")
    start, end = pd.DatetimeIndex(days) - pd.Timedelta(days=30), pd.DatetimeIndex(days)

    per_point = [
        SearchGroup(np.array([i]), (lon[i], lat[i], lon[i], lat[i]), start[i], end[i])
        for i in range(n)
    ]
    per_cell = search_groups(lon, lat, start, end, gap=pd.Timedelta(days=10_000))
    began = time.perf_counter()
    ours = search_groups(lon, lat, start, end)
    seconds = time.perf_counter() - began

    print(f"\n{n:,} points, 30-day windows over 2023 (grouping took {seconds:.3f} s)")
    print(f"{'rule':<12} {'searches':>9} {'days':>9} {'items':>10} {'requests':>9}")
    rows = {"per point": per_point, "per cell": per_cell, "cell + time": ours}
    costs = {name: _cost(groups) for name, groups in rows.items()}
    for name, (searches, span, items, requests) in costs.items():
        print(f"{name:<12} {searches:>9,} {span:>9,} {items:>10,} {requests:>9,}")
    # Each partition of 2,000 points (input order) grouped on its own.
    parts = [
        g
        for s in range(0, n, 2_000)
        for g in search_groups(
            lon[s : s + 2_000],
            lat[s : s + 2_000],
            start[s : s + 2_000],
            end[s : s + 2_000],
        )
    ]
    searches, span, items, requests = _cost(parts)
    print(f"{'+ partitions':<12} {searches:>9,} {span:>9,} {items:>10,} {requests:>9,}")
    base = costs["cell + time"]
    for name in ("per point", "per cell"):
        print(
            f"{name} / cell + time: requests x{costs[name][3] / base[3]:.2f}, "
            f"items x{costs[name][2] / base[2]:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="CI size")
    args = parser.parse_args()
    for n in (200, 1_000) if args.small else (200, 1_000, 10_000, 100_000):
        _case(n)


if __name__ == "__main__":
    main()
