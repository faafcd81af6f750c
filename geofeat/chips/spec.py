"""The chip job spec: points and catalogues as in ``geofeat run``, plus ``chips:``.

A chip job shares ``points``, ``catalogs`` and time windows with a feature job
(the same models from :mod:`geofeat.spec`), and replaces ``features`` with one
``chips`` section that says which bands, how large, at which resolution and
how the scene is picked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    CatalogSpec,
    ClusterSpec,
    PointsSpec,
    SpecPaths,
    Window,
    _format_validation_error,
    apply_overrides,
    read_spec_source,
)

Pick = Literal["least-cloudy", "nearest", "median"]
#: Largest chip side in pixels: 4096 x 4096 float32 is 64 MiB per band.
MAX_CHIP_SIDE = 4096
#: Resampling methods by their rasterio/GDAL names.
Resampling = Literal[
    "nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ChipSpec(_Model):
    """What to cut around each point: bands, size, grid and scene choice."""

    catalog: str
    """Key of an entry of the spec's ``catalogs`` (or a preset name)."""
    collection: str
    bands: tuple[str, ...] = Field(min_length=1)
    """Bands by name (``red``, ``nir``, ...; ``scl`` gives the class codes)."""
    size: tuple[int, int]
    """Chip size in pixels, ``(height, width)``; one number means a square."""
    resolution: float | None = Field(default=None, gt=0)
    """Pixel size in CRS units (metres in UTM); the scene's own when omitted."""
    crs: str | None = None
    """CRS of the chips; the scene's own (UTM) when omitted."""
    resampling: Resampling = "nearest"
    """How bands are resampled when the chip grid is not the file's grid."""
    window: Window
    pick: Pick = "least-cloudy"
    """``least-cloudy`` (SCL over the chip), ``nearest`` the date, or ``median``."""
    dates: int = Field(default=1, ge=1)
    """How many scenes per point; above 1 the array gets a ``time`` axis."""
    valid_classes: tuple[int, ...] | None = None
    """Scene classification classes that count as clear (Sentinel-2 SCL)."""
    max_cloud_cover: float | None = Field(default=None, ge=0, le=100)
    """Skip scenes whose ``eo:cloud_cover`` is above this percentage."""
    preview: tuple[str, str, str] | None = None
    """Three bands for RGB previews (default red, green, blue when asked for)."""
    previews: Literal["none", "sheet", "each", "both"] = "none"
    """Write a contact sheet, one PNG per chip, or both, beside the store."""
    sheet_max: int = Field(default=100, ge=1)
    """At most this many chips on the contact sheet."""

    @field_validator("size", mode="before")
    @classmethod
    def _square(cls, value: Any) -> Any:
        return (value, value) if isinstance(value, int) else value

    @field_validator("size")
    @classmethod
    def _positive(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 1:
            raise ValueError(f"size {list(value)} must be positive pixel counts")
        if max(value) > MAX_CHIP_SIDE:
            raise ValueError(
                f"size {list(value)}: a chip is at most {MAX_CHIP_SIDE} pixels a side "
                f"(one {max(value)} x {max(value)} band alone is "
                f"{max(value) ** 2 * 4 / 2**30:.1f} GiB); use a coarser 'resolution'"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChipSpec:
        if self.crs is not None and self.resolution is None:
            raise ValueError(
                f"crs {self.crs!r} needs a 'resolution' in its units; add e.g. "
                "resolution: 10"
            )
        if self.pick == "median" and self.dates > 1:
            raise ValueError(
                "pick 'median' makes one composite per point; use dates: 1 or pick "
                "'least-cloudy'/'nearest' for several dates"
            )
        dupes = sorted({b for b in self.bands if self.bands.count(b) > 1})
        if dupes:
            raise ValueError(f"bands repeated: {dupes}; name each band once")
        return self


class ChipJobSpec(_Model, SpecPaths):
    """A whole ``geofeat chips`` job."""

    points: PointsSpec
    output: str
    """Zarr store to write (a folder)."""
    catalogs: dict[str, CatalogSpec] = {}
    chips: ChipSpec
    cluster: ClusterSpec | None = None
    """Where the chip tasks run, as in ``geofeat run``; they write into the
    store's folder, so a cluster's workers must see that folder (``local``, or
    one of Dask's in-process schedulers)."""
    scheduler: Literal["threads", "processes", "synchronous"] = "threads"
    """Dask's in-process scheduler, when no ``cluster`` is given."""
    base_dir: Path = Path(".")
    """Folder that relative paths in the spec are resolved against."""

    @field_validator("output")
    @classmethod
    def _zarr(cls, value: str) -> str:
        if not value.rstrip("/").lower().endswith(".zarr"):
            raise ValueError(
                f"{value!r}: chips are written as a Zarr store; give a path ending "
                "in .zarr"
            )
        return value

    @field_validator("points", mode="before")
    @classmethod
    def _points_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _catalog_known(self) -> ChipJobSpec:
        name = self.chips.catalog
        if name not in self.catalogs:
            from geofeat.catalog.presets import PRESETS

            if name not in PRESETS:
                raise ValueError(
                    f"chips names catalog {name!r}, which is neither in 'catalogs' "
                    f"({sorted(self.catalogs)}) nor a preset ({sorted(PRESETS)}); "
                    "add it under 'catalogs'"
                )
        return self


def load_chip_spec(
    source: str | Path | dict,
    *,
    points: str | None = None,
    output: str | None = None,
) -> ChipJobSpec:
    """Read and validate a chip job spec from a YAML file or a dict.

    Parameters
    ----------
    source
        Path to a YAML file, or the spec as a dict (relative paths are then
        resolved against the current folder).
    points, output
        Override the spec's ``points`` path and ``output``, as the CLI's
        ``--points`` and ``--output`` do (relative to the current folder).

    Raises
    ------
    ConfigError
        The file is missing or not YAML, or a field is invalid (every fault is
        listed with its field).
    """
    data, label = read_spec_source(
        source, "a chip spec is a YAML mapping (points, chips, ...)"
    )
    apply_overrides(data, points=points, output=output)
    try:
        return ChipJobSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, label, "chip spec")) from None
