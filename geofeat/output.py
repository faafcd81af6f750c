"""Writing results so that they appear whole or not at all.

Every write goes to a temporary name beside the target first and is then
committed: on a local disk by an atomic rename (``os.replace``); on object
storage (``s3://``, ``gs://``, ``az://``, through fsspec) by a server-side copy
of the finished temporary object onto the target key, which the store makes
visible in one step. A crash or an interruption before the commit leaves at most
a temporary ``.<name>.<random>.tmp`` object, never a truncated file at the
target.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem of a local path or URL, and the path within it.

    Credentials come from the environment as each backend reads them (for S3:
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``...).
    """
    fs, inner = fsspec.core.url_to_fs(path)
    return fs, inner


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def check_target(path: str) -> None:
    """Refuse, before any work, an output that cannot be written.

    Local paths only: a folder where the file should go, or a parent folder
    that cannot be created or written to. Object stores answer at write time.

    Raises
    ------
    ConfigError
        Naming the path and what to change.
    """
    from geofeat.errors import ConfigError

    fs, inner = filesystem(path)
    if not is_local(fs):
        return
    if os.path.isdir(inner):
        raise ConfigError(
            f"output {path!r} is a folder; give a file path ending in .parquet"
        )
    parent = os.path.dirname(inner) or "."
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise ConfigError(
            f"output {path!r}: cannot create its folder ({err.strerror}); choose "
            "another 'output' or --output"
        ) from None
    if not os.access(parent, os.W_OK):
        raise ConfigError(
            f"output {path!r}: the folder {parent!r} is not writable; choose another "
            "'output' or --output"
        )


def join(path: str, *names: str) -> str:
    """``path/name/...`` for local paths and URLs alike."""
    return "/".join([path.rstrip("/"), *names])


@contextmanager
def atomic_open(path: str) -> Any:
    """A binary file that appears at ``path`` only when the block ends cleanly.

    Yields
    ------
    file
        Write to it; on a clean exit it is committed to ``path`` (replacing any
        file there), on an exception it is removed and ``path`` is untouched.
    """
    fs, target = filesystem(path)
    parent, name = target.rsplit("/", 1) if "/" in target else ("", target)
    tmp = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp" if parent else f".{name}.tmp"
    if is_local(fs):
        fs.makedirs(parent, exist_ok=True)
    try:
        with fs.open(tmp, "wb") as handle:
            yield handle
        if is_local(fs):
            os.replace(tmp, target)
        else:
            fs.mv(tmp, target)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except Exception:  # the original error matters more than the cleanup
            logger.warning("could not remove the temporary file %s", tmp, exc_info=True)
        raise


def write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as handle:
        handle.write(data)


def _with_metadata(arrow, metadata: dict[str, str] | None):
    """``arrow`` (a Table or Schema) with ``metadata`` added to its schema's."""
    if not metadata:
        return arrow
    schema = arrow.schema if isinstance(arrow, pa.Table) else arrow
    merged = dict(schema.metadata or {})
    merged.update({k.encode(): v.encode() for k, v in metadata.items()})
    if isinstance(arrow, pa.Table):
        return arrow.replace_schema_metadata(merged)
    return arrow.with_metadata(merged)


def write_table(
    table: pd.DataFrame, path: str, metadata: dict[str, str] | None = None
) -> str:
    """Write ``table`` as Parquet at ``path`` (local or object store) atomically.

    ``metadata`` goes into the Parquet file's key/value metadata.
    """
    arrow = _with_metadata(pa.Table.from_pandas(table, preserve_index=False), metadata)
    with atomic_open(path) as handle:
        pq.write_table(arrow, handle)
    logger.debug(
        "wrote %d row(s) x %d column(s) to %s", len(table), table.shape[1], path
    )
    return path


def write_parts(
    parts: Iterable[Callable[[], pa.Table]],
    schema: pa.Schema,
    path: str,
    metadata: dict[str, str] | None = None,
) -> int:
    """Stream tables into one Parquet file at ``path``, atomically.

    Parameters
    ----------
    parts
        Functions each returning one table, called one at a time, so only one
        part is in memory at once; each is cast to ``schema`` and becomes a row
        group.
    schema
        The schema of the file (unified over the parts by the caller).

    Returns
    -------
    int
        Rows written.
    """
    schema = _with_metadata(schema, metadata)
    rows = 0
    with atomic_open(path) as handle:
        writer = pq.ParquetWriter(handle, schema)
        try:
            for load in parts:
                part = load()
                part = part.select(schema.names).cast(schema)
                writer.write_table(part)
                rows += part.num_rows
        finally:
            writer.close()
    logger.debug("wrote %d row(s) x %d column(s) to %s", rows, len(schema), path)
    return rows


def read_parquet(path: str) -> pa.Table:
    """Read a Parquet file from a local path or an object-store URL."""
    fs, inner = filesystem(path)
    with fs.open(inner, "rb") as handle:
        return pq.read_table(handle)


def read_schema(path: str) -> pa.Schema:
    """The schema of a Parquet file, reading only its footer."""
    fs, inner = filesystem(path)
    with fs.open(inner, "rb") as handle:
        return pq.read_schema(handle)
