"""STAC catalogues behind one small interface: search by collection, bbox and time.

:func:`open_catalog` turns a ``catalogs:`` entry of the spec into a
:class:`~geofeat.catalog.base.Catalog`: a local static catalogue
(:mod:`~geofeat.catalog.static`) or a STAC API (:mod:`~geofeat.catalog.api`).
"""

from geofeat.catalog.base import Catalog, Search, open_catalog

__all__ = ["Catalog", "Search", "open_catalog"]
