"""The product interface and the lookup from collection id to product."""

from __future__ import annotations

import fnmatch
from typing import Protocol

import numpy as np
import pandas as pd
import pystac

from geofeat.errors import AvailabilityError, ConfigError
from geofeat.scene import Scene
from geofeat.spec import SceneFeature


class Product(Protocol):
    """The rules of one product (Sentinel-2 L2A, MODIS LST, ...)."""

    name: str
    collections: tuple[str, ...]
    """Collection ids (glob patterns) this product reads."""

    def scene(self, item: pystac.Item) -> Scene:
        """The item as a scene, with the radiometry to apply to each asset."""
        ...

    def assets(self, feature: SceneFeature) -> tuple[str, ...]:
        """Keys of the scene assets to read for this feature, masks included."""
        ...

    def evaluate(
        self, feature: SceneFeature, scene: Scene, dns: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Feature values (float64) and validity (bool) from the DNs read."""
        ...


def _registry() -> list[Product]:
    from geofeat.sources.modis import MODIS_LST
    from geofeat.sources.sentinel2 import SENTINEL2_L2A

    return [SENTINEL2_L2A, MODIS_LST]


def validate_feature(product: Product, feature: SceneFeature) -> None:
    """Check a feature against its product before any search or read.

    Calls the product's optional ``validate(feature)``, and refuses a
    ``platform`` for products that cannot select scenes by platform.

    Raises
    ------
    ConfigError
        The feature asks for something the product cannot give.
    """
    if feature.platform is not None and not hasattr(product, "select_scenes"):
        raise ConfigError(
            f"feature {feature.name!r}: 'platform' is not supported for "
            f"{feature.collection!r} ({product.name}); remove it"
        )
    if hasattr(product, "validate"):
        product.validate(feature)


def before_availability(
    product: Product, feature: SceneFeature, end: pd.DatetimeIndex
) -> tuple[np.ndarray, str]:
    """Which points' windows (ending at ``end``, excluded) end before any data.

    Uses the product's optional ``available_from(feature)``; products
    without it have no such limit. Returns the mask and the reason to report.

    Raises
    ------
    AvailabilityError
        Every point's window ends before the collection has data.
    """
    first = getattr(product, "available_from", lambda feature: None)(feature)
    end = pd.DatetimeIndex(end)
    if first is None:
        return np.zeros(len(end), bool), ""
    early = np.asarray(end <= first)
    source = feature.collection + (f" ({feature.platform})" if feature.platform else "")
    reason = f"window ends before {source} has data (from {first.date()})"
    if early.size and early.all():
        raise AvailabilityError(
            f"feature {feature.name!r}: every point's window ends before "
            f"{source} has data (from {first.date()}; the latest window "
            f"ends {end.max().date()}); move the points' dates or the window, or use "
            "another collection",
            collection=feature.collection,
            available_from=first,
        )
    return early, reason


def product_for(collection: str) -> Product:
    """The product that reads ``collection``.

    Raises
    ------
    ConfigError
        No product knows the collection.
    """
    products = _registry()
    for product in products:
        if any(fnmatch.fnmatch(collection, p) for p in product.collections):
            return product
    known = sorted(p for product in products for p in product.collections)
    raise ConfigError(
        f"collection {collection!r} is not a product geofeat knows how to read; "
        f"known collections: {known}"
    )
