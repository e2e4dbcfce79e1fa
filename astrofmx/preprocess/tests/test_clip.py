"""The sorted-run sigma clipping of the background mesh against astropy's own."""

import warnings

import numpy as np
import pytest
from astropy.stats import sigma_clipped_stats

from astrofmx.preprocess._clip import clipped_median_std


def _astropy(rows, sigma, maxiters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about the NaNs it clips
        _, median, std = sigma_clipped_stats(rows, axis=1, sigma=sigma, maxiters=maxiters, stdfunc="mad_std")
    return np.ma.filled(median, np.nan), np.ma.filled(std, np.nan)


def _rows(rng, kind, m, n):
    rows = rng.normal(5.0, 2.0, (m, n))
    if kind == "ties":
        rows = np.round(rows)  # integer counts: many equal values at every clipping bound
    elif kind == "sources":
        rows[:, : n // 5] += rng.exponential(50.0, (m, n // 5))  # one-sided bright tail
    elif kind == "blank":
        rows[rng.random((m, n)) < 0.3] = np.nan
        rows[0] = np.nan  # a row with no valid value
        rows[-1, 1:] = np.nan  # and one with a single value
    elif kind == "infinite":
        rows[rng.random((m, n)) < 0.05] = np.inf
        rows[rng.random((m, n)) < 0.05] = -np.inf
    return rows


@pytest.mark.parametrize("kind", ["gaussian", "ties", "sources", "blank", "infinite"])
@pytest.mark.parametrize("sigma, maxiters", [(3.0, 10), (2.0, 1), (1.0, None), (3.0, 3)])
def test_equals_astropy_sigma_clipped_stats(rng, kind, sigma, maxiters):
    """Median and std of every row equal astropy's: odd and even run lengths, ties, NaN, +-inf, tiny rows."""
    for m, n in ((7, 2304), (5, 101), (4, 2), (3, 1)):
        rows = _rows(rng, kind, m, n)
        expected = _astropy(rows, sigma, maxiters)
        got = clipped_median_std(rows, sigma=sigma, maxiters=maxiters)
        for e, g in zip(expected, got):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_float32_rows_and_inputs_left_alone(rng):
    """float32 rows (the mesh's scaled pixels) clip as their float64 values do; the input is not sorted."""
    rows = _rows(rng, "sources", 6, 2304).astype(np.float32)
    before = rows.copy()
    median, std = clipped_median_std(rows)
    np.testing.assert_array_equal(rows, before)
    expected_median, expected_std = _astropy(rows.astype(np.float64), 3.0, 10)
    np.testing.assert_allclose(median, expected_median, rtol=1e-12)
    np.testing.assert_allclose(std, expected_std, rtol=1e-6)  # float32 deviations, float64 sums
    assert median.dtype == std.dtype == np.float64


def test_bright_sources_do_not_move_the_statistics(rng):
    rows = rng.normal(10.0, 2.0, (3, 5000))
    rows[:, :100] = 1e12  # outliers 12 orders of magnitude above the noise, outside every clipped run
    median, std = clipped_median_std(rows)
    np.testing.assert_allclose(median, 10.0, atol=0.15)
    np.testing.assert_allclose(std, 2.0, rtol=0.05)


def test_bad_shape():
    with pytest.raises(ValueError, match=r"2-D.*\(2, 3, 4\)"):
        clipped_median_std(np.zeros((2, 3, 4)))
