"""Spectral indices by name, from the Awesome Spectral Indices catalogue (spyndex).

Formulas come from spyndex; this module only maps its band symbols onto the
canonical band names geofeat uses for Sentinel-2 (``red``, ``nir``, ...) and
evaluates in float64, so unsigned inputs never wrap around. A denominator of
zero gives NaN.
"""

from __future__ import annotations

import difflib
import warnings
from functools import cache

import numpy as np

from geofeat.errors import ConfigError

#: spyndex band symbol -> canonical Sentinel-2 band name.
SENTINEL2_SYMBOLS = {
    "A": "coastal",
    "B": "blue",
    "G": "green",
    "R": "red",
    "RE1": "rededge1",
    "RE2": "rededge2",
    "RE3": "rededge3",
    "N": "nir",
    "N2": "nir08",
    "WV": "nir09",
    "S1": "swir16",
    "S2": "swir22",
}


#: Constants that differ from spyndex's shared defaults for one index. spyndex
#: has one ``L`` for every index, 1.0 (EVI's canopy background term); SAVI is
#: defined with L = 0.5 (Huete 1988), the value users compare against.
CONSTANT_OVERRIDES = {"SAVI": {"L": 0.5}}


@cache
def _catalogue():
    import spyndex

    return spyndex


@cache
def index_bands(name: str) -> tuple[str, ...]:
    """Canonical band names an index needs, e.g. ``("nir", "red")`` for NDVI.

    Raises
    ------
    ConfigError
        The index is unknown, or needs a band Sentinel-2 does not have.
    """
    spyndex = _catalogue()
    key = _key(name)
    bands = []
    for symbol in spyndex.indices[key].bands:
        if symbol in SENTINEL2_SYMBOLS:
            bands.append(SENTINEL2_SYMBOLS[symbol])
        elif symbol not in spyndex.constants:
            raise ConfigError(
                f"index {name!r} needs band {symbol!r}, which Sentinel-2 does not "
                "have; choose another index"
            )
    return tuple(bands)


def _key(name: str) -> str:
    spyndex = _catalogue()
    keys = {k.lower(): k for k in spyndex.indices}
    if name.lower() not in keys:
        close = difflib.get_close_matches(name.lower(), list(keys), n=5)
        raise ConfigError(
            f"unknown spectral index {name!r}; use a name from the Awesome Spectral "
            f"Indices list, e.g. ndvi, ndwi, ndmi, nbr, evi, savi (similar: {close})"
        )
    return keys[name.lower()]


def compute_index(name: str, reflectance: dict[str, np.ndarray]) -> np.ndarray:
    """Evaluate an index on reflectances keyed by canonical band name.

    Constants (``L``, ``g``, ``C1``...) take spyndex's defaults, except those
    in :data:`CONSTANT_OVERRIDES` (SAVI's L = 0.5).
    """
    spyndex = _catalogue()
    key = _key(name)
    params = {}
    for symbol in spyndex.indices[key].bands:
        if symbol in SENTINEL2_SYMBOLS:
            params[symbol] = np.asarray(
                reflectance[SENTINEL2_SYMBOLS[symbol]], "float64"
            )
        else:
            params[symbol] = CONSTANT_OVERRIDES.get(key, {}).get(
                symbol, spyndex.constants[symbol].default
            )
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        value = np.asarray(spyndex.computeIndex(key, params=params), dtype="float64")
    value[~np.isfinite(value)] = np.nan
    return value
