"""Cross-validation on the Walker Lake sample (470 points, V in ppm).

The figures are checked against bounds computed here, independently of the
kriging code: the mean error against the spread of V, the RMSE against the mean
predictor and the nearest-neighbour predictor, the MSDR against 1, and a handful
of leave-one-out estimates against PyKrige run on the other 469 samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pykrige.ok import OrdinaryKriging
from scipy.spatial import cKDTree

from geofeat.krige import cross_validate, empirical_variogram, fit_variogram

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def walker(shared_data):
    table = pd.read_csv(shared_data / "points" / "walker.csv")
    return (
        table.X.to_numpy(float),
        table.Y.to_numpy(float),
        table.V.to_numpy(float),
    )


@pytest.fixture(scope="module")
def model(walker):
    return fit_variogram(empirical_variogram(*walker), "spherical")


def nearest_neighbour_rmse(x, y, z) -> float:
    _, idx = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=2)
    return float(np.sqrt(((z[idx[:, 1]] - z) ** 2).mean()))


@pytest.mark.parametrize("max_points", [None, 32])
def test_leave_one_out_figures_are_plausible(walker, model, max_points):
    x, y, z = walker
    cv = cross_validate(x, y, z, model, max_points=max_points)
    assert len(cv.table) == 470 and cv.table.estimate.notna().all()
    assert abs(cv.me) < 0.05 * z.std()  # unbiased to 5 % of the spread
    assert cv.rmse < 0.7 * z.std()  # clearly better than the mean
    assert cv.rmse < nearest_neighbour_rmse(x, y, z)  # better than the nearest sample
    assert 0.5 < cv.msdr < 1.5  # kriging variances of the right size
    np.testing.assert_allclose(
        cv.rmse, np.sqrt(((cv.table.estimate - z) ** 2).mean()), rtol=1e-12
    )


def test_leave_one_out_equals_pykrige_without_the_sample(walker, model):
    x, y, z = walker
    cv = cross_validate(x, y, z, model, max_points=32)
    for i in (0, 57, 133, 250, 469):
        keep = np.arange(470) != i
        ok = OrdinaryKriging(
            x[keep],
            y[keep],
            z[keep],
            variogram_model="spherical",
            variogram_parameters={
                "psill": model.psill,
                "range": model.range,
                "nugget": model.nugget,
            },
        )
        est, var = ok.execute(
            "points", x[i : i + 1], y[i : i + 1], backend="loop", n_closest_points=32
        )
        assert cv.table.estimate[i] == pytest.approx(est[0], rel=1e-6)
        assert cv.table.variance[i] == pytest.approx(var[0], rel=1e-6)


def test_global_leave_one_out_closed_form_equals_refitting(walker, model):
    """The one-inverse leave-one-out equals kriging each sample from the rest."""
    x, y, z = (v[:80] for v in walker)
    cv = cross_validate(x, y, z, model)
    for i in (0, 40, 79):
        keep = np.arange(80) != i
        ok = OrdinaryKriging(
            x[keep],
            y[keep],
            z[keep],
            variogram_model="spherical",
            variogram_parameters={
                "psill": model.psill,
                "range": model.range,
                "nugget": model.nugget,
            },
        )
        est, var = ok.execute("points", x[i : i + 1], y[i : i + 1])
        assert cv.table.estimate[i] == pytest.approx(est[0], rel=1e-8)
        assert cv.table.variance[i] == pytest.approx(var[0], rel=1e-8)


def test_k_fold_covers_every_sample_once(walker, model):
    x, y, z = walker
    cv = cross_validate(x, y, z, model, max_points=32, folds=5, seed=3)
    assert sorted(np.bincount(cv.table.fold)) == [94] * 5
    assert abs(cv.me) < 0.1 * z.std() and 0.5 < cv.msdr < 1.5
    # Fewer neighbours available than in leave-one-out: a larger error.
    assert cv.rmse > cross_validate(x, y, z, model, max_points=32).rmse
