"""Sigma-clipped statistics of many rows at once, from one sort of each row.

`clipped_median_std` gives what ``astropy.stats.sigma_clipped_stats(values,
axis=1, sigma=sigma, maxiters=maxiters, stdfunc='mad_std')`` gives (the
median and standard deviation of each row after clipping at the median +-
``sigma`` MAD standard deviations), equal to it within rounding (1e-15
relative; the tests compare the two on rows with outliers, NaNs, ties and
few values).

Why not astropy's own: its C clipping copies every row and runs two
quickselects over it at every iteration, which made the background mesh of a
4096 x 4096 image 1.3 s, a sixth of `~astrofmx.detect_sources`' time there.
Once a row is sorted, each clipped set is a run of it: the median is the
middle of the run, the MAD the k-th smallest distance from it (the merge
of the two sorted runs on either side of the median, found by bisection),
and every clip is two bisections, all of them vectorized over the rows.
"""

import numpy as np

__all__ = []

#: MAD to standard deviation for a Gaussian (astropy's ``mad_std``).
_MAD_TO_STD = 1.482602218505602


def _at(x, index):
    """``x[r, index[r]]`` of every row ``r``, the indices clamped into the row."""
    return x[np.arange(len(x)), np.minimum(np.maximum(index, 0), x.shape[1] - 1)]


def _bisect(x, lo, hi, value, right):
    """Per row, the first index in ``[lo, hi)`` of the sorted ``x`` whose value is ``>= value``
    (``> value`` with ``right``), or ``hi`` where there is none."""
    a, b = lo.copy(), hi.copy()
    while True:
        todo = a < b
        if not todo.any():
            return a
        m = (a + b) // 2
        xm = _at(x, m)
        up = todo & ((xm <= value) if right else (xm < value))
        a = np.where(up, m + 1, a)
        b = np.where(todo & ~up, m, b)


