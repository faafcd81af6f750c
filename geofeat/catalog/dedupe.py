"""Dropping duplicate items from search results, by one documented rule.

Two kinds of duplicates reach a client:

1. **Same id** (an item on two pages, when the catalogue changes while it is
   paged, or found by two searches): the first one received is kept.
2. **Same scene published twice**: same collection, platform, tile and acquisition
   datetime (start datetime for composites), different ids: a reprocessing
   published beside the original, e.g. Earth Search ``..._0_L2A`` and
   ``..._1_L2A``, or a Planetary Computer id with a newer processing time. One is
   kept: the newest processing baseline
   (``s2:processing_baseline``), then the latest ``s2:generation_time``, then the
   latest ``updated``/``created``, then the largest id.

Items without a tile (no ``s2:mgrs_tile``, ``grid:code``, MGRS or MODIS tile
fields) are only de-duplicated by id. Tiles that overlap are *not* duplicates:
they are different scenes of the same pass, which the product fuses later.
"""

from __future__ import annotations

import logging
from collections import Counter

logger = logging.getLogger(__name__)

SAME_ID = "same id received twice"
REPUBLISHED = "same tile and datetime published twice; kept the newest processing"


def tile_of(properties: dict) -> str | None:
    """The tile an item's properties name, or None."""
    if properties.get("s2:mgrs_tile"):
        return str(properties["s2:mgrs_tile"])
    if properties.get("grid:code"):
        return str(properties["grid:code"]).removeprefix("MGRS-")
    if properties.get("mgrs:utm_zone") is not None:
        return "{}{}{}".format(
            properties["mgrs:utm_zone"],
            properties.get("mgrs:latitude_band", ""),
            properties.get("mgrs:grid_square", ""),
        )
    if properties.get("modis:horizontal-tile") is not None:
        return "h{:02d}v{:02d}".format(
            int(properties["modis:horizontal-tile"]),
            int(properties.get("modis:vertical-tile", 0)),
        )
    return None


def _scene_key(item: dict) -> tuple | None:
    props = item.get("properties", {})
    tile = tile_of(props)
    when = props.get("datetime") or props.get("start_datetime")
    if tile is None or when is None:
        return None
    platform = str(props.get("platform") or "").lower()
    return (item.get("collection"), platform, tile, when)


def _newest_first(item: dict) -> tuple:
    props = item.get("properties", {})
    return (
        str(props.get("s2:processing_baseline") or ""),
        str(props.get("s2:generation_time") or ""),
        str(props.get("updated") or props.get("created") or ""),
        item["id"],
    )


def dedupe(items: list[dict]) -> tuple[list[dict], Counter]:
    """Items without duplicates (order of first arrival kept), and drops by reason.

    Parameters
    ----------
    items
        Item dicts as a STAC API returns them.

    Returns
    -------
    kept, dropped
        The items kept, and a counter of the items dropped per reason.
    """
    dropped: Counter = Counter()
    by_id: dict[str, dict] = {}
    for item in items:
        if item["id"] in by_id:
            dropped[SAME_ID] += 1
            continue
        by_id[item["id"]] = item

    best: dict[tuple, dict] = {}
    for item in by_id.values():
        key = _scene_key(item)
        if key is None:
            continue
        if key not in best or _newest_first(item) > _newest_first(best[key]):
            best[key] = item
    keep_ids = {id(i) for i in best.values()}
    kept = []
    for item in by_id.values():
        key = _scene_key(item)
        if key is not None and id(item) not in keep_ids:
            dropped[REPUBLISHED] += 1
            logger.debug(
                "dropped %s: %s is the same scene, newer", item["id"], best[key]["id"]
            )
            continue
        kept.append(item)
    return kept, dropped
