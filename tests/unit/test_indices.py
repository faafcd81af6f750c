"""Spectral indices by name: float64 always, NaN on a zero denominator."""

from __future__ import annotations

import numpy as np
import pytest

from geofeat.errors import ConfigError
from geofeat.indices import compute_index, index_bands


def test_ndvi_of_uint16_red_above_nir_is_negative() -> None:
    """uint16 (nir - red) would wrap to 64936; in float64 it is -600 / 1200."""
    red = np.array([900], "uint16")
    nir = np.array([300], "uint16")
    assert compute_index("ndvi", {"red": red, "nir": nir})[0] == pytest.approx(-0.5)


def test_zero_denominator_is_nan() -> None:
    value = compute_index(
        "NDVI", {"red": np.array([0.0, 0.1]), "nir": np.array([0.0, 0.3])}
    )
    assert np.isnan(value[0]) and value[1] == pytest.approx(0.5)


def test_common_indices_by_name() -> None:
    """Hand formulas: SAVI with L = 0.5; EVI with G 2.5, C1 6, C2 7.5, L 1."""
    r = {
        "blue": np.array([0.04]),
        "green": np.array([0.08]),
        "red": np.array([0.05]),
        "nir": np.array([0.30]),
        "swir16": np.array([0.20]),
        "swir22": np.array([0.10]),
    }
    b, g, red, n, s1, s2 = (
        r[k][0] for k in ["blue", "green", "red", "nir", "swir16", "swir22"]
    )
    expected = {
        "ndwi": (g - n) / (g + n),
        "ndmi": (n - s1) / (n + s1),
        "nbr": (n - s2) / (n + s2),
        "savi": (1 + 0.5) * (n - red) / (n + red + 0.5),
        "evi": 2.5 * (n - red) / (n + 6 * red - 7.5 * b + 1),
    }
    for name, value in expected.items():
        assert compute_index(name, r)[0] == pytest.approx(value), name


def test_bands_needed() -> None:
    assert set(index_bands("ndvi")) == {"nir", "red"}
    assert set(index_bands("NBR")) == {"nir", "swir22"}


def test_unknown_index_names_the_fix() -> None:
    with pytest.raises(ConfigError, match="unknown spectral index 'ndvvi'"):
        index_bands("ndvvi")
