"""The job spec: what a user writes in YAML, as typed and validated models.

Durations are parsed once here, relative paths are resolved against the folder of
the spec file, and every error names the field at fault and how to fix it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from geofeat.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*(d|w|day|days|week|weeks)\s*$", re.IGNORECASE)


def parse_days(value: Any) -> pd.Timedelta:
    """Parse a duration in whole days: ``"10d"``, ``"2w"``, ``"30 days"`` or ``10``."""
    if isinstance(value, pd.Timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return pd.Timedelta(days=value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(
            f"{value!r} is not a duration in days; write it like '10d', '2w' or '30 days'"
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    return pd.Timedelta(days=count * (7 if unit.startswith("w") else 1))


Days = Annotated[pd.Timedelta, BeforeValidator(parse_days)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Window(_Model):
    """A time window relative to each point's own date (a UTC day).

    The window is ``[date - before, date + after)``, start included and end
    excluded, where ``date`` is 00:00 UTC of the point's day. With ``after`` zero
    the point's own day is outside the window unless ``include_date`` is true,
    which extends the end to the end of that day.
    """

    before: Days = pd.Timedelta(0)
    """How far back from the point's date the window starts, in days."""
    after: Days = pd.Timedelta(0)
    """How far past the point's date the window ends, in days."""
    include_date: bool = False
    """Whether the point's own day belongs to the window."""

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.before + self.after == pd.Timedelta(0) and not self.include_date:
            raise ValueError(
                "the window is empty; give 'before' and/or 'after' (e.g. before: 10d) "
                "or set include_date: true"
            )
        return self

    def bounds(self, days: pd.DatetimeIndex | pd.Series) -> tuple[Any, Any]:
        """Start (included) and end (excluded) of the window for each day."""
        days = pd.DatetimeIndex(days)
        start = days - self.before
        end = days + self.after
        if self.include_date:
            end = end.where(end > days, days + pd.Timedelta(days=1))
        return start, end


class PointsSpec(_Model):
    """Where the points table is and which columns hold what."""

    path: str
    """CSV or Parquet file, relative to the spec file or absolute."""
    id: str = "id"
    """Column with a unique identifier per row."""
    lon: str = "lon"
    """Column with longitude in degrees (WGS84)."""
    lat: str = "lat"
    """Column with latitude in degrees (WGS84)."""
    date: str = "date"
    """Column with the date of each row; parsed to a UTC day."""


class CatalogSpec(_Model):
    """A STAC catalogue: a local static catalogue, a STAC API URL, or a preset."""

    url: str | None = None
    """Path to a static ``catalog.json``, or the root URL of a STAC API."""
    preset: str | None = None
    """Name of a known public catalogue (see :mod:`geofeat.catalog.presets`)."""
    max_items: int | None = Field(default=None, gt=0)
    """Stop a search after this many items (all by default)."""

    @model_validator(mode="after")
    def _one_of(self) -> CatalogSpec:
        if (self.url is None) == (self.preset is None):
            raise ValueError("give exactly one of 'url' or 'preset'")
        return self


Reducer = Literal["median", "mean", "min", "max", "first", "last", "count"]
Sampling = Literal["nearest", "bilinear", "buffer"]


class SceneFeature(_Model):
    """A value per point reduced over the scenes of a catalogue collection.

    Sentinel-2 spectral indices (``index: ndvi``) or a single band
    (``band: LST_Day_1km``), sampled at the point in each scene inside the
    point's window, masked, and reduced over time.
    """

    name: str
    catalog: str
    """Key of an entry of the spec's ``catalogs`` (or a preset name)."""
    collection: str
    index: str | None = None
    """Spectral index by name (ndvi, ndwi, ndmi, nbr, evi, savi, ...)."""
    band: str | None = None
    """A single band (asset key or common name) instead of an index."""
    window: Window
    reducer: Reducer = "median"
    sampling: Sampling = "nearest"
    buffer: float | None = Field(default=None, gt=0)
    """Radius in metres for ``sampling: buffer``."""
    buffer_statistic: Literal["mean", "median"] = "mean"
    """How the valid pixels within the buffer are reduced."""
    radiometry_check: Literal["overview", "points"] = "overview"
    """Pixels the Sentinel-2 offset self-check looks at: the points' pixels plus
    a decimated view of each scene (``overview``), or the points' pixels only."""
    valid_classes: tuple[int, ...] | None = None
    """Scene classification classes that count as valid (Sentinel-2 SCL)."""
    quality: str | dict[str, list[int]] | None = None
    """Quality rule of the product (MODIS QC): a preset name (``good``,
    ``produced``, ``error_le_1k``, ``error_le_2k``, ``none``) or allowed values
    per QC field, e.g. ``{mandatory: [0, 1], lst_error: [0]}``."""
    units: str | None = None
    """Units to report, where the product offers a choice (kelvin, celsius)."""
    platform: str | None = None
    """Only scenes of this platform, where a collection mixes them (MODIS:
    ``terra`` or ``aqua``); refused for products without the choice."""
    max_cloud_cover: float | None = Field(default=None, ge=0, le=100)
    """Skip scenes whose ``eo:cloud_cover`` is above this percentage."""
    provenance: bool = False
    """Add columns naming the items, tiles, CRS and radiometry used."""

    @model_validator(mode="after")
    def _what(self) -> SceneFeature:
        if (self.index is None) == (self.band is None):
            raise ValueError(
                f"feature {self.name!r}: give exactly one of 'index' or 'band'"
            )
        if self.sampling == "buffer" and self.buffer is None:
            raise ValueError(
                f"feature {self.name!r}: sampling 'buffer' needs 'buffer: <metres>'"
            )
        # Unknown collections and indices are caught here, before any search.
        from geofeat.sources.base import product_for, validate_feature

        validate_feature(product_for(self.collection), self)
        return self


