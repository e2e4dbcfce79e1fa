"""The truth catalog of a simulated field and the truth boxes for detector training."""

import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from ._checks import _fraction
from ._sources import RADIO_MORPHOLOGIES

_OPTICAL_KINDS = ("star", "galaxy")  # = astrofmx.datasets.OPTICAL_KINDS (the optical package builds on this one)

__all__ = ["truth_boxes", "truth_boxes_in_window"]


def _make_truth(rows, has_artefact, header, rms_jy, meta, params, pb_src=None):
    """The truth `~astropy.table.QTable` from the per-source rows of the renderer."""
    names = ("x", "y", "flux", "peak", "major", "minor", "theta", "morph", "ncomp",
             "xmin", "ymin", "xmax", "ymax")
    n = len(rows)
    cols = {name: [r[k] for r in rows] for k, name in enumerate(names)}
    x = np.asarray(cols["x"], dtype=float)
    y = np.asarray(cols["y"], dtype=float)
    theta = np.asarray(cols["theta"], dtype=float) % 180.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
        sky = WCS(header).pixel_to_world(x, y) if n else SkyCoord([] * u.deg, [] * u.deg, frame="icrs")
    peak = np.asarray(cols["peak"], dtype=float)
    table = QTable()
    table["id"] = np.arange(1, n + 1, dtype=np.int64)
    table["x_centroid"] = x
    table["y_centroid"] = y
    table["sky_centroid"] = sky
    table["flux"] = np.asarray(cols["flux"], dtype=float) * u.Jy
    table["peak_flux"] = peak * u.Jy / u.beam
    table["major"] = np.asarray(cols["major"], dtype=float) * u.arcsec
    table["minor"] = np.asarray(cols["minor"], dtype=float) * u.arcsec
    table["pa"] = ((theta - 90.0) % 180.0) * u.deg
    table["theta"] = theta * u.deg
    table["morphology"] = np.asarray(cols["morph"], dtype="U8")
    table["n_components"] = np.asarray(cols["ncomp"], dtype=np.int64)
    table["snr"] = peak / rms_jy if pb_src is None else peak * np.asarray(pb_src, dtype=float) / rms_jy
    table["has_artefact"] = has_artefact
    if pb_src is not None:
        table["primary_beam"] = np.asarray(pb_src, dtype=float)
    for name in ("xmin", "ymin", "xmax", "ymax"):
        table[f"bbox_{name}"] = np.asarray(cols[name], dtype=float)
    table.meta.update(meta)
    table.meta["simulation"] = {k: v[0] for k, v in params.items()}
    table.meta["box_convention"] = "astropy pixel coordinates: pixel centres at integers, edges at half-integers"
    return table


# ----------------------------------------------------------------------------------------------
# boxes for detector training
# ----------------------------------------------------------------------------------------------

_BOX_COLUMNS = ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")


def truth_boxes(truth):
    """Truth boxes as an ``(N, 4)`` float array ``(xmin, ymin, xmax, ymax)`` in image pixel coordinates.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        A truth catalog from `simulate_radio_field` (any table with the
        ``bbox_*`` columns).

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (N, 4)

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field, truth_boxes
    >>> field = simulate_radio_field((64, 64), seed=2, n_sources=4)
    >>> truth_boxes(field.truth).shape
    (4, 4)
    """
    missing = [c for c in _BOX_COLUMNS if c not in truth.colnames]
    if missing:
        raise ValueError(f"truth must have the columns {_BOX_COLUMNS}; missing {missing}")
    return np.stack([np.asarray(u.Quantity(truth[c]).value, dtype=float) for c in _BOX_COLUMNS], axis=-1) \
        .reshape(-1, 4)


