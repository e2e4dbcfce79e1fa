"""Figures of the label-fraction study: F1 against the label fraction, and per-class F1 (paper Figs. 3-4)."""

import numpy as np

from ..utils import check_overwrite

__all__ = ["plot_label_fraction", "plot_per_class_f1"]


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
