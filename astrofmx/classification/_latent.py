"""Two-dimensional views of a backbone's latent space (the paper's Figure 2).

Features are reduced to 10 principal components and then embedded in two
dimensions with UMAP; the plot colours points by class, with a balanced
random sample of each class so that a dominant class does not hide the others.
"""

import logging
import numbers
import warnings

import numpy as np

from ..utils import check_overwrite
from ._checks import _check_features

__all__ = ["embed_umap", "balanced_sample", "plot_latent"]

logger = logging.getLogger(__name__)


def embed_umap(features, *, n_pca=10, n_neighbors=15, min_dist=0.1, metric="euclidean", standardize=False,
               seed=0):
    """Project features to 2-D: PCA to ``n_pca`` components, then UMAP.

    Parameters
    ----------
    features : array-like, shape (N, D)
        Frozen features, e.g. from `astrofmx.backbones.embed`.
    n_pca : int or None, optional
        Principal components kept before UMAP (the paper: 10); capped at
        ``min(N - 1, D)``. `None` skips the PCA.
    n_neighbors : int, optional
        UMAP neighbourhood size; capped at ``N - 1``.
    min_dist : float, optional
        UMAP minimum distance between embedded points.
    metric : str, optional
        UMAP distance metric.
    standardize : bool, optional
        Scale each feature to unit variance before the PCA.
    seed : int, optional
        Seed of PCA (randomized solver) and UMAP; the same seed gives the
        same coordinates (UMAP then runs single-threaded).

    Returns
    -------
    coords : `~numpy.ndarray`, float32, shape (N, 2)

    Raises
    ------
    ValueError
        If features are not 2-D, contain NaN, or have fewer than 4 samples.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import embed_umap
    >>> X = np.random.default_rng(0).normal(size=(60, 32))
    >>> embed_umap(X, n_neighbors=10).shape
    (60, 2)
    """
    import importlib.util

    from sklearn.decomposition import PCA

    if importlib.util.find_spec("umap") is None:  # checked before any work
        raise ImportError("embed_umap needs umap-learn: pip install umap-learn, or pip install 'astrofmx[viz]'")
    X, _ = _check_features(features, input_name="features")
    n, d = X.shape
    if n < 4:
        raise ValueError(f"UMAP needs at least 4 samples, got {n}")
    if not (isinstance(n_neighbors, numbers.Integral) and n_neighbors >= 2):
        raise ValueError(f"n_neighbors must be an integer >= 2, got {n_neighbors!r}")
    X = X.astype(np.float64)
    if standardize:
        std = X.std(axis=0)
        std[std == 0] = 1.0
        X = (X - X.mean(axis=0)) / std
    if n_pca is not None:
        if not (isinstance(n_pca, numbers.Integral) and n_pca >= 2):
            raise ValueError(f"n_pca must be an integer >= 2 or None, got {n_pca!r}")
        k = min(int(n_pca), n - 1, d)
        if k < n_pca:
            logger.info("n_pca=%d capped to %d (N=%d, D=%d)", n_pca, k, n, d)
        if k < d:
            X = PCA(n_components=k, random_state=seed).fit_transform(X)
    nn_ = min(int(n_neighbors), n - 1)
    with warnings.catch_warnings():
        # umap-learn warns at import that its optional TensorFlow-based ParametricUMAP is unavailable
        warnings.filterwarnings("ignore", message=".*Tensorflow not installed.*", category=ImportWarning)
        import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=nn_, min_dist=min_dist, metric=metric, random_state=seed,
                        n_jobs=1)
    with warnings.catch_warnings():
        # umap/pynndescent emit these for small or seeded runs; they do not affect the result
        warnings.filterwarnings("ignore", message=".*n_jobs value .* overridden.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*is not an NxN matrix.*")
        warnings.filterwarnings("ignore", message=".*Graph is not fully connected.*", category=UserWarning)
        coords = reducer.fit_transform(X)
    return np.asarray(coords, dtype=np.float32)


