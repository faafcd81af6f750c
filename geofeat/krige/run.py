"""``geofeat krige``: from a spec to a kriged surface on disk.

Samples are read and cleaned, the variogram is taken from the spec or fitted,
and the grid is kriged chunk by chunk: a Dask array whose chunks are the Zarr
chunks, each computed by :class:`~geofeat.krige.solve.Kriger` (KD-tree query and
compiled parallel kernel). Dask's synchronous scheduler streams the chunks into
the store one at a time, so memory stays bounded by a few chunks whatever the
grid size, and the kernel's own threads use the cores.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from pyproj import CRS

from geofeat.errors import ConfigError
from geofeat.krige.crossval import CrossValidation, cross_validate
from geofeat.krige.grid import (
    Grid,
    grid_from_bounds,
    grid_from_table,
    grid_like,
    read_grid_table,
)
from geofeat.krige.samples import Samples, prepare_samples, projected_crs, read_table
from geofeat.krige.solve import Kriger
from geofeat.krige.spec import KrigeSpec, load_krige_spec
from geofeat.krige.variogram import (
    EmpiricalVariogram,
    VariogramModel,
    empirical_variogram,
    fit_variogram,
    write_variogram,
)

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".parquet", ".csv")


@dataclass
class KrigeResult:
    """What a kriging run produced."""

    dataset: xr.Dataset
    """``estimate`` and ``variance`` on the grid (y, x), georeferenced."""
    variogram: VariogramModel
    """The model used."""
    empirical: EmpiricalVariogram | None
    """The empirical variogram of the samples (None with fewer than 3)."""
    samples: Samples
    """The cleaned samples in the grid's CRS."""
    counts: dict[str, int] = field(default_factory=dict)
    """Cells solved, regularised, failed, without neighbours."""
    crossval: CrossValidation | None = None
    """Cross-validation, when the spec asks for it."""
    table: pd.DataFrame | None = None
    """The cells as a table (x, y, estimate, variance) for table outputs."""
    outputs: list[str] = field(default_factory=list)
    """Files written."""
    seconds: float = 0.0
    """Wall time of the run."""


