"""Temporal reducers over the observations of each point.

Observations come as a long table, one row per (point, scene). Before reducing,
observations of the same satellite pass are fused into one, so a point in the
overlap of two (or four) tiles, or a scene published twice (reprocessed),
counts once. Fusion order: valid observations before invalid ones, then scene
rank (for Sentinel-2: newest processing baseline, then latest generation time,
then item id); the first one is kept. Reducers then use only the valid
observations.

Reducers: ``median``, ``mean``, ``min``, ``max``, ``count`` (of valid passes),
``first`` (earliest valid) and ``last`` (latest valid: the one nearest the
date for a window before it); ``first`` and ``last`` also give the time of the
observation used, ``{name}_date``. Ties in time keep the lower rank.
"""

from __future__ import annotations

import pandas as pd

#: Columns of an observations table.
OBSERVATION_COLUMNS = {
    "row": "int64",
    "time": "datetime64[ns]",
    "pass_key": "object",
    "rank": "int64",
    "scene": "object",
    "tile": "object",
    "crs": "object",
    "value": "float64",
    "valid": "bool",
    "baseline": "object",
    "radiometry": "object",
}

REDUCERS = ("median", "mean", "min", "max", "first", "last", "count")

#: Provenance columns: observation column -> output column suffix.
PROVENANCE = {"scene": "items", "baseline": "baseline", "radiometry": "radiometry"}


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype in OBSERVATION_COLUMNS.items()}
    )


def fuse_passes(obs: pd.DataFrame) -> pd.DataFrame:
    """One observation per (point, pass): the first valid one in rank order.

    ``rank`` orders the scenes of a pass (lowest first); a pass with no valid
    observation keeps its first, invalid, one.
    """
    if obs.empty:
        return obs
    ordered = obs.sort_values(
        ["row", "pass_key", "valid", "rank"], ascending=[True, True, False, True]
    )
    return ordered.drop_duplicates(["row", "pass_key"], keep="first").reset_index(
        drop=True
    )


def _joined(frame: pd.DataFrame, column: str, index: pd.Index) -> pd.Series:
    """Distinct values of ``column`` per point, in time order, joined by ``;``."""
    if frame.empty:
        return pd.Series(None, index=index, dtype="object")
    ordered = frame.sort_values(["row", "time", "rank"])

    def join(values: pd.Series) -> str:
        return ";".join(
            dict.fromkeys(str(v) for v in values if v is not None and v == v)
        )

    return ordered.groupby("row")[column].agg(join).reindex(index)


def reduce_observations(
    obs: pd.DataFrame, n_points: int, reducer: str, name: str, provenance: bool = False
) -> pd.DataFrame:
    """One row per point: the reduced value, the counts, where it was read from.

    Returns columns ``{name}``, ``{name}_n`` (valid observations: passes),
    ``{name}_total`` (passes in the window, valid or not), ``{name}_tile`` and
    ``{name}_crs`` (tiles and CRS of the observations used, ``;``-joined in time
    order); ``first`` and ``last`` also give ``{name}_date``. With
    ``provenance``, also ``{name}_items``, ``{name}_baseline`` and
    ``{name}_radiometry`` (scale and offset applied per band, and why).
    """
    fused = fuse_passes(obs)
    out = pd.DataFrame(index=pd.RangeIndex(n_points))
    total = fused.groupby("row").size()
    valid = fused[fused["valid"]]
    grouped = valid.groupby("row")["value"]
    counts = grouped.size()
    used = valid
    if reducer == "count":
        value = counts.astype("float64")
    elif reducer in ("first", "last"):
        ordered = valid.sort_values(
            ["row", "time", "rank"], ascending=[True, True, reducer == "first"]
        )
        picked = ordered.drop_duplicates("row", keep=reducer)
        value = picked.set_index("row")["value"]
        out[f"{name}_date"] = picked.set_index("row")["time"].reindex(out.index)
        used = picked
    else:
        value = getattr(grouped, reducer)()
    out.insert(0, name, value.reindex(out.index).astype("float64"))
    if reducer == "count":
        out[name] = out[name].fillna(0.0)
    out.insert(1, f"{name}_n", counts.reindex(out.index, fill_value=0).astype("int64"))
    out[f"{name}_total"] = total.reindex(out.index, fill_value=0).astype("int64")
    out[f"{name}_tile"] = _joined(used, "tile", out.index)
    out[f"{name}_crs"] = _joined(used, "crs", out.index)
    if provenance:
        for column, suffix in PROVENANCE.items():
            if column in used:
                out[f"{name}_{suffix}"] = _joined(used, column, out.index)
    return out
