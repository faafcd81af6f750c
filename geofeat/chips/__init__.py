"""Image chips around points, for computer vision: ``geofeat chips``.

A fixed-size chip centred on each point, from the best scene around its date,
written to a Zarr store chunked one chip per chunk.
"""

from geofeat.chips.job import ChipsResult, ChipSummary, make_chips
from geofeat.chips.spec import ChipJobSpec, ChipSpec, load_chip_spec

__all__ = [
    "ChipJobSpec",
    "ChipSpec",
    "ChipSummary",
    "ChipsResult",
    "load_chip_spec",
    "make_chips",
]
