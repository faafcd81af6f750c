"""Temporal reducers over the observations of each point.

Observations come as a long table, one row per (point, scene). Before reducing,
observations of the same satellite pass are fused into one (the first valid in
scene rank order), so a point in the overlap of two tiles, or a scene published
twice, counts once. Reducers then use only the valid observations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of an observations table.
OBSERVATION_COLUMNS = ["row", "time", "pass_key", "rank", "scene", "tile", "value", "valid"]

REDUCERS = ("median", "mean", "min", "max", "first", "last", "count")


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "time": pd.Series(dtype="datetime64[ns]"),
            "pass_key": pd.Series(dtype="object"),
            "rank": pd.Series(dtype="int64"),
            "scene": pd.Series(dtype="object"),
            "tile": pd.Series(dtype="object"),
            "value": pd.Series(dtype="float64"),
            "valid": pd.Series(dtype="bool"),
        }
    )


def fuse_passes(obs: pd.DataFrame) -> pd.DataFrame:
    """One observation per (point, pass): the first valid one in rank order.

    ``rank`` orders the scenes of a pass (lowest first); a pass with no valid
    observation keeps its first, invalid, one.
    """
    if obs.empty:
        return obs
    ordered = obs.sort_values(["row", "pass_key", "valid", "rank"], ascending=[True, True, False, True])
    return ordered.drop_duplicates(["row", "pass_key"], keep="first").reset_index(drop=True)


def reduce_observations(obs: pd.DataFrame, n_points: int, reducer: str, name: str) -> pd.DataFrame:
    """One row per point: the reduced value, the valid count and the total count.

    Returns columns ``{name}``, ``{name}_n`` (valid observations) and
    ``{name}_total`` (observations, valid or not); ``first`` and ``last`` also give
    ``{name}_date``, the time of the observation used.
    """
    fused = fuse_passes(obs)
    out = pd.DataFrame(index=pd.RangeIndex(n_points))
    total = fused.groupby("row").size()
    valid = fused[fused["valid"]]
    grouped = valid.groupby("row")["value"]
    counts = grouped.size()
    if reducer == "count":
        value = counts.astype("float64")
    elif reducer in ("first", "last"):
        ordered = valid.sort_values(["row", "time"])
        picked = ordered.drop_duplicates("row", keep=reducer)
        value = picked.set_index("row")["value"]
        out[f"{name}_date"] = picked.set_index("row")["time"].reindex(out.index)
    else:
        value = getattr(grouped, reducer)()
    out.insert(0, name, value.reindex(out.index).astype("float64"))
    if reducer == "count":
        out[name] = out[name].fillna(0.0)
    out.insert(1, f"{name}_n", counts.reindex(out.index, fill_value=0).astype("int64"))
    out[f"{name}_total"] = total.reindex(out.index, fill_value=0).astype("int64")
    return out
