"""Kriging of target points from prepared samples: centring, neighbours, kernels.

:class:`Kriger` holds what every chunk shares (centred samples, the KD-tree or
the factorised global system) and kriges any batch of targets. Coordinates are
centred on the middle of the samples' extent before anything is computed, so
large projected coordinates (1e5 to 1e7 m) do not cost precision.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter

import numpy as np

from geofeat.errors import ConfigError
from geofeat.kernels import kriging
from geofeat.krige.neighbours import Neighbourhood
from geofeat.krige.variogram import VariogramModel

logger = logging.getLogger(__name__)

MAX_GLOBAL_SAMPLES = 10_000
"""Largest sample count for a global neighbourhood (the system is dense, n x n)."""
QUERY_BATCH = 65_536
"""Targets per KD-tree query in a moving neighbourhood (bounds the index arrays)."""

STATUS_NAMES = {
    kriging.SOLVED: "solved",
    kriging.REGULARISED: "regularised",
    kriging.FAILED: "failed",
    kriging.NO_NEIGHBOURS: "no_neighbours",
}


class Kriger:
    """Ordinary kriging from fixed samples, for any batch of targets.

    Parameters
    ----------
    x, y, z
        Sample coordinates (CRS units, any magnitude) and values; one per location.
    variogram
        The model.
    max_points
        Moving neighbourhood size; ``None`` for global (all samples).
    max_distance
        Moving neighbourhood search radius in CRS units; ``None`` for no limit.
    parallel
        Use the parallel kernel drivers.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        z: np.ndarray,
        variogram: VariogramModel,
        max_points: int | None = None,
        max_distance: float | None = None,
        parallel: bool = True,
    ) -> None:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        self.centre = ((x.max() + x.min()) / 2.0, (y.max() + y.min()) / 2.0)
        self.x = x - self.centre[0]
        self.y = y - self.centre[1]
        self.z = np.asarray(z, dtype=np.float64)
        self.variogram = variogram
        self.parallel = parallel
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        n = self.x.shape[0]
        moving = max_distance is not None or (max_points is not None and max_points < n)
        self.neighbourhood = (
            Neighbourhood(self.x, self.y, max_points or n, max_distance)
            if moving
            else None
        )
        self.factors = None
        if not moving:
            if n > MAX_GLOBAL_SAMPLES:
                raise ConfigError(
                    f"a global neighbourhood with {n} samples needs a dense {n} x {n} "
                    f"system; set neighbourhood.max_points (e.g. 32)"
                )
            self.factors = kriging.factorise_global(
                self.x, self.y, variogram.code, variogram.params
            )
            if self.factors[1] != kriging.SOLVED:
                logger.warning(
                    "the global kriging system is singular: %s",
                    "regularised with a tiny measurement error"
                    if self.factors[1] == kriging.REGULARISED
                    else "every cell gets NaN",
                )

    def krige(self, tx: np.ndarray, ty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimate and kriging variance at targets ``(tx, ty)`` (CRS units).

        Status counts (solved, regularised, failed, no neighbours) accumulate in
        :attr:`counts`.
        """
        tx = np.asarray(tx, dtype=np.float64) - self.centre[0]
        ty = np.asarray(ty, dtype=np.float64) - self.centre[1]
        model, params = self.variogram.code, self.variogram.params
        if self.neighbourhood is None:
            est, var, status = kriging.krige_global(
                self.x,
                self.y,
                self.z,
                tx,
                ty,
                model,
                params,
                parallel=self.parallel,
                factors=self.factors,
            )
        else:
            est, var = np.empty(tx.size), np.empty(tx.size)
            status = np.empty(tx.size, dtype=np.int8)
            for start in range(0, tx.size, QUERY_BATCH):
                part = slice(start, start + QUERY_BATCH)
                nbr = self.neighbourhood.query(tx[part], ty[part])
                est[part], var[part], status[part] = kriging.krige_moving(
                    self.x,
                    self.y,
                    self.z,
                    tx[part],
                    ty[part],
                    nbr,
                    model,
                    params,
                    parallel=self.parallel,
                )
        self._count(status)
        return est, var

    def _count(self, status: np.ndarray) -> None:
        found = np.bincount(status, minlength=4)
        with self._lock:
            for code, name in STATUS_NAMES.items():
                self.counts[name] += int(found[code])

    def log_counts(self) -> None:
        """Log how many targets were solved, regularised, failed, without neighbours."""
        c = self.counts
        logger.info(
            "kriged %d cell(s): %d solved, %d regularised (singular system), "
            "%d failed (NaN), %d without neighbours (NaN)",
            sum(c.values()),
            c["solved"],
            c["regularised"],
            c["failed"],
            c["no_neighbours"],
        )
        if c["regularised"] or c["failed"]:
            logger.warning(
                "%d singular kriging system(s) regularised, %d left NaN; check for "
                "near-duplicate samples or a gaussian model without nugget",
                c["regularised"],
                c["failed"],
            )
