"""MODIS LST quality control (QC) bit fields, decoded into named quality rules.

The ``QC_Day`` and ``QC_Night`` layers of the MOD11 family (MOD11A1, MOD11A2,
MOD11B2 and their Aqua MYD twins) pack four 2-bit fields into one uint8:

====  ====================  ================================================
bits  field                 values
====  ====================  ================================================
0-1   ``mandatory``         0 produced, good quality; 1 produced, other
                            quality; 2 not produced (cloud); 3 not produced
                            (other reasons)
2-3   ``data_quality``      0 good; 1 other quality; 2, 3 TBD
4-5   ``emissivity_error``  0 <= 0.01; 1 <= 0.02; 2 <= 0.04; 3 > 0.04
6-7   ``lst_error``         0 <= 1 K; 1 <= 2 K; 2 <= 3 K; 3 > 3 K
====  ====================  ================================================

QC 0 therefore means "LST produced, good quality": it is a value, never
no-data, even where a file declares nodata 0 for its QC band (AppEEARS exports
and GDAL conversions of the HDF4 files do).

A quality rule allows, per field, a set of values; a pixel passes when every
field it constrains holds an allowed value. Named presets:

- ``good``: ``mandatory`` 0.
- ``produced``: ``mandatory`` 0 or 1 (any LST that was produced).
- ``error_le_1k``: produced, and ``lst_error`` 0 (average LST error <= 1 K).
- ``error_le_2k``: produced, and ``lst_error`` 0 or 1 (<= 2 K).
- ``none``: no QC is read; only the band's own valid range and fill apply.

A rule of one's own is a mapping of field name to allowed values, e.g.
``{mandatory: [0, 1], lst_error: [0], emissivity_error: [0, 1]}``.

Other MODIS LST products lay their QC out differently (MOD21's QC is 16-bit
with other fields), so a layout is chosen per product (:data:`LAYOUTS`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from geofeat.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QcLayout:
    """Where each QC field sits in the QC word of one product family."""

    name: str
    fields: tuple[tuple[str, int, int], ...]
    """``(field, first bit, number of bits)`` for each field."""

    def field_names(self) -> tuple[str, ...]:
        return tuple(f for f, _, _ in self.fields)

    def decode(self, qc: np.ndarray) -> dict[str, np.ndarray]:
        """Each field's value (int64) at every pixel of ``qc``.

        ``qc`` must hold whole numbers; NaN (no QC at the pixel) is an error
        of the caller, who masks those pixels first.
        """
        word = np.asarray(qc).astype("int64")
        return {
            name: (word >> shift) & ((1 << bits) - 1)
            for name, shift, bits in self.fields
        }


#: The four 2-bit fields of MOD11A1/MOD11A2/MOD11B2 (and MYD) ``QC_Day``/``QC_Night``.
MOD11_LAYOUT = QcLayout(
    name="MOD11",
    fields=(
        ("mandatory", 0, 2),
        ("data_quality", 2, 2),
        ("emissivity_error", 4, 2),
        ("lst_error", 6, 2),
    ),
)

#: Product short name -> QC layout.
LAYOUTS: dict[str, QcLayout] = {
    "MOD11A1": MOD11_LAYOUT,
    "MYD11A1": MOD11_LAYOUT,
    "MOD11A2": MOD11_LAYOUT,
    "MYD11A2": MOD11_LAYOUT,
    "MOD11B2": MOD11_LAYOUT,
    "MYD11B2": MOD11_LAYOUT,
    "MOD11": MOD11_LAYOUT,  # an item naming only its family and platform
    "MYD11": MOD11_LAYOUT,
}

#: Named quality rules: allowed values per field (fields left out are free).
PRESETS: dict[str, dict[str, frozenset[int]]] = {
    "good": {"mandatory": frozenset({0})},
    "produced": {"mandatory": frozenset({0, 1})},
    "error_le_1k": {"mandatory": frozenset({0, 1}), "lst_error": frozenset({0})},
    "error_le_2k": {"mandatory": frozenset({0, 1}), "lst_error": frozenset({0, 1})},
}

#: The preset used when a feature names none.
DEFAULT_QUALITY = "good"
#: The name that switches QC off.
NO_QC = "none"


def quality_rule(
    quality: str | Mapping[str, object] | None, layout: QcLayout = MOD11_LAYOUT
) -> dict[str, frozenset[int]] | None:
    """The rule a feature's ``quality`` names, checked against ``layout``.

    Returns None for ``quality: none`` (no QC read).

    Raises
    ------
    ConfigError
        Unknown preset, unknown field, or a value outside the field's bits.
    """
    if quality is None:
        quality = DEFAULT_QUALITY
    if isinstance(quality, str):
        if quality == NO_QC:
            return None
        if quality not in PRESETS:
            raise ConfigError(
                f"quality {quality!r} is not a MODIS QC preset; use one of "
                f"{sorted(PRESETS) + [NO_QC]}, or a mapping of field to allowed "
                f"values over the fields {list(layout.field_names())}"
            )
        return PRESETS[quality]
    widths = {name: bits for name, _, bits in layout.fields}
    rule = {}
    for name, allowed in quality.items():
        if name not in widths:
            raise ConfigError(
                f"quality field {name!r} is not a {layout.name} QC field; "
                f"the fields are {list(widths)}"
            )
        values = [allowed] if isinstance(allowed, int) else list(allowed)
        top = (1 << widths[name]) - 1
        bad = [v for v in values if not isinstance(v, int) or not 0 <= v <= top]
        if bad or not values:
            raise ConfigError(
                f"quality field {name!r} allows {values!r}; give a list of whole "
                f"numbers from 0 to {top}"
            )
        rule[name] = frozenset(values)
    return rule


def passes(
    qc: np.ndarray, rule: Mapping[str, frozenset[int]], layout: QcLayout = MOD11_LAYOUT
) -> np.ndarray:
    """Whether each pixel's QC word satisfies ``rule`` (NaN QC never passes)."""
    qc = np.asarray(qc, dtype="float64")
    known = np.isfinite(qc)
    fields = layout.decode(np.where(known, qc, 0))
    ok = known.copy()
    for name, allowed in rule.items():
        ok &= np.isin(fields[name], sorted(allowed))
    return ok
