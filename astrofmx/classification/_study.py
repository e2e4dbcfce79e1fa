"""Label-fraction study: linear probes and supervised baselines at 10-100% of the labels.

This is the paper's classification experiment (Lastufka et al. 2024, Figs. 3
and 4): for every backbone (a linear probe on its frozen features) and every
supervised baseline, train on nested, stratified fractions of the labeled
training set, repeat over seeds, and report the macro F1 score, the per-class
F1 scores and the accuracy on one fixed test set.
"""

import logging
import numbers
import time

import numpy as np
from astropy.table import QTable

from ..utils import check_overwrite, get_meta
from ..utils import progress_bar as _progress_bar
from ._probe import LinearProbe, check_features_labels

__all__ = ["nested_stratified_subsets", "stratified_split", "label_fraction_study", "plot_label_fraction",
           "plot_per_class_f1"]

logger = logging.getLogger(__name__)


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
        Fraction of each class put in the test set, in (0, 1); every class
        keeps at least one sample on each side.
    seed : int, optional

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
    labels = np.asarray(labels).reshape(-1)
    if not (isinstance(test_size, numbers.Real) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if idx.size < 2:
            raise ValueError(f"class {c.tolist()!r} has a single sample; it cannot be in both the training "
                             f"and test sets")
        k = min(max(int(np.floor(test_size * idx.size + 0.5)), 1), idx.size - 1)
        test.append(rng.permutation(idx)[:k])
    test = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(labels.size), test), test


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
            feats[str(name)], _ = check_features_labels(X, labels, name=f"features[{name!r}]")
        return feats, None
    arr = data.value if hasattr(data, "unit") else np.asarray(data)
    if arr.ndim == 2:
        if backbones is not None and not isinstance(backbones, str):
            raise ValueError("2-D input is one feature matrix; give a single name as backbones= (or a dict of "
                             "feature matrices), or pass images to embed them with several backbones")
        name = backbones if isinstance(backbones, str) else "features"
        X, _ = check_features_labels(arr, labels)
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
            feats[name], _ = check_features_labels(embed(arr, backbone=bb, **dict(embed_params or {})), labels,
                                                   name=f"features of {name}")
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
    from sklearn.base import clone
    from sklearn.metrics import accuracy_score, f1_score

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
    if np.unique(labels[train_idx]).size < classes.size:
        raise ValueError("every class must occur in the training set; enlarge it or change test_indices")
    y_test = labels[test_idx]

    probe_params = dict(probe_params or {})
    models = [(name, "probe", None) for name in feats]
    for b in baselines:
        est = _make_baseline(b)
        models.append((est.name, "supervised", est))
    rows = []
    bar = _progress_bar(total=len(models) * len(fr) * len(seeds), desc="label-fraction study", unit="fit",
                       enabled=progress_bar)
    for seed in seeds:
        subsets = nested_stratified_subsets(labels[train_idx], fr, seed=seed)
        for name, kind, est in models:
            for f, sub in subsets.items():
                idx = train_idx[sub]
                t0 = time.perf_counter()
                if kind == "probe":
                    clf = LinearProbe(**{**probe_params, "random_state": seed})
                    clf.fit(feats[name][idx], labels[idx])
                    pred = clf.predict(feats[name][test_idx])
                else:
                    clf = clone(est).set_params(random_state=seed)
                    clf.fit(images[idx], labels[idx])
                    pred = clf.predict(images[test_idx])
                dt = time.perf_counter() - t0
                rows.append((name, kind, f, seed, idx.size,
                             f1_score(y_test, pred, average="macro", labels=classes, zero_division=0),
                             accuracy_score(y_test, pred),
                             f1_score(y_test, pred, average=None, labels=classes, zero_division=0), dt))
                bar.update(1)
    bar.close()

    runs = QTable(rows=rows, names=("model", "kind", "fraction", "seed", "n_train", "f1_macro", "accuracy",
                                    "f1_class", "fit_time"))
    runs["fit_time"].unit = "s"
    if class_names is None:
        class_names = [str(c) for c in classes]
    elif len(class_names) != classes.size:
        raise ValueError(f"class_names must have one name per class ({classes.size}), got {len(class_names)}")
    meta = get_meta()
    meta.update({"class_names": list(class_names), "classes": classes.tolist(), "n_test": int(test_idx.size),
                 "n_train_total": int(train_idx.size), "seeds": seeds, "fractions": fr,
                 "probe_params": probe_params})
    runs.meta.update(meta)

    summary = []
    for name, kind, _ in models:
        for f in fr:
            sel = (runs["model"] == name) & (runs["fraction"] == f)
            r = runs[sel]
            f1c = np.asarray(r["f1_class"])
            summary.append((name, kind, f, int(r["n_train"][0]), len(r),
                            *(g(np.asarray(r["f1_macro"])) for g in (np.min, np.median, np.max)),
                            *(g(np.asarray(r["accuracy"])) for g in (np.min, np.median, np.max)),
                            f1c.min(axis=0), np.median(f1c, axis=0), f1c.max(axis=0)))
    table = QTable(rows=summary, names=("model", "kind", "fraction", "n_train", "n_seeds",
                                        "f1_macro_min", "f1_macro_median", "f1_macro_max",
                                        "accuracy_min", "accuracy_median", "accuracy_max",
                                        "f1_class_min", "f1_class_median", "f1_class_max"))
    table.meta.update(meta)
    return (table, runs) if return_runs else table


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def _save(ax, filename, overwrite):
    if filename is not None:
        check_overwrite(filename, overwrite)
        ax.figure.savefig(filename, dpi=150)


