"""Classify the sources of a catalog: cutouts, features, a trained probe, new columns."""

import logging
import re

import numpy as np
from astropy.table import QTable

from ..io import catalog_positions

__all__ = ["classify_sources"]

logger = logging.getLogger(__name__)


def _column_name(prefix, name):
    return f"{prefix}_prob_{re.sub(r'[^0-9A-Za-z_]+', '_', str(name)).strip('_')}"


def classify_sources(image, catalog, probe, *, backbone, weights="pretrained", cutout_size=64, wcs=None,
                     column_prefix="class", class_names=None, mode="pad", batch_size=64, pooling=None,
                     normalizer=None, device=None, precision="auto", overwrite=False, progress_bar=True):
    """Classify every source of a catalog with a trained probe on backbone features.

    For each catalog row a ``cutout_size`` square cutout centred on the
    source is cut from the image (`~astrofmx.preprocess.make_cutouts`),
    embedded with ``backbone`` (`~astrofmx.backbones.embed`), and passed to the
    classifier; the label and the class probabilities are added as columns.

    Parameters
    ----------
    image : str, path, HDU, `~astropy.nddata.NDData`, (array, WCS) or array
        Anything `astrofmx.io.load_image` reads.
    catalog : `~astropy.table.Table`
        Sources; positions as described in `catalog_positions`.
    probe : `LinearProbe` or fitted scikit-learn classifier
        Trained on features of the same ``backbone``, ``weights``,
        ``pooling`` and preprocessing; needs ``predict_proba`` and ``classes_``.
    backbone : str or `~astrofmx.backbones.Backbone`
        The backbone the probe was trained with.
    weights : str, None or path, optional
        Weights for a named ``backbone`` (see `~astrofmx.backbones.embed`).
    cutout_size : int, optional
        Side of the square cutouts in pixels.
    wcs : `~astropy.wcs.WCS`, optional
        Overrides the image's WCS for sky positions.
    column_prefix : str, optional
        New columns are ``<prefix>_label``, ``<prefix>_score`` (the highest
        probability) and ``<prefix>_prob_<class>``.
    class_names : sequence or dict, optional
        Names for the probe's classes (e.g. ``['FRI', 'FRII']`` for integer
        labels); default ``str(class)``.
    mode : {'pad', 'skip', 'error'}, optional
        Cutouts crossing the image edge: padded (every row is classified),
        skipped (their columns are masked), or an error.
    batch_size, pooling, normalizer, device, precision, progress_bar
        Passed to `~astrofmx.backbones.embed`.
    overwrite : bool, optional
        Replace columns of the same names already in the catalog.

    Returns
    -------
    table : `~astropy.table.QTable`
        A copy of ``catalog`` with the new columns; ``meta`` records the
        backbone, weights, cutout size and class names under
        ``'<prefix>_classifier'``.

    Raises
    ------
    ValueError
        Empty catalog, no usable position columns, existing columns without
        ``overwrite``, a probe trained on features of another dimension.
    TypeError
        If ``probe`` has no ``predict_proba``/``classes_``.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astrofmx.backbones import get_backbone
    >>> from astrofmx.classification import LinearProbe, classify_sources
    >>> bb = get_backbone("resnet18", weights=None)
    >>> rng = np.random.default_rng(0)
    >>> probe = LinearProbe(epochs=2).fit(rng.normal(size=(20, bb.spec.feature_dim)), [0, 1] * 10)
    >>> image = rng.normal(size=(128, 128)).astype("float32")
    >>> cat = QTable({"x_centroid": [40.0, 90.0], "y_centroid": [50.0, 60.0]})
    >>> out = classify_sources(image, cat, probe, backbone=bb, cutout_size=32, class_names=["FRI", "FRII"],
    ...                        progress_bar=False)
    >>> out.colnames
    ['x_centroid', 'y_centroid', 'class_label', 'class_score', 'class_prob_FRI', 'class_prob_FRII']
    """
    from ..backbones import embed
    from ..io import load_image
    from ..preprocess import make_cutouts

    if not (hasattr(probe, "predict_proba") and hasattr(probe, "classes_")):
        raise TypeError(f"probe must be a fitted classifier with predict_proba and classes_ (e.g. a fitted "
                        f"LinearProbe), got {type(probe).__name__}")
    if not isinstance(column_prefix, str) or not column_prefix:
        raise ValueError(f"column_prefix must be a non-empty string, got {column_prefix!r}")
    if len(catalog) == 0:
        raise ValueError("catalog is empty; there are no sources to classify")
    classes = np.asarray(probe.classes_)
    if class_names is None:
        names = [str(c) for c in classes]
    elif isinstance(class_names, dict):
        names = [str(class_names.get(c, c)) for c in classes.tolist()]
    else:
        if len(class_names) != classes.size:
            raise ValueError(f"class_names must have one name per probe class ({classes.size}), got "
                             f"{len(class_names)}")
        names = [str(c) for c in class_names]
    label_col, score_col = f"{column_prefix}_label", f"{column_prefix}_score"
    prob_cols = [_column_name(column_prefix, nm) for nm in names]
    if len(set(prob_cols)) != len(prob_cols):
        raise ValueError(f"class names {names} give duplicate column names {prob_cols}")
    new_cols = [label_col, score_col, *prob_cols]
    clash = [c for c in new_cols if c in catalog.colnames]
    if clash and not overwrite:
        raise ValueError(f"catalog already has columns {clash}; pass overwrite=True or another column_prefix")

    img = load_image(image)
    positions = catalog_positions(catalog, wcs if wcs is not None else img.wcs)
    if not np.all(np.isfinite(positions)):
        bad = np.flatnonzero(~np.isfinite(positions).all(axis=1))
        raise ValueError(f"{bad.size} catalog positions are not finite (rows {bad[:5].tolist()}); remove them "
                         f"or check that the catalog lies on this image")
    # each cutout is an NDData whose mask marks blank and padded pixels; embed's normalizer fills them
    cutouts = make_cutouts(img, positions, cutout_size, mode=mode)
    keep = np.array([int(c.meta["index"]) for c in cutouts], dtype=int)

    out = QTable(catalog, copy=True)
    for c in clash:
        out.remove_column(c)
    n = len(out)
    proba_all = np.full((n, classes.size), np.nan, dtype=np.float32)
    if len(cutouts):
        kwargs = {} if pooling is None else {"pooling": pooling}
        feats = embed(cutouts, backbone=backbone, weights=weights, batch_size=batch_size, device=device,
                      precision=precision, normalizer=normalizer, progress_bar=progress_bar, **kwargs)
        feats = np.asarray(feats, dtype=np.float32)
        n_in = getattr(probe, "n_features_in_", feats.shape[1])
        if feats.shape[1] != n_in:
            raise ValueError(f"the backbone gives {feats.shape[1]}-dimensional features but the probe was "
                             f"trained on {n_in}; use the backbone (and pooling) the probe was trained with")
        proba_all[keep] = probe.predict_proba(feats)
    best = np.argmax(np.nan_to_num(proba_all, nan=-1.0), axis=1)
    labels = np.array(names, dtype=object)[best].astype(str)
    valid = np.zeros(n, bool)
    valid[keep] = True
    from astropy.table import MaskedColumn

    if valid.all():
        out[label_col] = labels
        out[score_col] = proba_all.max(axis=1)
        for j, col in enumerate(prob_cols):
            out[col] = proba_all[:, j]
    else:
        logger.info("%d of %d sources had no cutout (mode=%r); their classification columns are masked",
                    n - valid.sum(), n, mode)
        out[label_col] = MaskedColumn(labels, mask=~valid)
        out[score_col] = MaskedColumn(np.nanmax(np.where(valid[:, None], proba_all, 0), axis=1), mask=~valid)
        for j, col in enumerate(prob_cols):
            out[col] = MaskedColumn(np.nan_to_num(proba_all[:, j]), mask=~valid)
    bname = backbone if isinstance(backbone, str) else getattr(getattr(backbone, "spec", None), "name", "custom")
    out.meta[f"{column_prefix}_classifier"] = {
        "backbone": str(bname), "weights": None if weights is None else str(weights),
        "cutout_size": int(cutout_size), "classes": [str(c) for c in classes], "class_names": names,
        "probe": type(probe).__name__}
    return out
