"""Variogram models, the empirical variogram and its weighted least-squares fit.

Defaults follow gstat, so results can be checked against it:

- cutoff: a third of the diagonal of the samples' bounding box;
- width: cutoff / 15; lag bins ``(i w, (i+1) w]`` up to the cutoff, empty ones
  left out; each bin reports its pair count, mean lag and semivariance
  ``sum((z_i - z_j)**2) / (2 N)`` (Matheron's estimator);
- fit: weighted least squares with weights ``N_j / h_j**2`` (gstat's
  ``fit.method = 7``), nugget, partial sill and range bounded to be non-negative.

Above ``MAX_PAIRS_SAMPLES`` samples the empirical variogram uses a seeded random
subset of that many samples (logged), to keep the pair count bounded.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.distance import pdist

from geofeat.errors import ConfigError
from geofeat.kernels.variogram import MODEL_CODES, variogram_numpy

logger = logging.getLogger(__name__)

MAX_PAIRS_SAMPLES = 5000
"""Samples used for the empirical variogram at most (pairs grow as n**2 / 2)."""
DEFAULT_BINS = 15
"""Lag bins up to the cutoff when no width is given (gstat's default)."""


@dataclass(frozen=True)
class VariogramModel:
    """A variogram model with its parameters (PyKrige's range conventions)."""

    model: str
    """``spherical``, ``exponential``, ``gaussian`` or ``matern``."""
    nugget: float
    """Jump at the origin, squared value units."""
    psill: float
    """Partial sill, squared value units."""
    range: float
    """Range, CRS units (see :mod:`geofeat.kernels.variogram`)."""
    nu: float = 0.5
    """Matern smoothness (ignored by the other models)."""

    @property
    def code(self) -> int:
        """The kernel's integer code for the model."""
        return MODEL_CODES[self.model]

    @property
    def sill(self) -> float:
        """Nugget plus partial sill."""
        return self.nugget + self.psill

    @property
    def params(self) -> np.ndarray:
        """``(nugget, psill, range, nu)`` as the kernels take them."""
        return np.array(
            [self.nugget, self.psill, self.range, self.nu], dtype=np.float64
        )

    def __call__(self, h: np.ndarray) -> np.ndarray:
        """Semivariance at lags ``h`` (0 at lag 0)."""
        return variogram_numpy(self.code, self.params, h)

    def to_dict(self) -> dict[str, float | str]:
        """Plain data (for JSON and Zarr attributes)."""
        return asdict(self)


@dataclass(frozen=True)
class EmpiricalVariogram:
    """Semivariances of the samples in lag bins."""

    lag: np.ndarray
    """Mean pair distance per bin, CRS units."""
    gamma: np.ndarray
    """Semivariance per bin."""
    pairs: np.ndarray
    """Number of pairs per bin."""
    cutoff: float
    """Largest lag, CRS units."""
    width: float
    """Bin width, CRS units."""


def empirical_variogram(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    cutoff: float | None = None,
    width: float | None = None,
    seed: int = 0,
) -> EmpiricalVariogram:
    """Matheron's empirical variogram with gstat's default bins.

    Parameters
    ----------
    x, y, z
        Sample coordinates (CRS units) and values.
    cutoff
        Largest lag; default a third of the bounding-box diagonal.
    width
        Bin width; default ``cutoff / 15``.
    seed
        Seed of the subset drawn above ``MAX_PAIRS_SAMPLES`` samples.
    """
    if x.size < 3:
        raise ConfigError(
            f"a variogram needs at least 3 samples, got {x.size}; give a model"
        )
    if cutoff is None:
        cutoff = float(np.hypot(np.ptp(x), np.ptp(y))) / 3.0
    if width is None:
        width = cutoff / DEFAULT_BINS
    if x.size > MAX_PAIRS_SAMPLES:
        logger.info(
            "empirical variogram from a random subset of %d of %d samples",
            MAX_PAIRS_SAMPLES,
            x.size,
        )
        pick = np.random.default_rng(seed).choice(
            x.size, MAX_PAIRS_SAMPLES, replace=False
        )
        x, y, z = x[pick], y[pick], z[pick]
    h = pdist(np.column_stack([x, y]))
    sq = pdist(z[:, None], "sqeuclidean")
    keep = (h > 0) & (h <= cutoff)
    h, sq = h[keep], sq[keep]
    nbins = int(np.ceil(cutoff / width - 1e-9))
    index = np.minimum(np.ceil(h / width).astype(np.int64) - 1, nbins - 1)
    pairs = np.bincount(index, minlength=nbins)
    used = pairs > 0
    lag = np.bincount(index, weights=h, minlength=nbins)[used] / pairs[used]
    gamma = np.bincount(index, weights=sq, minlength=nbins)[used] / (2.0 * pairs[used])
    return EmpiricalVariogram(lag, gamma, pairs[used], float(cutoff), float(width))


def fit_variogram(
    empirical: EmpiricalVariogram, model: str, nu: float | None = None
) -> VariogramModel:
    """Fit ``model`` with a nugget by weighted least squares (weights N/h**2).

    Several starting ranges are tried and the best fit kept, because the range
    of bounded models has local minima.
    """
    if empirical.lag.size < 3:
        raise ConfigError(
            f"only {empirical.lag.size} non-empty lag bin(s) to fit; widen "
            "variogram.cutoff or give the model parameters"
        )
    nu = 0.5 if nu is None else nu
    code = MODEL_CODES[model]
    lag, gamma = empirical.lag, empirical.gamma
    weight = np.sqrt(empirical.pairs / lag**2)
    top = float(gamma.max())
    if top <= 0:
        raise ConfigError(
            "the empirical variogram is flat at zero (are all values equal?); give "
            "variogram.model with psill and range instead of fit"
        )

    def residual(p: np.ndarray) -> np.ndarray:
        return weight * (
            variogram_numpy(code, np.array([p[0], p[1], p[2], nu]), lag) - gamma
        )

    best = None
    for share in (0.25, 0.5, 0.75, 1.0):
        start = [min(float(gamma[0]), top / 2), top / 2, share * empirical.cutoff]
        start = np.clip(start, [0, 0, 1e-9], None)
        fit = least_squares(
            residual,
            start,
            bounds=(
                [0.0, 0.0, empirical.width * 1e-3],
                [2 * top, 4 * top, 10 * empirical.cutoff],
            ),
            x_scale=[top, top, empirical.cutoff],
        )
        if best is None or fit.cost < best.cost:
            best = fit
    nugget, psill, rng = (float(v) for v in best.x)
    if psill + nugget <= 0:
        raise ConfigError("the fitted variogram is flat at zero; are all values equal?")
    fitted = VariogramModel(model, nugget, psill, rng, nu)
    logger.info(
        "fitted %s variogram: nugget %.4g, psill %.4g, range %.4g (%d bins)",
        model,
        nugget,
        psill,
        rng,
        lag.size,
    )
    return fitted


def variogram_record(
    model: VariogramModel, empirical: EmpiricalVariogram | None
) -> dict:
    """Model and empirical bins as plain data (written as JSON beside the output)."""
    record: dict = {"model": model.to_dict()}
    if empirical is not None:
        record["empirical"] = {
            "lag": empirical.lag.tolist(),
            "gamma": empirical.gamma.tolist(),
            "pairs": empirical.pairs.tolist(),
            "cutoff": empirical.cutoff,
            "width": empirical.width,
        }
    return record


def write_variogram(
    path: str, model: VariogramModel, empirical: EmpiricalVariogram | None
) -> None:
    """Write :func:`variogram_record` as JSON at ``path``."""
    with open(path, "w") as handle:
        json.dump(variogram_record(model, empirical), handle, indent=2)
    logger.info("wrote the variogram to %s", path)
