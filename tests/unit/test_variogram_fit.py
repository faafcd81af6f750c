"""Empirical variogram and its fit: by hand, against gstat's published Meuse
figures, and recovery of known models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geofeat.errors import ConfigError
from geofeat.krige.spec import load_krige_spec
from geofeat.krige.variogram import (
    EmpiricalVariogram,
    VariogramModel,
    empirical_variogram,
    fit_variogram,
)


def test_empirical_bins_by_hand():
    # Four points on a line at 0, 1, 3, 7 with values 0, 1, 3, 0.
    x = np.array([0.0, 1.0, 3.0, 7.0])
    y = np.zeros(4)
    z = np.array([0.0, 1.0, 3.0, 0.0])
    e = empirical_variogram(x, y, z, cutoff=6.0, width=2.0)
    # Pairs <= 6: (0,1) h1 d1, (0,3) h3 d9, (1,3) h2 d4, (1,7) h6 d1, (3,7) h4 d9.
    # Bins (0,2]: h 1, 2 -> gamma (1 + 4) / 4; (2,4]: h 3, 4 -> (9 + 9) / 4;
    # (4,6]: h 6 -> 1 / 2.
    np.testing.assert_array_equal(e.pairs, [2, 2, 1])
    np.testing.assert_allclose(e.lag, [1.5, 3.5, 6.0])
    np.testing.assert_allclose(e.gamma, [1.25, 4.5, 0.5])


def test_meuse_empirical_variogram_equals_gstat(shared_data):
    """gstat: variogram(log(zinc) ~ 1, meuse) prints these bins (np, dist, gamma)."""
    s = pd.read_csv(shared_data / "points" / "meuse.csv")
    e = empirical_variogram(
        s.x.to_numpy(float), s.y.to_numpy(float), np.log(s.zinc.to_numpy(float))
    )
    assert e.cutoff == pytest.approx(np.hypot(181390 - 178605, 333611 - 329714) / 3)
    np.testing.assert_array_equal(e.pairs[:3], [57, 299, 419])
    np.testing.assert_allclose(e.lag[:3], [79.29244, 163.97367, 267.36483], rtol=1e-6)
    np.testing.assert_allclose(
        e.gamma[:3], [0.1234479, 0.2162185, 0.3027859], rtol=1e-6
    )
    assert e.lag.size == 15


def test_meuse_fit_equals_gstat(shared_data):
    """gstat: fit.variogram(v, vgm(1, "Sph", 300, 1)) gives nugget 0.05066,
    partial sill 0.59061, range 896.97 (weights N/h^2, its default)."""
    s = pd.read_csv(shared_data / "points" / "meuse.csv")
    e = empirical_variogram(
        s.x.to_numpy(float), s.y.to_numpy(float), np.log(s.zinc.to_numpy(float))
    )
    m = fit_variogram(e, "spherical")
    assert m.nugget == pytest.approx(0.05066, rel=1e-3)
    assert m.psill == pytest.approx(0.59061, rel=1e-3)
    assert m.range == pytest.approx(896.97, rel=1e-3)


@pytest.mark.parametrize(
    "truth",
    [
        VariogramModel("spherical", 0.1, 1.0, 500.0),
        VariogramModel("exponential", 0.2, 2.0, 800.0),
        VariogramModel("gaussian", 0.05, 1.0, 400.0),
        VariogramModel("matern", 0.1, 1.0, 200.0, 1.5),
    ],
)
def test_fit_recovers_a_known_model(truth):
    lag = np.linspace(30, 1200, 20)
    e = EmpiricalVariogram(lag, truth(lag), np.full(20, 100), 1200.0, 60.0)
    m = fit_variogram(e, truth.model, truth.nu if truth.model == "matern" else None)
    assert m.nugget == pytest.approx(truth.nugget, abs=1e-4)
    assert m.psill == pytest.approx(truth.psill, rel=1e-4)
    assert m.range == pytest.approx(truth.range, rel=1e-4)


def test_model_parameters_follow_pykrige():
    from pykrige import variogram_models as pk

    h = np.linspace(1, 2000, 50)
    for name, fn in [
        ("spherical", pk.spherical_variogram_model),
        ("exponential", pk.exponential_variogram_model),
        ("gaussian", pk.gaussian_variogram_model),
    ]:
        ours = VariogramModel(name, 0.05, 0.6, 900.0)(h)
        np.testing.assert_allclose(ours, fn([0.6, 900.0, 0.05], h), rtol=1e-12)


@pytest.mark.parametrize(
    "variogram,message",
    [
        ({"model": "spherical", "psill": 1}, "needs 'psill' and 'range'"),
        ({"model": "spherical", "psill": 1, "range": 9, "fit": "spherical"}, "either"),
        ({"fit": "matern"}, "nu: 0.5, 1.5 or 2.5"),
        ({"model": "spherical", "psill": 0, "range": 9}, "sill"),
    ],
)
def test_spec_rejects_bad_variograms(variogram, message):
    spec = {
        "samples": {
            "path": "s.csv",
            "x": "x",
            "y": "y",
            "crs": "EPSG:28992",
            "value": "v",
        },
        "variogram": variogram,
        "grid": {"bounds": [0, 0, 10, 10], "resolution": 1},
        "output": "o.zarr",
    }
    with pytest.raises(ConfigError, match="variogram") as info:
        load_krige_spec(spec)
    assert message in str(info.value)


def test_fit_needs_varying_values():
    lag = np.linspace(1, 10, 5)
    e = EmpiricalVariogram(lag, np.zeros(5), np.full(5, 10), 10.0, 2.0)
    with pytest.raises(ConfigError, match="flat"):
        fit_variogram(e, "spherical")
