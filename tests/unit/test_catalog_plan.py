"""Search grouping: nearby points and dates share a search; sparse dates do not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geofeat.plan import search_groups


def _windows(days, before=30):
    days = pd.DatetimeIndex(days)
    return days - pd.Timedelta(days=before), days


def test_ten_thousand_points_over_a_country_and_a_year():
    rng = np.random.default_rng(7)
    n = 10_000
    lon = rng.uniform(-5.0, 8.0, n)  # a France-sized box: 13 x 9 one-degree cells
    lat = rng.uniform(42.0, 51.0, n)
    days = pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D")
    start, end = _windows(days)
    groups = search_groups(lon, lat, start, end)

    # Each of the 117 cells holds ~85 points whose 30-day windows leave no gap
    # over 16 days, so one search per cell: 117 searches, not 10,000.
    assert len(groups) == 117
    rows = np.concatenate([g.rows for g in groups])
    assert np.array_equal(np.sort(rows), np.arange(n))  # every point exactly once
    for g in groups:
        assert g.bbox[0] <= lon[g.rows].min() and lon[g.rows].max() <= g.bbox[2]
        assert g.bbox[1] <= lat[g.rows].min() and lat[g.rows].max() <= g.bbox[3]
        assert (start[g.rows] >= g.start).all() and (end[g.rows] <= g.end).all()
        assert g.bbox[2] - g.bbox[0] < 1.0 and g.bbox[3] - g.bbox[1] < 1.0


def test_sparse_dates_in_one_cell_make_short_searches():
    lon = np.array([15.2, 15.7, 15.9])
    lat = np.array([45.3, 45.8, 45.1])
    days = ["2023-01-15", "2023-10-15", "2023-10-20"]
    start, end = _windows(days, before=10)
    groups = search_groups(lon, lat, start, end)
    spans = sorted(
        (str(g.start.date()), str(g.end.date()), list(g.rows)) for g in groups
    )
    # January alone (10 days), then October: its two windows overlap, one search.
    assert spans == [
        ("2023-01-05", "2023-01-15", [0]),
        ("2023-10-05", "2023-10-20", [1, 2]),
    ]


def test_windows_closer_than_the_gap_are_merged():
    lon, lat = np.array([10.1, 10.2]), np.array([50.1, 50.2])
    start, end = _windows(["2023-03-01", "2023-03-20"], before=5)
    # Windows [02-24, 03-01) and [03-15, 03-20): 14 days apart, under 16.
    assert len(search_groups(lon, lat, start, end)) == 1
    assert len(search_groups(lon, lat, start, end, gap=pd.Timedelta(days=10))) == 2


def test_cells_split_points():
    lon, lat = np.array([10.9, 11.1]), np.array([50.5, 50.5])
    start, end = _windows(["2023-03-01", "2023-03-01"])
    groups = search_groups(lon, lat, start, end)
    assert sorted(list(g.rows) for g in groups) == [[0], [1]]
