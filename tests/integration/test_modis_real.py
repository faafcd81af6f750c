"""MODIS LST on real files: AppEEARS statistics, pixels on a real sinusoidal tile,
composite time edges, availability, omitted QC, and `geofeat run` end to end.

Catalogues are built at test time in a temporary folder over the files in
``../shared/data/modis`` (the files themselves are never copied).
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pystac
import pytest
import rasterio
import yaml
from pyproj import CRS, Transformer
from rasterio.transform import Affine

import geofeat
from geofeat.errors import AvailabilityError, ConfigError, ReadError
from geofeat.sources.appeears import build_appeears_catalog
from geofeat.sources.modis import BANDS, MODIS_SPHERE_RADIUS, decode
from geofeat.sources.modis_qc import MOD11_LAYOUT

SAHARA = "modis/appeears_mod11a2_061_sahara_2024"
BAVARIA = "modis/appeears_mod11a2_061_bavaria_2024"
TILE = "modis/hdf4_mod11a1_006_h14v09_2019-11-01"
TILE_STEM = "MOD11A1.A2019305.h14v09.006.2019306084028_"
SINUSOIDAL = "+proj=sinu +R=6371007.181 +units=m +no_defs"


@pytest.fixture(scope="module")
def appeears_catalog(shared_data: Path, tmp_path_factory) -> Path:
    """A static catalogue over the real Sahara and Bavaria AppEEARS exports."""
    out = tmp_path_factory.mktemp("appeears")
    return build_appeears_catalog([shared_data / SAHARA, shared_data / BAVARIA], out)


def run_points(tmp_path, catalog, rows, collection="MOD11A2.061", **feature):
    points = tmp_path / "points.csv"
    pd.DataFrame(rows, columns=["id", "lon", "lat", "date"]).to_csv(points, index=False)
    spec = {
        "points": str(points),
        "output": str(tmp_path / "out.parquet"),
        "cluster": "synchronous",
        "catalogs": {"local": {"url": str(catalog)}},
        "features": [
            {
                "name": "lst",
                "catalog": "local",
                "collection": collection,
                "band": "LST_Day_1km",
                "window": {"before": "16d"},
                "reducer": "mean",
                **feature,
            }
        ],
    }
    return geofeat.run(spec, write=False)


def sahara_file(shared_data: Path, layer: str, doy: str) -> Path:
    return shared_data / SAHARA / f"MOD11A2.061_{layer}_doy{doy}000000_aid0001.tif"


def test_sahara_statistics_match_appeears(shared_data: Path) -> None:
    """Decoding whole arrays gives AppEEARS' count, min and mean on all 47 dates."""
    stats = pd.read_csv(shared_data / SAHARA / "MOD11A2-061-Statistics.csv")
    assert len(stats) == 47
    for row in stats.itertuples():
        doy = row[1].split("_doy")[1][:7]
        with rasterio.open(sahara_file(shared_data, "LST_Day_1km", doy)) as ds:
            dn = ds.read(1, masked=False)
        value, valid = decode(BANDS["LST_Day_1km"], dn, quality="none")
        assert valid.sum() == row.Count, doy
        assert np.nanmin(value) == pytest.approx(row.Minimum, abs=1e-9), doy
        assert np.nanmean(value) == pytest.approx(row.Mean, abs=1e-3), doy


def test_sahara_qc_counts_and_lookup(shared_data: Path) -> None:
    """QC files hold 65 as often as AppEEARS counted; 65 decodes as its lookup."""
    qa = pd.read_csv(shared_data / SAHARA / "MOD11A2-061-QC-Day-Statistics-QA.csv")
    for row in qa.itertuples():
        doy = row.File.split("_")[2]
        with rasterio.open(sahara_file(shared_data, "QC_Day", doy)) as ds:
            assert ds.nodata == 0  # declared, though 0 means "good"
            qc = ds.read(1, masked=False)
        assert int((qc == 65).sum()) == row[4], doy
        assert set(np.unique(qc)) <= {0, 65}
    lookup = pd.read_csv(shared_data / SAHARA / "MOD11A2-061-QC-Day-lookup.csv").iloc[0]
    fields = {k: int(v[0]) for k, v in MOD11_LAYOUT.decode(np.array([65.0])).items()}
    assert lookup["Value"] == 65
    assert fields["mandatory"] == 1 and lookup["MODLAND"].startswith(
        "LST produced, other"
    )
    assert (
        fields["data_quality"] == 0
        and lookup["Data Quality flag"] == "Good data quality"
    )
    assert fields["emissivity_error"] == 0 and "<= 0.01" in lookup["Emis Error flag"]
    assert fields["lst_error"] == 1 and "<= 2K" in lookup["LST Error Flag"]


