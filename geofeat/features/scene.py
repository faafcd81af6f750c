"""Scene features: a value per point reduced over the scenes in its window.

The plan is built on the client (searches are metadata); the reads run as one
Dask task per scene, each reading only the pixels under the points that scene
serves; one last task reduces the observations per point.
"""

from __future__ import annotations

import logging
from collections import Counter
from functools import lru_cache

import dask
import numpy as np
import pandas as pd
import pystac
from pyproj import CRS

from geofeat.catalog.base import Catalog
from geofeat.errors import ReadError
from geofeat.failures import observe_guarded, summarise_guarded
from geofeat.features.base import FeaturePlan
from geofeat.plan import match, points_in_footprint, searches
from geofeat.points import Points
from geofeat.read import ReadStats, read_taps, sample_xy
from geofeat.reduce import empty_observations, reduce_observations
from geofeat.sampling import combine
from geofeat.scene import Scene
from geofeat.sources import Product, product_for
from geofeat.sources.base import before_availability, validate_feature
from geofeat.spec import SceneFeature

logger = logging.getLogger(__name__)


def _reference(keys: tuple[str, ...], scene: Scene) -> str:
    """The asset with the finest pixels (per ``proj:transform``): it sets the taps."""

    def size(key: str) -> float:
        transform = scene.assets[key].transform
        return abs(transform[0]) if transform else float("inf")

    return min(keys, key=size)


@lru_cache(maxsize=64)
def _crs_name(wkt: str) -> str:
    return CRS.from_wkt(wkt).to_string()


def observe(
    product: Product,
    feature: SceneFeature,
    scene: Scene,
    rank: int,
    rows: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> tuple[pd.DataFrame, ReadStats]:
    """Read one scene at the given points and evaluate the feature there.

    The taps of each point (see :mod:`geofeat.sampling`) are taken on the grid
    of the finest asset; every other asset (other bands, masks) is sampled at
    the taps' centres on its own grid. The feature is evaluated at each tap,
    then the valid taps are combined per point.
    """
    stats = ReadStats()
    keys = product.assets(feature)
    for key in keys:
        if key not in scene.assets:
            raise ReadError(
                f"scene {scene.id!r} has no asset {key!r} needed by feature "
                f"{feature.name!r}; it has {sorted(scene.assets)}",
                retry=False,
            )
    ref = _reference(keys, scene)
    read = read_taps(
        scene.assets[ref],
        lon,
        lat,
        stats,
        sampling=feature.sampling,
        radius=feature.buffer,
    )
    live = read.taps.weight > 0
    x, y = read.x[live], read.y[live]
    dns = {ref: read.values[live]}
    for key in keys:
        if key != ref:
            dns[key] = sample_xy(scene.assets[key], x, y, read.crs, stats)
    note = ""
    check = getattr(product, "check_radiometry", None)
    checked = scene
    if check is not None:
        checked, note = check(feature, scene, dns, stats)
    tap_value = np.full(live.shape, np.nan)
    tap_valid = np.zeros(live.shape, bool)
    if checked is not None:
        tap_value[live], tap_valid[live] = product.evaluate(feature, checked, dns)
    value, valid, _ = combine(read.taps, tap_value, tap_valid, feature.buffer_statistic)
    radiometry = "" if checked is None else _radiometry(product, feature, checked)
    obs = pd.DataFrame(
        {
            "row": rows,
            "time": scene.start,
            "pass_key": scene.pass_key,
            "rank": rank,
            "scene": scene.id,
            "tile": scene.tile,
            "crs": _crs_name(read.crs),
            "value": value,
            "valid": valid,
            "baseline": scene.properties.get("s2:processing_baseline", ""),
            "radiometry": radiometry if checked is not None else note,
        }
    )
    logger.debug(
        "scene %s: %d point(s), %d valid", scene.id, len(rows), int(valid.sum())
    )
    return obs, stats


def _radiometry(product: Product, feature: SceneFeature, scene: Scene) -> str:
    """Scale and offset applied to the bands read, and why: for provenance."""
    parts = {}
    for key in product.assets(feature):
        asset = scene.assets[key]
        if asset.scale != 1.0 or asset.offset != 0.0:
            parts[f"x{asset.scale:g} {asset.offset:+g}: {asset.radiometry}"] = None
    return " | ".join(parts)


def summarise(
    feature: SceneFeature, n_points: int, results: list[tuple[pd.DataFrame, ReadStats]]
) -> tuple[pd.DataFrame, ReadStats]:
    """Reduce all observations of a feature to one row per point."""
    stats = ReadStats()
    frames = []
    for obs, read_stats in results:
        frames.append(obs)
        stats.merge(read_stats)
    obs = pd.concat(frames, ignore_index=True) if frames else empty_observations()
    table = reduce_observations(
        obs, n_points, feature.reducer, feature.name, provenance=feature.provenance
    )
    for reason, count in sorted(stats.failures.items()):
        if "radiometry check" in reason:
            logger.warning("feature %s: %d %s", feature.name, count, reason)
    return table, stats


def _search(
    catalog: Catalog, feature: SceneFeature, points: Points, start, end
) -> tuple[list[pystac.Item], int]:
    items: dict[str, pystac.Item] = {}
    queries = searches(
        feature.collection, points.lon, points.lat, start, end, feature.max_cloud_cover
    )
    for query in queries:
        for item in catalog.search(query):
            items.setdefault(item.id, item)
    return list(items.values()), len(queries)


def plan_scene_feature(
    feature: SceneFeature, points: Points, catalog: Catalog
) -> FeaturePlan:
    """Search, match scenes to points, and build the read and reduce tasks."""
    product = product_for(feature.collection)
    validate_feature(product, feature)  # fail before any search, not inside a task
    start, end = feature.window.bounds(points.day)
    early, early_reason = before_availability(product, feature, end)
    items, n_searches = _search(catalog, feature, points, start, end)

    scenes = sorted((product.scene(item) for item in items), key=lambda s: s.rank)
    if hasattr(product, "select_scenes"):
        # The product drops scenes the feature does not take (another platform)
        # and refuses missing layers here: they are not worth retrying per read.
        scenes = product.select_scenes(feature, scenes)
    footprints = {item.id: item for item in items}
    tasks = []
    served = np.zeros(len(points), bool)
    for rank, scene in enumerate(scenes):
        in_time = match(scene.start, scene.end, start, end)
        if not in_time.any():
            continue
        inside = in_time & points_in_footprint(
            footprints[scene.id], points.lon, points.lat
        )
        rows = np.flatnonzero(inside)
        if rows.size == 0:
            continue
        served[rows] = True
        tasks.append(
            dask.delayed(observe_guarded, pure=True)(
                product, feature, scene, rank, rows, points.lon[rows], points.lat[rows]
            )
        )
    reasons = Counter()
    if early.any():
        reasons[early_reason] = int(early.sum())
    if (~served & ~early).any():
        reasons["no scene covers the point within its window"] = int(
            (~served & ~early).sum()
        )
    # Once per partition: the run logs the totals.
    logger.debug(
        "feature %s: %d search(es), %d item(s), %d scene read task(s); %d of %d "
        "point(s) have no scene in their window",
        feature.name,
        n_searches,
        len(items),
        len(tasks),
        int((~served).sum()),
        len(points),
    )
    result = dask.delayed(summarise_guarded, pure=True)(feature, len(points), tasks)
    return FeaturePlan(
        name=feature.name,
        result=result,
        searches=n_searches,
        items=len(items),
        reasons=reasons,
    )
