"""The run summary shows what the radiometry check did to scenes."""

from __future__ import annotations

import io
from collections import Counter

from rich.console import Console

from geofeat import cli
from geofeat.job import RunSummary
from geofeat.read import ReadStats


def test_summary_lists_scenes_corrected_or_set_aside(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buffer, width=200))
    reads = ReadStats(windows=3, assets=2)
    reads.failures = Counter({"scene offset corrected by the radiometry check": 2})
    summary = RunSummary(output="x.parquet", points=5, reads=reads)
    cli.print_summary(summary)
    text = buffer.getvalue()
    assert "scene offset corrected by the radiometry check" in text
    assert "│ 2 " in text
