"""What every feature kind hands to the job: a lazy table and what it found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from dask.delayed import Delayed

#: Optional column of a feature's result table: per point, why its reads failed
#: after retries (None where they did not). The feature kind sets its values to
#: NaN on those rows; the job moves the reasons into the failures table.
FAILURE_COLUMN = "_failure"


@dataclass
class FeaturePlan:
    """A feature ready to compute.

    ``result`` computes to ``(table, stats)``: ``table`` has one row per point
    (indexed like the points, from zero) and the feature's columns; ``stats`` is a
    :class:`~geofeat.read.ReadStats`. ``table`` may add :data:`FAILURE_COLUMN`.
    """

    name: str
    """The feature's name, as in the spec."""
    result: Delayed
    searches: int = 0
    items: int = 0
    reasons: Counter = field(default_factory=Counter)
    """Why points get no value, with counts, as known when planning."""
    column: str | None = None
    """The column that says whether a point got a value, when it is not
    ``name`` (rainfall windows: ``{name}_t0``)."""

    @property
    def value_column(self) -> str:
        return self.column or self.name
