"""Window edges on synthetic scenes whose times and pixels are known exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

import geofeat
from geofeat.features import plan_feature
from geofeat.points import validate
from geofeat.synthetic import write_catalog, write_scene

ORIGIN = (500000.0, 5000000.0)


def _scene(folder, day: datetime, red: int, nir: int, n: int):
    # Red below 0.1 reflectance over vegetation, as in nature: the radiometry
    # self-check would otherwise (rightly) suspect DNs still shifted by 1000.
    bands = {
        "red": np.full((32, 32), red, "uint16"),
        "nir": np.full((32, 32), nir, "uint16"),
        "scl": np.full((16, 16), 4, "uint8"),
    }
    return write_scene(folder, f"S2B_33TWL_{day:%Y%m%dT%H%M}_{n}", day, bands, ORIGIN)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edges")
    utc = UTC
    items = [
        # Exactly at date - 10 days, 00:00 UTC: inside [D - 10d, D).
        _scene(folder, datetime(2024, 3, 1, 0, 0, tzinfo=utc), 500, 1500, 1),
        # One microsecond before that: outside.
        _scene(
            folder, datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=utc), 1500, 500, 2
        ),
        # Mid-window.
        _scene(folder, datetime(2024, 3, 5, 10, 0, tzinfo=utc), 500, 1000, 3),
        # Exactly at the date itself, 00:00 UTC: outside unless include_date.
        _scene(folder, datetime(2024, 3, 11, 0, 0, tzinfo=utc), 600, 600, 4),
        # Late on the date: inside only with include_date.
        _scene(folder, datetime(2024, 3, 11, 23, 0, tzinfo=utc), 400, 600, 5),
    ]
    return write_catalog(folder / "catalog", items)


def _run(catalog, window, reducer="median", date="2024-03-11"):
    lon, lat = Transformer.from_crs(
        "EPSG:32633", "EPSG:4326", always_xy=True
    ).transform(ORIGIN[0] + 155, ORIGIN[1] - 155)
    spec = {
        "points": {"path": "unused.csv"},
        "output": "unused.parquet",
        "catalogs": {"syn": {"url": str(catalog)}},
        "features": [
            {
                "name": "v",
                "catalog": "syn",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": window,
                "reducer": reducer,
            }
        ],
    }
    spec = geofeat.load_spec(spec)
    points = pd.DataFrame({"id": ["p"], "lon": [lon], "lat": [lat], "date": [date]})
    # The pieces the job runs, without a points file.
    plan = plan_feature(spec, spec.features[0], validate(points, spec.points), {})
    frame, _ = plan.result.compute(scheduler="synchronous")
    return frame.iloc[0]


# NDVI of each synthetic scene, by hand: (nir - red) / (nir + red) on DN / 10000.
NDVI = {1: 0.5, 3: 1 / 3, 4: 0.0, 5: 0.2}


def test_start_included_end_excluded(catalog):
    row = _run(catalog, {"before": "10d"})
    assert row.v_n == 2  # scenes 1 and 3; not 2 (just before) nor 4, 5 (on the date)
    assert row.v == pytest.approx(np.median([NDVI[1], NDVI[3]]))


def test_include_date_takes_the_whole_day(catalog):
    row = _run(catalog, {"before": "10d", "include_date": True})
    assert row.v_n == 4
    assert row.v == pytest.approx(np.median([NDVI[1], NDVI[3], NDVI[4], NDVI[5]]))


@pytest.mark.parametrize(
    ("reducer", "expected"),
    [
        ("mean", np.mean([0.5, 1 / 3])),
        ("min", 1 / 3),
        ("max", 0.5),
        ("first", 0.5),
        ("last", 1 / 3),
        ("count", 2.0),
    ],
)
def test_reducers(catalog, reducer, expected):
    row = _run(catalog, {"before": "10d"}, reducer=reducer)
    assert row.v == pytest.approx(expected)


def test_last_reports_the_date_used(catalog):
    row = _run(catalog, {"before": "10d"}, reducer="last")
    assert row.v_date == np.datetime64("2024-03-05T10:00")
