"""Kriging kernels: numba against the NumPy reference, serial against parallel,
and the properties every ordinary kriging must have, on synthetic fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from geofeat.kernels import kriging
from geofeat.kernels.variogram import (
    EXPONENTIAL,
    GAUSSIAN,
    MATERN,
    SPHERICAL,
    variogram_numpy,
    variogram_value,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

MODELS = [
    (SPHERICAL, [0.1, 1.0, 40.0, 0.5]),
    (EXPONENTIAL, [0.05, 2.0, 60.0, 0.5]),
    (GAUSSIAN, [0.2, 1.0, 30.0, 0.5]),
    (MATERN, [0.0, 1.5, 20.0, 0.5]),
    (MATERN, [0.1, 1.0, 20.0, 1.5]),
    (MATERN, [0.1, 1.0, 20.0, 2.5]),
]


def field(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scattered samples of a smooth field with noise, on a 100 x 100 square."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    z = np.sin(x / 15) + np.cos(y / 20) + 0.1 * rng.normal(size=n)
    return x, y, z


def targets(m: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-10, 110, m), rng.uniform(-10, 110, m)


def neighbours(x, y, tx, ty, k: int) -> np.ndarray:
    _, idx = cKDTree(np.column_stack([x, y])).query(np.column_stack([tx, ty]), k=k)
    return np.sort(idx, axis=1)


@pytest.mark.parametrize("model,params", MODELS)
def test_variogram_value_matches_numpy(model, params):
    params = np.array(params)
    h = np.concatenate([[0.0, 1e-12], np.linspace(0.1, 150, 300)])
    jit = np.array([variogram_value(model, params, v) for v in h])
    np.testing.assert_allclose(jit, variogram_numpy(model, params, h), rtol=1e-14)
    assert jit[0] == 0.0
    # Far beyond the range every model reaches its sill.
    assert variogram_value(model, params, 1e6) == pytest.approx(params[0] + params[1])


def test_spherical_by_hand():
    params = np.array([0.5, 2.0, 10.0, 0.5])
    # h = 5: r = 0.5, f = 0.75 - 0.0625 = 0.6875.
    assert variogram_value(SPHERICAL, params, 5.0) == pytest.approx(0.5 + 2.0 * 0.6875)
    assert variogram_value(SPHERICAL, params, 10.0) == pytest.approx(2.5)
    # Exponential practical range: 1 - exp(-3) of the partial sill at h = range.
    assert variogram_value(EXPONENTIAL, params, 10.0) == pytest.approx(
        0.5 + 2.0 * (1 - np.exp(-3.0))
    )


def test_lu_matches_numpy_solve():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(12, 12))
    b = rng.normal(size=12)
    lu, piv, rhs = a.copy(), np.empty(12, dtype=np.int64), b.copy()
    assert kriging.lu_factor(lu, piv, 12)
    kriging.lu_solve(lu, piv, rhs, 12)
    np.testing.assert_allclose(rhs, np.linalg.solve(a, b), rtol=1e-10)


@pytest.mark.parametrize("model,params", MODELS)
def test_moving_numba_equals_numpy_and_serial_equals_parallel(model, params):
    x, y, z = field(80)
    tx, ty = targets(700)
    nbr = neighbours(x, y, tx, ty, 12)
    params = np.array(params)
    par = kriging.krige_moving(x, y, z, tx, ty, nbr, model, params, parallel=True)
    ser = kriging.krige_moving(x, y, z, tx, ty, nbr, model, params, parallel=False)
    ref = kriging.krige_numpy(x, y, z, tx, ty, nbr, model, params)
    for a, b in zip(par, ser, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(par[0], ref[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(par[1], ref[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(par[2], ref[2])


@pytest.mark.parametrize("model,params", MODELS[:3])
def test_global_numba_equals_numpy_and_moving_with_all(model, params):
    x, y, z = field(60)
    tx, ty = targets(300)
    params = np.array(params)
    par = kriging.krige_global(x, y, z, tx, ty, model, params, parallel=True)
    ser = kriging.krige_global(x, y, z, tx, ty, model, params, parallel=False)
    ref = kriging.krige_numpy(x, y, z, tx, ty, None, model, params)
    every = np.tile(np.arange(60), (300, 1))
    moving = kriging.krige_moving(x, y, z, tx, ty, every, model, params)
    np.testing.assert_array_equal(par[0], ser[0])
    np.testing.assert_allclose(par[0], ref[0], rtol=1e-9)
    np.testing.assert_allclose(par[1], ref[1], rtol=1e-9)
    np.testing.assert_allclose(par[0], moving[0], rtol=1e-9)
    np.testing.assert_allclose(par[1], moving[1], rtol=1e-9)


def test_exact_at_data_with_zero_nugget():
    x, y, z = field(50)
    params = np.array([0.0, 1.0, 40.0, 0.5])
    nbr = neighbours(x, y, x, y, 16)
    est, var, status = kriging.krige_moving(x, y, z, x, y, nbr, SPHERICAL, params)
    np.testing.assert_allclose(est, z, atol=1e-12)
    np.testing.assert_allclose(var, 0.0, atol=1e-12)
    assert (status == kriging.SOLVED).all()


def test_exact_at_data_with_nugget_honours_values():
    # gamma(0) = 0 for a target on a sample (PyKrige's exact_values convention).
    x, y, z = field(40)
    params = np.array([0.3, 1.0, 40.0, 0.5])
    est, var, _ = kriging.krige_global(x, y, z, x, y, EXPONENTIAL, params)
    np.testing.assert_allclose(est, z, atol=1e-10)
    np.testing.assert_allclose(var, 0.0, atol=1e-10)


def test_symmetric_under_sample_permutation():
    x, y, z = field(70)
    tx, ty = targets(200)
    params = np.array([0.1, 1.0, 35.0, 0.5])
    perm = np.random.default_rng(9).permutation(70)
    a = kriging.krige_global(x, y, z, tx, ty, SPHERICAL, params)
    b = kriging.krige_global(x[perm], y[perm], z[perm], tx, ty, SPHERICAL, params)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-10)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-10)
    nbr = neighbours(x, y, tx, ty, 10)
    nbr_p = neighbours(x[perm], y[perm], tx, ty, 10)
    c = kriging.krige_moving(x, y, z, tx, ty, nbr, SPHERICAL, params)
    d = kriging.krige_moving(
        x[perm], y[perm], z[perm], tx, ty, nbr_p, SPHERICAL, params
    )
    np.testing.assert_allclose(c[0], d[0], rtol=1e-10)
    np.testing.assert_allclose(c[1], d[1], rtol=1e-10)


def test_invariant_to_translating_all_coordinates():
    x, y, z = field(60)
    tx, ty = targets(200)
    params = np.array([0.1, 1.0, 35.0, 0.5])
    a = kriging.krige_global(x, y, z, tx, ty, GAUSSIAN, params)
    shift = 1234.5
    b = kriging.krige_global(
        x + shift, y - shift, z, tx + shift, ty - shift, GAUSSIAN, params
    )
    np.testing.assert_allclose(a[0], b[0], rtol=1e-8)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-8)


def test_variance_never_negative_and_estimate_within_reason():
    for seed in range(5):
        x, y, z = field(40, seed)
        tx, ty = targets(500, seed + 10)
        for model, params in MODELS:
            nbr = neighbours(x, y, tx, ty, 8)
            est, var, _ = kriging.krige_moving(
                x, y, z, tx, ty, nbr, model, np.array(params)
            )
            assert (var >= 0).all()
            assert np.isfinite(est).all()


def test_far_target_variance_is_sill_plus_mean_uncertainty():
    """Beyond the range, OK estimates the mean: variance = sill + 1 / (1' C^-1 1)."""
    x, y, z = field(30)
    params = np.array([0.2, 1.0, 30.0, 0.5])
    sill = 1.2
    est, var, _ = kriging.krige_global(x, y, z, [1e5], [1e5], SPHERICAL, params)
    h = np.hypot(x[:, None] - x, y[:, None] - y)
    cov = sill - variogram_numpy(SPHERICAL, params, h)
    w = np.linalg.solve(cov, np.ones(30))
    assert var[0] == pytest.approx(sill + 1.0 / w.sum(), rel=1e-9)
    assert est[0] == pytest.approx(w @ z / w.sum(), rel=1e-9)  # the GLS mean


def test_duplicate_samples_regularised_not_garbage():
    x, y, z = field(20)
    x, y, z = np.append(x, x[0]), np.append(y, y[0]), np.append(z, z[0] + 0.5)
    params = np.array([0.0, 1.0, 40.0, 0.5])
    tx, ty = np.array([x[0] + 1.0, 50.0]), np.array([y[0], 50.0])
    est, var, status = kriging.krige_global(x, y, z, tx, ty, SPHERICAL, params)
    assert (status == kriging.REGULARISED).all()
    assert np.isfinite(est).all() and (var >= 0).all()
    assert z.min() - 1 < est[0] < z.max() + 1
    ref = kriging.krige_numpy(x, y, z, tx, ty, None, SPHERICAL, params)
    np.testing.assert_allclose(est, ref[0], rtol=1e-5)
    # The moving path (Cholesky of the covariances) regularises the same way.
    every = np.tile(np.arange(21), (2, 1))
    m_est, m_var, m_status = kriging.krige_moving(
        x, y, z, tx, ty, every, SPHERICAL, params
    )
    assert (m_status == kriging.REGULARISED).all()
    np.testing.assert_allclose(m_est, ref[0], rtol=1e-5)
    np.testing.assert_allclose(m_var, ref[1], rtol=1e-4, atol=1e-9)


def test_no_neighbours_gives_nan():
    x, y, z = field(10)
    nbr = np.array([[-1, -1], [0, -1]])
    est, var, status = kriging.krige_moving(
        x, y, z, [1.0, 2.0], [1.0, 2.0], nbr, SPHERICAL, np.array([0.0, 1.0, 10.0, 0.5])
    )
    assert np.isnan(est[0]) and np.isnan(var[0])
    assert status.tolist() == [kriging.NO_NEIGHBOURS, kriging.SOLVED]
    assert est[1] == z[0]  # one neighbour: its value


def test_factorisation_reuse_equals_fresh_solves():
    # Many targets with the same neighbour set reuse one factorisation; the
    # same targets in reverse order interleave the sets and force fresh ones.
    x, y, z = field(50)
    tx, ty = np.linspace(40, 41, 400), np.full(400, 50.0)
    nbr = neighbours(x, y, tx, ty, 8)
    params = np.array([0.1, 1.0, 35.0, 0.5])
    a = kriging.krige_moving(x, y, z, tx, ty, nbr, SPHERICAL, params)
    order = np.random.default_rng(0).permutation(400)
    b = kriging.krige_moving(
        x, y, z, tx[order], ty[order], nbr[order], SPHERICAL, params
    )
    np.testing.assert_allclose(a[0][order], b[0], rtol=1e-12)
    np.testing.assert_allclose(a[1][order], b[1], rtol=1e-12)


def test_same_results_with_the_jit_disabled():
    """The kernels as plain Python (NUMBA_DISABLE_JIT=1) give the compiled results."""
    x, y, z = field(15)
    tx, ty = targets(6)
    nbr = neighbours(x, y, tx, ty, 6)
    params = np.array([0.1, 1.0, 35.0, 0.5])
    est, var, _ = kriging.krige_moving(x, y, z, tx, ty, nbr, SPHERICAL, params)
    gest, gvar, _ = kriging.krige_global(x, y, z, tx, ty, SPHERICAL, params)
    payload = json.dumps(
        {k: v.tolist() for k, v in dict(x=x, y=y, z=z, tx=tx, ty=ty, nbr=nbr).items()}
    )
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from geofeat.kernels import kriging
        d = {k: np.array(v) for k, v in json.loads(sys.stdin.read()).items()}
        p = np.array([0.1, 1.0, 35.0, 0.5])
        e, v, _ = kriging.krige_moving(d["x"], d["y"], d["z"], d["tx"], d["ty"],
                                       d["nbr"], 0, p)
        ge, gv, _ = kriging.krige_global(d["x"], d["y"], d["z"], d["tx"], d["ty"], 0, p)
        print(json.dumps([e.tolist(), v.tolist(), ge.tolist(), gv.tolist()]))
        """
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    e, v, ge, gv = (np.array(a) for a in json.loads(done.stdout))
    np.testing.assert_allclose(e, est, rtol=1e-12)
    np.testing.assert_allclose(v, var, rtol=1e-12)
    np.testing.assert_allclose(ge, gest, rtol=1e-12)
    np.testing.assert_allclose(gv, gvar, rtol=1e-12)


@st.composite
def sample_sets(draw):
    """Distinct sample locations on a 1 m lattice, values, a model and targets."""
    n = draw(st.integers(3, 25))
    cells = draw(
        st.lists(
            st.tuples(st.integers(0, 200), st.integers(0, 200)),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    xy = np.array(cells, dtype=float)
    z = np.array(draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n)))
    model = draw(st.sampled_from(MODELS[:2] + MODELS[4:]))
    scale = draw(st.floats(0.5, 3.0))
    params = np.array(model[1]) * [1, scale, scale * 3, 1]
    targets = np.array(
        draw(
            st.lists(
                st.tuples(st.floats(-50, 250), st.floats(-50, 250)),
                min_size=1,
                max_size=20,
            )
        )
    )
    return xy[:, 0], xy[:, 1], z, model[0], params, targets[:, 0], targets[:, 1]


@settings(max_examples=60, deadline=None)
@given(sample_sets())
def test_properties_on_random_sample_sets(case):
    """Exact at samples, non-negative variance, numba == NumPy, order-free."""
    x, y, z, model, params, tx, ty = case
    n = x.size
    k = min(n, 8)
    allx, ally = np.concatenate([tx, x]), np.concatenate([ty, y])
    nbr = neighbours(x, y, allx, ally, k)
    est, var, status = kriging.krige_moving(x, y, z, allx, ally, nbr, model, params)
    assert (status == kriging.SOLVED).all()
    assert (var >= 0).all()
    np.testing.assert_allclose(est[tx.size :], z, atol=1e-7 * (1 + np.abs(z).max()))
    np.testing.assert_allclose(var[tx.size :], 0.0, atol=1e-7 * params[1])
    ref = kriging.krige_numpy(x, y, z, allx, ally, nbr, model, params)
    np.testing.assert_allclose(
        est, ref[0], rtol=1e-6, atol=1e-8 * (1 + np.abs(z).max())
    )
    np.testing.assert_allclose(var, ref[1], rtol=1e-6, atol=1e-10)
    perm = np.random.default_rng(0).permutation(n)
    g1 = kriging.krige_global(x, y, z, tx, ty, model, params)
    g2 = kriging.krige_global(x[perm], y[perm], z[perm], tx, ty, model, params)
    np.testing.assert_allclose(
        g1[0], g2[0], rtol=1e-6, atol=1e-8 * (1 + np.abs(z).max())
    )
    np.testing.assert_allclose(g1[1], g2[1], rtol=1e-6, atol=1e-10)