# --- the real sinusoidal tile -------------------------------------------------


def _tile_catalog(shared_data: Path, out: Path) -> Path:
    folder = shared_data / TILE
    item = pystac.Item(
        id="MOD11A1.A2019305.h14v09.006",
        geometry={
            "type": "Polygon",
            "coordinates": [[[-41, -10], [-30, -10], [-30, 0], [-41, 0], [-41, -10]]],
        },
        bbox=[-41, -10, -30, 0],
        datetime=None,
        properties={
            "start_datetime": "2019-11-01T00:00:00Z",
            "end_datetime": "2019-11-01T23:59:59Z",
            "platform": "terra",
        },
    )
    for key in ("LST_Day_1km", "QC_Day", "LST_Night_1km", "QC_Night"):
        href = str(folder / f"{TILE_STEM}{key}.tif")
        item.add_asset(key, pystac.Asset(href=href))
    return _save(out, "MOD11A1.006", [item])


def _save(out: Path, collection_id: str, items: list[pystac.Item]) -> Path:
    catalog = pystac.Catalog(id="test", description="test")
    collection = pystac.Collection(
        id=collection_id,
        description="test",
        extent=pystac.Extent(
            pystac.SpatialExtent([[-180, -90, 180, 90]]),
            pystac.TemporalExtent([[None, None]]),
        ),
    )
    for item in items:
        collection.add_item(item)
    catalog.add_child(collection)
    catalog.normalize_hrefs(str(out))
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return out / "catalog.json"


def _lonlat_of_pixel(transform: Affine, row: int, col: int) -> tuple[float, float]:
    """Centre of a pixel of the MODIS grid, by the inverse sinusoidal on the sphere."""
    x, y = transform @ (col + 0.5, row + 0.5)
    lat = y / MODIS_SPHERE_RADIUS
    lon = x / (MODIS_SPHERE_RADIUS * math.cos(lat))
    return math.degrees(lon), math.degrees(lat)


def test_known_point_lands_in_gdals_pixel(shared_data: Path, tmp_path: Path) -> None:
    """(-36.21, -6.77) is in h14v09 at the row/col GDAL gives, and is read there."""
    lon, lat = -36.21, -6.77
    # By hand: sinusoidal on the sphere, then the MODIS tile grid (10 deg tiles of
    # 1111950.5197 m, from x = -20015109.354, y = 10007554.677).
    x = MODIS_SPHERE_RADIUS * math.radians(lon) * math.cos(math.radians(lat))
    y = MODIS_SPHERE_RADIUS * math.radians(lat)
    h = math.floor((x + 20015109.354) / 1111950.5197)
    v = math.floor((10007554.677 - y) / 1111950.5197)
    assert (h, v) == (14, 9)
    with rasterio.open(shared_data / TILE / f"{TILE_STEM}LST_Day_1km.tif") as ds:
        col = math.floor((x - ds.transform.c) / ds.transform.a)
        row = math.floor((y - ds.transform.f) / ds.transform.e)
        # GDAL's own answer (as gdallocationinfo -geoloc) with the file's CRS:
        fx, fy = Transformer.from_crs(4326, ds.crs, always_xy=True).transform(lon, lat)
        assert ds.index(fx, fy) == (row, col) == (812, 485)
        lst = ds.read(1)
    # The pixel west of it is fill: a grid error of one pixel would show.
    assert lst[row, col] == 15281 and lst[row, col - 1] == 0
    catalog = _tile_catalog(shared_data, tmp_path / "cat")
    result = run_points(
        tmp_path,
        catalog,
        [("p", lon, lat, "2019-11-02")],
        collection="MOD11A1.006",
        window={"before": "1d"},
        quality="none",
    )
    assert result.table["lst"][0] == pytest.approx(15281 * 0.02, abs=1e-9)


