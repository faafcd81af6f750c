"""What is specific to each product, kept out of the generic pipeline.

A product turns a STAC item into a :class:`~geofeat.scene.Scene` (deciding the
scale and offset to trust), says which assets a feature needs, and turns the DNs
read at the points into values and a validity mask.
"""

from geofeat.sources.base import Product, product_for

__all__ = ["Product", "product_for"]
