"""``geofeat chips``: points and a spec in, a Zarr store of image chips out.

Planning runs on the client: one catalogue search per cell of nearby points
(the bbox widened by the chip's reach), scenes matched to points by time and
footprint. The chips are cut by Dask tasks, each serving a batch of points: per
point, the chip grid is chosen, the passes are picked, the pixels are read and
the chip is written straight into its chunk of the store, so memory holds a
few chips at a time, never the set.

Reads go through rasterio windows (or a WarpedVRT when resampling is asked
for), not through a stackstac/odc-stac cube: a chip is a small window per
point, and the files' own grids are the reference (catalogue ``proj:*``
metadata is sometimes wrong, see :mod:`geofeat.read`).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import shape

from geofeat.catalog import open_catalog
from geofeat.catalog.base import Catalog, Search
from geofeat.chips.pick import (
    Pass,
    by_clear,
    by_nearest,
    clear_fraction,
    group_passes,
    median_composite,
)
from geofeat.chips.preview import contact_sheet, rgb, write_png
from geofeat.chips.read import OpenFiles, read_pass
from geofeat.chips.spec import ChipJobSpec, ChipSpec, load_chip_spec
from geofeat.chips.store import ChipStore, ChipWriter, safe_name
from geofeat.chips.window import ChipGrid, aligned_grid, margin, native_grid
from geofeat.cluster import connect
from geofeat.errors import ConfigError
from geofeat.plan import match, search_groups
from geofeat.points import read_points
from geofeat.scene import Scene
from geofeat.sources import product_for
from geofeat.sources.sentinel2 import BAND_NAMES, VALID_SCL

logger = logging.getLogger(__name__)

#: Points per Dask task: enough to reuse open files, few enough to spread work.
BATCH = 16
#: Metres per degree of latitude, for widening searches by the chip's reach.
_METRES_PER_DEGREE = 111_000.0


@dataclass
class ChipSummary:
    """What a chip job did, for the operator."""

    output: str | None
    points: int
    searches: int = 0
    items: int = 0
    with_data: int = 0
    """Chips with at least one valid pixel."""
    picks: Counter = field(default_factory=Counter)
    files_opened: int = 0
    seconds: float = 0.0


@dataclass
class ChipsResult:
    """The store written, its per-chip records as a table, and the summary."""

    path: str | None
    table: pd.DataFrame
    summary: ChipSummary


def band_key(name: str) -> str:
    """Canonical asset name of a band: ``B04`` and ``red`` both give ``red``."""
    return BAND_NAMES.get(name, BAND_NAMES.get(name.upper(), name.lower()))


def _reach_degrees(
    chips: ChipSpec, resolution: float, lat: float
) -> tuple[float, float]:
    """Half the chip's diagonal in degrees (lon, lat) at latitude ``lat``."""
    metres = max(chips.size) * resolution / 2 * math.sqrt(2)
    if chips.crs is not None and CRS.from_user_input(chips.crs).is_geographic:
        return metres, metres
    dlat = metres / _METRES_PER_DEGREE
    return dlat / max(math.cos(math.radians(min(abs(lat), 89.0))), 1e-3), dlat


def _search(
    catalog: Catalog, chips: ChipSpec, lon, lat, start, end, resolution: float
) -> tuple[dict, int]:
    items = {}
    groups = search_groups(lon, lat, start, end)
    for group in groups:
        west, south, east, north = group.bbox
        dlon, dlat = _reach_degrees(chips, resolution, max(abs(south), abs(north)))
        found = catalog.search(
            Search(
                collection=chips.collection,
                bbox=(west - dlon, south - dlat, east + dlon, north + dlat),
                start=group.start.to_pydatetime(),
                # The window end is excluded; a STAC interval includes its end.
                end=(group.end - pd.Timedelta(microseconds=1)).to_pydatetime(),
                max_cloud_cover=chips.max_cloud_cover,
            )
        )
        for item in found:
            items.setdefault(item.id, item)
    return items, len(groups)


def _native_resolution(scene: Scene, key: str) -> float:
    with OpenFiles() as files:
        _, ds = files.asset(scene, key)
        return float(abs(ds.transform.a))


