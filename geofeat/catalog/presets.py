"""Known public STAC catalogues, as data.

Each preset says where a catalogue lives and what it needs. The metadata facts of
each catalogue's collections (which offset flag to trust, which scale to apply)
live with the products in :mod:`geofeat.sources`.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "earth-search": {
        "url": "https://earth-search.aws.element84.com/v1",
        "sign": None,
    },
    "planetary-computer": {
        "url": "https://planetarycomputer.microsoft.com/api/stac/v1",
        "sign": "planetary-computer",
    },
}
