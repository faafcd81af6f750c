"""Moving neighbourhoods: the nearest samples of each target, from a KD-tree.

The tree (scipy ``cKDTree``) is built once over the samples; each chunk of
targets is queried in one call. Rows come back as the kernels want them: sample
indices in ascending order, padded with -1 where fewer samples qualify.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy.spatial import cKDTree

logger = logging.getLogger(__name__)


class Neighbourhood:
    """The ``max_points`` nearest samples within ``max_distance`` of a target.

    Parameters
    ----------
    x, y
        Sample coordinates (CRS units).
    max_points
        Neighbours per target; capped at the number of samples (logged).
    max_distance
        Only samples at most this far (CRS units); ``None`` for no limit.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        max_points: int,
        max_distance: float | None = None,
    ) -> None:
        self.size = int(x.shape[0])
        if max_points > self.size:
            logger.warning(
                "neighbourhood asks for %d samples but there are only %d; using all",
                max_points,
                self.size,
            )
        self.max_points = min(max_points, self.size)
        self.max_distance = max_distance
        self.tree = cKDTree(np.column_stack([x, y]))

    def query(
        self, tx: np.ndarray, ty: np.ndarray, exclude_self: bool = False
    ) -> np.ndarray:
        """``(m, max_points)`` ascending sample indices per target, -1 padded.

        With ``exclude_self`` the targets are the samples themselves (in order)
        and each target's own index is left out (leave-one-out).
        """
        k = self.max_points + (1 if exclude_self else 0)
        k = min(k, self.size)
        bound = np.inf if self.max_distance is None else self.max_distance
        _, idx = self.tree.query(
            np.column_stack([tx, ty]), k=k, distance_upper_bound=bound, workers=-1
        )
        idx = np.asarray(idx, dtype=np.int64).reshape(len(tx), k)
        if exclude_self:
            own = np.arange(len(tx))[:, None]
            idx = np.where(idx == own, self.size, idx)
        idx.sort(axis=1)
        if exclude_self:
            idx = idx[:, : k - 1] if k > self.max_points else idx
            idx = idx[:, : self.max_points]
        idx[idx >= self.size] = -1
        return idx