class PrecipitationSource(_Model):
    """Where a rainfall feature reads precipitation: a preset, or a kind and a url.

    Fields given beside ``preset`` override the preset's (a mirror's ``url``, say).
    See :mod:`geofeat.sources.precipitation` for what each kind reads.
    """

    preset: str | None = None
    """Name of a known source (``chirps-daily``, ``era5-pc``)."""
    kind: (
        Literal["cube", "raster", "daily-rasters", "stac-zarr", "stac-rasters"] | None
    ) = None
    """``cube``: a Zarr or NetCDF store xarray opens; ``raster``: a multi-band
    raster with one band per day; ``daily-rasters``: one raster per day from a URL
    template; ``stac-zarr``: STAC items with Zarr assets (ERA5 on Planetary
    Computer); ``stac-rasters``: one STAC item per day with a raster asset."""
    url: str | None = None
    """Path or URL of the store, raster, URL template (``{date:%Y}`` fields) or
    STAC catalogue."""
    variable: str | None = None
    """Variable of the cube to read (the only data variable when not given)."""
    units: str | None = None
    """Units of the stored values (``mm``, ``m``, ``kg m-2 s-1``); read from the
    CF ``units`` attribute when not given."""
    timestamp: Literal["start", "end"] = "start"
    """Whether a sub-daily time stamp labels the start or the end of the period
    its value accumulates over (ERA5: end)."""
    start: str | None = None
    """First day of a ``daily-rasters`` source."""
    end: str | None = None
    """Last day of a ``daily-rasters`` source (open-ended when not given)."""
    nodata: float | None = None
    """Value marking no data in rasters that do not declare one."""
    collection: str | None = None
    """STAC collection of a ``stac-zarr`` source."""
    asset: str | None = None
    """STAC asset key of a ``stac-zarr`` source."""
    query: dict[str, Any] | None = None
    """Item properties a ``stac-zarr`` item must have, e.g. ``{era5:kind: fc}``."""
    sign: Literal["planetary-computer"] | None = None
    """Sign asset URLs before reading them."""

    @model_validator(mode="before")
    @classmethod
    def _from_preset(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"preset": data}
        if isinstance(data, dict) and data.get("preset") is not None:
            from geofeat.sources.precipitation_presets import PRECIPITATION_PRESETS

            name = data["preset"]
            if name not in PRECIPITATION_PRESETS:
                raise ValueError(
                    f"unknown precipitation preset {name!r}; known presets: "
                    f"{sorted(PRECIPITATION_PRESETS)}, or give 'kind' and 'url'"
                )
            data = {**PRECIPITATION_PRESETS[name], **data}
        return data

    @model_validator(mode="after")
    def _complete(self) -> PrecipitationSource:
        if self.kind is None or self.url is None:
            raise ValueError(
                "give a 'preset' or both 'kind' and 'url', e.g. "
                "{kind: cube, url: precip.zarr, variable: pr}"
            )
        return self


class RainWindows(_Model):
    """Consecutive windows of equal length before each point's date.

    Window ``k`` is ``[date - (k + 1) * size, date - k * size)``: t0 is nearest
    the date, and the date itself is outside unless ``include_date`` is true,
    which moves every window one day later (``(date - size, date]`` for t0).
    """

    size: Days
    """Length of each window, in days."""
    count: int = Field(default=1, ge=1)
    """Number of consecutive windows."""
    include_date: bool = False
    """Whether the point's own (UTC) day belongs to t0."""

    @field_validator("size")
    @classmethod
    def _positive(cls, value: pd.Timedelta) -> pd.Timedelta:
        if value < pd.Timedelta(days=1):
            raise ValueError("window size must be at least one day, e.g. size: 30d")
        return value


