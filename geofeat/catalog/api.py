"""A STAC API searched with pystac-client."""

from __future__ import annotations

import logging

import pystac
from pystac_client import Client

from geofeat.catalog.base import Search
from geofeat.catalog.presets import PRESETS
from geofeat.errors import SearchError
from geofeat.spec import CatalogSpec

logger = logging.getLogger(__name__)


class ApiCatalog:
    """A STAC API at ``url``."""

    def __init__(self, name: str, url: str, max_items: int | None = None) -> None:
        self.name = name
        self.url = url
        self.max_items = max_items
        self._client: Client | None = None

    @classmethod
    def from_preset(cls, name: str, spec: CatalogSpec) -> ApiCatalog:
        preset = PRESETS[spec.preset or name]
        return cls(name, preset["url"], max_items=spec.max_items)

    def search(self, search: Search) -> list[pystac.Item]:
        if self._client is None:
            self._client = Client.open(self.url)
        start, end = search.start.isoformat(), search.end.isoformat()
        query = (
            {"eo:cloud_cover": {"lte": search.max_cloud_cover}}
            if search.max_cloud_cover is not None
            else None
        )
        try:
            result = self._client.search(
                collections=[search.collection],
                bbox=search.bbox,
                datetime=f"{start}/{end}",
                query=query,
                max_items=self.max_items,
            )
            items = list(result.items())
        except Exception as err:
            raise SearchError(f"catalog {self.name!r} ({self.url}): search failed: {err}") from err
        logger.info("search %s/%s: %d item(s)", self.name, search.collection, len(items))
        return items
