"""Variogram models as scalar numba functions, with a NumPy reference.

A model is identified by an integer code (``MODEL_CODES``) and described by a
parameter vector ``(nugget, psill, range, nu)``. The semivariance at lag ``h`` is

    gamma(h) = 0                               for h == 0
    gamma(h) = nugget + psill * f(h / range)   for h > 0

where ``f`` rises from 0 to 1. The nugget is a jump at the origin, so a target on
a sample is honoured exactly (PyKrige's ``exact_values=True`` convention). The
range conventions are PyKrige's, so parameters carry over between the two:

- spherical: ``f = 1.5 r - 0.5 r**3`` for ``r = h / range < 1``, else 1
  (``range`` is where the sill is reached);
- exponential: ``f = 1 - exp(-3 r)`` (``range`` is the practical range, 95 %);
- gaussian: ``f = 1 - exp(-(h / (4 range / 7))**2)`` (practical range);
- matern: ``f = 1 - rho(h / range)`` with the Matern correlation of smoothness
  ``nu`` in the ``sqrt(2 nu) h / range`` scaling, for ``nu`` in {0.5, 1.5, 2.5}
  (closed forms: these need no Bessel function inside numba).

References
----------
P.K. Kitanidis, *Introduction to Geostatistics* (1997), ch. 2 and 3.
M.L. Stein, *Interpolation of Spatial Data* (1999), sec. 2.7 (Matern).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

SPHERICAL = 0
EXPONENTIAL = 1
GAUSSIAN = 2
MATERN = 3

MODEL_CODES = {
    "spherical": SPHERICAL,
    "exponential": EXPONENTIAL,
    "gaussian": GAUSSIAN,
    "matern": MATERN,
}
MATERN_NU = (0.5, 1.5, 2.5)


@njit(cache=True, nogil=True)
def variogram_value(model: int, params: np.ndarray, h: float) -> float:
    """Semivariance of ``model`` with ``params`` at lag ``h`` (CRS units).

    Notes
    -----
    ``params`` is ``(nugget, psill, range, nu)``; ``gamma(0) = 0`` and
    ``gamma(h) = nugget + psill * f(h / range)`` for ``h > 0`` (module docstring).
    """
    if h <= 0.0:
        return 0.0
    nugget = params[0]
    psill = params[1]
    rng = params[2]
    r = h / rng
    if model == SPHERICAL:
        f = 1.5 * r - 0.5 * r * r * r if r < 1.0 else 1.0
    elif model == EXPONENTIAL:
        f = 1.0 - math.exp(-3.0 * r)
    elif model == GAUSSIAN:
        s = h / (rng * 4.0 / 7.0)
        f = 1.0 - math.exp(-s * s)
    else:
        nu = params[3]
        if nu == 0.5:
            f = 1.0 - math.exp(-r)
        elif nu == 1.5:
            s = math.sqrt(3.0) * r
            f = 1.0 - (1.0 + s) * math.exp(-s)
        else:
            s = math.sqrt(5.0) * r
            f = 1.0 - (1.0 + s + s * s / 3.0) * math.exp(-s)
    return nugget + psill * f


def variogram_numpy(model: int, params: np.ndarray, h: np.ndarray) -> np.ndarray:
    """NumPy reference of :func:`variogram_value`, vectorised over ``h``."""
    h = np.asarray(h, dtype=np.float64)
    nugget, psill, rng, nu = (float(p) for p in params)
    r = h / rng
    if model == SPHERICAL:
        f = np.where(r < 1.0, 1.5 * r - 0.5 * r**3, 1.0)
    elif model == EXPONENTIAL:
        f = 1.0 - np.exp(-3.0 * r)
    elif model == GAUSSIAN:
        f = 1.0 - np.exp(-((h / (rng * 4.0 / 7.0)) ** 2))
    elif model == MATERN and nu == 0.5:
        f = 1.0 - np.exp(-r)
    elif model == MATERN and nu == 1.5:
        s = np.sqrt(3.0) * r
        f = 1.0 - (1.0 + s) * np.exp(-s)
    elif model == MATERN and nu == 2.5:
        s = np.sqrt(5.0) * r
        f = 1.0 - (1.0 + s + s**2 / 3.0) * np.exp(-s)
    else:
        raise ValueError(f"unknown variogram model code {model} (nu={nu})")
    return np.where(h > 0.0, nugget + psill * f, 0.0)