class RainfallFeature(_Model):
    """Precipitation over consecutive windows before each point's date.

    Columns ``{name}_t0`` .. ``{name}_t{count-1}`` (t0 nearest the date) and
    ``{name}_t{k}_coverage`` (fraction of the window's days with data).
    """

    kind: ClassVar[str] = "cube"
    name: str
    source: PrecipitationSource
    windows: RainWindows
    reducer: Literal["sum", "mean", "max", "count_wet_days"] = "sum"
    """Over the days with data in each window; ``mean`` and ``max`` are per day."""
    wet_day_threshold: float = Field(default=1.0, ge=0)
    """A day with at least this many mm is wet (``count_wet_days``)."""
    units: Literal["mm"] = "mm"
    """Units of the output (mm, or mm per day for mean and max)."""
    min_coverage: float = Field(default=1.0, gt=0, le=1)
    """Fraction of a window's days that must have data, else the value is NaN."""


def _feature_kind(data: Any) -> str:
    if isinstance(data, dict):
        return "cube" if "source" in data or "windows" in data else "scene"
    return getattr(data, "kind", "scene")


FeatureSpec = Annotated[
    Annotated[SceneFeature, Tag("scene")] | Annotated[RainfallFeature, Tag("cube")],
    Discriminator(_feature_kind),
]


class LocalClusterOptions(_Model):
    """A Dask ``LocalCluster`` on this machine; unset sizes follow the machine."""

    workers: int | None = Field(default=None, gt=0)
    """Worker processes (default: Dask's choice for the number of cores)."""
    threads_per_worker: int | None = Field(default=None, gt=0)
    memory_limit: str | None = None
    """Per worker, like ``"4GiB"`` (default: the machine's memory shared out)."""


class LocalClusterSpec(_Model):
    """``cluster: {local: {workers: 4}}``."""

    local: LocalClusterOptions = LocalClusterOptions()


class AddressClusterSpec(_Model):
    """``cluster: {address: tcp://scheduler:8786}``: an existing Dask scheduler."""

    address: str


class KubernetesOptions(_Model):
    """A ``DaskCluster`` created through the Dask Kubernetes operator."""

    workers: int = Field(default=2, gt=0)
    image: str = "ghcr.io/geofeat/geofeat:0.1.0"
    """Container image with geofeat and its GDAL stack (see ``deploy/``)."""
    resources: dict[str, dict[str, str]] = {}
    """Container resources per worker: ``{requests: {...}, limits: {...}}``."""
    name: str = "geofeat"
    namespace: str | None = None
    secret: str | None = None
    """Name of a Kubernetes Secret whose keys become environment variables in the
    scheduler and workers (object-store and catalogue credentials)."""


class KubernetesClusterSpec(_Model):
    """``cluster: {kubernetes: {workers: 20, image: ..., resources: ...}}``."""

    kubernetes: KubernetesOptions = KubernetesOptions()


#: ``local``: a LocalCluster; ``threads``/``processes``/``synchronous``: Dask's
#: single-machine schedulers, no cluster and no client (small jobs, debugging).
ClusterName = Literal["local", "threads", "processes", "synchronous"]
ClusterSpec = (
    ClusterName | LocalClusterSpec | AddressClusterSpec | KubernetesClusterSpec
)


class SpecPaths:
    """Paths in a spec file are relative to its folder, ``base_dir``."""

    base_dir: Path

    def resolve(self, path: str) -> str:
        """A path from the spec, made absolute against ``base_dir`` (URLs unchanged)."""
        if "://" in path or Path(path).is_absolute():
            return path
        return str((self.base_dir / path).resolve())


