"""Feature kinds: each turns points and a spec entry into a lazy table of columns."""

from __future__ import annotations

from geofeat.catalog import open_catalog
from geofeat.features.base import FeaturePlan
from geofeat.points import Points
from geofeat.spec import JobSpec, RainfallFeature, SceneFeature


def plan_feature(spec: JobSpec, feature, points: Points, catalogs: dict) -> FeaturePlan:
    """Build the lazy computation of one feature of ``spec`` for ``points``.

    ``catalogs`` caches opened catalogues by name across features.
    """
    if isinstance(feature, SceneFeature):
        from geofeat.features.scene import plan_scene_feature

        if feature.catalog not in catalogs:
            catalogs[feature.catalog] = open_catalog(
                feature.catalog, spec.catalogs.get(feature.catalog), spec.resolve
            )
        return plan_scene_feature(feature, points, catalogs[feature.catalog])
    if isinstance(feature, RainfallFeature):
        from geofeat.features.rainfall import plan_rainfall_feature

        return plan_rainfall_feature(feature, points, spec.resolve)
    raise TypeError(f"unknown feature kind {type(feature).__name__}")


__all__ = ["FeaturePlan", "plan_feature"]