def krige(
    spec: KrigeSpec | str | Path | dict,
    *,
    output: str | None = None,
    write: bool = True,
) -> KrigeResult:
    """Run a kriging spec: fit or take the variogram, krige the grid, write outputs.

    Parameters
    ----------
    spec
        A :class:`KrigeSpec`, a path to its YAML file, or the spec as a dict.
    output
        Overrides the spec's output path.
    write
        Write the outputs (else only compute and return them).

    Examples
    --------
    >>> from geofeat.krige import krige
    >>> result = krige("examples/meuse_krige.yaml", write=False)  # doctest: +SKIP
    >>> result.dataset["estimate"].shape  # doctest: +SKIP
    (104, 78)
    """
    start = time.perf_counter()
    if not isinstance(spec, KrigeSpec):
        spec = load_krige_spec(spec, output=output)
    elif output is not None:
        spec = spec.model_copy(update={"output": str(Path(output).resolve())})
    grid = build_grid(spec)
    samples = load_samples(spec, grid.crs)
    grid = grid if grid.crs is not None else grid.with_crs(samples.crs)
    logger.info(
        "%d sample(s) in %s; grid %d x %d cells of %g, %s",
        len(samples),
        samples.crs.name,
        grid.height,
        grid.width,
        grid.resolution,
        "global neighbourhood"
        if spec.neighbourhood.max_points is None
        else f"{spec.neighbourhood.max_points} nearest samples",
    )
    model, empirical = choose_variogram(spec, samples)
    kriger = Kriger(
        samples.x,
        samples.y,
        samples.z,
        model,
        spec.neighbourhood.max_points,
        spec.neighbourhood.max_distance,
    )
    dataset = grid_dataset(kriger, grid, spec.chunks)
    dataset.attrs.update(
        variogram=json.dumps(model.to_dict()),
        value_transform=spec.value_transform,
        samples=len(samples),
        neighbourhood=json.dumps(spec.neighbourhood.model_dump()),
    )
    result = KrigeResult(dataset, model, empirical, samples)
    target = spec.resolve(spec.output)
    table_output = target.lower().endswith(TABLE_SUFFIXES)
    with dask.config.set(scheduler="synchronous"):
        if table_output or not write:
            result.dataset = dataset = dataset.compute()
        if table_output:
            result.table = cells_table(dataset, grid)
        if write:
            stem = _stem(target)
            if table_output:
                write_cells(result.table, target)
            else:
                write_zarr(dataset, target, spec.chunks)
                result.dataset = xr.open_zarr(target, decode_coords="all")
            result.outputs.append(target)
            write_variogram(f"{stem}.variogram.json", model, empirical)
            result.outputs.append(f"{stem}.variogram.json")
    kriger.log_counts()
    result.counts = dict(kriger.counts)
    if spec.crossval is not None:
        result.crossval = cross_validate(
            samples.x,
            samples.y,
            samples.z,
            model,
            spec.neighbourhood.max_points,
            spec.neighbourhood.max_distance,
            spec.crossval.folds,
            spec.crossval.seed,
        )
        if write:
            path = f"{_stem(target)}.crossval.csv"
            result.crossval.table.to_csv(path, index=False)
            result.outputs.append(path)
    if write and spec.map is not None:
        from geofeat.krige.plot import plot_map, plot_variogram

        map_path = spec.resolve(spec.map)
        plot_map(
            map_path, result.dataset, (samples.x, samples.y), title=Path(target).stem
        )
        result.outputs.append(map_path)
        if empirical is not None:
            plot_variogram(f"{_stem(map_path)}_variogram.png", model, empirical)
            result.outputs.append(f"{_stem(map_path)}_variogram.png")
    result.seconds = time.perf_counter() - start
    logger.info(
        "kriging done in %.1f s; wrote %s", result.seconds, ", ".join(result.outputs)
    )
    return result


def _stem(path: str) -> str:
    return str(Path(path).with_suffix(""))


def build_grid(spec: KrigeSpec) -> Grid:
    """The target grid of the spec (CRS None when it follows the samples)."""
    g = spec.grid
    crs = projected_crs(g.crs, "grid.crs") if g.crs is not None else None
    if g.bounds is not None:
        return grid_from_bounds(g.bounds, g.resolution, crs)
    if g.like is not None:
        grid = grid_like(spec.resolve(g.like))
        if grid.crs is None and crs is None:
            raise ConfigError(f"grid.like: {g.like!r} has no CRS; give grid.crs")
        return grid if grid.crs is not None else grid.with_crs(crs)
    x, y = read_grid_table(spec.resolve(g.path), g.x, g.y)
    return grid_from_table(x, y, crs, g.resolution, source=f"grid file {g.path!r}")


def load_samples(spec: KrigeSpec, crs: CRS | None) -> Samples:
    """The spec's samples, cleaned and in the grid's CRS."""
    s = spec.samples
    table = read_table(spec.resolve(s.path))
    if s.lon is not None:
        if crs is None:
            raise ConfigError(
                "samples are in lon/lat but the grid has no projected CRS; give "
                "grid.crs "
                "(e.g. a UTM zone) so distances are in metres"
            )
        return prepare_samples(
            table,
            s.value,
            s.lon,
            s.lat,
            "EPSG:4326",
            crs,
            spec.value_transform,
            source=f"samples file {s.path!r}",
        )
    return prepare_samples(
        table,
        s.value,
        s.x,
        s.y,
        s.crs,
        crs,
        spec.value_transform,
        source=f"samples file {s.path!r}",
    )


