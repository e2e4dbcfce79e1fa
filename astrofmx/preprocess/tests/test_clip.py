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


def test_one_row_equals_astropy_without_an_axis():
    """`clipped_median_std_1d` (the global statistics of an image) against astropy with no axis, whose clips
    nest (the values of the last iteration; with an axis the final bounds mask the whole row): rows with
    outliers, integer ties, constant rows and 1-3000 values, float32 and float64, four maxiters."""
    from astrofmx.preprocess._clip import clipped_median_std_1d

    rng = np.random.default_rng(1)
    for t in range(300):
        n = int(rng.integers(1, 3000))
        v = rng.normal(0, 1, n)
        if t % 3 == 0:
            v = np.round(v * 3)  # ties, where nested and whole-row clipping differ
        if t % 5 == 0:
            v[: n // 10] += rng.uniform(10, 1e4, n // 10)
        if t % 7 == 0:
            v[:] = 4.0
        v = v.astype(np.float64 if t % 2 else np.float32)
        sigma, maxiters = [2.0, 3.0, 5.0][t % 3], [1, 3, 10, None][t % 4]
        _, median, std = sigma_clipped_stats(v, sigma=sigma, maxiters=maxiters, stdfunc="mad_std")
        got = clipped_median_std_1d(v.copy(), sigma, maxiters)
        np.testing.assert_allclose(got, (median, std), rtol=1e-5 if v.dtype == np.float32 else 1e-12, atol=1e-12)
    assert all(np.isnan(clipped_median_std_1d(np.zeros(0))))


def test_median_distance_by_selection_is_numpys():
    """The clipping loop's MAD, selected from the sorted values, is bit for bit (value and type) numpy's
    ``median(abs(run - centre))``: float32 and float64, ties, odd and even counts, off-centre centres."""
    from astrofmx.preprocess._clip import _sorted_abs_median

    rng = np.random.default_rng(2)
    for t in range(3000):
        n = int(rng.integers(1, 80))
        dtype = np.float32 if t % 2 else np.float64
        run = np.sort((rng.integers(-5, 6, n) if t % 3 == 0 else rng.normal(size=n)).astype(dtype))
        k = n // 2
        centre = run[k] if n % 2 else run[k - 1:k + 1].mean()
        if t % 5 == 0:
            centre = run[rng.integers(0, n)]
        ref = np.median(np.abs(run - centre))
        got = _sorted_abs_median(run, centre)
        assert got == ref and type(got) is type(ref), (run, centre, got, ref)
