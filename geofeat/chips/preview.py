"""RGB previews of chips: one PNG per chip, or a contact sheet of many.

Each of the three bands is stretched on its own from its 2nd to its 98th
percentile (over the chip's valid pixels) to 0..255, so a dark scene and a
bright one are both visible; missing pixels (NaN) are black. A preview is for
looking, not for measuring: the stretch differs from chip to chip.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

#: Percentiles that map to 0 and 255.
STRETCH = (2.0, 98.0)


def stretch(band: np.ndarray, percentiles: tuple[float, float] = STRETCH) -> np.ndarray:
    """One band to uint8: ``percentiles`` of its finite values map to 0 and 255."""
    finite = np.isfinite(band)
    out = np.zeros(band.shape, dtype="uint8")
    if not finite.any():
        return out
    low, high = np.percentile(band[finite], percentiles)
    scaled = (band - low) / (high - low) if high > low else np.zeros_like(band)
    out[finite] = np.round(np.clip(scaled[finite], 0, 1) * 255).astype("uint8")
    return out


def rgb(
    chip: np.ndarray, bands: tuple[str, ...], picked: tuple[str, str, str]
) -> np.ndarray:
    """A (y, x, 3) uint8 image from a (band, y, x) chip and three band names."""
    return np.dstack([stretch(chip[bands.index(name)]) for name in picked])


def write_png(image: np.ndarray, path: Path) -> Path:
    """Write an RGB image (y, x, 3) as PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image, dtype="uint8")).save(path)
    return path


def contact_sheet(
    images: list[np.ndarray], columns: int | None = None, gap: int = 2
) -> np.ndarray:
    """Images of one size tiled in a grid, with ``gap`` white pixels between them."""
    if not images:
        raise ValueError("a contact sheet needs at least one image")
    height, width = images[0].shape[:2]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    sheet = np.full(
        (rows * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, "uint8"
    )
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        y, x = r * (height + gap), c * (width + gap)
        sheet[y : y + height, x : x + width] = image
    return sheet
