"""The embedded offline demo: a synthetic catalogue, a points file and a spec.

The scenes are SYNTHETIC: made-up reflectances laid out like Earth Search
Sentinel-2 L2A items (two overlapping tiles, three dates, one of them cloudy
over part of the area), so ``geofeat run`` can be tried with no network.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from geofeat.synthetic import write_catalog, write_scene

logger = logging.getLogger(__name__)

#: Upper-left corners (EPSG:32633) of the two tiles; they overlap by 1.28 km.
_ORIGINS = {"33TWL": (499980.0, 5100000.0), "33TWM": (504100.0, 5101280.0)}
_DATES = [
    ("sentinel-2a", datetime(2023, 8, 5, 10, 0, tzinfo=UTC), 2.0),
    ("sentinel-2b", datetime(2023, 8, 10, 10, 0, tzinfo=UTC), 60.0),
    ("sentinel-2a", datetime(2023, 8, 15, 10, 0, tzinfo=UTC), 0.5),
]
_SIZE = 512  # pixels at 10 m


def _bands(day: int, cloudy: bool, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Fields vary smoothly west to east: bare soil to dense vegetation."""
    ramp = np.linspace(0.0, 1.0, _SIZE)[None, :].repeat(_SIZE, axis=0)
    red = (1200 - 900 * ramp + rng.normal(0, 20, ramp.shape) + 10 * day).astype(
        "uint16"
    )
    nir = (1800 + 2600 * ramp + rng.normal(0, 40, ramp.shape) - 10 * day).astype(
        "uint16"
    )
    scl = np.where(ramp[::2, ::2] > 0.15, 4, 5).astype("uint8")
    if cloudy:
        scl[: _SIZE // 4, :] = 9  # high-probability cloud over the northern half
    return {"red": red, "nir": nir, "scl": scl}


def build_demo(folder: Path) -> Path:
    """Write the demo catalogue, points and spec under ``folder``; return the spec path."""
    folder = Path(folder).resolve()
    rng = np.random.default_rng(20230815)
    items = []
    for platform, when, cloud in _DATES:
        for tile, origin in _ORIGINS.items():
            item_id = f"S2{platform[-1].upper()}_{tile}_{when:%Y%m%d}_0_L2A"
            items.append(
                write_scene(
                    folder / "scenes",
                    item_id,
                    when,
                    _bands(when.day, cloud > 50, rng),
                    origin,
                    tile=tile,
                    platform=platform,
                    cloud_cover=cloud,
                )
            )
    catalog = write_catalog(folder / "catalog", items)

    points = pd.DataFrame(
        {
            "id": [
                "field-west",
                "field-east",
                "overlap",
                "cloudy-north",
                "too-early",
                "far-away",
            ],
            "lon": [15.01, 15.05, 15.057, 15.03, 15.03, 17.5],
            "lat": [46.02, 46.01, 46.03, 46.038, 46.02, 46.0],
            "date": [
                "2023-08-16",
                "2023-08-16",
                "2023-08-16",
                "2023-08-11",
                "2023-08-01",
                "2023-08-16",
            ],
            "label": ["bare", "crop", "crop", "crop", "bare", "unknown"],
        }
    )
    points.to_csv(folder / "points.csv", index=False)
    spec = {
        "points": "points.csv",
        "output": "features.parquet",
        "catalogs": {"demo": {"url": str(catalog.relative_to(folder))}},
        "features": [
            {
                "name": "ndvi",
                "catalog": "demo",
                "collection": "sentinel-2-l2a",
                "index": "ndvi",
                "window": {"before": "15d"},
                "reducer": "median",
            }
        ],
    }
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    logger.info(
        "demo: wrote %d synthetic scenes, %d points and %s",
        len(items),
        len(points),
        spec_path,
    )
    return spec_path
