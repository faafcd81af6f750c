"""Read planning: which searches to make, and which scene serves which point.

Searches are made once per group of nearby points and dates, not once per
point: points are binned into cells of ``cell`` degrees, and within a cell their
windows are clustered in time (a window starting more than ``gap`` after the
windows before it end starts a new cluster). Each cluster is searched once with
the bbox of its points and the union of their windows, so 10,000 points over a
country and a year make about one search per occupied cell, while two sparse
points months apart make two short searches, not one long one. Each scene found
is then matched to the points whose window overlaps the scene's time and which
lie inside its footprint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pystac
import shapely
from shapely.geometry import shape

from geofeat.catalog.base import Search

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchGroup:
    """Points searched together: their bbox and the span of their windows."""

    rows: np.ndarray
    bbox: tuple[float, float, float, float]
    start: pd.Timestamp
    end: pd.Timestamp
    """End of the span, excluded."""


#: Windows closer than this are searched together: a search returns about one
#: page of Sentinel-2 items per month for a 1-degree cell, so a gap shorter
#: than this costs fewer pages than a second search costs requests.
SEARCH_GAP = pd.Timedelta(days=16)


def search_groups(
    lon: np.ndarray,
    lat: np.ndarray,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
    cell: float = 1.0,
    gap: pd.Timedelta = SEARCH_GAP,
) -> list[SearchGroup]:
    """Group points by cell of ``cell`` degrees and by clusters of their windows.

    Parameters
    ----------
    lon, lat
        Point coordinates in degrees.
    start, end
        Each point's window, start included and end excluded.
    cell
        Cell size in degrees.
    gap
        Windows of one cell whose start is more than ``gap`` after the end of the
        earlier windows start a new group.
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    starts = np.asarray(pd.DatetimeIndex(start).asi8)
    ends = np.asarray(pd.DatetimeIndex(end).asi8)
    cells = np.stack([np.floor(lon / cell), np.floor(lat / cell)], axis=1)
    _, cell_id = np.unique(cells, axis=0, return_inverse=True)
    cell_id = cell_id.ravel()
    order = np.lexsort((starts, cell_id))
    gap_ns = pd.Timedelta(gap).value

    groups: list[SearchGroup] = []
    members: list[int] = []
    group_end = 0
    for k, row in enumerate(order):
        new_cell = k == 0 or cell_id[row] != cell_id[order[k - 1]]
        if members and (new_cell or starts[row] > group_end + gap_ns):
            groups.append(_group(np.asarray(members), lon, lat, start, end))
            members = []
        if not members:
            group_end = ends[row]
        members.append(row)
        group_end = max(group_end, ends[row])
    if members:
        groups.append(_group(np.asarray(members), lon, lat, start, end))

    searched = sum((g.end - g.start).days for g in groups)
    # Once per partition: the run logs the totals.
    logger.debug(
        "%d point(s) in %d search group(s) over %d cell(s) of %s degree(s); "
        "%d day(s) searched in all",
        len(lon),
        len(groups),
        len(np.unique(cell_id)),
        cell,
        searched,
    )
    return groups


def _group(rows, lon, lat, start, end) -> SearchGroup:
    rows = np.sort(rows)
    return SearchGroup(
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


def searches(
    collection: str,
    lon: np.ndarray,
    lat: np.ndarray,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
    max_cloud_cover: float | None = None,
) -> list[Search]:
    """The catalogue searches for points with windows ``[start, end)``: one per
    group of :func:`search_groups`."""
    return [
        Search(
            collection=collection,
            bbox=group.bbox,
            start=group.start.to_pydatetime(),
            # The window end is excluded; a STAC interval includes its end.
            end=(group.end - pd.Timedelta(microseconds=1)).to_pydatetime(),
            max_cloud_cover=max_cloud_cover,
        )
        for group in search_groups(lon, lat, start, end)
    ]


def points_in_footprint(
    item: pystac.Item, lon: np.ndarray, lat: np.ndarray
) -> np.ndarray:
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
