"""The ``geofeat`` command line. The only place that configures logging."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from geofeat.errors import GeofeatError

app = typer.Typer(
    add_completion=False,
    help="Per-point features from satellite and climate data, as one batch job.",
)
console = Console(stderr=True)
out = Console()
logger = logging.getLogger("geofeat.cli")

LogLevel = Annotated[
    str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")
]


def _configure_logging(level: str) -> None:
    level = level.upper()
    if console.is_terminal:
        handler: logging.Handler = RichHandler(
            console=console, show_path=False, rich_tracebacks=False, markup=False
        )
    else:
        # Piped or redirected: one unwrapped line per record, easy to grep.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    from geofeat.catalog.signing import RedactTokens

    handler.addFilter(RedactTokens())  # signed URLs are logged by libraries
    if level != "DEBUG":
        # Libraries (distributed above all) set INFO on their own child loggers;
        # below DEBUG only geofeat's records and others' warnings are shown.
        handler.addFilter(
            lambda r: r.levelno >= logging.WARNING or r.name.startswith("geofeat")
        )
    logging.basicConfig(
        level=logging.WARNING, handlers=[handler], format="%(message)s", force=True
    )
    logging.getLogger("geofeat").setLevel(level)
    # Third-party chatter stays at WARNING unless the user asks for DEBUG.
    for noisy in ("rasterio", "urllib3", "distributed", "numba", "botocore", "fsspec"):
        logging.getLogger(noisy).setLevel(
            logging.DEBUG if level == "DEBUG" else logging.WARNING
        )
    # geofeat logs each catalogue retry itself (geofeat.catalog.api).
    logging.getLogger("urllib3.connectionpool").setLevel(
        logging.DEBUG if level == "DEBUG" else logging.ERROR
    )


def _fail(err: Exception, level: str) -> None:
    if level.upper() == "DEBUG":
        console.print_exception()
    # Unwrapped: a long path in the message must stay whole (copyable, greppable).
    # The message is printed as written: brackets in paths are not styling.
    console.print(
        Text("error: ", style="bold red") + Text(str(err)),
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=2 if isinstance(err, GeofeatError) else 1)


def _version(value: bool) -> None:
    if value:
        from geofeat import __version__

        out.print(f"geofeat {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Per-point features from satellite and climate data, as one batch job."""
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())


def print_summary(summary, title: str = "geofeat run") -> None:
    """Show a run summary as a small table on standard output."""
    table = Table(title=title, show_header=False)
    table.add_row("points", f"{summary.points:,}")
    table.add_row("searches", f"{summary.searches:,}")
    table.add_row("scenes found", f"{summary.items:,}")
    for name, filled in summary.filled.items():
        table.add_row(f"{name} filled", f"{filled:,} of {summary.points:,}")
    table.add_row(
        "reads",
        f"{summary.reads.windows:,} window(s) in {summary.reads.assets:,} asset(s), "
        f"{summary.reads.bytes / 1e6:.1f} MB decoded",
    )
    # Scenes the radiometry check corrected or set aside, and the like.
    for what, count in sorted(summary.reads.failures.items()):
        table.add_row(what, f"{count:,}")
    partitions = getattr(summary, "partitions", 0)
    if partitions:
        table.add_row(
            "partitions",
            f"{partitions:,} ({summary.partitions_reused:,} reused from earlier runs)",
        )
        table.add_row("cluster", summary.cluster)
        table.add_row("failed reads", f"{summary.failures:,}")
    table.add_row("time", f"{summary.seconds:.1f} s")
    table.add_row("output", str(summary.output))
    if getattr(summary, "failures_output", None):
        table.add_row("failures table", summary.failures_output)
    out.print(table)