@pytest.mark.parametrize(
    "quality",
    ["none", "good", "produced", "error_le_1k", "error_le_2k", {"lst_error": [0, 2]}],
)
def test_chosen_pixels_per_quality(shared_data: Path, tmp_path: Path, quality) -> None:
    """Pixel centres of the real tile with QC 0, 17, 65, 81, 145 and 2 (not produced):
    value = DN x 0.02 where the hand-decoded QC passes, else NaN."""
    catalog = _tile_catalog(shared_data, tmp_path / "cat")
    with rasterio.open(shared_data / TILE / f"{TILE_STEM}LST_Day_1km.tif") as ds:
        lst, transform = ds.read(1), ds.transform
    with rasterio.open(shared_data / TILE / f"{TILE_STEM}QC_Day.tif") as ds:
        qc = ds.read(1)
    pixels = [(804, 514), (1098, 131), (902, 651), (1099, 159), (1043, 137), (981, 568)]
    assert [int(qc[p]) for p in pixels] == [0, 17, 65, 81, 145, 2]
    # Hand decoding: mandatory bits 0-1, lst_error bits 6-7.
    allowed = {
        "none": lambda q: True,
        "good": lambda q: q & 3 == 0,
        "produced": lambda q: q & 3 <= 1,
        "error_le_1k": lambda q: q & 3 <= 1 and q >> 6 == 0,
        "error_le_2k": lambda q: q & 3 <= 1 and q >> 6 <= 1,
    }.get(quality if isinstance(quality, str) else "", lambda q: (q >> 6) in (0, 2))
    expected = [
        lst[p] * 0.02 if lst[p] >= 7500 and allowed(int(qc[p])) else np.nan
        for p in pixels
    ]
    rows = [
        (f"p{i}", *_lonlat_of_pixel(transform, *p), "2019-11-02")
        for i, p in enumerate(pixels)
    ]
    result = run_points(
        tmp_path,
        catalog,
        rows,
        collection="MOD11A1.006",
        window={"before": "1d"},
        quality=quality,
    )
    np.testing.assert_allclose(result.table["lst"], expected, rtol=0, atol=1e-9)
    assert list(result.table["lst_total"]) == [1] * 6


def test_night_band_uses_night_qc(shared_data: Path, tmp_path: Path) -> None:
    catalog = _tile_catalog(shared_data, tmp_path / "cat")
    with rasterio.open(shared_data / TILE / f"{TILE_STEM}LST_Night_1km.tif") as ds:
        lst, transform = ds.read(1), ds.transform
    with rasterio.open(shared_data / TILE / f"{TILE_STEM}QC_Night.tif") as ds:
        qc = ds.read(1)
    good = tuple(np.argwhere((qc == 0) & (lst > 0))[0])
    other = tuple(np.argwhere((qc == 65) & (lst > 0))[0])
    rows = [
        ("good", *_lonlat_of_pixel(transform, *good), "2019-11-02"),
        ("other", *_lonlat_of_pixel(transform, *other), "2019-11-02"),
    ]
    result = run_points(
        tmp_path,
        catalog,
        rows,
        collection="MOD11A1.006",
        band="LST_Night_1km",
        window={"before": "1d"},
        quality="good",
        units="celsius",
    )
    assert result.table["lst"][0] == pytest.approx(lst[good] * 0.02 - 273.15, abs=1e-9)
    assert np.isnan(result.table["lst"][1])