def balanced_sample(labels, *, n_per_class=None, seed=0):
    """Indices of a class-balanced random sample.

    Parameters
    ----------
    labels : array-like, shape (N,)
    n_per_class : int, optional
        Samples drawn from each class (default: the size of the smallest
        class); classes with fewer samples contribute all of theirs.
    seed : int, optional

    Returns
    -------
    indices : `~numpy.ndarray` of int
        Sorted.

    Examples
    --------
    >>> from astrofmx.classification import balanced_sample
    >>> idx = balanced_sample([0] * 90 + [1] * 10, seed=0)
    >>> len(idx)
    20
    """
    labels = np.asarray(labels).reshape(-1)
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size == 0:
        raise ValueError("labels is empty")
    if n_per_class is None:
        n_per_class = int(counts.min())
    elif not (isinstance(n_per_class, numbers.Integral) and n_per_class >= 1):
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    rng = np.random.default_rng(seed)
    parts = [rng.permutation(np.flatnonzero(labels == c))[:n_per_class] for c in classes]
    return np.sort(np.concatenate(parts))


def plot_latent(coords, labels, *, class_names=None, balanced=True, n_per_class=None, seed=0, ax=None,
                title=None, markersize=6, alpha=0.7, filename=None, overwrite=False):
    """Scatter plot of 2-D latent coordinates coloured by class.

    Parameters
    ----------
    coords : array-like, shape (N, 2)
        Output of `embed_umap`.
    labels : array-like, shape (N,)
        Class of each point.
    class_names : dict or sequence, optional
        Legend names: a mapping label -> name, or names of the sorted classes.
    balanced : bool, optional
        Plot a balanced random sample (`balanced_sample`) instead of all
        points, so that unbalanced sets show every class fairly.
    n_per_class : int, optional
        Points per class when ``balanced`` (default the smallest class).
    seed : int, optional
        Seed of the balanced sample and of the drawing order.
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw on; a new figure (no pyplot state) otherwise.
    title : str, optional
    markersize, alpha : float, optional
        Marker size (points^2) and opacity.
    filename : str or path, optional
        Save the figure there.
    overwrite : bool, optional
        Replace an existing ``filename``.

    Returns
    -------
    ax : `matplotlib.axes.Axes`

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import plot_latent
    >>> coords = np.random.default_rng(0).normal(size=(30, 2))
    >>> ax = plot_latent(coords, [0] * 20 + [1] * 10, class_names=["smooth", "spiral"])
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['smooth', 'spiral']
    """
    coords = np.asarray(coords, dtype=float)
    labels = np.asarray(labels).reshape(-1)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (N, 2), got {coords.shape}")
    if labels.shape[0] != coords.shape[0]:
        raise ValueError(f"coords and labels must have the same length: coords has {coords.shape[0]} rows, "
                         f"labels has {labels.shape[0]}")
    classes = np.unique(labels)
    if class_names is None:
        names = {c: str(c) for c in classes}
    elif isinstance(class_names, dict):
        names = {c: str(class_names.get(c, c)) for c in classes}
    else:
        if len(class_names) != classes.size:
            raise ValueError(f"class_names must have one name per class ({classes.size}), got {len(class_names)}")
        names = dict(zip(classes, map(str, class_names)))
    idx = balanced_sample(labels, n_per_class=n_per_class, seed=seed) if balanced else np.arange(labels.size)
    # draw in random order so that no class is systematically painted over another
    idx = np.random.default_rng(seed).permutation(idx)
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5, 5), layout="constrained").add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if classes.size <= 10 else "tab20"]
    colors = {c: cmap(i % cmap.N) for i, c in enumerate(classes)}
    ax.scatter(coords[idx, 0], coords[idx, 1], c=[colors[c] for c in labels[idx]], s=markersize, alpha=alpha,
               linewidths=0)
    for c in classes:  # legend handles in class order
        ax.scatter([], [], color=colors[c], s=20, label=names[c])
    ax.legend(fontsize="small", markerscale=1.5, loc="best")
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    if filename is not None:
        check_overwrite(filename, overwrite)
        ax.figure.savefig(filename, dpi=150)
    return ax