def _median(x, lo, hi):
    """Median of each row's run ``x[lo:hi]`` (the mean of the two middle values of an even run)."""
    n = hi - lo
    upper = _at(x, lo + n // 2).astype(np.float64)  # averaged in float64, as astropy does
    lower = _at(x, lo + np.maximum(n - 1, 0) // 2).astype(np.float64)
    return np.where(n % 2 == 0, 0.5 * (upper + lower), upper)


def _kth_distance(x, lo, hi, centre, split, k):
    """The k-th smallest (0-based) ``|x[lo:hi] - centre|`` of each row.

    ``split`` is the first index of the run with ``x >= centre``: the distances are the merge of the run
    left of it (``centre - x[split - 1 - i]``, increasing in i) and the run from it (``x[split + j] - centre``).
    Bisection on ``i``, the number of the ``k + 1`` smallest that come from the left.
    """
    n_left, n_right = split - lo, hi - split
    a, b = np.maximum(0, k + 1 - n_right), np.minimum(k + 1, n_left)
    while True:
        todo = a < b
        if not todo.any():
            break
        i = (a + b) // 2
        left_i = centre - _at(x, split - 1 - i)  # the (i+1)-th left distance
        right_j = _at(x, split + k - i) - centre  # the (k+1-i)-th right distance
        more = todo & (left_i < right_j)
        a = np.where(more, i + 1, a)
        b = np.where(todo & ~more, i, b)
    j = k + 1 - a
    left = np.where(a > 0, centre - _at(x, split - a), -np.inf)
    right = np.where(j > 0, _at(x, split + j - 1) - centre, -np.inf)
    return np.maximum(left, right)


def _mad_std(x, lo, hi, centre):
    """MAD standard deviation of each row's run about ``centre`` (its median)."""
    n = hi - lo
    split = _bisect(x, lo, hi, centre, right=False)
    upper = _kth_distance(x, lo, hi, centre, split, n // 2)
    lower = _kth_distance(x, lo, hi, centre, split, np.maximum(n // 2 - 1, 0))
    return np.where(n % 2 == 0, 0.5 * (upper + lower), upper) * _MAD_TO_STD


def clipped_median_std(values, sigma=3.0, maxiters=10):
    """Median and standard deviation of each row after sigma clipping about the median with the MAD std.

    Parameters
    ----------
    values : array-like, shape (m, n)
        Rows of values; NaN marks a value to ignore (infinite values are
        ignored too).
    sigma : float, optional
        Clipping threshold, in MAD standard deviations, on both sides.
    maxiters : int or None, optional
        Maximum number of clipping iterations (None: until nothing changes).

    Returns
    -------
    median, std : `~numpy.ndarray`
        float64, one per row: the median and the standard deviation
        (``ddof=0``) of the values within the final clipping bounds; NaN for
        a row with no valid value.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess._clip import clipped_median_std
    >>> rows = np.random.default_rng(0).normal(10.0, 2.0, (3, 1000))
    >>> rows[:, :20] = 1e6  # bright sources
    >>> median, std = clipped_median_std(rows)
    >>> np.round(median), np.round(std)
    (array([10., 10., 10.]), array([2., 2., 2.]))
    """
    x = np.array(values, ndmin=2)
    if x.ndim != 2:
        raise ValueError(f"values must be 2-D (rows of values), got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return _clip_in_place(x, sigma, maxiters)


def _clip_in_place(x, sigma, maxiters):
    """`clipped_median_std` of the float32 or float64 array ``x``, which it sorts in place (no copy)."""
    x.sort(axis=1)  # -inf first, then the finite values, +inf and NaN last (float32 sorts twice as fast)
    m, n = x.shape
    first = _bisect(x, np.zeros(m, dtype=np.int64), np.full(m, n), -np.inf, right=True)
    end = _bisect(x, first, np.full(m, n), np.inf, right=False)  # the finite values are x[first:end]
    lo, hi = first.copy(), end.copy()
    lower, upper = np.full(m, np.nan), np.full(m, np.nan)
    todo = hi > lo
    iteration = 0
    while todo.any():
        centre = _median(x, lo, hi)
        spread = _mad_std(x, lo, hi, centre)
        lower = np.where(todo, centre - sigma * spread, lower)
        upper = np.where(todo, centre + sigma * spread, upper)
        new_lo = _bisect(x, lo, hi, lower, right=False)
        new_hi = _bisect(x, new_lo, hi, upper, right=True)
        todo &= (new_lo != lo) | (new_hi != hi)
        lo, hi = np.where(todo, new_lo, lo), np.where(todo, new_hi, hi)
        iteration += 1
        if maxiters is not None and iteration >= maxiters:
            break
    # the values within the final bounds, as astropy's mask of the whole row keeps them
    lo = _bisect(x, first, end, lower, right=False)
    hi = _bisect(x, lo, end, upper, right=True)
    return _run_median_std(x, lo, hi)


def _run_median_std(x, lo, hi):
    """Median and standard deviation (``ddof=0``) of each row's run ``x[lo:hi]`` (NaN for an empty run).

    The sums run over each run alone (`numpy.ufunc.reduceat` of the flattened rows, in float64), about the
    run's median, so values outside the run (clipped outliers) cannot cost precision; the deviations are
    held in the dtype of ``x`` (float32 deviations from the median of float32 values: ~1e-7 relative).
    """
    count = hi - lo
    full = count > 0
    median = np.where(full, _median(x, lo, hi), np.nan)
    m, n = x.shape
    flat = np.zeros(m * n + 1, dtype=x.dtype)  # one more: reduceat needs every bound below the length
    np.subtract(x, np.where(full, median, 0.0)[:, None].astype(x.dtype), out=flat[:-1].reshape(m, n))
    starts = np.arange(m) * n
    bounds = np.stack([starts + lo, starts + np.maximum(hi, lo + 1)], axis=1).ravel()
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # in the gaps between runs: inf, NaN
        s1 = np.add.reduceat(flat, bounds, dtype=np.float64)[::2]  # summed in float64
        np.multiply(flat, flat, out=flat)
        s2 = np.add.reduceat(flat, bounds, dtype=np.float64)[::2]
        mean = s1 / count
        var = np.maximum(s2 / count - mean * mean, 0.0)
    return median, np.where(full, np.sqrt(var), np.nan)


def clipped_median_std_1d(values, sigma=3.0, maxiters=10):
    """Median and standard deviation of finite values after sigma clipping about the median with the MAD std,
    as ``astropy.stats.sigma_clipped_stats(values, sigma=sigma, maxiters=maxiters, stdfunc='mad_std')`` (no axis).

    Like `clipped_median_std` (one sort, each clipped set a run of it) but with `numpy.searchsorted`.
    The row version's vectorized bisections cost a few numpy calls per step, which for a single row (the
    global statistics of one image, `~astrofmx.backbones.embed`'s cutouts) is 5 ms where astropy takes 1.6;
    here each clip is two binary searches in C and each MAD is selected from the sorted run
    (`_sorted_abs_median`). Without an axis, astropy keeps the values of the last iteration (nested clips),
    not the final bounds applied to all.

    Parameters
    ----------
    values : `~numpy.ndarray`
        1-D float32 or float64 finite values (sorted in place, not copied).
    sigma, maxiters
        As `clipped_median_std`.

    Returns
    -------
    median, std : float
        NaN for no values.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess._clip import clipped_median_std_1d
    >>> x = np.random.default_rng(0).normal(10.0, 2.0, 1000)
    >>> x[:20] = 1e6
    >>> [round(v) for v in clipped_median_std_1d(x)]
    [10, 2]
    """
    x = values
    x.sort()
    if x.size == 0:
        return float("nan"), float("nan")
    lo, hi, lower, upper, iteration = 0, x.size, -np.inf, np.inf, 0
    while hi > lo:
        run = x[lo:hi]
        centre = _sorted_median(run)
        spread = _sorted_abs_median(run, centre) * _MAD_TO_STD
        lower, upper = centre - sigma * spread, centre + sigma * spread
        new_lo = lo + int(np.searchsorted(run, lower, side="left"))
        new_hi = lo + int(np.searchsorted(run, upper, side="right"))
        iteration += 1
        unchanged = (new_lo, new_hi) == (lo, hi)
        lo, hi = new_lo, new_hi
        if unchanged or (maxiters is not None and iteration >= maxiters):
            break
    # the values the iterations kept, nested (astropy without an axis; along an axis it masks the whole row
    # with the final bounds, as `clipped_median_std` does: the two differ where the bounds widen again)
    if hi <= lo:
        return float("nan"), float("nan")
    run = x[lo:hi]
    median = float(_sorted_median(run))
    d = run.astype(np.float64) - median  # about the median (precision), then the spread about the mean
    return median, float(np.sqrt(max(float(np.mean(d * d)) - float(np.mean(d)) ** 2, 0.0)))


def _sorted_abs_median(run, centre):
    """``numpy.median(numpy.abs(run - centre))`` of a sorted 1-D array, the same value and type, by selection.

    The distances left of the centre, ``centre - run[i]``, and right of it, ``run[i] - centre``, are two
    sorted sequences (IEEE subtraction is antisymmetric, so these are exactly ``abs(run - centre)``); their
    middle order statistics take two binary searches of ~12 scalar steps each, where numpy's median builds
    the distances and partitions them (28 us instead of 68 us for 4096 values; the clipping loop does this
    once per iteration for each cutout `~astrofmx.backbones.embed` normalizes).
    """
    n = run.size
    m = int(np.searchsorted(run, centre, side="left"))
    k = n // 2
    if n % 2:
        return _kth_distance_1d(run, centre, m, k)
    middle = [_kth_distance_1d(run, centre, m, k - 1), _kth_distance_1d(run, centre, m, k)]
    return np.array(middle, dtype=run.dtype).mean()  # numpy's mean of the two middles, in the run's dtype


def _kth_distance_1d(run, centre, m, k):
    """The k-th smallest (0-based) of ``abs(run - centre)``, for a sorted run with ``run[:m] < centre``.

    The bisection of `_kth_distance` on one run, in scalars: the row version's numpy calls on whole arrays
    at every step cost more than the search itself for a single run.
    """
    n = run.size
    lo, hi = max(0, k + 1 - (n - m)), min(k + 1, m)
    while lo < hi:  # i distances taken from the left of the centre, k + 1 - i from the right
        i = (lo + hi) // 2
        j = k + 1 - i
        if j > 0 and centre - run[m - 1 - i] < run[m + j - 1] - centre:
            lo = i + 1
        else:
            hi = i
    j = k + 1 - lo
    left = centre - run[m - lo] if lo > 0 else None
    right = run[m + j - 1] - centre if j > 0 else None
    return left if right is None else right if left is None else max(left, right)


def _sorted_median(run):
    """`numpy.median` of a sorted 1-D array, by index (the mean of the two middles in its dtype, as numpy)."""
    k = run.size // 2
    return run[k] if run.size % 2 else run[k - 1:k + 1].mean()
