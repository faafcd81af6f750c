"""Writing results so that they appear whole or not at all."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)


def write_table(table: pd.DataFrame, path: str, metadata: dict[str, str] | None = None) -> str:
    """Write ``table`` as Parquet at ``path`` atomically.

    The table is written to a temporary file in the same folder and then renamed
    over ``path``, so a crash never leaves a truncated file where the result is
    expected. ``metadata`` goes into the Parquet file's key/value metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    if metadata:
        merged = {**(arrow.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        arrow = arrow.replace_schema_metadata(merged)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        pq.write_table(arrow, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("wrote %d row(s) x %d column(s) to %s", len(table), table.shape[1], target)
    return str(target)
