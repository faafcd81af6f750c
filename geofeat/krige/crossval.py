"""Cross-validation of a variogram and neighbourhood: leave-one-out and k-fold.

Each held-out sample is kriged from the others with the same model and
neighbourhood as the map. Summaries a geostatistician reads:

- ``me``: mean error (estimate - observed); near 0 when unbiased;
- ``rmse``: root mean squared error, in value units (transformed scale);
- ``msdr``: mean squared deviation ratio, mean of ``error**2 / variance``; near 1
  when the kriging variance is honest (above 1: too optimistic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geofeat.errors import ConfigError
from geofeat.kernels import kriging
from geofeat.krige.neighbours import Neighbourhood
from geofeat.krige.solve import MAX_GLOBAL_SAMPLES
from geofeat.krige.variogram import VariogramModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrossValidation:
    """Per-sample results and their summary."""

    table: pd.DataFrame
    """x, y, observed, estimate, variance, error, fold per sample."""
    me: float
    """Mean error."""
    rmse: float
    """Root mean squared error."""
    msdr: float
    """Mean squared deviation ratio."""

    def summary(self) -> dict[str, float]:
        """The three figures as a dict."""
        return {"me": self.me, "rmse": self.rmse, "msdr": self.msdr}


def cross_validate(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    variogram: VariogramModel,
    max_points: int | None = None,
    max_distance: float | None = None,
    folds: str | int = "loo",
    seed: int = 0,
) -> CrossValidation:
    """Leave-one-out (``folds="loo"``) or k-fold cross-validation.

    Parameters
    ----------
    x, y, z
        Samples (one per location, CRS units).
    variogram
        The model to test.
    max_points, max_distance
        The neighbourhood (``None``: global).
    folds
        ``"loo"`` or the number of random folds.
    seed
        Seed of the random fold assignment.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    n = x.size
    cx, cy = x - (x.max() + x.min()) / 2, y - (y.max() + y.min()) / 2
    if folds == "loo":
        fold = np.arange(n)
        if max_points is None and max_distance is None:
            est, var = loo_global(cx, cy, z, variogram)
            return _summarise(x, y, z, est, var, fold, "leave-one-out")
        else:
            tree = Neighbourhood(cx, cy, max_points or n, max_distance)
            nbr = tree.query(cx, cy, exclude_self=True)
    else:
        if not isinstance(folds, int) or not 2 <= folds <= n:
            raise ConfigError(f"crossval.folds must be 'loo' or 2..{n}, got {folds!r}")
        fold = np.random.default_rng(seed).permutation(np.arange(n) % folds)
        nbr = np.full((n, min(max_points or n, n)), -1, dtype=np.int64)
        for f in range(folds):
            train = np.flatnonzero(fold != f)
            test = np.flatnonzero(fold == f)
            if max_points is None and max_distance is None:
                rows = np.tile(train, (test.size, 1))
            else:
                tree = Neighbourhood(
                    cx[train], cy[train], max_points or train.size, max_distance
                )
                local = tree.query(cx[test], cy[test])
                rows = np.where(local >= 0, train[np.maximum(local, 0)], -1)
            nbr[test, : rows.shape[1]] = rows
            nbr[test, rows.shape[1] :] = -1
        nbr = np.where(nbr < 0, n, nbr)
        nbr.sort(axis=1)
        nbr[nbr >= n] = -1
    est, var, _ = kriging.krige_moving(
        cx, cy, z, cx, cy, nbr, variogram.code, variogram.params
    )
    label = "leave-one-out" if folds == "loo" else f"{folds}-fold"
    return _summarise(x, y, z, est, var, fold, label)


def loo_global(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, variogram: VariogramModel
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out with a global neighbourhood from one matrix inverse.

    Notes
    -----
    With ``K`` the ordinary kriging matrix in covariance form and ``B = K^-1``,
    the error of kriging sample ``i`` from all others is ``(B r)_i / B_ii`` for
    ``r = (z, 0)``, and its kriging variance is ``1 / B_ii`` (Dubrule, 1983,
    Math. Geol. 15(6), 687-699). One O(n^3) inverse replaces n solves of size n.
    """
    n = x.size
    if n > MAX_GLOBAL_SAMPLES:
        raise ConfigError(
            f"global leave-one-out with {n} samples needs a dense {n} x {n} inverse; "
            "set neighbourhood.max_points"
        )
    h = np.hypot(x[:, None] - x, y[:, None] - y)
    k = np.ones((n + 1, n + 1))
    k[:n, :n] = variogram.sill - variogram(h)
    k[n, n] = 0.0
    b = np.linalg.inv(k)
    diag = np.diag(b)[:n]
    error = (b[:n, :n] @ z) / diag
    return z - error, 1.0 / diag


def _summarise(x, y, z, est, var, fold, label: str) -> CrossValidation:
    error = est - z
    ok = np.isfinite(error)
    if not ok.all():
        logger.warning(
            "cross-validation: %d sample(s) could not be kriged", int((~ok).sum())
        )
    ratio = error[ok] ** 2 / var[ok]
    result = CrossValidation(
        pd.DataFrame(
            {
                "x": x,
                "y": y,
                "observed": z,
                "estimate": est,
                "variance": var,
                "error": error,
                "fold": fold,
            }
        ),
        float(error[ok].mean()),
        float(np.sqrt((error[ok] ** 2).mean())),
        float(ratio[np.isfinite(ratio)].mean()),
    )
    logger.info(
        "cross-validation (%s): ME %.4g, RMSE %.4g, MSDR %.3f over %d sample(s)",
        label,
        result.me,
        result.rmse,
        result.msdr,
        int(ok.sum()),
    )
    return result
