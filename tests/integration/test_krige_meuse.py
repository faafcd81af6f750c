"""geofeat krige on the real Meuse data, against PyKrige, and its outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from pykrige.ok import OrdinaryKriging
from pyproj import Transformer

from geofeat.errors import ConfigError
from geofeat.krige import krige

pytestmark = pytest.mark.realdata

VARIOGRAM = {"model": "spherical", "nugget": 0.05, "psill": 0.6, "range": 900}
RTOL = 1e-6


@pytest.fixture(scope="module")
def meuse(shared_data):
    return (
        pd.read_csv(shared_data / "points" / "meuse.csv"),
        pd.read_csv(shared_data / "points" / "meuse_grid.csv"),
    )


def spec(shared_data: Path, tmp_path: Path, **changes) -> dict:
    base = {
        "samples": {
            "path": str(shared_data / "points" / "meuse.csv"),
            "x": "x",
            "y": "y",
            "crs": "EPSG:28992",
            "value": "zinc",
        },
        "transform": "log",
        "variogram": VARIOGRAM,
        "grid": {"path": str(shared_data / "points" / "meuse_grid.csv")},
        "output": str(tmp_path / "out.parquet"),
    }
    base.update(changes)
    return base


def pykrige_reference(meuse, n_closest_points=None):
    samples, grid = meuse
    ok = OrdinaryKriging(
        samples.x.to_numpy(float),
        samples.y.to_numpy(float),
        np.log(samples.zinc.to_numpy(float)),
        variogram_model="spherical",
        variogram_parameters={"psill": 0.6, "range": 900.0, "nugget": 0.05},
    )
    kwargs = {"backend": "loop", "n_closest_points": n_closest_points}
    if n_closest_points is None:
        kwargs = {"backend": "vectorized"}
    est, var = ok.execute(
        "points", grid.x.to_numpy(float), grid.y.to_numpy(float), **kwargs
    )
    return np.asarray(est), np.asarray(var)


@pytest.mark.parametrize("max_points", [None, 32])
def test_equals_pykrige_on_meuse(shared_data, tmp_path, meuse, max_points):
    """Global and 32-nearest moving neighbourhoods, 3103 cells, 1e-6 relative."""
    neighbourhood = {} if max_points is None else {"max_points": max_points}
    result = krige(spec(shared_data, tmp_path, neighbourhood=neighbourhood))
    table = pd.read_parquet(tmp_path / "out.parquet")
    assert len(table) == 3103
    grid = meuse[1]
    np.testing.assert_array_equal(table[["x", "y"]].to_numpy(), grid[["x", "y"]])
    est, var = pykrige_reference(meuse, max_points)
    np.testing.assert_allclose(table.estimate, est, rtol=RTOL)
    np.testing.assert_allclose(table.variance, var, rtol=RTOL)
    assert result.counts["solved"] == 3103


def test_zarr_is_georeferenced_and_fills_the_lattice(shared_data, tmp_path, meuse):
    path = tmp_path / "meuse.zarr"
    krige(
        spec(
            shared_data,
            tmp_path,
            output=str(path),
            neighbourhood={"max_points": 32},
            chunks=32,
        )
    )
    samples, grid = meuse
    with rasterio.open(f'ZARR:"{path}":/estimate') as src:
        assert src.crs.to_epsg() == 28992
        # Lattice from the table: west = min x - 20, north = max y + 20, 40 m.
        assert tuple(src.transform)[:6] == (
            40.0,
            0.0,
            grid.x.min() - 20,
            0.0,
            -40.0,
            grid.y.max() + 20,
        )
        gdal = src.read(1)
    ds = xr.open_zarr(path)
    assert ds.rio.crs.to_epsg() == 28992
    assert ds["estimate"].encoding["chunks"] == (32, 32)
    est = ds["estimate"].values
    np.testing.assert_array_equal(np.isnan(est), np.isnan(gdal))
    assert int(np.isfinite(est).sum()) == 3103
    assert est.shape == (
        (grid.y.max() - grid.y.min()) // 40 + 1,
        (grid.x.max() - grid.x.min()) // 40 + 1,
    )
    reference, _ = pykrige_reference(meuse, 32)
    picked = ds["estimate"].sel(
        x=xr.DataArray(grid.x.to_numpy(float)), y=xr.DataArray(grid.y.to_numpy(float))
    )
    np.testing.assert_allclose(picked.values, reference, rtol=RTOL)
    variogram = (tmp_path / "meuse.variogram.json").read_text()
    assert '"psill": 0.6' in variogram and '"empirical"' in variogram


def test_chunked_equals_unchunked(shared_data, tmp_path, monkeypatch):
    """Chunks of 16 cells (and KD-tree queries of 100 cells) give bit-identical
    results to one chunk for the whole grid."""
    one = krige(
        spec(shared_data, tmp_path, chunks=1024, neighbourhood={"max_points": 20}),
        write=False,
    )
    monkeypatch.setattr("geofeat.krige.solve.QUERY_BATCH", 100)
    many = krige(
        spec(shared_data, tmp_path, chunks=16, neighbourhood={"max_points": 20}),
        write=False,
    )
    np.testing.assert_array_equal(
        one.dataset.estimate.values, many.dataset.estimate.values
    )
    np.testing.assert_array_equal(
        one.dataset.variance.values, many.dataset.variance.values
    )


def test_bounds_grid_and_like_grid(shared_data, tmp_path):
    bounds = {"bounds": [178440, 329600, 181560, 333760], "resolution": 40}
    first = krige(
        spec(shared_data, tmp_path, grid=bounds, output=str(tmp_path / "a.zarr"))
    )
    ds = first.dataset
    assert ds.sizes == {"y": 104, "x": 78}
    assert float(ds.x[0]) == 178460.0 and float(ds.y[0]) == 333740.0
    assert np.isfinite(ds.estimate.values).all()
    like = {"like": str(tmp_path / "a.zarr")}
    second = krige(
        spec(shared_data, tmp_path, grid=like, output=str(tmp_path / "b.zarr"))
    )
    assert second.dataset.rio.transform() == ds.rio.transform()
    np.testing.assert_array_equal(second.dataset.estimate.values, ds.estimate.values)
    # Aligned with a GeoTIFF: same cells, the raster's CRS.
    profile = {
        "driver": "GTiff",
        "width": 78,
        "height": 104,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:28992",
        "transform": rasterio.Affine(40, 0, 178440, 0, -40, 333760),
    }
    with rasterio.open(tmp_path / "cube.tif", "w", **profile) as dst:
        dst.write(np.zeros((1, 104, 78), dtype="uint8"))
    third = krige(
        spec(shared_data, tmp_path, grid={"like": str(tmp_path / "cube.tif")}),
        write=False,
    )
    assert third.dataset.rio.crs.to_epsg() == 28992
    np.testing.assert_array_equal(third.dataset.estimate.values, ds.estimate.values)


def test_lonlat_samples_and_large_coordinates(shared_data, tmp_path, meuse):
    """Samples given in lon/lat are moved into the grid's CRS; coordinates 1e7 m
    from the origin give the same surface (they are centred before solving)."""
    samples, grid = meuse
    lon, lat = Transformer.from_crs(28992, 4326, always_xy=True).transform(
        samples.x.to_numpy(float), samples.y.to_numpy(float)
    )
    lonlat = samples.assign(lon=lon, lat=lat)
    lonlat.to_csv(tmp_path / "lonlat.csv", index=False)
    result = krige(
        spec(
            shared_data,
            tmp_path,
            samples={
                "path": str(tmp_path / "lonlat.csv"),
                "lon": "lon",
                "lat": "lat",
                "value": "zinc",
            },
            grid={
                "path": str(shared_data / "points" / "meuse_grid.csv"),
                "crs": "EPSG:28992",
            },
        ),
        write=False,
    )
    # The datum shift of RD New does not round-trip to the last millimetre, so
    # the reference is PyKrige on the coordinates as pyproj brings them back.
    back = Transformer.from_crs(4326, 28992, always_xy=True).transform(lon, lat)
    ok = OrdinaryKriging(
        *back,
        np.log(samples.zinc.to_numpy(float)),
        variogram_model="spherical",
        variogram_parameters={"psill": 0.6, "range": 900.0, "nugget": 0.05},
    )
    est_back, var_back = ok.execute(
        "points", grid.x.to_numpy(float), grid.y.to_numpy(float)
    )
    np.testing.assert_allclose(result.table.estimate, est_back, rtol=RTOL)
    np.testing.assert_allclose(result.table.variance, var_back, rtol=RTOL)
    est, var = pykrige_reference(meuse)

    far = samples.assign(x=samples.x + 1e7, y=samples.y + 1e7)
    far.to_csv(tmp_path / "far.csv", index=False)
    cells = grid.assign(x=grid.x + 1e7, y=grid.y + 1e7)
    cells.to_csv(tmp_path / "far_grid.csv", index=False)
    # EPSG:3857 accepts coordinates this large; only the frame matters here.
    moved = krige(
        spec(
            shared_data,
            tmp_path,
            samples={
                "path": str(tmp_path / "far.csv"),
                "x": "x",
                "y": "y",
                "crs": "EPSG:3857",
                "value": "zinc",
            },
            grid={"path": str(tmp_path / "far_grid.csv")},
        ),
        write=False,
    )
    np.testing.assert_allclose(moved.table.estimate, est, rtol=1e-9)
    np.testing.assert_allclose(moved.table.variance, var, rtol=1e-9)


def test_awkward_samples(shared_data, tmp_path, meuse, caplog):
    samples, _ = meuse
    # A duplicated location (averaged) and a missing value (dropped).
    extra = samples.iloc[[0]].assign(zinc=samples.zinc.iloc[0] * 2)
    missing = samples.iloc[[1]].assign(zinc=np.nan)
    awkward = pd.concat([samples, extra, missing], ignore_index=True)
    awkward.to_csv(tmp_path / "awkward.csv", index=False)
    samples_spec = {
        "path": str(tmp_path / "awkward.csv"),
        "x": "x",
        "y": "y",
        "crs": "EPSG:28992",
        "value": "zinc",
    }
    with caplog.at_level("WARNING"):
        result = krige(spec(shared_data, tmp_path, samples=samples_spec), write=False)
    assert result.samples.dropped == 1 and result.samples.merged == 1
    assert "share coordinates" in caplog.text and "dropped 1" in caplog.text
    # Independently: PyKrige on the cleaned samples (first sample's log value is the
    # mean of log(zinc) and log(2 zinc)).
    z = np.log(samples.zinc.to_numpy(float))
    z[0] = (np.log(samples.zinc.iloc[0]) + np.log(2 * samples.zinc.iloc[0])) / 2
    ok = OrdinaryKriging(
        samples.x.to_numpy(float),
        samples.y.to_numpy(float),
        z,
        variogram_model="spherical",
        variogram_parameters={"psill": 0.6, "range": 900.0, "nugget": 0.05},
    )
    grid = meuse[1]
    est, _ = ok.execute("points", grid.x.to_numpy(float), grid.y.to_numpy(float))
    np.testing.assert_allclose(result.table.estimate, est, rtol=RTOL)


def test_more_neighbours_than_samples_is_global(shared_data, tmp_path, meuse, caplog):
    result = krige(
        spec(shared_data, tmp_path, neighbourhood={"max_points": 500}), write=False
    )
    est, var = pykrige_reference(meuse)
    np.testing.assert_allclose(result.table.estimate, est, rtol=RTOL)


def test_equal_values_and_collinear_samples(tmp_path):
    rng = np.random.default_rng(0)
    line = pd.DataFrame(
        {"x": np.arange(20) * 50.0 + 1e5, "y": np.full(20, 4e5), "v": np.full(20, 3.0)}
    )
    line.to_csv(tmp_path / "line.csv", index=False)
    base = {
        "samples": {
            "path": str(tmp_path / "line.csv"),
            "x": "x",
            "y": "y",
            "crs": "EPSG:32631",
            "value": "v",
        },
        "variogram": {"model": "exponential", "psill": 1.0, "range": 300},
        "grid": {"bounds": [99_000, 399_000, 102_000, 401_000], "resolution": 100},
        "neighbourhood": {"max_points": 8},
        "output": str(tmp_path / "o.csv"),
    }
    result = krige(base, write=False)
    np.testing.assert_allclose(result.dataset.estimate.values, 3.0, rtol=1e-12)
    assert (result.dataset.variance.values >= 0).all()
    # Varying values on a line still krige (the system is not singular).
    line.assign(v=rng.normal(size=20)).to_csv(tmp_path / "line.csv", index=False)
    varied = krige(base, write=False)
    assert np.isfinite(varied.dataset.estimate.values).all()
    line.to_csv(tmp_path / "line.csv", index=False)
    with pytest.raises(ConfigError, match="equal values"):
        krige({**base, "variogram": {"fit": "spherical"}}, write=False)


def test_far_grid_variance_approaches_sill(shared_data, tmp_path, meuse):
    """Beyond the range, kriging estimates the mean: the variance is the sill plus
    the variance of the generalised least-squares mean, 1 / (1' C^-1 1)."""
    far = {"bounds": [300_000, 600_000, 300_400, 600_400], "resolution": 100}
    result = krige(spec(shared_data, tmp_path, grid=far), write=False)
    samples = meuse[0]
    xy = samples[["x", "y"]].to_numpy(float)
    h = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    psill, rng_, sill = 0.6, 900.0, 0.65
    r = np.minimum(h / rng_, 1.0)
    cov = np.where(h > 0, psill * (1 - (1.5 * r - 0.5 * r**3)), sill)
    w = np.linalg.solve(cov, np.ones(len(xy)))
    z = np.log(samples.zinc.to_numpy(float))
    np.testing.assert_allclose(
        result.dataset.variance.values, sill + 1 / w.sum(), rtol=1e-9
    )
    np.testing.assert_allclose(
        result.dataset.estimate.values, w @ z / w.sum(), rtol=1e-9
    )


def test_max_distance_leaves_empty_cells_nan(shared_data, tmp_path, caplog):
    far = {"bounds": [178_000, 329_000, 186_000, 334_000], "resolution": 200}
    with caplog.at_level("INFO"):
        result = krige(
            spec(
                shared_data,
                tmp_path,
                grid=far,
                neighbourhood={"max_points": 16, "max_distance": 500},
            ),
            write=False,
        )
    est = result.dataset.estimate.values
    assert np.isnan(est).any() and np.isfinite(est).any()
    assert result.counts["no_neighbours"] == int(np.isnan(est).sum())
    assert f"{result.counts['no_neighbours']} without neighbours" in caplog.text


def test_map_png_and_crossval_written(shared_data, tmp_path):
    result = krige(
        spec(
            shared_data,
            tmp_path,
            map=str(tmp_path / "map.png"),
            crossval={"folds": 5},
            neighbourhood={"max_points": 32},
        )
    )
    for name in ("map.png", "map_variogram.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(tmp_path / "out.crossval.csv")
    assert len(table) == 155 and sorted(table.fold.unique()) == [0, 1, 2, 3, 4]
    assert result.crossval.rmse == pytest.approx(np.sqrt((table.error**2).mean()))


def test_cli_krige(shared_data, tmp_path):
    import yaml

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(shared_data, tmp_path)))
    geofeat = Path(sys.executable).with_name("geofeat")
    done = subprocess.run(
        [str(geofeat), "krige", str(path), "--output", str(tmp_path / "cli.csv")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "cli.csv")) == 3103
    bad = subprocess.run(
        [str(geofeat), "krige", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_example_spec_is_valid(shared_data):
    from geofeat.krige.spec import load_krige_spec

    example = Path(__file__).resolve().parents[2] / "examples" / "meuse_krige.yaml"
    loaded = load_krige_spec(example)
    assert Path(loaded.resolve(loaded.samples.path)).is_file()


def test_fitted_variogram_is_used_and_written(shared_data, tmp_path):
    import json

    result = krige(spec(shared_data, tmp_path, variogram={"fit": "spherical"}))
    # gstat's fit of the same empirical variogram (see tests/unit).
    assert result.variogram.psill == pytest.approx(0.59061, rel=1e-3)
    assert result.variogram.range == pytest.approx(896.97, rel=1e-3)
    record = json.loads((tmp_path / "out.variogram.json").read_text())
    assert record["model"]["model"] == "spherical"
    assert record["empirical"]["pairs"][:3] == [57, 299, 419]


def test_global_equals_gstools(shared_data, tmp_path, meuse):
    """A second implementation: GSTools' ordinary kriging (global, exact=True so
    the nugget is not filtered), same spherical model."""
    import gstools as gs

    samples, grid = meuse
    model = gs.Spherical(dim=2, var=0.6, len_scale=900.0, nugget=0.05)
    ok = gs.krige.Ordinary(
        model,
        cond_pos=[samples.x.to_numpy(float), samples.y.to_numpy(float)],
        cond_val=np.log(samples.zinc.to_numpy(float)),
        exact=True,
    )
    est, var = ok.unstructured(
        [grid.x.to_numpy(float), grid.y.to_numpy(float)], return_var=True
    )
    result = krige(spec(shared_data, tmp_path), write=False)
    np.testing.assert_allclose(result.table.estimate, est, rtol=RTOL)
    np.testing.assert_allclose(result.table.variance, var, rtol=RTOL)