class JobSpec(_Model, SpecPaths):
    """A whole ``geofeat run`` job."""

    points: PointsSpec
    output: str
    """Parquet file to write (local path or object-store URL)."""
    catalogs: dict[str, CatalogSpec] = {}
    features: list[FeatureSpec] = Field(min_length=1)
    cluster: ClusterSpec = "local"
    """Where the tasks run: ``local`` (a LocalCluster sized to the machine), an
    existing scheduler ``{address: ...}``, ``{kubernetes: {...}}``, or one of Dask's
    in-process schedulers (``threads``, ``processes``, ``synchronous``)."""
    scheduler: Literal["threads", "processes", "synchronous"] = "threads"
    """Older spelling of ``cluster: threads`` (and the others): when ``scheduler``
    is given and ``cluster`` is not, the job runs on that in-process scheduler."""
    partition_size: int = Field(default=2000, gt=0)
    """Points per partition: each partition is computed and stored on its own, so
    an interrupted run resumes from the partitions already finished."""
    base_dir: Path = Path(".")
    """Folder that relative paths in the spec are resolved against."""

    @field_validator("points", mode="before")
    @classmethod
    def _points_shorthand(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("output")
    @classmethod
    def _parquet(cls, value: str) -> str:
        if not value.rstrip("/").lower().endswith((".parquet", ".pq")):
            raise ValueError(
                f"{value!r}: the feature table is written as Parquet; give a path "
                "ending in .parquet"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _scheduler_means_cluster(cls, data: Any) -> Any:
        if isinstance(data, dict) and "scheduler" in data and "cluster" not in data:
            data = {**data, "cluster": data["scheduler"]}
        return data

    @model_validator(mode="after")
    def _check_names(self) -> JobSpec:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"feature names must be unique; repeated: {dupes}")
        for i, feature in enumerate(self.features):
            catalog = getattr(feature, "catalog", None)
            if catalog is not None and catalog not in self.catalogs:
                from geofeat.catalog.presets import PRESETS

                if catalog not in PRESETS:
                    raise ValueError(
                        f"features[{i}] ({feature.name!r}) names catalog {catalog!r}, "
                        f"which is neither in 'catalogs' ({sorted(self.catalogs)}) "
                        f"nor a preset ({sorted(PRESETS)}); add it under 'catalogs'"
                    )
        return self


def _field_names() -> set[str]:
    """Every field name of geofeat's spec models, for "did you mean" hints."""
    names: set[str] = set()
    todo = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        if model.__module__.startswith("geofeat."):
            names.update(model.model_fields)
        todo.extend(model.__subclasses__())
    return names


def _unknown_field(key: str) -> str:
    if key in _field_names():
        return f"unknown field here ({key!r} belongs in another section)"
    close = difflib.get_close_matches(key, _field_names(), n=1)
    return "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")


def _format_validation_error(
    err: ValidationError, source: str, what: str = "job spec"
) -> str:
    lines = [f"{source}: the {what} is invalid:"]
    for e in err.errors():
        where = ".".join(
            f"[{p}]" if isinstance(p, int) else str(p)
            for p in e["loc"]
            if p not in ("scene", "cube")
        ).replace(".[", "[")
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = _unknown_field(str(e["loc"][-1]))
        lines.append(f"  {where or '(top level)'}: {message}")
    return "\n".join(lines)


def read_spec_source(source: str | Path | dict, shape: str) -> tuple[dict, str]:
    """A spec's raw mapping, with ``base_dir`` set, and a label for messages.

    ``source`` is a YAML file (relative paths then resolve against its folder)
    or a dict (against the current folder). ``shape`` says what the mapping
    should look like, for the error when the YAML holds something else.

    Raises
    ------
    ConfigError
        The path is a folder or missing, the file is not YAML or not a mapping.
    """
    if isinstance(source, dict):
        data = dict(source)
        data.setdefault("base_dir", Path.cwd())
        return data, "spec"
    path = Path(source)
    if path.is_dir():
        raise ConfigError(
            f"{str(path)!r} is a folder; give the path of the YAML spec file"
        )
    if not path.is_file():
        raise ConfigError(f"spec file {str(path)!r} does not exist; check the path")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {shape}")
    data.setdefault("base_dir", path.resolve().parent)
    return data, str(path)


def load_spec(
    source: str | Path | dict,
    *,
    points: str | None = None,
    output: str | None = None,
) -> JobSpec:
    """Read and validate a job spec from a YAML file or a dict.

    Parameters
    ----------
    source
        Path to a YAML file, or the spec as a dict (relative paths are then
        resolved against the current folder).
    points, output
        Override the spec's ``points`` path and ``output``, as the CLI's
        ``--points`` and ``--output`` do.
    """
    data, label = read_spec_source(
        source, "a job spec is a YAML mapping (points, output, ...)"
    )
    apply_overrides(data, points=points, output=output)
    try:
        return JobSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, label)) from None


def command_line_path(path: str) -> str:
    """A path typed on the command line: relative to the current folder."""
    return path if "://" in path else str(Path(path).resolve())


def apply_overrides(
    data: dict, *, points: str | None = None, output: str | None = None
) -> None:
    """Put ``--points`` and ``--output`` into a raw spec mapping, in place.

    Overrides are relative to where they were typed, not to the spec file.
    """
    if points is not None:
        current = data.get("points")
        if isinstance(current, dict):
            data["points"] = {**current, "path": command_line_path(points)}
        else:
            data["points"] = command_line_path(points)
    if output is not None:
        data["output"] = command_line_path(output)
