"""Anomaly scores of embeddings and the active-learning re-ranking from the user's feedback."""

import logging

import numpy as np

from . import _store

__all__ = ["anomaly_scores"]

logger = logging.getLogger(__name__)

METHODS = ("iforest", "lof", "knn")
_FIT_SAMPLE = 100000


def _reduced(vectors, n_components, seed):
    """The vectors on their first ``n_components`` principal components, whitened (unchanged if not larger)."""
    from sklearn.decomposition import PCA

    n, dim = vectors.shape
    if dim <= n_components or n <= n_components:
        return np.asarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    fit = np.asarray(vectors[np.sort(rng.choice(n, min(n, _FIT_SAMPLE), replace=False))], dtype=np.float32)
    pca = PCA(n_components=n_components, whiten=True, random_state=seed).fit(fit)
    return np.concatenate([pca.transform(np.asarray(vectors[s:s + 65536], dtype=np.float32))
                           for s in range(0, n, 65536)]).astype(np.float32)


def anomaly_scores(vectors, method="iforest", *, n_components=16, seed=0, n_neighbors=20):
    """An anomaly score per vector (larger = stranger).

    The vectors are first projected on their ``n_components`` leading
    principal components and whitened (each component scaled to unit
    variance), so that a source stands out by an unusual combination of
    features rather than by the few directions where the embeddings vary
    most (brightness, mostly).

    Parameters
    ----------
    vectors : array-like
        ``(N, D)`` vectors (e.g. `SourceIndex.vectors`).
    method : {'iforest', 'lof', 'knn'}, optional
        ``'iforest'``: scikit-learn's `~sklearn.ensemble.IsolationForest`
        (minus its ``score_samples``); ``'lof'``:
        `~sklearn.neighbors.LocalOutlierFactor` (minus
        ``negative_outlier_factor_``); ``'knn'``: the mean distance to the
        ``n_neighbors`` nearest other vectors.
    n_components : int, optional
        Principal components kept (no projection when ``D`` is not larger).
    seed : int, optional
        Random state of IsolationForest and of the PCA sample.
    n_neighbors : int, optional
        Neighbours of LOF and kNN.

    Returns
    -------
    scores : `numpy.ndarray`
        ``(N,)`` float64.

    Raises
    ------
    ValueError
        Unknown method, or fewer than two vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.search import anomaly_scores
    >>> rng = np.random.default_rng(0)
    >>> vectors = np.vstack([rng.normal([1, 0, 0], 0.05, (50, 3)), [[0.0, 0.0, 1.0]]])
    >>> [int(np.argmax(anomaly_scores(vectors, m, n_neighbors=5))) for m in ("iforest", "lof", "knn")]
    [50, 50, 50]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = len(vectors)
    if n < 2:
        raise ValueError(f"anomaly scores need at least 2 sources, got {n}")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    k = int(min(n_neighbors, n - 1))
    x = _reduced(vectors, int(n_components), seed)
    if method == "knn":
        from sklearn.neighbors import NearestNeighbors

        dist, rows = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
        own = rows == np.arange(n)[:, None]
        # each point is its own nearest neighbour, except among exact duplicates: drop one column per row
        drop = np.where(own.any(axis=1), np.argmax(own, axis=1), k)
        keep = np.ones_like(own)
        keep[np.arange(n), drop] = False
        return dist[keep].reshape(n, k).mean(axis=1).astype(np.float64)
    if method == "iforest":
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=200, random_state=seed,
                                 max_samples=min(n, 256)).fit(x[:_FIT_SAMPLE] if n > _FIT_SAMPLE else x)
        return -forest.score_samples(x).astype(np.float64)
    from sklearn.neighbors import LocalOutlierFactor

    lof = LocalOutlierFactor(n_neighbors=k).fit(x)
    return -lof.negative_outlier_factor_.astype(np.float64)


def _rank01(values):
    """Ranks scaled to 0 (lowest) - 1 (highest)."""
    order = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return order / max(len(values) - 1, 1)


def read_labels(index):
    from astropy.table import QTable

    file = index.path / _store.LABELS
    if not file.exists():
        return QTable({"row": np.zeros(0, np.int64), "label": np.zeros(0, np.int64)})
    return QTable.read(file, format="ascii.ecsv")


def add_feedback(index, rows, labels):
    """Record labels for rows (replacing older labels of the same rows); returns all labels."""
    from astropy.table import QTable

    from ..utils import atomic_write

    rows = [index._check_row(r) for r in np.atleast_1d(np.asarray(rows, dtype=object)).tolist()]
    labels = np.atleast_1d(np.asarray(labels, dtype=object)).tolist()
    if len(labels) != len(rows):
        raise ValueError(f"give one label per row: {len(rows)} rows, {len(labels)} labels")
    bad = [v for v in labels if v not in (0, 1, True, False)]
    if bad:
        raise ValueError(f"labels must be 1/True (interesting) or 0/False (not interesting), got {bad[:5]}")
    old = read_labels(index)
    merged = {int(r): int(v) for r, v in zip(old["row"], old["label"])}
    merged.update({r: int(v) for r, v in zip(rows, labels)})
    table = QTable({"row": np.array(list(merged), np.int64), "label": np.array(list(merged.values()), np.int64)})
    with atomic_write(index.path / _store.LABELS, overwrite=True) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return table


def _relevance(vectors, labels):
    """Predicted interest of every source from the labelled ones (0-1)."""
    rows, y = np.asarray(labels["row"]), np.asarray(labels["label"])
    x = np.asarray(vectors[np.sort(rows)], dtype=np.float32)
    y = y[np.argsort(rows)]
    if len(np.unique(y)) == 2:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(x, y)
        return np.concatenate([model.predict_proba(np.asarray(vectors[s:s + 65536]))[:, 1]
                               for s in range(0, len(vectors), 65536)])
    # one class only: similarity to the nearest labelled source, towards 1 if they were interesting
    sim = np.concatenate([np.max(np.asarray(vectors[s:s + 65536]) @ x.T, axis=1)
                          for s in range(0, len(vectors), 65536)])
    closeness = (sim + 1) / 2
    return closeness if y[0] == 1 else 1 - closeness


def rank_outliers(index, *, n, method, seed, n_neighbors, n_components, feedback_weight, max_masked):
    if len(index) == 0:
        raise ValueError(f"the index {str(index.path)!r} is empty: add sources with index.add(inputs) first")
    if not 0 <= feedback_weight <= 1:
        raise ValueError(f"feedback_weight must lie in [0, 1], got {feedback_weight!r}")
    masked = np.asarray(index._sources["masked_fraction"]) if "masked_fraction" in index._sources.colnames \
        else np.zeros(len(index))
    eligible = np.flatnonzero(masked <= max_masked)
    if len(eligible) < 2:
        raise ValueError(f"only {len(eligible)} of the {len(index)} sources have at most {max_masked:.0%} of their "
                         "cutout masked (off the image edge or blank): raise max_masked to rank the others")
    vectors = index.vectors if len(eligible) == len(index) else index.vectors[eligible]
    scores = anomaly_scores(vectors, method, n_components=n_components, seed=seed, n_neighbors=n_neighbors)
    anomaly = _rank01(scores)
    labels = read_labels(index)
    label = np.full(len(index), -1, np.int64)
    label[np.asarray(labels["row"], dtype=np.int64)] = labels["label"]
    label = label[eligible]
    if len(labels):
        relevance = _relevance(index.vectors, labels)[eligible]
        score = (1 - feedback_weight) * anomaly + feedback_weight * _rank01(relevance)
    else:
        relevance, score = np.full(len(eligible), np.nan), anomaly
    top = np.argsort(-score, kind="stable")[:n]
    table = index._table(eligible[top], {"rank": np.arange(1, len(top) + 1), "score": score[top],
                                         "anomaly": anomaly[top], "anomaly_score": scores[top],
                                         "relevance": relevance[top], "label": label[top]})
    table.meta.update(method=method, n_labels=len(labels), feedback_weight=feedback_weight,
                      n_ranked=len(eligible), n_masked_out=len(index) - len(eligible))
    return table