class _RunProgress:
    """A rich progress line for ``geofeat run``: partitions, points, reads, bytes."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("partitions {task.completed:,.0f}/{task.total:,.0f}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = None
        self.dashboard_shown = False

    def __call__(self, state) -> None:
        if state.dashboard and not self.dashboard_shown:
            console.print(f"Dask dashboard: {state.dashboard}", highlight=False)
            self.dashboard_shown = True
        detail = (
            f"points {state.points_done:,}/{state.points:,} · reads "
            f"{state.reads.windows:,} · {state.reads.bytes / 1e6:,.1f} MB"
        )
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("run", total=state.partitions, detail=detail)
        self.bar.update(self.task, completed=state.partitions_done, detail=detail)

    def stop(self) -> None:
        if self.task is not None:
            self.bar.stop()


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The job spec (YAML).")],
    points: Annotated[
        str | None, typer.Option(help="Points table; overrides the spec's 'points'.")
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(help="Output Parquet; overrides the spec's 'output'."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="local, threads, processes, synchronous, kubernetes or a scheduler "
            "address (tcp://host:8786); overrides the spec's 'cluster'."
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart", help="Discard partitions stored by earlier runs; start over."
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail the run if any point's reads failed."),
    ] = False,
    from_lock: Annotated[
        str | None,
        typer.Option(
            help="Read the items recorded by an earlier run (its <output>.lock.json) "
            "instead of searching the catalogues."
        ),
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Compute the spec's features for every point and write one table.

    Interrupted runs resume: running the same command again computes only the
    partitions that were not finished.
    """
    _configure_logging(log_level)
    from geofeat.cluster import parse_cluster
    from geofeat.job import run as run_job
    from geofeat.spec import load_spec

    progress = _RunProgress()
    try:
        job = load_spec(spec, points=points, output=output)
        if from_lock is not None:
            from geofeat.catalog.lock import use_lock

            job = use_lock(job, from_lock)
        chosen = parse_cluster(cluster, job.cluster) if cluster else None
        result = run_job(
            job,
            cluster=chosen,
            restart=restart,
            strict=strict,
            keep_table=False,
            progress=progress,
        )
    except (GeofeatError, OSError) as err:
        progress.stop()
        _fail(err, log_level)
    except KeyboardInterrupt:
        progress.stop()
        console.print("[bold red]interrupted[/]: run the same command to resume")
        raise typer.Exit(code=130) from None
    progress.stop()
    print_summary(result.summary)