def test_fill_out_of_range_and_declared_qc_nodata(tmp_path: Path) -> None:
    """A sinusoidal file with chosen DNs; its QC declares nodata 0 like AppEEARS'."""
    transform = Affine(926.625433, 0, 1111950.519767, 0, -926.625433, 2223901.039533)
    lst = np.array([[15000, 5000, 0], [7500, 65535, 14000]], "uint16")
    qc = np.array([[0, 0, 0], [65, 2, 0]], "uint8")
    folder = tmp_path / "files"
    folder.mkdir()
    for name, data in (("LST_Day_1km", lst), ("QC_Day", qc)):
        with rasterio.open(
            folder / f"{name}.tif",
            "w",
            driver="GTiff",
            width=3,
            height=2,
            count=1,
            dtype=data.dtype,
            crs=CRS(SINUSOIDAL).to_wkt(),
            transform=transform,
            nodata=0,
        ) as ds:
            ds.write(data, 1)
    item = pystac.Item(
        id="MOD11A2.A2024017.h19v07.061",
        geometry=None,
        bbox=None,
        datetime=None,
        properties={
            "start_datetime": "2024-01-17T00:00:00Z",
            "end_datetime": "2024-01-24T23:59:59Z",
            "proj:wkt2": CRS(SINUSOIDAL).to_wkt(),
        },
    )
    for name in ("LST_Day_1km", "QC_Day"):
        item.add_asset(name, pystac.Asset(href=str(folder / f"{name}.tif")))
    catalog = _save(tmp_path / "cat", "MOD11A2.061", [item])
    rows = [
        (f"r{r}c{c}", *_lonlat_of_pixel(transform, r, c), "2024-01-25")
        for r in range(2)
        for c in range(3)
    ]
    good = run_points(tmp_path, catalog, rows, window={"before": "8d"}, quality="good")
    # 300 K; out of range; fill; QC 65 not good; QC 2 not produced; 280 K.
    nan = np.nan
    np.testing.assert_allclose(
        good.table["lst"], [300.0, nan, nan, nan, nan, 280.0], rtol=0, atol=1e-9
    )
    produced = run_points(
        tmp_path, catalog, rows, window={"before": "8d"}, quality="produced"
    )
    np.testing.assert_allclose(
        produced.table["lst"], [300.0, nan, nan, 150.0, nan, 280.0], rtol=0, atol=1e-9
    )
    assert list(produced.table["lst_total"]) == [1] * 6


# --- AppEEARS catalogue: time, QC omitted, availability, end to end ----------


def _sahara_dn(shared_data: Path, doy: str, lon: float, lat: float) -> int:
    with rasterio.open(sahara_file(shared_data, "LST_Day_1km", doy)) as ds:
        row = math.floor((ds.transform.f - lat) / -ds.transform.e)
        col = math.floor((lon - ds.transform.c) / ds.transform.a)
        return int(ds.read(1)[row, col])


@pytest.mark.parametrize(
    ("date", "before", "doys"),
    [
        # [Jan 1, Jan 17): the Jan 17 composite starts at the window's (excluded) end.
        ("2024-01-17", "16d", ["2024001", "2024009"]),
        # [Jan 2, Jan 18): the Jan 1 composite [Jan 1, Jan 9) overlaps by 7 days.
        ("2024-01-18", "16d", ["2024001", "2024009", "2024017"]),
        # [Jan 9, Jan 25): Jan 1 ends where the window starts; Jan 25 starts at its end.
        ("2024-01-25", "16d", ["2024009", "2024017"]),
        # [Dec 31, Jan 2): the 2023 year-end composite is [Dec 27, Jan 1).
        ("2024-01-02", "2d", ["2023361", "2024001"]),
        ("2024-01-02", "1d", ["2024001"]),
    ],
)
def test_composite_window_edges(
    shared_data: Path, tmp_path: Path, appeears_catalog: Path, date, before, doys
) -> None:
    lon, lat = 25.0042, 23.0042
    expected = np.mean([_sahara_dn(shared_data, d, lon, lat) * 0.02 for d in doys])
    result = run_points(
        tmp_path,
        appeears_catalog,
        [("s", lon, lat, date)],
        window={"before": before},
        quality="none",
    )
    assert result.table["lst_total"][0] == len(doys)
    assert result.table["lst"][0] == pytest.approx(expected, abs=1e-9)


def test_omitted_qc_means_good_and_qc_65_is_not(
    shared_data: Path, tmp_path: Path, appeears_catalog: Path
) -> None:
    """2024-01-01 has no QC file (all 0): good keeps it; QC 65 on 2024-01-17: not."""
    with rasterio.open(sahara_file(shared_data, "QC_Day", "2024017")) as ds:
        row, col = np.argwhere(ds.read(1) == 65)[0]
        lon, lat = ds.transform @ (col + 0.5, row + 0.5)
    rows = [("one", lon, lat, "2024-01-09"), ("seventeen", lon, lat, "2024-01-25")]
    good = run_points(tmp_path, appeears_catalog, rows, window={"before": "8d"})
    produced = run_points(
        tmp_path, appeears_catalog, rows, window={"before": "8d"}, quality="produced"
    )
    expected = [
        _sahara_dn(shared_data, d, lon, lat) * 0.02 for d in ("2024001", "2024017")
    ]
    assert good.table["lst"][0] == pytest.approx(expected[0], abs=1e-9)
    assert np.isnan(good.table["lst"][1]) and good.table["lst_total"][1] == 1
    np.testing.assert_allclose(produced.table["lst"], expected, rtol=0, atol=1e-9)


