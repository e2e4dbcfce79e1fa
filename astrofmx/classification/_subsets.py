"""Stratified splits and nested label-fraction subsets of a labeled set."""

import numbers

import numpy as np

__all__ = ["nested_stratified_subsets", "stratified_split"]


def _check_fractions(fractions):
    try:
        fr = [float(f) for f in np.atleast_1d(fractions)]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"fractions must be numbers in (0, 1], got {fractions!r}") from exc
    if len(fr) == 0:
        raise ValueError("fractions must contain at least one value in (0, 1]")
    for f in fr:
        if not (0 < f <= 1):
            raise ValueError(f"fractions must be in (0, 1] (a fraction of the labeled training set), got {f!r}")
    return sorted(set(fr))


def stratified_split(labels, *, test_size=0.2, seed=0):
    """Split sample indices into a stratified training and test set.

    Parameters
    ----------
    labels : array-like, shape (N,)
    test_size : float, optional
        Fraction of the samples put in the test set, in (0, 1), stratified
        by class (`sklearn.model_selection.train_test_split`); every class
        keeps at least one sample on each side.
    seed : int, optional
        Seed of the split.

    Returns
    -------
    train, test : `~numpy.ndarray` of int
        Sorted indices.

    Examples
    --------
    >>> from astrofmx.classification import stratified_split
    >>> train, test = stratified_split([0] * 8 + [1] * 4, test_size=0.25)
    >>> len(train), len(test)
    (9, 3)
    """
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels).reshape(-1)
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    classes, counts = np.unique(labels, return_counts=True)
    if counts.size and counts.min() < 2:
        raise ValueError(f"class {classes[np.argmin(counts)].tolist()!r} has a single sample; it cannot be in "
                         f"both the training and test sets")
    # at least one sample of every class on each side
    n_test = min(max(int(np.ceil(test_size * labels.size)), classes.size), labels.size - classes.size)
    train, test = train_test_split(np.arange(labels.size), test_size=n_test, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def nested_stratified_subsets(labels, fractions=(0.1, 0.3, 0.5, 1.0), *, seed=0):
    """Nested, stratified subsets of a labeled set, one per label fraction.

    Each class is shuffled once with ``seed``; the subset for fraction ``f``
    takes the first ``round(f * n_c)`` samples (at least one) of every class
    ``c``. Smaller fractions are therefore contained in larger ones, and
    every subset has the class proportions of the full set.

    Parameters
    ----------
    labels : array-like, shape (N,)
        Labels of the training set.
    fractions : sequence of float, optional
        Values in (0, 1].
    seed : int, optional
        Seed of the shuffle; each seed gives a different nested family.

    Returns
    -------
    subsets : dict
        ``{fraction: sorted index array}``, ordered by increasing fraction.

    Raises
    ------
    ValueError
        If a fraction is not in (0, 1].

    Examples
    --------
    >>> from astrofmx.classification import nested_stratified_subsets
    >>> subsets = nested_stratified_subsets([0] * 10 + [1] * 20, (0.1, 0.5), seed=0)
    >>> [len(s) for s in subsets.values()]
    [3, 15]
    >>> set(subsets[0.1]) <= set(subsets[0.5])
    True
    """
    fr = _check_fractions(fractions)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("labels is empty")
    rng = np.random.default_rng(seed)
    perms = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    out = {}
    for f in fr:
        parts = [p[:max(1, int(np.floor(f * p.size + 0.5)))] for p in perms.values()]
        out[f] = np.sort(np.concatenate(parts))
    return out
