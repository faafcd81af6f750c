"""Which scene (satellite pass) makes each chip.

Candidates are the passes in the point's window with a tile whose footprint
holds the point. Tiles of one pass are the same overflight, so they are one
candidate, read as a mosaic (:mod:`geofeat.chips.read`).

- ``nearest``: the pass closest in time to the point's date (00:00 UTC of its
  day); on a tie, the earlier pass.
- ``least-cloudy``: the pass with the largest share of clear pixels *over the
  chip itself*, judged by the scene classification (SCL classes 4, 5, 6 by
  default; nodata and pixels outside every tile count as not clear), not by
  the scene's ``eo:cloud_cover``; on a tie, the nearest in time.
- ``median``: every candidate pass; per pixel and band, the median of the
  clear observations (see :func:`median_composite`).

With ``dates: N`` the first N passes of that order are kept, then sorted by
time.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geofeat.scene import Scene

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pass:
    """One satellite pass over a point: its time and the tiles that saw it."""

    key: str
    time: pd.Timestamp
    tiles: tuple[Scene, ...]
    """Scenes of this pass, best first (see :func:`group_passes`)."""


def group_passes(scenes: list[Scene]) -> list[Pass]:
    """Scenes grouped by pass key, each group in rank order, passes by time."""
    groups: dict[str, list[Scene]] = {}
    for scene in sorted(scenes, key=lambda s: s.rank):
        groups.setdefault(scene.pass_key or scene.id, []).append(scene)
    passes = [
        Pass(key, min(s.start for s in tiles), tuple(tiles))
        for key, tiles in groups.items()
    ]
    return sorted(passes, key=lambda p: (p.time, p.key))


def by_nearest(passes: list[Pass], day: pd.Timestamp) -> list[Pass]:
    """Passes ordered by distance in time to ``day``; earlier first on a tie."""
    return sorted(passes, key=lambda p: (abs(p.time - day), p.time))


def clear_fraction(scl: np.ndarray, classes: tuple[int, ...]) -> float:
    """Share of the chip's pixels whose class is clear (NaN counts as not clear)."""
    return float(np.isin(scl, classes).mean())


def by_clear(
    passes: list[Pass], clear: dict[str, float], day: pd.Timestamp
) -> list[Pass]:
    """Passes ordered by clear share over the chip, then nearest in time."""
    return sorted(passes, key=lambda p: (-clear[p.key], abs(p.time - day), p.time))


def median_composite(
    stacks: list[dict[str, np.ndarray]],
    scl: list[np.ndarray],
    classes: tuple[int, ...],
    bands: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """Per pixel and band, the median over passes of the clear observations.

    A pixel with no clear observation is NaN. ``scl`` is the class layer of each
    pass on the same grid as its bands.
    """
    out = {}
    for band in bands:
        cube = np.stack([s[band] for s in stacks])
        clear = np.stack([np.isin(c, classes) for c in scl])
        cube = np.where(clear, cube, np.nan)
        with warnings.catch_warnings():
            # All-NaN pixels are expected (no clear pass): silence nanmedian.
            warnings.simplefilter("ignore", RuntimeWarning)
            out[band] = np.nanmedian(cube, axis=0)
    return out
