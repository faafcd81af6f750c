"""Reading and validating the user's table of points and dates.

A point is a row: an id, a longitude and latitude in WGS84 degrees, and a date.
Dates are parsed to UTC days: a date without a time zone is taken as UTC; a
timestamp with a time zone is converted to UTC first and then cut to its day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from geofeat.errors import PointsError
from geofeat.spec import PointsSpec

logger = logging.getLogger(__name__)

#: At most this many row numbers are listed in one error message.
_MAX_ROWS_LISTED = 10


@dataclass(frozen=True)
class Points:
    """A validated points table.

    ``table`` is the user's table as read, in input order, with a fresh
    0..n-1 index; ``lon``, ``lat`` and ``day`` are its normalised columns.
    """

    table: pd.DataFrame
    ids: np.ndarray
    lon: np.ndarray
    """Longitude, degrees east, float64."""
    lat: np.ndarray
    """Latitude, degrees north, float64."""
    day: pd.DatetimeIndex
    """UTC day (00:00, time-zone naive) of each row."""

    def __len__(self) -> int:
        return len(self.table)

    def take(self, rows: np.ndarray | slice) -> Points:
        """The points at the given positions, as a new table indexed from zero."""
        table = self.table.iloc[rows].reset_index(drop=True)
        return Points(
            table, self.ids[rows], self.lon[rows], self.lat[rows], self.day[rows]
        )


def _read_table(path: str, columns: PointsSpec) -> pd.DataFrame:
    suffix = Path(path.split("?")[0]).suffix.lower()
    try:
        if suffix in (".parquet", ".pq", ".geoparquet"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".tsv"):
            # Ids stay text: "007" is not 7. Header names lose stray spaces.
            table = pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                dtype={columns.id: "string"},
                encoding="utf-8-sig",
            )
            table.columns = [str(c).strip() for c in table.columns]
            return table
    except FileNotFoundError:
        raise PointsError(
            f"points file {path!r} does not exist; check 'points' in the spec"
        ) from None
    except Exception as err:  # pandas raises many kinds; the message is what matters
        raise PointsError(
            f"points file {path!r} could not be read: {err}", path
        ) from err
    raise PointsError(
        f"points file {path!r} has an unknown format {suffix!r}; use .csv or .parquet",
        path,
    )


def _rows(mask: np.ndarray) -> list[int]:
    return list(np.flatnonzero(mask))


def _describe(rows: list[int]) -> str:
    shown = ", ".join(str(r + 1) for r in rows[:_MAX_ROWS_LISTED])
    more = (
        f" and {len(rows) - _MAX_ROWS_LISTED} more"
        if len(rows) > _MAX_ROWS_LISTED
        else ""
    )
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def parse_days(values: pd.Series) -> pd.Series:
    """Parse dates to UTC days (time-zone naive midnight); unparseable gives NaT."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        # ISO 8601 only: a column mixing 16/08/2023 and 08/12/2023 has no one
        # reading, so anything else is refused rather than guessed.
        stamps = pd.to_datetime(
            values.astype("string").str.strip(),
            utc=True,
            errors="coerce",
            format="ISO8601",
        )
        stamps = stamps.dt.tz_localize(None)
    return stamps.dt.floor("D")


def validate(
    table: pd.DataFrame, columns: PointsSpec, source: str = "points"
) -> Points:
    """Check a points table and normalise its columns.

    Every problem found is reported at once, naming the rows (counted from 1,
    header excluded) and the fix.

    Raises
    ------
    PointsError
        Missing columns, missing or duplicate ids, coordinates out of range, or
        dates that cannot be parsed.
    """
    wanted = {
        "id": columns.id,
        "lon": columns.lon,
        "lat": columns.lat,
        "date": columns.date,
    }
    missing = {role: col for role, col in wanted.items() if col not in table.columns}
    if missing:
        hint = ""
        if len(table.columns) == 1 and ";" in str(table.columns[0]):
            hint = " The file looks ;-separated: geofeat reads comma-separated CSV."
        raise PointsError(
            f"{source}: missing column(s) {sorted(missing.values())} "
            f"(found {list(table.columns)}); name the right columns in the spec, "
            f"e.g. points: {{path: ..., {', '.join(f'{r}: <column>' for r in missing)}}}."
            + hint,
            source,
        )
    if table.empty:
        raise PointsError(
            f"{source}: the table has no rows; nothing to compute", source
        )
    table = table.reset_index(drop=True)
    problems: list[str] = []
    bad_rows: set[int] = set()

    ids = table[columns.id]
    rows = _rows(ids.isna().to_numpy())
    if rows:
        problems.append(
            f"{_describe(rows)}: id {columns.id!r} is empty; give every row an id"
        )
        bad_rows.update(rows)
    dup = ids.duplicated(keep=False) & ids.notna()
    rows = _rows(dup.to_numpy())
    if rows:
        values = sorted(map(str, ids[dup].unique()))[:_MAX_ROWS_LISTED]
        problems.append(
            f"{_describe(rows)}: duplicate id(s) {values}; ids must be unique"
        )
        bad_rows.update(rows)

    coords = {}
    for role, limit in (("lon", 180.0), ("lat", 90.0)):
        name = wanted[role]
        values = pd.to_numeric(table[name], errors="coerce").to_numpy(dtype="float64")
        rows = _rows(~np.isfinite(values) | (np.abs(values) > limit))
        if rows:
            problems.append(
                f"{_describe(rows)}: {role} column {name!r} must be a number within "
                f"±{limit:g} degrees (WGS84); check for swapped lon/lat or projected "
                "coordinates"
            )
            bad_rows.update(rows)
        coords[role] = values

    days = parse_days(table[columns.date])
    rows = _rows(days.isna().to_numpy())
    if rows:
        problems.append(
            f"{_describe(rows)}: date column {columns.date!r} is empty or not an ISO "
            "8601 date within the years 1678-2261; write dates as YYYY-MM-DD"
        )
        bad_rows.update(rows)

    if problems:
        raise PointsError(
            f"{source}: {len(bad_rows)} bad row(s); nothing was computed:\n  "
            + "\n  ".join(problems),
            source,
            sorted(bad_rows),
        )
    return Points(
        table=table,
        ids=ids.to_numpy(),
        lon=coords["lon"],
        lat=coords["lat"],
        day=pd.DatetimeIndex(days),
    )


def read_points(path: str, columns: PointsSpec) -> Points:
    """Read a CSV or Parquet points table and validate it (see :func:`validate`)."""
    table = _read_table(path, columns)
    points = validate(table, columns, source=path)
    logger.info(
        "read %d points from %s (dates %s to %s)",
        len(points),
        path,
        points.day.min().date(),
        points.day.max().date(),
    )
    return points
