"""`geofeat run` end to end on the real Earth Search scenes in ../shared/data.

Expected values are computed here independently of geofeat: the item JSON is read
with the json module, each file is opened with rasterio, the pixel found with
``dataset.index``, SCL applied by hand, and NDVI computed from DN / 10000 (these
items say ``earthsearch:boa_offset_applied: true``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer

import geofeat

pytestmark = pytest.mark.realdata

TO_LONLAT = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
TWL_ORIGIN = (499980.0, 5100000.0)


def twl_point(row: int, col: int, dy: float = 0.0) -> tuple[float, float]:
    """Lon/lat of the centre of a 33TWL pixel (120 m grid), moved ``dy`` metres north."""
    x = TWL_ORIGIN[0] + 120 * (col + 0.5)
    y = TWL_ORIGIN[1] - 120 * (row + 0.5) + dy
    return TO_LONLAT.transform(x, y)


def items(catalog: Path) -> list[dict]:
    folder = catalog.parent / "sentinel-2-l2a"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/*_L2A.json"))]


def pixel(path: Path, lon: float, lat: float) -> float | None:
    """The DN of the pixel holding the point, or None outside the raster."""
    with rasterio.open(path) as ds:
        x, y = Transformer.from_crs("EPSG:4326", ds.crs, always_xy=True).transform(
            lon, lat
        )
        row, col = ds.index(x, y)
        if not (0 <= row < ds.height and 0 <= col < ds.width):
            return None
        return float(ds.read(1, window=((row, row + 1), (col, col + 1)))[0, 0])


def expected_ndvi(catalog: Path, lon: float, lat: float, day: str, before_days: int):
    """Median NDVI, valid passes and passes seen, computed by hand."""
    end = datetime.fromisoformat(day)
    start = end - timedelta(days=before_days)
    by_pass: dict[str, list[tuple[tuple, float | None]]] = {}
    for item in items(catalog):
        when = datetime.fromisoformat(item["properties"]["datetime"].rstrip("Z"))
        if not (start <= when < end):
            continue
        folder = catalog.parent / "sentinel-2-l2a" / item["id"]
        scl = pixel(folder / "SCL.tif", lon, lat)
        if scl is None:
            continue
        red = pixel(folder / "B04.tif", lon, lat)
        nir = pixel(folder / "B08.tif", lon, lat)
        value = None
        if scl in (4, 5, 6) and red and nir:
            value = (nir / 1e4 - red / 1e4) / (nir / 1e4 + red / 1e4)
        # Same pass (datatake); first valid by latest generation time, then id.
        key = item["properties"]["s2:datatake_id"]
        order = (item["properties"]["s2:generation_time"], item["id"])
        by_pass.setdefault(key, []).append((order, value))
    values = []
    for observations in by_pass.values():
        ranked = sorted(observations, key=lambda o: (-_stamp(o[0][0]), o[0][1]))
        valid = [v for _, v in ranked if v is not None]
        if valid:
            values.append(valid[0])
    median = float(np.median(values)) if values else float("nan")
    return median, len(values), len(by_pass)


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text.rstrip("Z")).timestamp()


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    rows = {
        # 33TWL only, clear on all four dates of the window.
        "clear": (*twl_point(406, 488), "2023-08-21"),
        # 33TWL only, cloud or shadow on 2023-08-18.
        "cloudy": (*twl_point(301, 592), "2023-08-21"),
        # In the overlap of 33TWL and 33TWM: on 08-18 33TWL is clear and 33TWM
        # shadow; moved 30 m south: the 33TWM grid is offset by half a pixel,
        # so a 33TWL pixel centre lies on a 33TWM pixel edge.
        "overlap-a": (*twl_point(40, 500, dy=-30.0), "2023-08-21"),
        # In the overlap: on 08-18 33TWL is cloud and 33TWM clear.
        "overlap-b": (*twl_point(50, 500, dy=-30.0), "2023-08-21"),
        # Far east of both tiles.
        "outside": (19.5, 45.5, "2023-08-21"),
        # Inside the tiles, but no scene in [2023-07-26, 2023-08-05).
        "no-scene": (*twl_point(406, 488), "2023-08-05"),
    }
    return pd.DataFrame(
        [(k, lon, lat, day, f"label-{k}") for k, (lon, lat, day) in rows.items()],
        columns=["id", "lon", "lat", "date", "label"],
    )


@pytest.fixture(scope="module")
def result(points, s2_catalog, tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    points.to_csv(folder / "points.csv", index=False)
    spec = {
        "points": str(folder / "points.csv"),
        "output": str(folder / "features.parquet"),
        "catalogs": {"s2local": {"url": str(s2_catalog)}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "s2local",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "10d"},
                "reducer": "median",
            }
        ],
    }
    return geofeat.run(spec), folder


def test_rows_and_columns_are_kept(result, points):
    """Every input row, in input order, with its input columns, then the features."""
    run, folder = result
    written = pd.read_parquet(folder / "features.parquet")
    assert list(written["id"]) == list(points["id"])
    assert list(written.columns[:5]) == ["id", "lon", "lat", "date", "label"]
    assert {"ndvi", "ndvi_n"} <= set(written.columns)
    pd.testing.assert_frame_equal(written, run.table.reset_index(drop=True))


@pytest.mark.parametrize("point", ["clear", "cloudy", "overlap-a", "overlap-b"])
def test_ndvi_matches_pixels_read_by_hand(result, points, s2_catalog, point):
    run, _ = result
    row = points.set_index("id").loc[point]
    median, n, total = expected_ndvi(s2_catalog, row.lon, row.lat, row.date, 10)
    got = run.table.set_index("id").loc[point]
    assert got.ndvi_n == n
    assert got.ndvi_total == total
    assert got.ndvi == pytest.approx(median, rel=1e-12)


def test_hand_picked_cases_are_what_they_claim(result, points, s2_catalog):
    """The chosen pixels exercise what the names say: 4 clear passes, a masked one,
    and overlap points seeing each pass once although two tiles cover them."""
    run, _ = result
    table = run.table.set_index("id")
    assert table.loc["clear", "ndvi_n"] == 4
    assert table.loc["cloudy", "ndvi_n"] == 3 and table.loc["cloudy", "ndvi_total"] == 4
    for point in ("overlap-a", "overlap-b"):
        assert table.loc[point, "ndvi_n"] == 4  # two tiles, four passes
    assert 0.2 < table.loc["clear", "ndvi"] < 1.0


def test_points_without_coverage_get_nan_and_zero(result):
    run, _ = result
    table = run.table.set_index("id")
    for point in ("outside", "no-scene"):
        assert np.isnan(table.loc[point, "ndvi"])
        assert table.loc[point, "ndvi_n"] == 0


def test_summary_counts(result):
    run, _ = result
    summary = run.summary
    assert summary.points == 6
    assert summary.items == 10  # every scene in the catalogue is in some window
    assert summary.filled == {"ndvi": 4}
    # Reads go to the blocks under points, never whole scenes: each read is far
    # smaller than a 915 x 915 scene.
    assert 0 < summary.reads.pixels < summary.reads.windows * 915 * 915 / 4
    # The catalogue's proj:* describe the 10 m originals; the files are 120 m.
    assert summary.reads.geometry_from_file == summary.reads.assets


def test_swapped_coordinates_get_a_hint(s2_catalog, tmp_path, caplog):
    """Zagreb given as lat, lon: no value anywhere, and the log says what to check."""
    points = tmp_path / "points.csv"
    points.write_text("id,lon,lat,date\nzagreb,45.81,15.98,2023-08-21\n")
    spec = {
        "points": str(points),
        "output": str(tmp_path / "out.parquet"),
        "cluster": "synchronous",
        "catalogs": {"s2": {"url": str(s2_catalog)}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "s2",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "10d"},
            }
        ],
    }
    with caplog.at_level("WARNING", logger="geofeat"):
        result = geofeat.run(spec)
    assert result.summary.filled == {"ndvi": 0}
    assert "lon and lat are not swapped" in caplog.text


def test_output_metadata_says_the_units(result):
    """NDVI is unitless; the units sit in the Parquet metadata as JSON."""
    import json

    import pyarrow.parquet as pq

    _, folder = result
    metadata = pq.read_schema(folder / "features.parquet").metadata
    assert json.loads(metadata[b"geofeat:units"]) == {"ndvi": "1"}
