"""Read planning: which searches to make, and which scene serves which point.

Searches are made once per group of nearby points, not once per point: points
are binned into cells of ``cell`` degrees, and each occupied cell is searched
once with the bbox of its points and the union of their windows. Each scene
found is then matched to the points whose window overlaps the scene's time and
which lie inside its footprint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pystac
import shapely
from shapely.geometry import shape

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchGroup:
    """Points searched together: their bbox and the span of their windows."""

    rows: np.ndarray
    bbox: tuple[float, float, float, float]
    start: pd.Timestamp
    end: pd.Timestamp
    """End of the span, excluded."""


def search_groups(
    lon: np.ndarray,
    lat: np.ndarray,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
    cell: float = 1.0,
) -> list[SearchGroup]:
    """Group points into cells of ``cell`` degrees; one search per occupied cell."""
    key = pd.Series(
        list(zip(np.floor(lon / cell).astype(int), np.floor(lat / cell).astype(int)))
    )
    groups = []
    for _, rows in key.groupby(key).indices.items():
        rows = np.asarray(rows)
        groups.append(
            SearchGroup(
                rows=rows,
                bbox=(
                    float(lon[rows].min()),
                    float(lat[rows].min()),
                    float(lon[rows].max()),
                    float(lat[rows].max()),
                ),
                start=start[rows].min(),
                end=end[rows].max(),
            )
        )
    return groups


def points_in_footprint(item: pystac.Item, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Whether each point lies inside (or on the edge of) the item's geometry."""
    if item.geometry is None:
        return np.ones(lon.shape, bool)
    footprint = shape(item.geometry)
    return shapely.intersects_xy(footprint, lon, lat)


def match(
    scene_start: pd.Timestamp,
    scene_end: pd.Timestamp,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
) -> np.ndarray:
    """Whether the scene's time ``[scene_start, scene_end)`` overlaps each window.

    Windows are ``[start, end)``. An instantaneous scene (``scene_end`` just
    after ``scene_start``) is taken when ``start <= scene_start < end``.
    """
    return np.asarray((scene_start < end) & (scene_end > start))
