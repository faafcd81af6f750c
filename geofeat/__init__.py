"""geofeat: per-point features from satellite and climate data, as one batch job."""

from importlib.metadata import PackageNotFoundError, version

from geofeat.errors import (
    ConfigError,
    GeofeatError,
    PointsError,
    ReadError,
    SearchError,
)
from geofeat.job import RunResult, RunSummary, run
from geofeat.spec import JobSpec, load_spec

try:
    __version__ = version("geofeat")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "ConfigError",
    "GeofeatError",
    "JobSpec",
    "PointsError",
    "ReadError",
    "RunResult",
    "RunSummary",
    "SearchError",
    "__version__",
    "load_spec",
    "run",
]
