"""The job spec: durations, windows, and errors that name the field."""

from __future__ import annotations

import pandas as pd
import pytest

from geofeat.errors import ConfigError
from geofeat.spec import Window, load_spec, parse_days


@pytest.mark.parametrize(
    ("text", "days"), [("10d", 10), ("2w", 14), ("30 days", 30), (7, 7), ("1 week", 7)]
)
def test_durations(text, days):
    assert parse_days(text) == pd.Timedelta(days=days)


@pytest.mark.parametrize("text", ["10", "10h", "-3d", "ten days", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_days(text)


def test_window_bounds():
    days = pd.DatetimeIndex(["2024-03-01", "2024-01-05"])
    start, end = Window(before="10d").bounds(days)
    assert list(start) == [pd.Timestamp("2024-02-20"), pd.Timestamp("2023-12-26")]
    assert list(end) == list(days)
    _, end = Window(before="10d", include_date=True).bounds(days)
    assert list(end) == [pd.Timestamp("2024-03-02"), pd.Timestamp("2024-01-06")]
    start, end = Window(before="1d", after="3d", include_date=True).bounds(days[:1])
    assert (start[0], end[0]) == (
        pd.Timestamp("2024-02-29"),
        pd.Timestamp("2024-03-04"),
    )


def test_empty_window_is_refused():
    with pytest.raises(ValueError, match="window is empty"):
        Window()


def test_relative_paths_follow_the_spec_file(tmp_path):
    (tmp_path / "sub").mkdir()
    spec_file = tmp_path / "sub" / "spec.yaml"
    spec_file.write_text(
        "points: pts.csv\noutput: out.parquet\ncatalogs: {c: {url: cat/catalog.json}}\n"
        "features:\n  - {name: v, catalog: c, collection: sentinel-2-l2a, index: ndvi, window: {before: 5d}}\n"
    )
    spec = load_spec(spec_file)
    assert spec.resolve(spec.points.path) == str(tmp_path / "sub" / "pts.csv")
    assert spec.resolve("https://example.org/a.json") == "https://example.org/a.json"


def test_error_names_the_field(tmp_path):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "points: pts.csv\noutput: out.parquet\n"
        "features:\n  - {name: v, catalog: earth-search, collection: sentinel-2-l2a, index: ndvi, band: red,"
        " window: {before: 5d}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"features\[0\].*exactly one of 'index' or 'band'"
    ):
        load_spec(spec_file)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"output": "out.csv"}, "ending in .parquet"),
        ({"outptu": "x.parquet"}, "did you mean 'output'"),
        (
            {
                "features": [
                    {
                        "name": "v",
                        "catalog": "c",
                        "collection": "sentinel-2-l2a",
                        "index": "ndvii",
                        "window": {"before": "5d"},
                    }
                ]
            },
            "similar: ['ndvi'",
        ),
        (
            {
                "features": [
                    {
                        "name": "v",
                        "catalog": "c",
                        "collection": "sentinel-2-l1c",
                        "index": "ndvi",
                        "window": {"before": "5d"},
                    }
                ]
            },
            "'sentinel-2-l1c' is not",
        ),
    ],
)
def test_mistakes_are_caught_when_the_spec_is_read(change, expected):
    spec = {
        "points": "p.csv",
        "output": "o.parquet",
        "catalogs": {"c": {"url": "catalog.json"}},
        "features": [
            {
                "name": "v",
                "catalog": "c",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "5d"},
            }
        ],
    }
    with pytest.raises(ConfigError) as err:
        load_spec({**spec, **change})
    assert expected in str(err.value)


def test_a_folder_is_not_a_spec(tmp_path):
    with pytest.raises(ConfigError, match="is a folder"):
        load_spec(tmp_path)


def test_chip_and_krige_specs_refuse_impossible_sizes_up_front():
    """Sizes that could never be written are refused with the estimate, before
    any read or any file is written."""
    from geofeat.chips import load_chip_spec
    from geofeat.krige import load_krige_spec

    chips = {
        "points": "p.csv",
        "output": "c.zarr",
        "catalogs": {"s2": {"url": "catalog.json"}},
        "chips": {
            "catalog": "s2",
            "collection": "sentinel-2-l2a",
            "bands": ["red"],
            "size": 100000,
            "window": {"before": "30d"},
        },
    }
    with pytest.raises(ConfigError, match="at most 4096 pixels a side"):
        load_chip_spec(chips)
    with pytest.raises(ConfigError, match="ending in .zarr"):
        load_chip_spec(
            {**chips, "output": "c.parquet", "chips": {**chips["chips"], "size": 64}}
        )
    krige = {
        "samples": {
            "path": "m.csv",
            "x": "x",
            "y": "y",
            "value": "zinc",
            "crs": "EPSG:28992",
        },
        "variogram": {"model": "spherical", "nugget": 0.05, "psill": 0.6, "range": 900},
        "grid": {"bounds": [178000, 329000, 182000, 334000], "resolution": 0.01},
        "output": "k.zarr",
    }
    with pytest.raises(ConfigError, match="about 2e[+]11 cells"):
        load_krige_spec(krige)
    krige["grid"]["resolution"] = 40
    with pytest.raises(ConfigError, match="crossval.folds"):
        load_krige_spec({**krige, "crossval": {"folds": 1}})
    with pytest.raises(ConfigError, match="did you mean 'neighbourhood'"):
        load_krige_spec({**krige, "nieghbourhood": {}})
    assert load_krige_spec(krige).grid.resolution == 40


def test_a_field_in_the_wrong_section_is_named_as_such():
    spec = {
        "points": "p.csv",
        "output": "o.parquet",
        "features": [
            {
                "name": "rain",
                "source": {"kind": "cube", "url": "x.zarr"},
                "windows": {"size": "30d", "count": 4},
                "include_date": True,
            }
        ],
    }
    with pytest.raises(ConfigError, match="'include_date' belongs in another section"):
        load_spec(spec)