def test_no_qc_exported_needs_quality_none(
    tmp_path: Path, appeears_catalog: Path
) -> None:
    """Bavaria has no QC files at all: a quality rule cannot be applied."""
    rows = [("b", 10.0, 48.5, "2024-06-01")]
    with pytest.raises(ConfigError, match=r"have no \['QC_Day'\].*quality: none"):
        run_points(tmp_path, appeears_catalog, rows)
    assert (
        run_points(tmp_path, appeears_catalog, rows, quality="none").table["lst_n"][0]
        == 2
    )


def test_windows_before_the_product(tmp_path: Path, appeears_catalog: Path) -> None:
    """A 1999 point gets NaN and a reason; a run where every point is early fails."""
    rows = [("old", 25.0, 23.0, "1999-06-01"), ("new", 25.0, 23.0, "2024-01-20")]
    result = run_points(tmp_path, appeears_catalog, rows, quality="none")
    assert np.isnan(result.table["lst"][0]) and result.table["lst"][1] > 280
    reason = "lst: window ends before MOD11A2.061 has data (from 2000-02-18)"
    assert result.summary.reasons[reason] == 1
    with pytest.raises(AvailabilityError, match="every point's window ends before"):
        run_points(tmp_path, appeears_catalog, rows[:1], quality="none")
    # Aqua starts later: a 2001 window has Terra data but no Aqua data.
    with pytest.raises(
        AvailabilityError, match=r"MYD11A2\.061 has data \(from 2002-07-04"
    ):
        run_points(
            tmp_path,
            appeears_catalog,
            [("a", 25.0, 23.0, "2001-06-01")],
            collection="MYD11A2.061",
        )


