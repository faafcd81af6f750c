"""The kriging spec (``geofeat krige SPEC.yaml``) as typed, validated models.

Relative paths are resolved against the folder of the spec file; every error
names the field at fault and how to fix it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from geofeat.errors import ConfigError
from geofeat.spec import (
    SpecPaths,
    _format_validation_error,
    apply_overrides,
    read_spec_source,
)

logger = logging.getLogger(__name__)

ModelName = Literal["spherical", "exponential", "gaussian", "matern"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SamplesSpec(_Model):
    """Where the samples are and which columns hold what."""

    path: str
    """CSV or Parquet table, relative to the spec file or absolute."""
    value: str
    """Column with the measured value."""
    x: str | None = None
    """Column with easting, in the units of ``crs``."""
    y: str | None = None
    """Column with northing, in the units of ``crs``."""
    crs: str | None = None
    """CRS of ``x``/``y`` (anything pyproj accepts)."""
    lon: str | None = None
    """Column with longitude (WGS84 degrees), instead of ``x``/``crs``."""
    lat: str | None = None
    """Column with latitude (WGS84 degrees), instead of ``y``/``crs``."""

    @model_validator(mode="after")
    def _one_frame(self) -> SamplesSpec:
        xy = self.x is not None and self.y is not None
        lonlat = self.lon is not None and self.lat is not None
        if xy == lonlat:
            raise ValueError("give either 'x' and 'y' (with 'crs') or 'lon' and 'lat'")
        if xy and self.crs is None:
            raise ValueError("'x'/'y' need a 'crs', e.g. crs: \"EPSG:28992\"")
        return self


class VariogramSpec(_Model):
    """A variogram model given in full, or a model to fit to the samples.

    Either ``model`` with ``psill`` and ``range`` (and ``nugget``), or ``fit``
    naming the model to fit by weighted least squares.
    """

    model: ModelName | None = None
    """Model with given parameters."""
    nugget: float = Field(default=0.0, ge=0)
    """Semivariance jump at the origin, in squared value units."""
    psill: float | None = Field(default=None, ge=0)
    """Partial sill (sill minus nugget), in squared value units."""
    range: float | None = Field(default=None, gt=0)
    """Range in CRS units (spherical: reached; exponential, gaussian: practical)."""
    nu: float | None = None
    """Matern smoothness, one of 0.5, 1.5, 2.5."""
    fit: ModelName | None = None
    """Fit this model to the empirical variogram instead."""
    cutoff: float | None = Field(default=None, gt=0)
    """Largest lag of the empirical variogram (default: a third of the diagonal)."""
    width: float | None = Field(default=None, gt=0)
    """Lag bin width (default: cutoff / 15)."""

    @model_validator(mode="after")
    def _given_or_fit(self) -> VariogramSpec:
        if (self.model is None) == (self.fit is None):
            raise ValueError("give either 'model' (with psill and range) or 'fit'")
        if self.model is not None and (self.psill is None or self.range is None):
            raise ValueError(f"model {self.model!r} needs 'psill' and 'range'")
        if self.model is not None and self.psill + self.nugget <= 0:
            raise ValueError("the sill (psill + nugget) is zero; give a positive psill")
        name = self.model or self.fit
        if name == "matern" and self.nu not in (0.5, 1.5, 2.5):
            raise ValueError("matern needs nu: 0.5, 1.5 or 2.5 (closed forms only)")
        if name != "matern" and self.nu is not None:
            raise ValueError(f"'nu' applies to matern only, not {name!r}")
        return self


class NeighbourhoodSpec(_Model):
    """Which samples krige a cell: all (global) or the nearest ones (moving)."""

    max_points: int | None = Field(default=None, ge=1)
    """The ``n`` nearest samples per cell (omit for all samples)."""
    max_distance: float | None = Field(default=None, gt=0)
    """Only samples within this distance (CRS units); cells with none get NaN."""


#: Largest grid accepted from bounds: 1e9 cells (about 31,600 a side) is
#: 16 GB of estimate and variance, streamed chunk by chunk.
MAX_GRID_CELLS = 1e9


class GridSpec(_Model):
    """The target grid: a table of cell centres, bounds + resolution, or a raster."""

    path: str | None = None
    """Table (CSV/Parquet) of cell centres on a regular lattice."""
    x: str = "x"
    """Column of the cell-centre easting in ``path``."""
    y: str = "y"
    """Column of the cell-centre northing in ``path``."""
    resolution: float | None = Field(default=None, gt=0)
    """Cell size in CRS units (with ``bounds``; inferred from a table otherwise)."""
    bounds: tuple[float, float, float, float] | None = None
    """(minx, miny, maxx, maxy) in ``crs`` units; cells cover them from minx/maxy."""
    crs: str | None = None
    """CRS of the grid (default: the samples' CRS)."""
    like: str | None = None
    """A GeoTIFF or Zarr store whose grid (CRS, transform, shape) to copy."""

    @model_validator(mode="after")
    def _one_kind(self) -> GridSpec:
        kinds = [self.path is not None, self.bounds is not None, self.like is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of 'path', 'bounds' or 'like'")
        if self.bounds is not None:
            if self.resolution is None:
                raise ValueError("'bounds' needs a 'resolution' in CRS units")
            minx, miny, maxx, maxy = self.bounds
            if not (maxx > minx and maxy > miny):
                raise ValueError("bounds are (minx, miny, maxx, maxy) with max > min")
            cells = ((maxx - minx) / self.resolution) * (
                (maxy - miny) / self.resolution
            )
            if cells > MAX_GRID_CELLS:
                raise ValueError(
                    f"bounds and resolution {self.resolution:g} make about "
                    f"{cells:.2g} cells (over {MAX_GRID_CELLS:.0e}, "
                    f"{cells * 16 / 2**40:.1f} TiB of estimate and variance); "
                    "use a coarser resolution or smaller bounds"
                )
        return self


class CrossValidationSpec(_Model):
    """Cross-validation of the variogram and neighbourhood on the samples."""

    folds: Literal["loo"] | Annotated[int, Field(ge=2)] = "loo"
    """``loo`` (leave one out) or a number of random folds (k-fold)."""
    seed: int = 0
    """Seed of the fold assignment for k-fold."""


class KrigeSpec(_Model, SpecPaths):
    """A whole ``geofeat krige`` job."""

    samples: SamplesSpec
    value_transform: Literal["none", "log"] = Field(default="none", alias="transform")
    """``log``: krige the natural log; estimate and variance are on that scale."""
    variogram: VariogramSpec
    neighbourhood: NeighbourhoodSpec = NeighbourhoodSpec()
    grid: GridSpec
    output: str
    """Zarr store (``.zarr``), or a ``.parquet``/``.csv`` table of cells."""

    @field_validator("output")
    @classmethod
    def _known_output(cls, value: str) -> str:
        if not value.rstrip("/").lower().endswith((".zarr", ".parquet", ".csv")):
            raise ValueError(
                f"{value!r}: give a Zarr store (.zarr) or a table of cells "
                "(.parquet or .csv)"
            )
        return value

    chunks: int = Field(default=1024, ge=16)
    """Cells per side of a processing chunk (and of a Zarr chunk)."""
    map: str | None = None
    """PNG file for a map of estimate and variance (optional)."""
    crossval: CrossValidationSpec | None = None
    """Run cross-validation too and write its table beside the output."""
    base_dir: Path = Path(".")
    """Folder that relative paths in the spec are resolved against."""


def load_krige_spec(
    source: str | Path | dict, *, output: str | None = None
) -> KrigeSpec:
    """Read and validate a kriging spec from a YAML file or a dict.

    Parameters
    ----------
    source
        Path to a YAML file, or the spec as a dict (relative paths then resolve
        against the current folder).
    output
        Overrides the spec's ``output`` (relative to the current folder), as the
        CLI's ``--output`` does.
    """
    data, label = read_spec_source(
        source, "a krige spec is a YAML mapping (samples, ...)"
    )
    apply_overrides(data, output=output)
    try:
        return KrigeSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, label, "krige spec")) from None


def as_dict(spec: KrigeSpec) -> dict[str, Any]:
    """The spec as plain data, for recording in output metadata."""
    return spec.model_dump(mode="json", by_alias=True, exclude={"base_dir"})
