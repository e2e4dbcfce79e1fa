"""Label-fraction study: linear probes and supervised baselines at 10-100% of the labels.

This is the paper's classification experiment (Lastufka et al. 2024, Figs. 3
and 4): for every backbone (a linear probe on its frozen features) and every
supervised baseline, train on nested, stratified fractions of the labeled
training set, repeat over seeds, and report the macro F1 score, the per-class
F1 scores and the accuracy on one fixed test set.
"""

import logging
import time

import numpy as np
from astropy.table import QTable

from ..utils import get_meta
from ..utils import progress_bar as _progress_bar
from ._checks import _check_features
from ._probe import LinearProbe
from ._subsets import _check_fractions, nested_stratified_subsets, stratified_split

__all__ = ["label_fraction_study"]

logger = logging.getLogger(__name__)


def _model_name(backbone):
    if isinstance(backbone, str):
        return backbone
    spec = getattr(backbone, "spec", None)
    if spec is not None:
        return spec.name
    raise TypeError(f"backbones must be registry names or astrofmx Backbone instances, got {type(backbone).__name__}")


def _collect_features(data, labels, backbones, embed_params):
    """Return ({name: features}, images or None)."""
    if isinstance(data, dict):
        if backbones is not None:
            raise ValueError("pass either a dict of features or images with backbones=, not both")
        feats = {}
        for name, X in data.items():
            feats[str(name)], _ = _check_features(X, labels)
        return feats, None
    arr = data.value if hasattr(data, "unit") else np.asarray(data)
    if arr.ndim == 2:
        if backbones is not None and not isinstance(backbones, str):
            raise ValueError("2-D input is one feature matrix; give a single name as backbones= (or a dict of "
                             "feature matrices), or pass images to embed them with several backbones")
        name = backbones if isinstance(backbones, str) else "features"
        X, _ = _check_features(arr, labels)
        return {name: X}, None
    if arr.ndim not in (3, 4):
        raise ValueError(f"data must be features (N, D), a dict of features, or images (N, H, W) / (N, C, H, W), "
                         f"got shape {arr.shape}")
    if arr.shape[0] != len(labels):
        raise ValueError(f"images and labels must have the same length: images has {arr.shape[0]}, "
                         f"labels has {len(labels)}")
    feats = {}
    if backbones is not None:
        from ..backbones import embed

        if isinstance(backbones, str) or hasattr(backbones, "spec"):
            backbones = [backbones]
        for bb in backbones:
            name = _model_name(bb)
            logger.info("embedding %d images with %s", arr.shape[0], name)
            feats[name], _ = _check_features(embed(arr, backbone=bb, **dict(embed_params or {})), labels)
    return feats, arr


def _make_baseline(spec):
    from sklearn.base import clone

    from ._baselines import SupervisedClassifier

    if isinstance(spec, str):
        return SupervisedClassifier(spec)
    if isinstance(spec, SupervisedClassifier):
        return clone(spec)
    raise TypeError(f"baselines must be architecture names or SupervisedClassifier instances, "
                    f"got {type(spec).__name__}")


