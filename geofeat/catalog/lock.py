"""The items a run used, written beside its output, so a rerun reads the same scenes.

While ``geofeat run`` searches, every item a catalogue returns is appended to
``<output>.lock.json``: one JSON line per item, ``{"catalog": name, "item":
{...}}``, holding the whole item (id, asset hrefs, and the metadata its radiometry
was decided from). ``geofeat run spec.yaml --from-lock <output>.lock.json`` then
searches the lock instead of the catalogues, with the same filters, so it reads
the same scenes even after a catalogue reprocessed, added or removed items.

A resumed run appends to the lock of the run it resumes; a fresh run starts a new
one. Signed URLs are never written: hrefs are stored as the catalogue gave them,
and signed at read time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from pathlib import Path

import pystac

from geofeat.catalog.base import Catalog, Search
from geofeat.catalog.static import StaticCatalog
from geofeat.errors import ConfigError, SearchError

logger = logging.getLogger(__name__)

SUFFIX = ".lock.json"


def lock_path(output: str) -> str:
    """Where the lock of a run writing ``output`` lives: beside it."""
    return f"{output}{SUFFIX}"


class RecordingCatalog:
    """A catalogue whose search results are appended to a lock file."""

    def __init__(self, inner: Catalog, lock: LockWriter) -> None:
        self.inner = inner
        self.name = inner.name
        self.lock = lock

    def search(self, search: Search) -> list[pystac.Item]:
        found = self.inner.search(search)
        self.lock.add(self.name, found)
        return found

    def __getattr__(self, attr):
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)


class LockWriter:
    """Appends items to a lock file, each id once per catalogue."""

    def __init__(self, path: str, fresh: bool) -> None:
        self.path = Path(path)
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        if fresh:
            self.path.unlink(missing_ok=True)
        elif self.path.exists():
            for name, item in _read_lines(self.path):
                self._seen.add((name, item["id"]))

    def add(self, catalog: str, items: list[pystac.Item]) -> None:
        with self._lock:
            new = [i for i in items if (catalog, i.id) not in self._seen]
            if not new:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                for item in new:
                    self._seen.add((catalog, item.id))
                    record = {"catalog": catalog, "item": item.to_dict(False, False)}
                    f.write(json.dumps(record, separators=(",", ":")) + "\n")
            logger.debug("lock %s: %d item(s) from %s", self.path, len(new), catalog)


class RunCatalogs(dict):
    """The catalogues of one run, by name.

    Each catalogue opened is wrapped so that its searches are made once per run
    (:class:`~geofeat.catalog.cache.SearchCache`) and the items it returns are
    recorded in the lock.
    """

    def __init__(self, lock: LockWriter | None) -> None:
        super().__init__()
        self.lock = lock

    def __setitem__(self, name: str, catalog: Catalog) -> None:
        from geofeat.catalog.cache import SearchCache

        catalog = SearchCache(catalog)
        if self.lock is not None:
            catalog = RecordingCatalog(catalog, self.lock)
        super().__setitem__(name, catalog)

    def totals(self) -> tuple[int, int]:
        """Searches this run sent to its catalogues, and the distinct items found."""
        searches = sum(catalog.misses for catalog in self.values())
        items = {(name, i) for name, catalog in self.items() for i in catalog.found}
        return searches, len(items)

    def prefetch(self, spec, points, pending=None) -> None:
        """Make the searches of all the points (of ``pending`` partitions) now."""
        import numpy as np

        from geofeat.catalog.cache import prefetch

        if pending is not None:
            rows = [np.arange(p.start, p.stop) for p in pending]
            points = points.take(np.concatenate(rows) if rows else np.arange(0))
        prefetch(self, spec, points)


def run_catalogs(spec, output: str | None, fresh: bool) -> RunCatalogs:
    """The ``catalogs`` mapping for a run of ``spec`` writing ``output``.

    Items are recorded in ``output``'s lock, except when the run reads a lock
    itself (that lock already names its items) or writes no local output.
    """
    sources = [c.url for c in spec.catalogs.values() if c.url]
    if any(url.endswith(SUFFIX) for url in sources):
        logger.info("reading items from a lock: no new lock is written")
        return RunCatalogs(None)
    if output is None or "://" in output:
        # Object-store outputs get no lock: appending needs a local file.
        return RunCatalogs(None)
    return RunCatalogs(LockWriter(lock_path(output), fresh=fresh))


def _read_lines(path: Path):
    with path.open() as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield record["catalog"], record["item"]
            except (ValueError, KeyError) as err:
                raise ConfigError(
                    f"lock file {str(path)!r}, line {number}: not a geofeat lock "
                    f"record ({err}); give the .lock.json written beside an output"
                ) from err


class LockCatalog(StaticCatalog):
    """The items one catalogue gave a run, read back from its lock file."""

    def __init__(self, name: str, path: str, max_items: int | None = None) -> None:
        super().__init__(name, path, max_items=max_items)

    def _load(self) -> dict[str, list[pystac.Item]]:
        if self._items is None:
            if not Path(self.href).is_file():
                raise SearchError(
                    f"catalog {self.name!r}: lock file {self.href!r} does not exist; "
                    "give the .lock.json written beside the output of a run"
                )
            items: dict[str, list[pystac.Item]] = defaultdict(list)
            for name, item in _read_lines(Path(self.href)):
                if name == self.name:
                    parsed = pystac.Item.from_dict(item)
                    items[parsed.collection_id or ""].append(parsed)
            self._items = dict(items)
            logger.info(
                "catalog %s: %d item(s) from lock %s",
                self.name,
                sum(map(len, items.values())),
                self.href,
            )
        return self._items


def use_lock(spec, path: str):
    """``spec`` with every catalogue its features name served from the lock."""
    from geofeat.spec import CatalogSpec

    path = str(Path(path).resolve())
    if not Path(path).is_file():
        raise ConfigError(
            f"--from-lock {path!r} does not exist; give the {SUFFIX} file written "
            "beside the output of an earlier run"
        )
    names = {getattr(f, "catalog", None) for f in spec.features} - {None}
    names |= set(spec.catalogs)
    catalogs = {name: CatalogSpec(url=path) for name in sorted(names)}
    return spec.model_copy(update={"catalogs": catalogs})