def choose_variogram(
    spec: KrigeSpec, samples: Samples
) -> tuple[VariogramModel, EmpiricalVariogram | None]:
    """The spec's model, or one fitted to the samples; and the empirical variogram."""
    v = spec.variogram
    empirical = None
    if len(samples) >= 3 and np.ptp(samples.z) > 0:
        empirical = empirical_variogram(
            samples.x, samples.y, samples.z, v.cutoff, v.width
        )
    if v.model is not None:
        return VariogramModel(
            v.model, v.nugget, v.psill, v.range, v.nu or 0.5
        ), empirical
    if empirical is None:
        raise ConfigError(
            f"cannot fit a variogram to {len(samples)} sample(s) with "
            f"{'equal values' if len(samples) >= 3 else 'too few points'}; give "
            "variogram.model with psill and range"
        )
    return fit_variogram(empirical, v.fit, v.nu), empirical


def grid_dataset(kriger: Kriger, grid: Grid, chunks: int) -> xr.Dataset:
    """A lazy dataset of ``estimate`` and ``variance``, one task per chunk.

    Cells outside the grid's mask are NaN and cost nothing.
    """
    if grid.mask is not None:
        mask = da.from_array(grid.mask, chunks=chunks)
    else:
        mask = da.ones(grid.shape, dtype=bool, chunks=chunks)
    xs, ys = grid.x, grid.y

    def chunk(block: np.ndarray, block_info=None) -> np.ndarray:
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        out = np.full((2, r1 - r0, c1 - c0), np.nan)
        if block.any():
            col, row = np.meshgrid(xs[c0:c1], ys[r0:r1])
            est, var = kriger.krige(col[block], row[block])
            out[0][block] = est
            out[1][block] = var
        logger.debug("kriged chunk rows %d-%d, cols %d-%d", r0, r1, c0, c1)
        return out

    stacked = da.map_blocks(
        chunk,
        mask,
        new_axis=0,
        chunks=((2,), *mask.chunks),
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
        name="krige",
    )
    dataset = xr.Dataset(
        {
            "estimate": (("y", "x"), stacked[0]),
            "variance": (("y", "x"), stacked[1]),
        },
        coords={"y": ys, "x": xs},
    )
    dataset["estimate"].attrs["long_name"] = "ordinary kriging estimate"
    dataset["variance"].attrs["long_name"] = "ordinary kriging variance"
    dataset = dataset.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    for name in ("estimate", "variance"):
        # GDAL's Zarr driver reads the CRS from this attribute.
        dataset[name].attrs["_CRS"] = {"wkt": grid.crs.to_wkt()}
    return dataset


def write_zarr(dataset: xr.Dataset, path: str, chunks: int) -> None:
    """Write the dataset as a Zarr store (v2) at ``path``, whole or not at all.

    The store is written beside the target and renamed over it at the end.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    dataset = dataset.copy()
    for name in ("estimate", "variance"):
        # Set in the variable's own encoding, which also holds rioxarray's
        # grid_mapping; an ``encoding=`` argument would replace it.
        dataset[name].encoding["chunks"] = (chunks, chunks)
        # Listing the grid mapping as a coordinate lets a plain ``open_zarr``
        # (not only ``decode_coords="all"``) find the CRS.
        dataset[name].encoding["coordinates"] = "spatial_ref"
    try:
        dataset.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "wrote estimate and variance (%d x %d) to %s",
        *dataset["estimate"].shape,
        target,
    )


def cells_table(dataset: xr.Dataset, grid: Grid) -> pd.DataFrame:
    """x, y, estimate, variance per cell: the listed cells of a table grid in
    their input order, or every cell row by row."""
    est = np.asarray(dataset["estimate"].values)
    var = np.asarray(dataset["variance"].values)
    if grid.cells is not None:
        row, col = grid.cells
    else:
        row, col = np.divmod(np.arange(grid.height * grid.width), grid.width)
    return pd.DataFrame(
        {
            "x": grid.x[col],
            "y": grid.y[row],
            "estimate": est[row, col],
            "variance": var[row, col],
        }
    )


def write_cells(table: pd.DataFrame, path: str) -> None:
    """Write the cells table as Parquet or CSV, atomically."""
    from geofeat.output import write_table

    if path.lower().endswith(".parquet"):
        write_table(table, path)
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
    )
    os.close(fd)
    try:
        table.to_csv(tmp, index=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %d cell(s) to %s", len(table), target)
