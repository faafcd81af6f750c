"""The rolling-window kernel: numba equals the NumPy reference, and window maths."""

from __future__ import annotations

import numpy as np
import pytest
from geofeat.kernels.rolling import REDUCERS, window_stats, window_stats_reference

from geofeat.errors import KernelError


def _random_case(seed: int, n_pixels: int = 7, n_days: int = 400, n_points: int = 60):
    rng = np.random.default_rng(seed)
    series = rng.gamma(0.6, 8.0, (n_pixels, n_days))
    series[rng.random(series.shape) < 0.05] = np.nan
    series[3] = np.nan  # a pixel without any data (sea)
    pixel = rng.integers(0, n_pixels, n_points)
    end = rng.integers(-50, n_days + 50, n_points)
    return series, pixel, end


@pytest.mark.parametrize("reducer", sorted(REDUCERS))
@pytest.mark.parametrize("parallel", [False, True])
def test_numba_equals_reference(reducer: str, parallel: bool) -> None:
    """Every reducer, serial and parallel, agrees with the direct slices."""
    series, pixel, end = _random_case(1)
    got, got_valid = window_stats(series, pixel, end, 30, 4, reducer, 2.5, parallel)
    want, want_valid = window_stats_reference(series, pixel, end, 30, 4, reducer, 2.5)
    np.testing.assert_array_equal(got_valid, want_valid)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9, equal_nan=True)
    assert np.isnan(got[pixel == 3]).all()


def test_windows_tile_the_span() -> None:
    """The sum over t0..t3 equals the sum over the 120 days before the end."""
    series, pixel, end = _random_case(2)
    series = np.nan_to_num(series)
    end = np.clip(end, 120, series.shape[1])
    four, valid = window_stats(series, pixel, end, 30, 4)
    whole, _ = window_stats(series, pixel, end, 120, 1)
    np.testing.assert_allclose(four.sum(axis=1), whole[:, 0], rtol=1e-12)
    assert (valid == 30).all()
    by_hand = [series[p, e - 120 : e].sum() for p, e in zip(pixel, end, strict=True)]
    np.testing.assert_allclose(whole[:, 0], by_hand, rtol=1e-12)


def test_window_edges_by_hand() -> None:
    """Window k covers [end - (k+1) size, end - k size): checked on a ramp."""
    series = np.arange(10, dtype=float)[None, :]  # day d has value d
    values, valid = window_stats(series, np.array([0]), np.array([9]), 3, 4)
    # t0 = days 6,7,8; t1 = 3,4,5; t2 = 0,1,2; t3 = days -3..-1 (no data)
    np.testing.assert_array_equal(values[0, :3], [21, 12, 3])
    assert np.isnan(values[0, 3])
    np.testing.assert_array_equal(valid[0], [3, 3, 3, 0])
    mx, _ = window_stats(series, np.array([0]), np.array([9]), 3, 3, "max")
    np.testing.assert_array_equal(mx[0], [8, 5, 2])
    wet, _ = window_stats(
        series, np.array([0]), np.array([9]), 3, 3, "count_wet_days", 4
    )
    np.testing.assert_array_equal(wet[0], [3, 2, 0])


def test_end_past_the_series_counts_missing_days() -> None:
    """Days past the series are missing, not zero: coverage drops with the sum."""
    series = np.ones((1, 5))
    values, valid = window_stats(series, np.array([0]), np.array([7]), 4, 1)
    assert valid[0, 0] == 2 and values[0, 0] == 2.0


def test_bad_input_raises() -> None:
    """Out-of-range pixels and empty windows are refused with a KernelError."""
    with pytest.raises(KernelError, match="pixel indices"):
        window_stats(np.ones((2, 5)), np.array([2]), np.array([3]), 2, 1)
    with pytest.raises(KernelError, match="size and count"):
        window_stats(np.ones((2, 5)), np.array([1]), np.array([3]), 0, 1)
