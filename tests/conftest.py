"""Shared fixtures: where the real data live, and servers on 127.0.0.1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    return Path(os.environ.get("GEOFEAT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data``, or ``$GEOFEAT_SHARED_DATA``).

    Tests that need it skip when it is absent, except under CI, where its absence
    fails the run: CI must prove the real-data tests.
    """
    path = _shared_data()
    if not (path / "MANIFEST.md").is_file():
        message = f"real data not found at {path}; set GEOFEAT_SHARED_DATA"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (required under CI=true)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def s2_catalog(shared_data: Path) -> Path:
    """The real Earth Search static catalogue (two tiles, five dates, 120 m crops)."""
    return (
        shared_data
        / "sentinel2"
        / "earthsearch_l2a_120m_33TWL_33TWM_2023-08"
        / "catalog.json"
    )
