"""The precipitation presets, offline: stand-ins with the same layout on 127.0.0.1.

- ``chirps-daily``: one GeoTIFF per day under the CHIRPS URL layout, cut from the
  real CHIRPS Nicaragua file band by band (sea as -9999, like the real COGs).
- ``era5-pc``: a static STAC catalogue of monthly items (forecast and analysis
  kinds) whose assets are hourly Zarr stores in metres, stamped at the end of
  each hour, read over HTTP by fsspec.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pystac
import pytest
import rasterio
import xarray as xr

from geofeat.features.rainfall import plan_rainfall_feature
from geofeat.points import Points
from geofeat.sources.precipitation_presets import PRECIPITATION_PRESETS
from geofeat.spec import RainfallFeature


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A static file server on 127.0.0.1 (free port) in its own process.

    Yields the served folder, the base URL and a function listing the request
    paths so far; the process is stopped after the module's tests.
    """
    root = tmp_path_factory.mktemp("www")
    log = root.parent / "requests.log"
    log.write_text("")
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("rainfall_http.py")),
            str(root),
            str(log),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(process.stdout.readline())
        yield root, f"http://127.0.0.1:{port}", lambda: log.read_text().split()
    finally:
        process.terminate()
        process.wait(timeout=10)


def _points(lon, lat, days) -> Points:
    ids = np.array([f"p{i}" for i in range(len(days))])
    return Points(
        pd.DataFrame({"id": ids}),
        ids,
        np.asarray(lon, float),
        np.asarray(lat, float),
        pd.DatetimeIndex(days),
    )


def _compute(feature: RainfallFeature, points: Points):
    plan = plan_rainfall_feature(feature, points)
    return dask.compute(plan.result, scheduler="synchronous")[0]