def truth_boxes_in_window(truth, x0, y0, width, height, *, min_visible_fraction=0.5, min_snr=None,
                          convention="torchvision", class_agnostic=False, return_index=False):
    """Truth boxes and labels of the sources visible in a pixel window, in window coordinates.

    Use it to cut training tiles out of a simulated field: ``window =
    field.data[y0:y0 + height, x0:x0 + width]`` goes with the boxes returned
    here.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        Truth catalog from `simulate_radio_field`.
    x0, y0 : int
        First column and row of the window in the full image.
    width, height : int
        Window size in pixels.
    min_visible_fraction : float, optional
        Keep a source only if at least this fraction of its box area lies in
        the window (in [0, 1]; 0 keeps any overlap). Kept boxes are clipped to
        the window.
    min_snr : float, optional
        Drop sources whose ``snr`` (peak over rms) is below this, e.g. faint
        extended sources that no finder could see.
    convention : {'torchvision', 'astropy'}, optional
        ``'torchvision'``: pixel ``i`` spans ``[i, i + 1]``, boxes lie in
        ``[0, width] x [0, height]`` (what torchvision detectors expect).
        ``'astropy'``: pixel centres at integers, edges at half-integers, as in
        the truth table.
    class_agnostic : bool, optional
        Give every source label 1 instead of one label per morphology.
    return_index : bool, optional
        Also return the row indices into ``truth`` of the kept sources.

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (M, 4), float32
        ``(xmin, ymin, xmax, ymax)`` relative to the window.
    labels : `~numpy.ndarray`, shape (M,), int64
        ``1 + RADIO_MORPHOLOGIES.index(morphology)`` (0 is left for the
        background, as torchvision expects); for an optical truth (a
        ``kind`` column, no ``morphology``) ``1 + OPTICAL_KINDS.index(kind)``
        (1 star, 2 galaxy); all 1 with ``class_agnostic``.
    index : `~numpy.ndarray`, shape (M,), int64
        Only with ``return_index=True``.

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field, truth_boxes_in_window
    >>> field = simulate_radio_field((256, 256), seed=3, n_sources=40)
    >>> boxes, labels = truth_boxes_in_window(field.truth, 0, 0, 128, 128)
    >>> bool(((boxes >= 0) & (boxes <= 128)).all())
    True
    """
    for name, value in (("x0", x0), ("y0", y0), ("width", width), ("height", height)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width!r} x {height!r}")
    min_visible_fraction = _fraction("min_visible_fraction", min_visible_fraction)
    if convention not in ("torchvision", "astropy"):
        raise ValueError(f"convention must be 'torchvision' or 'astropy', got {convention!r}")
    boxes = truth_boxes(truth)
    # window edges in astropy pixel coordinates
    wx0, wy0, wx1, wy1 = x0 - 0.5, y0 - 0.5, x0 + width - 0.5, y0 + height - 0.5
    cx0 = np.maximum(boxes[:, 0], wx0)
    cy0 = np.maximum(boxes[:, 1], wy0)
    cx1 = np.minimum(boxes[:, 2], wx1)
    cy1 = np.minimum(boxes[:, 3], wy1)
    inter = np.clip(cx1 - cx0, 0, None) * np.clip(cy1 - cy0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        visible = np.where(area > 0, inter / area, 0.0)
    keep = (inter > 0) & (visible >= min_visible_fraction)
    if min_snr is not None:
        if "snr" not in truth.colnames:
            raise ValueError("min_snr needs an 'snr' column in truth")
        keep &= np.asarray(truth["snr"], dtype=float) >= float(min_snr)
    index = np.flatnonzero(keep)
    shift = 0.5 if convention == "torchvision" else 0.0
    out = np.stack([cx0[keep] - x0 + shift, cy0[keep] - y0 + shift,
                    cx1[keep] - x0 + shift, cy1[keep] - y0 + shift], axis=-1).astype(np.float32).reshape(-1, 4)
    if not class_agnostic and "morphology" not in truth.colnames and "kind" in truth.colnames:
        labels = _labels(np.asarray(truth["kind"])[index], _OPTICAL_KINDS, "kind")
    elif class_agnostic or "morphology" not in truth.colnames:
        labels = np.ones(index.size, dtype=np.int64)
    else:
        morph = np.asarray(truth["morphology"])[index]
        unknown = set(morph) - set(RADIO_MORPHOLOGIES)
        if unknown:
            raise ValueError(f"morphology must be one of {RADIO_MORPHOLOGIES}, got {sorted(unknown)}")
        labels = np.array([1 + RADIO_MORPHOLOGIES.index(m) for m in morph], dtype=np.int64)
    if return_index:
        return out, labels, index.astype(np.int64)
    return out, labels


def _labels(values, classes, name):
    unknown = set(values) - set(classes)
    if unknown:
        raise ValueError(f"{name} must be one of {classes}, got {sorted(unknown)}")
    return np.array([1 + classes.index(v) for v in values], dtype=np.int64)