def test_geofeat_run_cli(
    shared_data: Path, tmp_path: Path, appeears_catalog: Path
) -> None:
    """`geofeat run` with an lst_day feature over the real Sahara and Bavaria files."""
    points = [
        ("sahara", 24.5042, 22.5042, "2024-08-20"),
        ("bavaria", 10.8958, 48.3708, "2024-07-01"),
    ]
    pd.DataFrame(points, columns=["id", "lon", "lat", "date"]).to_csv(
        tmp_path / "points.csv", index=False
    )
    spec = {
        "points": "points.csv",
        "output": "features.parquet",
        "cluster": "synchronous",
        "catalogs": {"appeears": {"url": str(appeears_catalog)}},
        "features": [
            {
                "name": "lst_day",
                "catalog": "appeears",
                "collection": "MOD11A2.061",
                "band": "LST_Day_1km",
                "window": {"before": "16d"},
                "reducer": "mean",
                "quality": "none",
                "units": "celsius",
            }
        ],
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    exe = Path(sys.executable).with_name("geofeat")
    done = subprocess.run(
        [str(exe), "run", str(tmp_path / "spec.yaml")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_parquet(tmp_path / "features.parquet")
    # [Aug 4, Aug 20): composites Aug 4 (doy 217) and Aug 12 (225); Bavaria
    # [Jun 15, Jul 1): Jun 9 (161), Jun 17 (169), Jun 25 (177).
    expected = {
        "sahara": [
            _sahara_dn(shared_data, d, 24.5042, 22.5042) for d in ("2024217", "2024225")
        ],
    }
    with_bavaria = []
    for doy in ("2024161", "2024169", "2024177"):
        path = (
            shared_data
            / BAVARIA
            / f"MOD11A2.061_LST_Day_1km_doy{doy}000000_aid0001.tif"
        )
        with rasterio.open(path) as ds:
            row, col = ds.index(10.8958, 48.3708)
            with_bavaria.append(int(ds.read(1)[row, col]))
    expected["bavaria"] = with_bavaria
    for name, dns in expected.items():
        row = table[table["id"] == name].iloc[0]
        valid = [d * 0.02 - 273.15 for d in dns if d != 0]
        assert row["lst_day_total"] == len(dns)
        assert row["lst_day_n"] == len(valid)
        assert row["lst_day"] == pytest.approx(np.mean(valid), abs=1e-9)
    meta = pq.read_schema(tmp_path / "features.parquet").metadata
    assert b'"units": "celsius"' in meta[b"geofeat:spec"]
    assert json.loads(meta[b"geofeat:units"]) == {"lst_day": "celsius"}


def test_file_on_the_wgs84_sinusoidal_is_refused(tmp_path: Path) -> None:
    """An item declaring no CRS, whose file is on WGS84's sinusoidal: refused."""
    transform = Affine(926.625433, 0, 1111950.519767, 0, -926.625433, 2223901.039533)
    path = tmp_path / "LST_Day_1km.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=2,
        height=2,
        count=1,
        dtype="uint16",
        crs=CRS("ESRI:54008").to_wkt(),
        transform=transform,
        nodata=0,
    ) as ds:
        ds.write(np.full((2, 2), 15000, "uint16"), 1)
    item = pystac.Item(
        id="MOD11A2.A2024017.h19v07.061",
        geometry=None,
        bbox=None,
        datetime=None,
        properties={
            "start_datetime": "2024-01-17T00:00:00Z",
            "end_datetime": "2024-01-24T23:59:59Z",
        },
    )
    item.add_asset("LST_Day_1km", pystac.Asset(href=str(path)))
    catalog = _save(tmp_path / "cat", "MOD11A2.061", [item])
    with pytest.raises(
        ReadError, match=r"file .*LST_Day_1km.tif declares a sinusoidal"
    ):
        run_points(
            tmp_path,
            catalog,
            [("p", 10.5, 19.5, "2024-01-25")],
            quality="none",
            window={"before": "8d"},
        )


MOD11B2 = "modis/hdf4_mod11b2_006_h14v04_2017-01-01"
MOD11B2_STEM = "MOD11B2.A2017001.h14v04.006.2017013155631_"


def _mod11b2(shared_data: Path, layer: str) -> tuple[np.ndarray, Affine, float | None]:
    with rasterio.open(shared_data / MOD11B2 / f"{MOD11B2_STEM}{layer}.tif") as ds:
        return ds.read(1), ds.transform, ds.nodata


@pytest.mark.parametrize("when", ["Day", "Night"])
def test_mod11b2_day_and_night_qc(shared_data: Path, tmp_path: Path, when) -> None:
    """The real 8-day 6 km tile, whose QC files declare nodata 0: QC 0 pixels keep
    their LST under ``good``; QC 0 over fill stays invalid; QC 65 needs ``produced``.
    Whole arrays: ``good`` keeps exactly the pixels with mandatory bits 0 and a DN."""
    lst, transform, _ = _mod11b2(shared_data, f"LST_{when}_6km")
    qc, _, qc_nodata = _mod11b2(shared_data, f"QC_{when}")
    assert qc_nodata == 0
    band = BANDS[f"LST_{when}_6km"]
    _, valid = decode(band, lst, qc, quality="good")
    assert valid.sum() == ((qc & 3 == 0) & (lst >= 7500)).sum() > 300

    good = tuple(np.argwhere((qc == 0) & (lst > 0))[0])
    good_fill = tuple(np.argwhere((qc == 0) & (lst == 0))[0])
    other = tuple(np.argwhere((qc == 65) & (lst > 0))[0])
    item = pystac.Item(
        id="MOD11B2.A2017001.h14v04.006",
        geometry=None,
        bbox=None,
        datetime=None,
        properties={
            "start_datetime": "2017-01-01T00:00:00Z",
            "end_datetime": "2017-01-08T23:59:59Z",
        },
    )
    for layer in (f"LST_{when}_6km", f"QC_{when}"):
        href = str(shared_data / MOD11B2 / f"{MOD11B2_STEM}{layer}.tif")
        item.add_asset(layer, pystac.Asset(href=href))
    catalog = _save(tmp_path / "cat", "MOD11B2.006", [item])
    rows = [
        (name, *_lonlat_of_pixel(transform, *pixel), "2017-01-09")
        for name, pixel in (("good", good), ("fill", good_fill), ("other", other))
    ]
    kw = dict(collection="MOD11B2.006", band=f"LST_{when}_6km", window={"before": "8d"})
    strict = run_points(tmp_path, catalog, rows, quality="good", **kw).table["lst"]
    loose = run_points(tmp_path, catalog, rows, quality="produced", **kw).table["lst"]
    nan = np.nan
    np.testing.assert_allclose(strict, [lst[good] * 0.02, nan, nan], rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        loose, [lst[good] * 0.02, nan, lst[other] * 0.02], rtol=0, atol=1e-9
    )


def test_neighbouring_tiles_make_one_observation(tmp_path: Path) -> None:
    """A composite seen on two tiles (both items match the point) counts once."""
    size = 926.625433
    items = []
    for h, x0, dn in (
        ("h19", 1111950.519767, 15000),
        ("h20", 1111950.519767 + 2 * size, 14000),
    ):
        path = tmp_path / f"{h}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=2,
            height=2,
            count=1,
            dtype="uint16",
            crs=CRS(SINUSOIDAL).to_wkt(),
            transform=Affine(size, 0, x0, 0, -size, 2223901.039533),
            nodata=0,
        ) as ds:
            ds.write(np.full((2, 2), dn, "uint16"), 1)
        item = pystac.Item(
            id=f"MOD11A2.A2024017.{h}v07.061",
            geometry=None,
            bbox=None,
            datetime=None,
            properties={
                "start_datetime": "2024-01-17T00:00:00Z",
                "end_datetime": "2024-01-24T23:59:59Z",
                "proj:wkt2": CRS(SINUSOIDAL).to_wkt(),
            },
        )
        item.add_asset("LST_Day_1km", pystac.Asset(href=str(path)))
        items.append(item)
    catalog = _save(tmp_path / "cat", "MOD11A2.061", items)
    transform = Affine(size, 0, 1111950.519767, 0, -size, 2223901.039533)
    rows = [
        ("west", *_lonlat_of_pixel(transform, 0, 0), "2024-01-25"),
        ("east", *_lonlat_of_pixel(transform, 1, 3), "2024-01-25"),
    ]
    result = run_points(
        tmp_path, catalog, rows, window={"before": "8d"}, quality="none"
    )
    np.testing.assert_allclose(result.table["lst"], [300.0, 280.0], rtol=0, atol=1e-9)
    assert list(result.table["lst_n"]) == [1, 1]
    assert list(result.table["lst_total"]) == [1, 1]


def test_view_angle_end_to_end(tmp_path: Path) -> None:
    """Day_view_angl = DN - 65; DN 0 (-65 degrees) stays valid although the file
    declares nodata 0; 255 is the band's fill."""
    transform = Affine(926.625433, 0, 1111950.519767, 0, -926.625433, 2223901.039533)
    layers = {
        "Day_view_angl": np.array([[65, 0, 255]], "uint8"),
        "QC_Day": np.array([[0, 0, 0]], "uint8"),
    }
    item = pystac.Item(
        id="MOD11A2.A2024017.h19v07.061",
        geometry=None,
        bbox=None,
        datetime=None,
        properties={
            "start_datetime": "2024-01-17T00:00:00Z",
            "end_datetime": "2024-01-24T23:59:59Z",
        },
    )
    for name, data in layers.items():
        path = tmp_path / f"{name}.tif"
        with rasterio.open(
            path,
            "w",
            driver="GTiff",
            width=3,
            height=1,
            count=1,
            dtype="uint8",
            crs=CRS(SINUSOIDAL).to_wkt(),
            transform=transform,
            nodata=0,
        ) as ds:
            ds.write(data, 1)
        item.add_asset(name, pystac.Asset(href=str(path)))
    catalog = _save(tmp_path / "cat", "MOD11A2.061", [item])
    rows = [
        (f"c{c}", *_lonlat_of_pixel(transform, 0, c), "2024-01-25") for c in range(3)
    ]
    result = run_points(
        tmp_path, catalog, rows, band="Day_view_angl", window={"before": "8d"}
    )
    np.testing.assert_allclose(result.table["lst"], [0.0, -65.0, np.nan], atol=1e-9)
