"""MODIS LST QC words decode into their four 2-bit fields, and rules select pixels."""

import numpy as np
import pytest

from geofeat.errors import ConfigError
from geofeat.sources.modis_qc import MOD11_LAYOUT, PRESETS, passes, quality_rule

#: QC word -> (mandatory, data_quality, emissivity_error, lst_error), decoded by
#: hand from the binary: bits 0-1, 2-3, 4-5, 6-7. These are the values found in
#: the real MOD11A1 h14v09 QC_Day/QC_Night layers.
BY_HAND = {
    0: (0, 0, 0, 0),  # 0b00_00_00_00
    2: (2, 0, 0, 0),  # 0b00_00_00_10: not produced, cloud
    3: (3, 0, 0, 0),  # 0b00_00_00_11: not produced, other
    17: (1, 0, 1, 0),  # 0b00_01_00_01
    65: (1, 0, 0, 1),  # 0b01_00_00_01
    81: (1, 0, 1, 1),  # 0b01_01_00_01
    129: (1, 0, 0, 2),  # 0b10_00_00_01
    145: (1, 0, 1, 2),  # 0b10_01_00_01
    255: (3, 3, 3, 3),
}
WORDS = np.array(sorted(BY_HAND), dtype="float64")


def test_fields_match_hand_decoding() -> None:
    """Each field of each real QC word equals the hand decoding of its bits."""
    fields = MOD11_LAYOUT.decode(WORDS)
    for i, word in enumerate(WORDS):
        got = tuple(int(fields[name][i]) for name in MOD11_LAYOUT.field_names())
        assert got == BY_HAND[int(word)], word


@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        ("good", {0}),
        ("produced", {0, 17, 65, 81, 129, 145}),
        ("error_le_1k", {0, 17}),
        ("error_le_2k", {0, 17, 65, 81}),
        ({"mandatory": [0, 1], "emissivity_error": [0]}, {0, 65, 129}),
        ({"lst_error": [3]}, {255}),
    ],
)
def test_rules_select_the_hand_decoded_words(quality, expected) -> None:
    """Presets and own rules pass exactly the words whose fields are allowed."""
    ok = passes(WORDS, quality_rule(quality))
    assert set(WORDS[ok].astype(int)) == expected


def test_qc_zero_is_good_and_nan_never_passes() -> None:
    """QC 0 passes every preset (it means good); a missing QC (NaN) passes none."""
    for name in PRESETS:
        assert passes(np.array([0.0, np.nan]), quality_rule(name)).tolist() == [
            True,
            False,
        ]


def test_default_and_none() -> None:
    """No quality means ``good``; ``none`` means no QC is read."""
    assert quality_rule(None) == PRESETS["good"]
    assert quality_rule("none") is None


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ("best", "not a MODIS QC preset"),
        ({"cloud": [0]}, "not a MOD11 QC field"),
        ({"lst_error": [4]}, "from 0 to 3"),
        ({"lst_error": []}, "from 0 to 3"),
    ],
)
def test_bad_rules_say_what_to_write(quality, message) -> None:
    with pytest.raises(ConfigError, match=message):
        quality_rule(quality)
