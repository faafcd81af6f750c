"""Exceptions and warnings raised by geofeat.

Every message gives the fault, the object involved and the remedy, in that order.
"""

from __future__ import annotations


class GeofeatError(Exception):
    """Base class of every error geofeat raises on purpose."""


class ConfigError(GeofeatError, ValueError):
    """The job spec is invalid: a field is missing, mistyped or contradictory."""


class PointsError(GeofeatError, ValueError):
    """The points table cannot be used: bad rows, missing columns, unreadable file.

    Attributes
    ----------
    path
        The points file involved.
    rows
        Zero-based row numbers (as in the file, header excluded) at fault.
    """

    def __init__(self, message: str, path: str | None = None, rows=()) -> None:
        super().__init__(message)
        self.path = path
        self.rows = list(rows)


class SearchError(GeofeatError):
    """A catalogue search failed, or a catalogue/collection does not exist."""


class ReadError(GeofeatError):
    """Pixels could not be read from an asset.

    Attributes
    ----------
    retry
        Whether trying again may help: False for what cannot change during a
        run (a local file that does not exist, an asset the scene lacks).
    """

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


class AvailabilityError(SearchError):
    """Every point's window lies where the product has no data (e.g. before it began).

    Attributes
    ----------
    collection
        The collection asked for.
    available_from
        The first day it has data.
    """

    def __init__(self, message: str, collection: str = "", available_from=None) -> None:
        super().__init__(message)
        self.collection = collection
        self.available_from = available_from


class KernelError(GeofeatError):
    """A numerical kernel was given input it cannot work with."""


class GeofeatWarning(UserWarning):
    """Base class of the warnings for degraded but still running jobs."""
