"""Ordinary kriging from point samples to a georeferenced grid (``geofeat krige``)."""

from geofeat.krige.crossval import CrossValidation, cross_validate
from geofeat.krige.run import KrigeResult, krige
from geofeat.krige.solve import Kriger
from geofeat.krige.spec import KrigeSpec, load_krige_spec
from geofeat.krige.variogram import (
    EmpiricalVariogram,
    VariogramModel,
    empirical_variogram,
    fit_variogram,
)

__all__ = [
    "CrossValidation",
    "EmpiricalVariogram",
    "KrigeResult",
    "KrigeSpec",
    "Kriger",
    "VariogramModel",
    "cross_validate",
    "empirical_variogram",
    "fit_variogram",
    "krige",
    "load_krige_spec",
]
