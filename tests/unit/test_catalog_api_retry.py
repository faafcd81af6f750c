"""A host that does not resolve fails at once, without backing off."""

from __future__ import annotations

import pytest
from urllib3.exceptions import MaxRetryError, NameResolutionError, ProtocolError

from geofeat.catalog.api import LoggedRetry


def test_name_resolution_is_not_retried():
    retry = LoggedRetry(total=5, connect=5, backoff_factor=10)
    error = NameResolutionError("earth-search.example", None, OSError("no network"))
    with pytest.raises(MaxRetryError):
        retry.increment("GET", "/v1/search", error=error)


def test_other_connection_errors_are_retried():
    retry = LoggedRetry(total=5, connect=5, read=5, backoff_factor=0)
    again = retry.increment("GET", "/v1/search", error=ProtocolError("reset"))
    assert len(again.history) == 1