def candidates(
    scenes: list[Scene], footprints: dict, lon, lat, start, end, reach
) -> list[list[Scene]]:
    """Per point, the scenes of the passes that hold it, with their neighbours.

    A pass is a candidate when, within the point's window, one of its tiles'
    footprints holds the point; its tiles whose footprints meet the chip's
    reach come along to fill the chip's edges.
    """
    n = len(lon)
    held: list[set[str]] = [set() for _ in range(n)]
    near: list[list[Scene]] = [[] for _ in range(n)]
    dlon, dlat = reach
    points = shapely.STRtree(shapely.points(lon, lat))
    boxes = shapely.STRtree(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
    for scene in scenes:
        in_time = match(scene.start, scene.end, start, end)
        footprint = footprints[scene.id]
        for row in points.query(footprint, predicate="intersects"):
            if in_time[row]:
                held[row].add(scene.pass_key or scene.id)
        for row in boxes.query(footprint, predicate="intersects"):
            if in_time[row]:
                near[row].append(scene)
    return [
        [s for s in near[row] if (s.pass_key or s.id) in held[row]] for row in range(n)
    ]


def _grid(files: OpenFiles, chips: ChipSpec, scenes: list[Scene], key: str, lon, lat):
    """The chip grid: from the tile that holds the chip most whole."""
    best = None
    for scene in sorted(scenes, key=lambda s: (s.tile or "", s.rank)):
        _, ds = files.asset(scene, key)
        native = chips.crs is None and (
            chips.resolution is None
            or abs(chips.resolution - abs(ds.transform.a)) <= 1e-9 * chips.resolution
        )
        if native:
            grid = native_grid(ds.crs, ds.transform, lon, lat, chips.size)
        else:
            crs = CRS.from_user_input(chips.crs) if chips.crs else ds.crs
            grid = aligned_grid(crs, chips.resolution, lon, lat, chips.size)
        room = margin(grid, ds.crs, ds.transform, ds.shape)
        if best is None or room > best[0]:
            best = (room, grid)
    return best[1]


def _tile_order(files: OpenFiles, tiles: tuple[Scene, ...], key: str, grid: ChipGrid):
    def room(scene: Scene) -> float:
        _, ds = files.asset(scene, key)
        return margin(grid, ds.crs, ds.transform, ds.shape)

    return sorted(tiles, key=lambda s: (-room(s), s.rank))


def cut_chip(
    files: OpenFiles,
    chips: ChipSpec,
    keys: tuple[str, ...],
    scenes: list[Scene],
    lon: float,
    lat: float,
    day: pd.Timestamp,
) -> tuple[np.ndarray | None, dict]:
    """One point's chip ``(time, band, y, x)`` float32 and its record.

    The chip is None when no pass holds the point.
    """
    dates = chips.dates
    record = {
        "pick": "none",
        "candidates": 0,
        "crs": "",
        "transform": np.full(6, np.nan),
        "read": "",
        "acquired_first": [pd.NaT] * dates,
        "acquired_last": [pd.NaT] * dates,
        "scenes": [""] * dates,
        "valid_fraction": [0.0] * dates,
        "clear_fraction": [0.0] * dates,
    }
    passes = group_passes(scenes)
    record["candidates"] = len(passes)
    if not passes:
        return None, record
    grid = _grid(files, chips, scenes, keys[0], lon, lat)
    record["crs"] = grid.crs.to_string()
    record["transform"] = np.array(tuple(grid.transform)[:6])
    classes = chips.valid_classes or VALID_SCL
    has_scl = all("scl" in s.assets for p in passes for s in p.tiles)
    if chips.pick != "nearest" and not has_scl:
        raise ConfigError(
            f"pick {chips.pick!r} judges scenes by their 'scl' class layer, which "
            f"collection {chips.collection!r} does not have; use pick: nearest"
        )
    extra = ("scl",) if has_scl and "scl" not in keys else ()

    def read(p: Pass, wanted: tuple[str, ...]):
        order = _tile_order(files, p.tiles, keys[0], grid)
        return read_pass(files, order, wanted, grid, chips.resampling)

    scl_reads = {}
    if chips.pick == "least-cloudy":
        scl_reads = {p.key: read(p, ("scl",)) for p in passes}
        clear = {
            k: clear_fraction(r.values["scl"], classes) for k, r in scl_reads.items()
        }
        order = by_clear(passes, clear, day)
    else:
        order = by_nearest(passes, day)
    chosen = (
        order if chips.pick == "median" else sorted(order[:dates], key=lambda p: p.time)
    )
    reads = []
    for p in chosen:
        judged = scl_reads.get(p.key)
        if judged is None:
            reads.append(read(p, keys + extra))
            continue
        # The class layer read to judge the pass is reused, not read twice.
        got = read(p, tuple(k for k in keys + extra if k != "scl"))
        got.values["scl"] = judged.values["scl"]
        got.how |= judged.how
        got.scenes += [s for s in judged.scenes if s not in got.scenes]
        reads.append(got)
    how = set().union(*(r.how for r in reads))
    record.update(pick=chips.pick, read=",".join(sorted(how)))

    if chips.pick == "median":
        values = median_composite(
            [r.values for r in reads], [r.values["scl"] for r in reads], classes, keys
        )
        used = [r for r in reads if r.scenes]
        layers = [
            (values, [s for r in used for s in r.scenes], [p.time for p in chosen])
        ]
    else:
        layers = [
            (r.values, r.scenes, [p.time]) for r, p in zip(reads, chosen, strict=True)
        ]

    chip = np.full((dates, len(keys), grid.height, grid.width), np.nan, "float32")
    for t, (values, used, times) in enumerate(layers):
        stack = np.stack([values[k] for k in keys])
        chip[t] = stack
        valid = np.isfinite(stack).all(axis=0)
        record["valid_fraction"][t] = float(valid.mean())
        if chips.pick == "median":
            record["clear_fraction"][t] = float(valid.mean())
        elif has_scl:
            record["clear_fraction"][t] = clear_fraction(values["scl"], classes)
        else:
            record["clear_fraction"][t] = float("nan")
        record["scenes"][t] = ";".join(used)
        record["acquired_first"][t] = min(times)
        record["acquired_last"][t] = max(times)
    return chip, record


def cut_batch(
    rows: np.ndarray,
    ids: list,
    lon: np.ndarray,
    lat: np.ndarray,
    day: pd.DatetimeIndex,
    scenes: list[list[Scene]],
    chips: ChipSpec,
    keys: tuple[str, ...],
    writer: ChipWriter,
    previews: str | None,
) -> tuple[list[tuple[int, dict]], int]:
    """Cut and store the chips of a batch of points; returns their records."""
    records = []
    array = writer.open()
    with OpenFiles() as files:
        for i, row in enumerate(rows):
            chip, record = cut_chip(
                files, chips, keys, scenes[i], lon[i], lat[i], day[i]
            )
            if chip is not None and np.isfinite(chip).any():
                array[int(row)] = chip if chips.dates > 1 else chip[0]
                if previews is not None:
                    for t in range(chips.dates):
                        suffix = f"_{t}" if chips.dates > 1 else ""
                        image = rgb(chip[t], keys, _preview_bands(chips))
                        write_png(
                            image, Path(previews) / f"{safe_name(ids[i])}{suffix}.png"
                        )
            records.append((int(row), record))
            logger.debug("chip %s: %s %s", ids[i], record["pick"], record["scenes"])
        opened = files.opened
    return records, opened


def _cut_packed(arguments: tuple) -> tuple[list[tuple[int, dict]], int]:
    return cut_batch(*arguments)


def _preview_bands(chips: ChipSpec) -> tuple[str, str, str]:
    picked = chips.preview or ("red", "green", "blue")
    return tuple(band_key(b) for b in picked)


def previews_folder(output: str) -> Path:
    """Where previews go: ``<store name without suffix>_previews`` beside the store."""
    path = Path(output)
    return path.with_name(f"{path.stem}_previews")


def _records_table(records: list[dict], dates: int) -> tuple[dict, np.ndarray]:
    meta, transform = {}, np.stack([r["transform"] for r in records])
    for name in ("pick", "candidates", "crs", "read"):
        meta[name] = np.array(
            [r[name] for r in records],
            dtype=object if name != "candidates" else "int64",
        )
    for name in (
        "acquired_first",
        "acquired_last",
        "scenes",
        "valid_fraction",
        "clear_fraction",
    ):
        values = [r[name] for r in records]
        if name.startswith("acquired"):
            flat = pd.DatetimeIndex([t for row in values for t in row])
            array = flat.to_numpy("datetime64[ns]").reshape(len(values), -1)
        elif name == "scenes":
            array = np.array(values, dtype=object)
        else:
            array = np.array(values, dtype="float64")
        meta[name] = array if dates > 1 else array[:, 0]
    return meta, transform


def make_chips(
    spec: ChipJobSpec | str | Path | dict,
    *,
    points: str | None = None,
    output: str | None = None,
) -> ChipsResult:
    """Cut an image chip around every point and write them to a Zarr store.

    Parameters
    ----------
    spec
        A :class:`~geofeat.chips.spec.ChipJobSpec`, a path to a YAML spec, or a
        dict.
    points, output
        Override the spec's points path and output store.

    Returns
    -------
    ChipsResult
        ``path`` of the store; ``table``: one row per point with its id and the
        per-chip records (pick, scenes, dates, valid and clear fractions, CRS);
        ``summary``: counts and timings.

    Examples
    --------
    >>> result = make_chips("chips.yaml")  # doctest: +SKIP
    >>> ds = xarray.open_zarr(result.path)  # doctest: +SKIP
    >>> ds.chips.sel(point="field-7")  # doctest: +SKIP
    """
    started = time.perf_counter()
    if not isinstance(spec, ChipJobSpec):
        spec = load_chip_spec(spec, points=points, output=output)
    chips = spec.chips
    pts = read_points(spec.resolve(spec.points.path), spec.points)
    summary = ChipSummary(output=None, points=len(pts))
    product_for(chips.collection)  # fails early on an unknown collection
    keys = tuple(band_key(b) for b in chips.bands)
    if chips.previews != "none":
        missing = sorted(set(_preview_bands(chips)) - set(keys))
        if missing:
            raise ConfigError(
                f"previews need bands {missing} that are not in chips.bands "
                f"{list(keys)}; add them, or name three bands with chips.preview"
            )
    catalog = open_catalog(
        chips.catalog, spec.catalogs.get(chips.catalog), spec.resolve
    )
    start, end = chips.window.bounds(pts.day)

    resolution = chips.resolution
    if resolution is None:
        items, _ = _search(catalog, chips, pts.lon, pts.lat, start, end, 0.0)
        product = product_for(chips.collection)
        first = next(iter(items.values()), None)
        resolution = _native_resolution(product.scene(first), keys[0]) if first else 0.0
    items, summary.searches = _search(
        catalog, chips, pts.lon, pts.lat, start, end, resolution
    )
    summary.items = len(items)
    product = product_for(chips.collection)
    scenes = [product.scene(item) for item in items.values()]
    footprints = {i.id: shape(i.geometry) for i in items.values() if i.geometry}
    footprints.update(
        {
            s.id: shapely.box(-180, -90, 180, 90)
            for s in scenes
            if s.id not in footprints
        }
    )
    reach = _reach_degrees(chips, resolution, float(np.abs(pts.lat).max()))
    per_point = candidates(scenes, footprints, pts.lon, pts.lat, start, end, reach)

    store = ChipStore.create(
        spec.resolve(spec.output),
        pts.table,
        spec.points.id,
        keys,
        chips.size,
        chips.dates,
    )
    previews = None
    if chips.previews in ("each", "both"):
        previews = str(previews_folder(store.target))
    tasks = []
    # Nearby points share a task, so that its open files serve several chips.
    spatial = np.lexsort((np.floor(pts.lat * 10), np.floor(pts.lon * 10)))
    for first in range(0, len(pts), BATCH):
        rows = spatial[first : first + BATCH]
        arguments = (
            rows,
            [pts.ids[r] for r in rows],
            pts.lon[rows],
            pts.lat[rows],
            pts.day[rows],
            [per_point[r] for r in rows],
            chips,
            keys,
            store.writer(),
            previews,
        )
        # Wrapped whole: Dask would otherwise walk every scene and asset looking
        # for collections (a quarter of a second per task of 16 points).
        packed = dask.delayed(arguments, traverse=False)
        tasks.append(dask.delayed(_cut_packed, pure=False)(packed))
    logger.info(
        "chips: %d point(s), %d scene(s), %d task(s) of up to %d point(s)",
        len(pts),
        len(scenes),
        len(tasks),
        BATCH,
    )
    try:
        with connect(spec.cluster or spec.scheduler):
            done = dask.compute(*tasks)
        records: list[dict] = [None] * len(pts)
        for batch, opened in done:
            summary.files_opened += opened
            for row, record in batch:
                records[row] = record
        meta, transform = _records_table(records, chips.dates)
        summary.output = store.finish(meta, transform)
    except BaseException:
        store.abort()
        raise
    table = pd.DataFrame({"id": pts.ids, **{k: list(v) for k, v in meta.items()}})
    valid = meta["valid_fraction"].reshape(len(pts), -1)
    summary.with_data = int((valid > 0).any(axis=1).sum())
    summary.picks = Counter(meta["pick"])
    if chips.previews in ("sheet", "both"):
        write_sheet(summary.output, chips, keys)
    summary.seconds = time.perf_counter() - started
    logger.info(
        "chips: %d of %d with data, %.1f s",
        summary.with_data,
        len(pts),
        summary.seconds,
    )
    if summary.with_data < len(pts):
        logger.warning(
            "%d of %d chip(s) hold no valid pixel (no scene in the window, or the "
            "point outside every scene): they are all fill; their valid_fraction is 0%s",
            len(pts) - summary.with_data,
            len(pts),
            "; check that lon and lat are not swapped" if summary.with_data == 0 else "",
        )
    return ChipsResult(path=summary.output, table=table, summary=summary)


def write_sheet(path: str, chips: ChipSpec, keys: tuple[str, ...]) -> Path | None:
    """A contact sheet of the first ``sheet_max`` chips with data, beside the store."""
    import zarr

    array = zarr.open_array(f"{path}/chips", mode="r")
    images = []
    for row in range(array.shape[0]):
        chip = array[row]
        chip = chip if chips.dates == 1 else chip[0]
        if np.isfinite(chip).any():
            images.append(rgb(chip, keys, _preview_bands(chips)))
        if len(images) >= chips.sheet_max:
            break
    if not images:
        return None
    return write_png(contact_sheet(images), previews_folder(path) / "contact_sheet.png")
