"""Points: UTC days, column mapping, and errors that name the rows."""

from __future__ import annotations

import pandas as pd
import pytest

from geofeat.errors import PointsError
from geofeat.points import parse_days, read_points, validate
from geofeat.spec import PointsSpec


def test_dates_become_utc_days():
    days = parse_days(
        pd.Series(
            [
                "2023-08-20",  # naive: taken as UTC
                "2023-08-20T23:30:00-05:00",  # 04:30 UTC the next day
                "2023-08-20T01:00:00+02:00",  # 23:00 UTC the day before
                "2024-02-29",
            ]
        )
    )
    assert list(days) == [
        pd.Timestamp("2023-08-20"),
        pd.Timestamp("2023-08-21"),
        pd.Timestamp("2023-08-19"),
        pd.Timestamp("2024-02-29"),
    ]


def test_datetime_columns_with_a_zone_are_converted():
    stamps = pd.Series(pd.to_datetime(["2023-08-20 22:00"]).tz_localize("Asia/Tokyo"))
    assert parse_days(stamps).iloc[0] == pd.Timestamp("2023-08-20")


def test_columns_can_be_mapped(tmp_path):
    path = tmp_path / "sites.parquet"
    pd.DataFrame(
        {
            "site": ["x", "y"],
            "longitude": [1.5, 2.5],
            "latitude": [3.0, -4.0],
            "when": ["2020-01-01", "2020-01-02"],
            "label": [1, 0],
        }
    ).to_parquet(path)
    points = read_points(
        str(path),
        PointsSpec(
            path=str(path), id="site", lon="longitude", lat="latitude", date="when"
        ),
    )
    assert list(points.ids) == ["x", "y"]
    assert list(points.lat) == [3.0, -4.0]
    assert list(points.table.columns) == [
        "site",
        "longitude",
        "latitude",
        "when",
        "label",
    ]


def test_error_lists_rows_from_one():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "lon": [0, 0, 0],
            "lat": [0, 91, -91],
            "date": ["2020-01-01"] * 3,
        }
    )
    with pytest.raises(PointsError) as err:
        validate(table, PointsSpec(path="p.csv"))
    assert err.value.rows == [1, 2]
    assert "rows 2, 3" in str(err.value)


def test_unknown_format(tmp_path):
    path = tmp_path / "points.xlsx"
    path.write_text("")
    with pytest.raises(PointsError, match=r"\.csv or \.parquet"):
        read_points(str(path), PointsSpec(path=str(path)))


def _csv(tmp_path, text: str):
    path = tmp_path / "points.csv"
    path.write_text(text)
    return str(path)


def test_ids_stay_text(tmp_path):
    path = _csv(tmp_path, "id,lon,lat,date\n007,1,2,2020-01-01\n7,1,2,2020-01-01\n")
    points = read_points(path, PointsSpec(path=path))
    assert list(points.ids) == ["007", "7"]


def test_dates_other_than_iso_are_refused(tmp_path):
    """16/08/2023 and 08/12/2023 have no single reading: refuse, do not guess."""
    path = _csv(tmp_path, "id,lon,lat,date\na,1,2,16/08/2023\nb,1,2,08/12/2023\n")
    with pytest.raises(PointsError, match="rows 1, 2: date column 'date'.*YYYY-MM-DD"):
        read_points(path, PointsSpec(path=path))


def test_header_only_is_an_error(tmp_path):
    path = _csv(tmp_path, "id,lon,lat,date\n")
    with pytest.raises(PointsError, match="no rows"):
        read_points(path, PointsSpec(path=path))


def test_semicolon_files_get_a_hint(tmp_path):
    path = _csv(tmp_path, "id;lon;lat;date\na;1;2;2020-01-01\n")
    with pytest.raises(PointsError, match=";-separated"):
        read_points(path, PointsSpec(path=path))


def test_header_spaces_and_bom_are_ignored(tmp_path):
    path = tmp_path / "points.csv"
    path.write_bytes("\ufeff id , lon,lat ,date\na,1,2,2020-01-01\n".encode())
    points = read_points(str(path), PointsSpec(path=str(path)))
    assert list(points.table.columns) == ["id", "lon", "lat", "date"]
