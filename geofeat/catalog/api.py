"""A STAC API searched with pystac-client: retries, paging, filters, de-duplication.

Every request goes through one ``requests`` session whose adapter retries HTTP
429 and 5xx answers and timeouts with exponential backoff, honouring
``Retry-After`` (capped), up to a bound; a catalogue that stays down ends the search
with a :class:`~geofeat.errors.SearchError` naming it. Searches follow ``next``
links to the last page (or ``max_items``), drop duplicate items (see
:mod:`geofeat.catalog.dedupe`) and log how many searches, pages and items they made.

A cloud-cover limit is sent as a CQL2 ``filter`` when the catalogue conforms to the
filter extension, else as a STAC ``query``, else applied to the items received.
A bbox crossing the antimeridian (west > east) is split into two searches.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pystac
from pystac_client import Client, ConformanceClasses
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from urllib3.exceptions import MaxRetryError, NameResolutionError
from urllib3.util.retry import Retry

from geofeat.catalog.base import Search
from geofeat.catalog.dedupe import dedupe
from geofeat.catalog.presets import PRESETS, preset_for_url
from geofeat.errors import SearchError
from geofeat.spec import CatalogSpec

logger = logging.getLogger(__name__)

#: HTTP answers worth retrying: too many requests, and server-side failures.
RETRY_STATUS = (429, 500, 502, 503, 504)
#: Items asked per page; large pages mean fewer requests (both APIs allow 1000).
PAGE_SIZE = 250


class LoggedRetry(Retry):
    """A urllib3 ``Retry`` that logs each retry and caps ``Retry-After``.

    A server may ask for any ``Retry-After``; waiting longer than
    :attr:`retry_after_max` seconds would look like a hang, so the wait is capped.
    """

    retry_after_max: float = 60.0

    def get_retry_after(self, response) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, self.retry_after_max)

    def new(self, **kw) -> LoggedRetry:
        fresh = super().new(**kw)
        fresh.retry_after_max = self.retry_after_max
        return fresh

    def increment(self, method=None, url=None, response=None, error=None, **kw):
        if isinstance(error, NameResolutionError):
            # A host name that does not resolve will not resolve a second later
            # (offline, or a misspelt URL): fail now instead of backing off.
            raise MaxRetryError(kw.get("_pool"), url, error) from error
        new = super().increment(method, url, response, error, **kw)
        why = (
            f"HTTP {response.status}" if response is not None else type(error).__name__
        )
        after = response.headers.get("Retry-After") if response is not None else None
        pool = kw.get("_pool")
        logger.warning(
            "%s %s%s: %s; retry %d of %d%s",
            method,
            getattr(pool, "host", "") or "",
            (url or "").split("?")[0],
            why,
            len(new.history),
            self.total_bound,
            f" after Retry-After {after} s" if after else "",
        )
        return new

    @property
    def total_bound(self) -> int:
        return len(self.history) + (self.total or 0)


@dataclass(frozen=True)
class HttpPolicy:
    """How hard to try a catalogue before giving up."""

    retries: int = 5
    """Retries per request after the first try (429, 5xx, timeouts, resets)."""
    backoff: float = 0.5
    """Seconds of the first backoff, doubled at each retry."""
    backoff_max: float = 30.0
    """Longest wait between two tries, in seconds."""
    retry_after_max: float = 60.0
    """Longest ``Retry-After`` honoured, in seconds."""
    connect_timeout: float = 10.0
    """Seconds to wait for a connection."""
    read_timeout: float = 60.0
    """Seconds to wait for an answer once connected."""

    def retry(self) -> Retry:
        retry = LoggedRetry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # searches are POSTs, and safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,  # the last answer's status reaches the error
        )
        retry.retry_after_max = self.retry_after_max
        return retry

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def stac_io(self) -> StacApiIO:
        return StacApiIO(max_retries=self.retry(), timeout=self.timeout)


@dataclass
class SearchStats:
    """What the searches of one catalogue cost, summed."""

    searches: int = 0
    pages: int = 0
    items: int = 0
    dropped: Counter = field(default_factory=Counter)
    """Items dropped as duplicates, by reason."""


def _utc_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def split_antimeridian(
    bbox: tuple[float, float, float, float],
) -> list[tuple[float, float, float, float]]:
    """One bbox, or two when it crosses the antimeridian (west > east)."""
    west, south, east, north = bbox
    if west <= east:
        return [bbox]
    return [(west, south, 180.0, north), (-180.0, south, east, north)]


class ApiCatalog:
    """A STAC API at ``url``.

    Parameters
    ----------
    name
        Name used in log lines and errors (the spec's ``catalogs`` key).
    url
        Root URL of the STAC API.
    max_items
        Stop each search after this many items (all by default).
    signer
        Name of the signer its asset URLs need at read time (see
        :mod:`geofeat.catalog.signing`).
    policy
        Retries, backoff and timeouts.
    page_size
        Items asked per page (the STAC ``limit``).
    exclude
        Item fields the API need not send (``assets``, ``links``...), asked with
        the fields extension when the API conforms to it; for listings only, as
        items without assets cannot be read.
    """

    def __init__(
        self,
        name: str,
        url: str,
        max_items: int | None = None,
        signer: str | None = None,
        policy: HttpPolicy | None = None,
        page_size: int = PAGE_SIZE,
        exclude: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.url = url
        self.max_items = max_items
        self.signer = signer
        self.policy = policy or HttpPolicy()
        self.page_size = page_size
        self.exclude = exclude
        self.stats = SearchStats()
        self.preset = preset_for_url(url)
        self._client: Client | None = None
        self._collections: set[str] = set()
        self._warned_cloud = False

    @classmethod
    def from_preset(cls, name: str, spec: CatalogSpec) -> ApiCatalog:
        preset = PRESETS[spec.preset or name]
        return cls(name, preset.url, max_items=spec.max_items, signer=preset.signer)

    # -- connection --------------------------------------------------------
    def client(self) -> Client:
        """The pystac-client ``Client``, opened once (reads the landing page)."""
        if self._client is None:
            try:
                # Client.open resets the StacApiIO's timeout: give it again.
                self._client = Client.open(
                    self.url, stac_io=self.policy.stac_io(), timeout=self.policy.timeout
                )
            except APIError as err:
                raise self._down("cannot open the landing page", err) from err
        return self._client

    def _down(self, what: str, err: Exception) -> SearchError:
        status = getattr(err, "status_code", None)
        if "NameResolutionError" in repr(err) or "Failed to resolve" in str(err):
            host = self.url.split("://", 1)[-1].split("/", 1)[0]
            return SearchError(
                f"catalog {self.name!r}: cannot resolve the host {host!r} of "
                f"{self.url} (no network here, or a misspelt URL); check the URL "
                "and your network, or use a local catalogue"
            )
        return SearchError(
            f"catalog {self.name!r} ({self.url}): {what}"
            f"{f' (HTTP {status})' if status else ''} after "
            f"{self.policy.retries} retries: {str(err)[:300]}; check the URL, "
            "your network, or try again later"
        )

    def check_collection(self, collection: str) -> None:
        """Raise a :class:`SearchError` when the catalogue has no ``collection``."""
        if collection in self._collections:
            return
        client = self.client()
        try:
            found = client.get_collection(collection)
        except APIError as err:
            raise self._down(f"cannot read collection {collection!r}", err) from err
        if found is None:
            try:
                known = sorted(c.id for c in client.get_collections())
            except APIError:
                known = []
            raise SearchError(
                f"catalog {self.name!r} ({self.url}) has no collection "
                f"{collection!r}; it has {known[:30]}; fix 'collection' in the spec"
            )
        self._collections.add(collection)

    def cloud_filter(self, max_cloud_cover: float | None) -> dict:
        """Search arguments for a cloud-cover limit, in the form the API supports."""
        if max_cloud_cover is None:
            return {}
        client = self.client()
        if client.conforms_to(ConformanceClasses.FILTER):
            expr = {
                "op": "<=",
                "args": [{"property": "eo:cloud_cover"}, max_cloud_cover],
            }
            return {"filter": expr, "filter_lang": "cql2-json"}
        if client.conforms_to(ConformanceClasses.QUERY):
            return {"query": {"eo:cloud_cover": {"lte": max_cloud_cover}}}
        if not self._warned_cloud:
            logger.warning(
                "catalog %s supports neither CQL2 filter nor query: the cloud-cover "
                "limit is applied to the items received (more pages are fetched)",
                self.name,
            )
            self._warned_cloud = True
        return {}

    # -- search ------------------------------------------------------------
    def search(self, search: Search) -> list[pystac.Item]:
        """Items of ``search.collection`` in the bbox and time interval."""
        self.check_collection(search.collection)
        extra = self.cloud_filter(search.max_cloud_cover)
        found: list[dict] = []
        pages = 0
        for bbox in split_antimeridian(search.bbox):
            dicts, n_pages = self._pages(search, bbox, extra)
            found.extend(dicts)
            pages += n_pages
        if search.max_cloud_cover is not None and not extra:
            found = [
                d
                for d in found
                if d["properties"].get("eo:cloud_cover") is None
                or d["properties"]["eo:cloud_cover"] <= search.max_cloud_cover
            ]
        kept, dropped = dedupe(found)
        if self.max_items is not None:
            kept = kept[: self.max_items]
        self.stats.pages += pages
        self.stats.items += len(kept)
        self.stats.dropped.update(dropped)
        logger.info(
            "search %s/%s bbox=%s %s..%s: %d page(s), %d item(s)%s",
            self.name,
            search.collection,
            tuple(round(v, 4) for v in search.bbox),
            _utc_text(search.start),
            _utc_text(search.end),
            pages,
            len(kept),
            "".join(f"; dropped {n} ({why})" for why, n in sorted(dropped.items())),
        )
        return [pystac.Item.from_dict(d, preserve_dict=False) for d in kept]

    def _pages(self, search: Search, bbox, extra: dict) -> tuple[list[dict], int]:
        client = self.client()
        self.stats.searches += 1
        found: list[dict] = []
        pages = 0
        if self.exclude and client.conforms_to(ConformanceClasses.FIELDS):
            extra = {**extra, "fields": {"exclude": list(self.exclude)}}
        try:
            result = client.search(
                collections=[search.collection],
                bbox=list(bbox),
                datetime=[_utc_text(search.start), _utc_text(search.end)],
                limit=self.page_size,
                max_items=self.max_items,
                **extra,
            )
            for page in result.pages_as_dicts():
                pages += 1
                found.extend(page.get("features", []))
        except APIError as err:
            raise self._down(f"search of {search.collection!r} failed", err) from err
        return found, pages