@pytest.fixture(scope="module")
def chirps_days(server, shared_data: Path):
    """Daily GeoTIFFs at the CHIRPS URL layout, 1981-01-01..03-31, from the real
    multi-band file; yields their paths by day, the raw series of land pixel
    (8, 6), and the lon/lat of that pixel and of a sea pixel."""
    root, _, _ = server
    chirps = shared_data / "precipitation" / "chirps_p25_daily_nicaragua_1981-1982.tif"
    template = PRECIPITATION_PRESETS["chirps-daily"]["url"]
    paths = {}
    with rasterio.open(chirps) as src:
        profile = {**src.profile, "count": 1, "nodata": -9999.0}
        for i in range(90):
            day = date(1981, 1, 1) + timedelta(days=i)
            path = root / template.format(date=day).split("data.chc.ucsb.edu/")[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            band = src.read(i + 1)
            with rasterio.open(path, "w", **profile) as dst:
                dst.write(np.where(np.isnan(band), -9999.0, band), 1)
            paths[day] = path
        series = src.read(window=((8, 9), (6, 7)))[:, 0, 0].astype(float)
        land, sea = src.xy(8, 6), src.xy(0, 17)
    return paths, series, land, sea


def _check_sums(table: pd.DataFrame, series: np.ndarray) -> None:
    d = (date(1981, 3, 20) - date(1981, 1, 1)).days
    for k in range(4):
        want = series[d - 10 * (k + 1) : d - 10 * k].sum()
        assert table.loc[0, f"rain_t{k}"] == pytest.approx(want, rel=1e-6)
    assert np.isnan(table.loc[1, "rain_t0"]) and table.loc[1, "rain_t0_coverage"] == 0


@pytest.mark.realdata
def test_chirps_daily_preset(server, chirps_days) -> None:
    """Daily files at the CHIRPS URL layout give the multi-band file's sums."""
    _, base, requests = server
    _, series, land, sea = chirps_days
    template = PRECIPITATION_PRESETS["chirps-daily"]["url"]
    local = template.replace("https://data.chc.ucsb.edu", base)
    feature = RainfallFeature.model_validate(
        {
            "name": "rain",
            "source": {"preset": "chirps-daily", "url": local},
            "windows": {"size": "10d", "count": 4},
        }
    )
    before = len(requests())
    points = _points([land[0], sea[0]], [land[1], sea[1]], ["1981-03-20"] * 2)
    table, stats = _compute(feature, points)
    _check_sums(table, series)
    # Only the 40 days the windows need were fetched, plus the first day's file
    # that tells the grid.
    fetched = {p for p in requests()[before:] if p.endswith(".cog")}
    assert len(fetched) == 41 and stats.assets == 40
    assert any("chirps-v2.0.1981.02.08.cog" in p for p in fetched)
    assert not any("chirps-v2.0.1981.02.07.cog" in p for p in fetched)


@pytest.mark.realdata
def test_stac_rasters_one_item_per_day(server, chirps_days) -> None:
    """A static STAC collection of one COG item per day gives the same sums."""
    root, base, _ = server
    paths, series, land, sea = chirps_days
    catalog = pystac.Catalog("chirps-standin", "CHIRPS daily stand-in")
    collection = pystac.Collection(
        "rainfall_chirps_daily",
        "CHIRPS daily stand-in",
        pystac.Extent(
            pystac.SpatialExtent([[-88, 11, -83, 16]]),
            pystac.TemporalExtent([[pd.Timestamp("1981-01-01", tz="UTC"), None]]),
        ),
    )
    catalog.add_child(collection)
    for day, path in paths.items():
        item = pystac.Item(
            id=f"chirps-{day.isoformat()}",
            geometry={
                "type": "Polygon",
                "coordinates": [
                    [[-88, 11], [-83, 11], [-83, 16], [-88, 16], [-88, 11]]
                ],
            },
            bbox=[-88, 11, -83, 16],
            datetime=pd.Timestamp(day, tz="UTC").to_pydatetime(),
            properties={},
        )
        href = f"{base}/{path.relative_to(root).as_posix()}"
        item.add_asset("rainfall", pystac.Asset(href, media_type=pystac.MediaType.COG))
        collection.add_item(item)
    catalog.normalize_hrefs(str(root / "chirps-stac"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    feature = RainfallFeature.model_validate(
        {
            "name": "rain",
            "source": {
                "kind": "stac-rasters",
                "url": f"{base}/chirps-stac/catalog.json",
                "collection": "rainfall_chirps_daily",
                "asset": "rainfall",
            },
            "windows": {"size": "10d", "count": 4},
        }
    )
    points = _points([land[0], sea[0]], [land[1], sea[1]], ["1981-03-20"] * 2)
    table, stats = _compute(feature, points)
    _check_sums(table, series)
    assert stats.assets == 40


def _era5_item(base: str, root: Path, month: int, kind: str, values) -> pystac.Item:
    """One monthly item with an hourly Zarr asset in metres, end-stamped."""
    start = pd.Timestamp(2021, month, 1, 1)
    time = pd.date_range(
        start, start + pd.offsets.MonthBegin(1) - pd.Timedelta(hours=1), freq="h"
    )
    lat, lon = np.array([12.5, 12.25, 12.0]), np.array([273.5, 273.75, 274.0])
    cube = xr.DataArray(
        values(time)[:, None, None] * np.ones((1, 3, 3)),
        dims=("time", "lat", "lon"),
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"units": "m"},
        name="precipitation_amount_1hour_Accumulation",
    )
    rel = f"era5/2021/{month:02d}/{kind}/precipitation_amount_1hour_Accumulation.zarr"
    cube.to_dataset().to_zarr(root / rel, mode="w", zarr_format=2, consolidated=True)
    item = pystac.Item(
        id=f"era5-pc-2021-{month:02d}-{kind}",
        geometry={
            "type": "Polygon",
            "coordinates": [
                [[-180, -90], [180, -90], [180, 90], [-180, 90], [-180, -90]]
            ],
        },
        bbox=[-180, -90, 180, 90],
        datetime=None,
        properties={
            "start_datetime": f"{time[0].isoformat()}Z",
            "end_datetime": f"{time[-1].isoformat()}Z",
            "era5:kind": kind,
        },
    )
    item.add_asset(
        "precipitation_amount_1hour_Accumulation",
        pystac.Asset(
            f"{base}/{rel}",
            media_type="application/vnd+zarr",
            extra_fields={
                "xarray:open_kwargs": {
                    "engine": "zarr",
                    "consolidated": True,
                    "chunks": {},
                }
            },
        ),
    )
    return item


def test_era5_pc_preset(server) -> None:
    """Monthly items, hourly metres: days sum across the item boundary; fc only."""
    root, base, _ = server

    def fc(time):  # 0.1 mm per hour, a dry Feb 10 with tiny negatives
        v = np.full(time.size, 1e-4)
        v[(time - pd.Timedelta(hours=1)).strftime("%m-%d") == "02-10"] = -1e-9
        return v

    catalog = pystac.Catalog("era5-standin", "ERA5 stand-in")
    collection = pystac.Collection(
        "era5-pc",
        "ERA5 stand-in",
        pystac.Extent(
            pystac.SpatialExtent([[-180, -90, 180, 90]]),
            pystac.TemporalExtent([[pd.Timestamp("2021-01-01", tz="UTC"), None]]),
        ),
    )
    catalog.add_child(collection)
    for month in (1, 2):
        collection.add_item(_era5_item(base, root, month, "fc", fc))
        # Analysis items lack the variable in the real collection; here they hold
        # nonsense so that picking them would show.
        collection.add_item(
            _era5_item(base, root, month, "an", lambda t: np.full(t.size, 1.0))
        )
    catalog.normalize_hrefs(str(root / "stac"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    feature = RainfallFeature.model_validate(
        {
            "name": "era5",
            "source": {
                "preset": "era5-pc",
                "url": f"{base}/stac/catalog.json",
                "sign": None,
            },
            "windows": {"size": "5d", "count": 3},
        }
    )
    # lon -86.2 is 273.8 on the 0..360 grid.
    table, stats = _compute(feature, _points([-86.2], [12.3], ["2021-02-12"]))
    # t0 = 02-07..02-11 (dry 02-10), t1 = 02-02..02-06, t2 = 01-28..02-01, whose
    # 01-31 ends with the stamp 02-01 00:00 that lives in the February item.
    assert table.loc[0, "era5_t0"] == pytest.approx(4 * 2.4, rel=1e-9)
    assert table.loc[0, "era5_t1"] == pytest.approx(5 * 2.4, rel=1e-9)
    assert table.loc[0, "era5_t2"] == pytest.approx(5 * 2.4, rel=1e-9)
    assert (table.filter(like="coverage") == 1).all(axis=None)
    assert (
        json.loads((root / "stac" / "catalog.json").read_text())["id"] == "era5-standin"
    )