def label_fraction_study(data, labels, *, backbones=None, baselines=(), fractions=(0.1, 0.3, 0.5, 1.0),
                         seeds=(0, 1, 2), test_size=0.2, test_indices=None, split_seed=0, probe_params=None,
                         embed_params=None, class_names=None, return_runs=False, progress_bar=True):
    """F1 of linear probes and supervised baselines against the fraction of labels used.

    One stratified test set is held out (``test_size``, or ``test_indices``
    such as a data set's own split). For each seed the remaining training set
    is cut into nested stratified subsets (`nested_stratified_subsets`); a
    `LinearProbe` is trained on each backbone's features of each subset, and
    each supervised baseline on the images of the same subset, and all are
    scored on the same test set.

    Parameters
    ----------
    data : array-like or dict
        Either cached features: an ``(N, D)`` array or a dict
        ``{backbone name: (N, D) array}``; or images ``(N, H, W)`` /
        ``(N, C, H, W)``, embedded with every entry of ``backbones`` through
        `astrofmx.backbones.embed` and used directly by the ``baselines``.
    labels : array-like, shape (N,)
        Class labels.
    backbones : str, Backbone or list, optional
        Backbones to embed ``images`` with (registry names or
        `~astrofmx.backbones.Backbone` instances); the name of a single 2-D
        feature array otherwise.
    baselines : sequence, optional
        Supervised baselines trained on the images: architecture names
        (``'resnet18'``, ``'resnet50'``, ``'vit_b_16'``) or configured
        `SupervisedClassifier` instances (cloned, with ``random_state`` set to
        each seed).
    fractions : sequence of float, optional
        Label fractions in (0, 1].
    seeds : sequence of int, optional
        One run per seed: a different nested subset family and probe
        initialization; the table reports min / median / max over seeds.
    test_size : float, optional
        Test fraction of each class when ``test_indices`` is not given.
    test_indices : array-like of int or bool, optional
        Fixed test set (e.g. ``split == 'test'``); the rest is training data.
    split_seed : int, optional
        Seed of the train/test split (the same for every seed).
    probe_params : dict, optional
        `LinearProbe` parameters, e.g. ``{'epochs': 200}`` for radio sets.
    embed_params : dict, optional
        Keyword arguments for `~astrofmx.backbones.embed` (``weights``,
        ``batch_size``, ``device``, ``normalizer``, ...).
    class_names : sequence of str, optional
        Names of the sorted classes, stored in ``meta['class_names']``.
    return_runs : bool, optional
        Also return the table of individual runs.
    progress_bar : bool, optional
        Progress bar over runs.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per (model, fraction): ``model``, ``kind`` ('probe' or
        'supervised'), ``fraction``, ``n_train``, ``n_seeds``, and
        ``f1_macro_{min,median,max}``, ``accuracy_{min,median,max}``,
        ``f1_class_{min,median,max}`` (vector columns, one entry per class in
        ``meta['class_names']`` order). ``meta`` also holds ``n_test``,
        ``seeds``, ``fractions`` and the provenance of `~astrofmx.utils.get_meta`.
    runs : `~astropy.table.QTable`
        Only with ``return_runs``: one row per (model, fraction, seed) with
        ``f1_macro``, ``accuracy``, ``f1_class`` and ``fit_time``.

    Raises
    ------
    ValueError
        For mismatched lengths, a single class, fractions outside (0, 1],
        NaN features, or nothing to train.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import label_fraction_study
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 60)
    >>> X = rng.normal(size=(120, 5)) + 3 * y[:, None]
    >>> table = label_fraction_study({"toy": X}, y, fractions=(0.5, 1.0), seeds=(0,),
    ...                              probe_params={"epochs": 20}, progress_bar=False)
    >>> table["model", "fraction", "n_train"].pformat()[2:]
    ['  toy      0.5      48', '  toy      1.0      96']
    >>> bool(table["f1_macro_median"].min() > 0.9)
    True
    """
    labels = np.asarray(labels).reshape(-1)
    fr = _check_fractions(fractions)
    seeds = [int(s) for s in np.atleast_1d(seeds)]
    if not seeds:
        raise ValueError("seeds must contain at least one integer")
    feats, images = _collect_features(data, labels, backbones, embed_params)
    if not isinstance(baselines, (list, tuple)):
        baselines = [baselines]
    if baselines and images is None:
        raise ValueError("supervised baselines need images (N, H, W) as data, not features")
    if not feats and not baselines:
        raise ValueError("nothing to train: give features, or images with backbones= and/or baselines=")
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"labels must contain at least 2 classes, got {classes.size}: {classes.tolist()!r}")
    if class_names is None:
        class_names = [str(c) for c in classes]
    elif len(class_names) != classes.size:
        raise ValueError(f"class_names must have one name per class ({classes.size}), got {len(class_names)}")
    train_idx, test_idx = _train_test_indices(labels, test_size, test_indices, split_seed)

    probe_params = dict(probe_params or {})
    models = [(name, "probe", None) for name in feats]
    models += [(est.name, "supervised", est) for est in map(_make_baseline, baselines)]
    bar = _progress_bar(total=len(models) * len(fr) * len(seeds), desc="label-fraction study", unit="fit",
                        enabled=progress_bar)
    rows = []
    for seed in seeds:
        subsets = nested_stratified_subsets(labels[train_idx], fr, seed=seed)
        for name, kind, est in models:
            inputs = feats[name] if kind == "probe" else images
            if kind == "probe":
                est = LinearProbe(**probe_params)
            for f, sub in subsets.items():
                rows.append((name, kind, f, seed, *_one_run(est, seed, inputs, labels, train_idx[sub], test_idx,
                                                            classes)))
                bar.update(1)
    bar.close()

    runs = QTable(rows=rows, names=("model", "kind", "fraction", "seed", "n_train", "f1_macro", "accuracy",
                                    "f1_class", "fit_time"))
    runs["fit_time"].unit = "s"
    meta = get_meta()
    meta.update({"class_names": list(class_names), "classes": classes.tolist(), "n_test": int(test_idx.size),
                 "n_train_total": int(train_idx.size), "seeds": seeds, "fractions": fr,
                 "probe_params": probe_params})
    runs.meta.update(meta)
    table = _summarize(runs, [(name, kind) for name, kind, _ in models], fr)
    table.meta.update(meta)
    return (table, runs) if return_runs else table


