"""Input checks shared by the classifiers, the study and the latent-space views.

Thin wrappers around scikit-learn's `~sklearn.utils.check_X_y` and
`~sklearn.utils.check_array` that also accept a `~astropy.units.Quantity`
and require a minimum number of classes. Private to the subpackage.
"""

import numpy as np
from sklearn.utils import check_array, check_X_y

__all__ = []


def _strip_unit(X):
    return X.value if hasattr(X, "unit") and hasattr(X, "value") else X


def _check_features(X, y=None, *, estimator=None, input_name="X", min_classes=2):
    """Validate a feature matrix (and labels) at a public boundary.

    Parameters
    ----------
    X : array-like, shape (N, D)
        Features; converted to float32.
    y : array-like, shape (N,), optional
        Class labels (any type numpy can sort).
    estimator : str or estimator, optional
        Named in scikit-learn's error messages.
    input_name : str, optional
        Name of ``X`` in error messages.
    min_classes : int, optional
        Smallest number of distinct labels accepted.

    Returns
    -------
    X : `~numpy.ndarray`, float32, shape (N, D)
    y : `~numpy.ndarray` or None

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is empty, holds NaN/inf, if ``y`` has a different
        length or holds NaN, or if ``y`` has fewer than ``min_classes`` classes.
    """
    X = _strip_unit(X)
    if y is None:
        return check_array(X, dtype=np.float32, estimator=estimator, input_name=input_name), None
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:  # a column or row vector of labels
        y = y.reshape(-1)
    X, y = check_X_y(X, y, dtype=np.float32, estimator=estimator)
    _check_n_classes(y, min_classes)
    return X, y


def _check_n_classes(y, min_classes=2):
    """Raise ValueError if ``y`` has fewer than ``min_classes`` distinct labels; return the classes."""
    classes = np.unique(y)
    if classes.size < min_classes:
        raise ValueError(f"labels must contain at least {min_classes} classes to train a classifier, "
                         f"got {classes.size}: {classes.tolist()!r}")
    return classes