@app.command()
def chips(
    spec: Annotated[Path, typer.Argument(help="The chip job spec (YAML).")],
    points: Annotated[
        str | None, typer.Option(help="Points table; overrides the spec's 'points'.")
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Zarr store; overrides the spec's 'output'.")
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            help="local, threads, processes or synchronous (the workers write the "
            "store, so they must see its folder); overrides the spec's 'cluster'."
        ),
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Cut an image chip around every point and write them to a Zarr store."""
    _configure_logging(log_level)
    from geofeat.chips import load_chip_spec, make_chips
    from geofeat.cluster import parse_cluster

    try:
        job = load_chip_spec(spec, points=points, output=output)
        if cluster:
            job = job.model_copy(
                update={"cluster": parse_cluster(cluster, job.cluster)}
            )
        result = make_chips(job)
    except (GeofeatError, OSError) as err:
        _fail(err, log_level)
    summary = result.summary
    table = Table(title="geofeat chips", show_header=False)
    table.add_row("points", f"{summary.points:,}")
    table.add_row("searches", f"{summary.searches:,}")
    table.add_row("scenes found", f"{summary.items:,}")
    table.add_row("chips with data", f"{summary.with_data:,} of {summary.points:,}")
    table.add_row(
        "picks", ", ".join(f"{k}: {v:,}" for k, v in sorted(summary.picks.items()))
    )
    table.add_row("files opened", f"{summary.files_opened:,}")
    table.add_row("time", f"{summary.seconds:.1f} s")
    table.add_row("output", str(summary.output))
    out.print(table)


@app.command()
def krige(
    spec: Annotated[Path, typer.Argument(help="The kriging spec (YAML).")],
    output: Annotated[
        str | None,
        typer.Option(
            help="Zarr store, .parquet or .csv; overrides the spec's 'output'."
        ),
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Krige point samples onto a grid: estimate and variance to Zarr or a table."""
    _configure_logging(log_level)
    from geofeat.krige import krige as run_krige

    try:
        result = run_krige(spec, output=output)
    except (GeofeatError, OSError) as err:
        _fail(err, log_level)
    model = result.variogram
    table = Table(title="geofeat krige", show_header=False)
    table.add_row("samples", f"{len(result.samples):,}")
    table.add_row(
        "variogram",
        f"{model.model}: nugget {model.nugget:.4g}, psill {model.psill:.4g}, "
        f"range {model.range:.4g}",
    )
    table.add_row("cells", ", ".join(f"{k} {v:,}" for k, v in result.counts.items()))
    if result.crossval is not None:
        cv = result.crossval
        table.add_row(
            "cross-validation",
            f"ME {cv.me:.4g}, RMSE {cv.rmse:.4g}, MSDR {cv.msdr:.3f}",
        )
    table.add_row("time", f"{result.seconds:.1f} s")
    table.add_row("output", "\n".join(result.outputs))
    out.print(table)


@app.command()
def demo(
    folder: Annotated[
        Path,
        typer.Option("--folder", help="Where to build the demo catalogue and output."),
    ] = Path("demo-output"),
    log_level: LogLevel = "INFO",
) -> None:
    """Run the embedded offline example: synthetic Sentinel-2-shaped scenes.

    Builds a small local STAC catalogue of SYNTHETIC scenes (made-up pixel
    values with real Sentinel-2 L2A layout and metadata) and a points file, then
    runs ``geofeat run`` on it. No network is needed.
    """
    _configure_logging(log_level)
    from geofeat.demo import build_demo
    from geofeat.job import run as run_job

    try:
        spec_path = build_demo(folder)
        out.print(
            f"[bold]Demo data are SYNTHETIC[/]: Sentinel-2-shaped scenes written to {folder}"
        )
        result = run_job(spec_path)
    except (GeofeatError, OSError) as err:
        _fail(err, log_level)
    print_summary(result.summary, title="geofeat demo (synthetic scenes)")


@app.command()
def search(
    catalog: Annotated[
        str,
        typer.Argument(
            help="Preset (earth-search, planetary-computer), STAC API root URL, "
            "or a local catalog.json / .parquet path."
        ),
    ],
    collection: Annotated[str, typer.Argument(help="Collection id.")],
    bbox: Annotated[
        str | None, typer.Option(help="west,south,east,north in degrees.")
    ] = None,
    point: Annotated[str | None, typer.Option(help="lon,lat in degrees.")] = None,
    datetime: Annotated[
        str | None,
        typer.Option(help="UTC days or instants: 2023-08-13 or 2023-08-01/2023-08-31."),
    ] = None,
    max_cloud: Annotated[
        float | None,
        typer.Option(help="Largest eo:cloud_cover, in percent.", min=0, max=100),
    ] = None,
    max_items: Annotated[
        int | None, typer.Option(help="Stop after this many items.")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the item collection as JSON.")
    ] = False,
    log_level: LogLevel = "WARNING",
) -> None:
    """Search one catalogue collection and list what it holds (to debug a spec)."""
    _configure_logging(log_level)
    import json

    from geofeat.catalog.query import item_row, parse_bbox, parse_point, run_search

    try:
        if (bbox is None) == (point is None):
            raise GeofeatError("give exactly one of --bbox or --point")
        box = parse_bbox(bbox) if bbox is not None else parse_point(point)
        items = run_search(
            catalog, collection, box, datetime, max_cloud, max_items, not as_json
        )
    except (GeofeatError, OSError) as err:
        _fail(err, log_level)
    if as_json:
        features = [item.to_dict(transform_hrefs=False) for item in items]
        out.print_json(json.dumps({"type": "FeatureCollection", "features": features}))
        return
    if not items:
        console.print(
            f"no items in {catalog} / {collection} for {bbox or point}, "
            f"{datetime or 'all time'}"
            f"{f', cloud <= {max_cloud}%' if max_cloud is not None else ''}: widen the "
            "area or the dates, or raise --max-cloud"
        )
        return
    table = Table(title=f"{catalog} / {collection}: {len(items)} item(s)")
    for column in ("id", "datetime", "cloud %", "CRS", "tile"):
        table.add_column(column)
    for row in map(item_row, items):
        cloud = "" if row.cloud_cover is None else f"{row.cloud_cover:.1f}"
        table.add_row(row.id, row.datetime, cloud, row.crs or "", row.tile or "")
    out.print(table)


@app.command("show-versions")
def show_versions() -> None:
    """Print the versions of geofeat and the libraries it runs on (for bug reports)."""
    from importlib.metadata import PackageNotFoundError, version

    import rasterio

    out.print(f"python: {sys.version.split()[0]}")
    for name in (
        "geofeat",
        "numpy",
        "pandas",
        "dask",
        "distributed",
        "xarray",
        "rasterio",
        "rioxarray",
        "pystac",
        "pystac-client",
        "zarr",
        "numba",
        "pyproj",
        "shapely",
        "pyarrow",
        "pydantic",
        "scipy",
        "spyndex",
        "stackstac",
        "planetary-computer",
    ):
        try:
            out.print(f"{name}: {version(name)}")
        except PackageNotFoundError:
            out.print(f"{name}: not installed")
    out.print(f"GDAL: {rasterio.__gdal_version__}")


def main() -> None:
    app()