def _check_table(table, columns):
    missing = [c for c in columns if c not in table.colnames]
    if missing:
        raise ValueError(f"table is missing columns {missing}; pass the output of label_fraction_study")


def plot_label_fraction(table, *, metric="f1_macro", models=None, ax=None, title=None, filename=None,
                        overwrite=False):
    """Plot a metric against the label fraction, median with min-max error bars (the paper's Fig. 3).

    Parameters
    ----------
    table : `~astropy.table.QTable`
        Output of `label_fraction_study`.
    metric : {'f1_macro', 'accuracy'}, optional
    models : sequence of str, optional
        Models to draw (default all); probes are solid, supervised dashed.
    ax : `matplotlib.axes.Axes`, optional
        Axes to draw on; a new figure (no pyplot state) otherwise.
    title : str, optional
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
    >>> from astrofmx.classification import label_fraction_study, plot_label_fraction
    >>> y = np.repeat([0, 1], 30)
    >>> X = np.random.default_rng(0).normal(size=(60, 4)) + y[:, None]
    >>> t = label_fraction_study(X, y, fractions=(0.5, 1), seeds=(0, 1), probe_params={"epochs": 5},
    ...                          progress_bar=False)
    >>> ax = plot_label_fraction(t)
    >>> ax.get_xlabel()
    'labels used (%)'
    """
    if metric not in ("f1_macro", "accuracy"):
        raise ValueError(f"metric must be 'f1_macro' or 'accuracy', got {metric!r}")
    cols = [f"{metric}_{s}" for s in ("min", "median", "max")]
    _check_table(table, ["model", "kind", "fraction", *cols])
    names = list(dict.fromkeys(table["model"])) if models is None else list(models)
    ax = _new_axes(ax, (5.5, 4))
    for name in names:
        r = table[table["model"] == name]
        if len(r) == 0:
            raise ValueError(f"model {name!r} is not in the table; it has {sorted(set(table['model']))}")
        r = r[np.argsort(np.asarray(r["fraction"]))]
        x = 100 * np.asarray(r["fraction"], float)
        med = np.asarray(r[cols[1]], float)
        err = np.vstack([med - np.asarray(r[cols[0]], float), np.asarray(r[cols[2]], float) - med])
        ls = "-" if r["kind"][0] == "probe" else "--"
        ax.errorbar(x, med, yerr=err, marker="o", ls=ls, capsize=3, label=str(name))
    ax.set_xlabel("labels used (%)")
    ax.set_ylabel("macro F1" if metric == "f1_macro" else "accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    _save(ax, filename, overwrite)
    return ax


def plot_per_class_f1(table, *, fraction=1.0, models=None, class_names=None, ax=None, title=None,
                      filename=None, overwrite=False):
    """Grouped bars of the per-class F1 score at one label fraction (the paper's Fig. 4).

    Bars show the median over seeds, error bars the min-max range.

    Parameters
    ----------
    table : `~astropy.table.QTable`
        Output of `label_fraction_study`.
    fraction : float, optional
        Label fraction to show; must be in the table.
    models : sequence of str, optional
        Models to draw (default all).
    class_names : sequence of str, optional
        Tick labels (default ``table.meta['class_names']``).
    ax, title, filename, overwrite
        As in `plot_label_fraction`.

    Returns
    -------
    ax : `matplotlib.axes.Axes`

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import label_fraction_study, plot_per_class_f1
    >>> y = np.repeat([0, 1, 2], 20)
    >>> X = np.random.default_rng(0).normal(size=(60, 4)) + y[:, None]
    >>> t = label_fraction_study(X, y, fractions=(1.0,), seeds=(0,), probe_params={"epochs": 5},
    ...                          class_names=["a", "b", "c"], progress_bar=False)
    >>> [tick.get_text() for tick in plot_per_class_f1(t).get_xticklabels()]
    ['a', 'b', 'c']
    """
    _check_table(table, ["model", "fraction", "f1_class_min", "f1_class_median", "f1_class_max"])
    sel_f = np.isclose(np.asarray(table["fraction"], float), float(fraction))
    if not sel_f.any():
        raise ValueError(f"fraction {fraction!r} is not in the table; it has {sorted(set(table['fraction']))}")
    t = table[sel_f]
    names = list(dict.fromkeys(t["model"])) if models is None else list(models)
    n_cls = np.asarray(t["f1_class_median"]).shape[1]
    if class_names is None:
        class_names = table.meta.get("class_names", [str(i) for i in range(n_cls)])
    if len(class_names) != n_cls:
        raise ValueError(f"class_names must have {n_cls} entries, got {len(class_names)}")
    ax = _new_axes(ax, (max(5.0, 1.2 * n_cls + 2), 4))
    width = 0.8 / max(len(names), 1)
    xs = np.arange(n_cls)
    for i, name in enumerate(names):
        r = t[t["model"] == name]
        if len(r) == 0:
            raise ValueError(f"model {name!r} is not in the table at fraction {fraction}")
        med = np.asarray(r["f1_class_median"][0], float)
        err = np.vstack([med - np.asarray(r["f1_class_min"][0], float),
                         np.asarray(r["f1_class_max"][0], float) - med])
        ax.bar(xs + (i - (len(names) - 1) / 2) * width, med, width, yerr=err, capsize=2, label=str(name))
    ax.set_xticks(xs)
    ax.set_xticklabels([str(c) for c in class_names])
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small")
    ax.set_title(title if title else f"per-class F1 at {100 * float(fraction):g}% of the labels")
    _save(ax, filename, overwrite)
    return ax
