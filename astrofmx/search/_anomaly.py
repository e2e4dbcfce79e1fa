"""Anomaly scores of embeddings and the active-learning re-ranking from the user's feedback."""

import logging

import numpy as np

from . import _store

__all__ = ["anomaly_scores"]

logger = logging.getLogger(__name__)

METHODS = ("iforest", "lof", "knn")
#: vectors are reduced to this many principal components before IsolationForest / LOF
_PCA_DIM = 32
_FIT_SAMPLE = 100000


def _reduced(vectors, seed):
    from sklearn.decomposition import PCA

    n, dim = vectors.shape
    if dim <= _PCA_DIM or n <= _PCA_DIM:
        return np.asarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    fit = np.asarray(vectors[np.sort(rng.choice(n, min(n, _FIT_SAMPLE), replace=False))], dtype=np.float32)
    pca = PCA(n_components=_PCA_DIM, random_state=seed).fit(fit)
    return np.concatenate([pca.transform(np.asarray(vectors[s:s + 65536], dtype=np.float32))
                           for s in range(0, n, 65536)]).astype(np.float32)


def anomaly_scores(vectors, method="iforest", *, seed=0, n_neighbors=20, search=None):
    """An anomaly score per vector (larger = stranger).

    Parameters
    ----------
    vectors : array-like
        ``(N, D)`` unit vectors (e.g. `SourceIndex.vectors`).
    method : {'iforest', 'lof', 'knn'}, optional
        ``'iforest'``: scikit-learn's `~sklearn.ensemble.IsolationForest`
        (minus its ``score_samples``); ``'lof'``:
        `~sklearn.neighbors.LocalOutlierFactor` (minus
        ``negative_outlier_factor_``); both on the first 32 principal
        components of the vectors. ``'knn'``: the mean cosine distance to the
        ``n_neighbors`` nearest other vectors.
    seed : int, optional
        Random state of IsolationForest and of the PCA sample.
    n_neighbors : int, optional
        Neighbours of LOF and kNN.
    search : callable, optional
        ``search(queries, k) -> (distances, rows)`` used by ``'knn'``
        (`SourceIndex.search`, approximate on large indexes); default exact.

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
    >>> vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    >>> [int(np.argmax(anomaly_scores(vectors, m, n_neighbors=5))) for m in ("iforest", "lof", "knn")]
    [50, 50, 50]
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = len(vectors)
    if n < 2:
        raise ValueError(f"anomaly scores need at least 2 sources, the index has {n}")
    k = int(min(n_neighbors, n - 1))
    if method == "knn":
        if search is None:
            from ._vectors import exact_search as _exact

            def search(q, kk):
                return _exact(vectors, q, kk)

        scores = np.empty(n)
        for start in range(0, n, 4096):
            q = np.asarray(vectors[start:start + 4096], dtype=np.float32)
            dist, rows = search(q, k + 1)
            own = rows == np.arange(start, start + len(q))[:, None]
            dist = np.where(own, np.nan, dist)
            scores[start:start + len(q)] = np.nanmean(np.maximum(dist, 0)[:, :k + 1], axis=1)
        return scores
    x = _reduced(vectors, seed)
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


def rank_outliers(index, *, n, method, seed, n_neighbors, feedback_weight):
    if len(index) == 0:
        raise ValueError(f"the index {str(index.path)!r} is empty: add sources with index.add(inputs) first")
    if not 0 <= feedback_weight <= 1:
        raise ValueError(f"feedback_weight must lie in [0, 1], got {feedback_weight!r}")
    scores = anomaly_scores(index.vectors, method, seed=seed, n_neighbors=n_neighbors,
                            search=lambda q, k: index.search(q, k))
    anomaly = _rank01(scores)
    labels = read_labels(index)
    label = np.full(len(index), -1, np.int64)
    label[np.asarray(labels["row"], dtype=np.int64)] = labels["label"]
    if len(labels):
        relevance = _relevance(index.vectors, labels)
        score = (1 - feedback_weight) * anomaly + feedback_weight * _rank01(relevance)
    else:
        relevance, score = np.full(len(index), np.nan), anomaly
    top = np.argsort(-score, kind="stable")[:n]
    table = index._table(top, {"rank": np.arange(1, len(top) + 1), "score": score[top], "anomaly": anomaly[top],
                               "anomaly_score": scores[top], "relevance": relevance[top], "label": label[top]})
    table.meta.update(method=method, n_labels=len(labels), feedback_weight=feedback_weight)
    return table