def _train_test_indices(labels, test_size, test_indices, split_seed):
    """The (train, test) index arrays: a stratified split, or the complement of ``test_indices``."""
    n = labels.size
    if test_indices is None:
        train_idx, test_idx = stratified_split(labels, test_size=test_size, seed=split_seed)
    else:
        test_indices = np.asarray(test_indices)
        if test_indices.dtype == bool:
            if test_indices.shape != (n,):
                raise ValueError(f"a boolean test_indices must have one value per sample ({n}), "
                                 f"got shape {test_indices.shape}")
            test_indices = np.flatnonzero(test_indices)
        test_idx = np.unique(test_indices.astype(int))
        if test_idx.size == 0:
            raise ValueError("test_indices is empty; give at least one test sample")
        if test_idx.min() < 0 or test_idx.max() >= n:
            raise ValueError(f"test_indices must be indices in [0, {n}), got values in "
                             f"[{test_idx.min()}, {test_idx.max()}]")
        train_idx = np.setdiff1d(np.arange(n), test_idx)
    if np.unique(labels[train_idx]).size < np.unique(labels).size:
        raise ValueError("every class must occur in the training set; enlarge it or change test_indices")
    return train_idx, test_idx


def _one_run(estimator, seed, inputs, labels, idx, test_idx, classes):
    """Fit a clone of ``estimator`` (seeded) on ``inputs[idx]``; return (n_train, F1, accuracy, per-class F1, time)."""
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score

    t0 = time.perf_counter()
    clf = clone(estimator).set_params(random_state=seed)
    clf.fit(inputs[idx], labels[idx])
    pred = clf.predict(inputs[test_idx])
    dt = time.perf_counter() - t0
    y_test = labels[test_idx]
    return (idx.size, f1_score(y_test, pred, average="macro", labels=classes, zero_division=0),
            accuracy_score(y_test, pred), f1_score(y_test, pred, average=None, labels=classes, zero_division=0),
            dt)


def _summarize(runs, models, fractions):
    """One row per (model, fraction): min / median / max over seeds of every score."""
    summary = []
    for name, kind in models:
        for f in fractions:
            r = runs[(runs["model"] == name) & (runs["fraction"] == f)]
            f1c = np.asarray(r["f1_class"])
            summary.append((name, kind, f, int(r["n_train"][0]), len(r),
                            *(g(np.asarray(r["f1_macro"])) for g in (np.min, np.median, np.max)),
                            *(g(np.asarray(r["accuracy"])) for g in (np.min, np.median, np.max)),
                            f1c.min(axis=0), np.median(f1c, axis=0), f1c.max(axis=0)))
    return QTable(rows=summary, names=("model", "kind", "fraction", "n_train", "n_seeds",
                                       "f1_macro_min", "f1_macro_median", "f1_macro_max",
                                       "accuracy_min", "accuracy_median", "accuracy_max",
                                       "f1_class_min", "f1_class_median", "f1_class_max"))
