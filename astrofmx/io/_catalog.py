"""The source-catalog convention shared by every finder in astrofmx.

`detect_sources` and every classical finder in `astrofmx.compare` return a
`~astropy.table.QTable` built by `make_source_catalog`, so that catalogs from
different finders can be cross-matched, plotted and written alike.
"""

import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from ..utils import NoDetectionsWarning, get_meta

__all__ = ["SOURCE_COLUMNS", "make_source_catalog"]

#: Column names, in order, of every source catalog (``sky_centroid``,
#: ``width_sky`` and ``height_sky`` only when the image has a celestial WCS).
SOURCE_COLUMNS = (
    "id",
    "x_centroid",
    "y_centroid",
    "sky_centroid",
    "bbox_xmin",
    "bbox_xmax",
    "bbox_ymin",
    "bbox_ymax",
    "width",
    "height",
    "width_sky",
    "height_sky",
    "score",
    "label",
)


def _as_1d(name, values, n):
    arr = np.asarray(values, dtype=float).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have one value per source ({n}), got {arr.shape[0]}")
    return arr


def make_source_catalog(boxes, *, scores=None, labels=None, centroids=None, wcs=None, meta=None, finder=None,
                        warn_empty=True):
    """Build a source catalog from bounding boxes in full-image pixel coordinates.

    Pixel coordinates are 0-based with the centre of the first pixel at
    (0, 0), as in astropy and photutils (DS9 adds 1).

    Parameters
    ----------
    boxes : array-like, shape (N, 4)
        ``(xmin, ymin, xmax, ymax)`` of each source in pixels (torchvision's
        box convention), edges inclusive of the outermost pixel edges.
    scores : array-like, shape (N,), optional
        Detection confidence in [0, 1]; NaN where a finder has none.
    labels : array-like of str or int, shape (N,), optional
        Class label of each source; defaults to ``'source'``.
    centroids : array-like, shape (N, 2), optional
        ``(x, y)`` centroids; defaults to the box centres.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image; adds ``sky_centroid`` (`~astropy.coordinates.SkyCoord`)
        and the box size in arcsec.
    meta : dict, optional
        Extra provenance (model, backbone, weights, preprocessing) merged into
        ``table.meta`` after the date and package versions.
    finder : str, optional
        Name of the finder, stored as ``meta['finder']``.
    warn_empty : bool, optional
        Issue a `~astrofmx.utils.NoDetectionsWarning` when there are no boxes.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        Columns `SOURCE_COLUMNS` (sky columns only with a WCS), one row per
        source, ``id`` counting from 1. An empty input gives an empty table
        with every column.

    Examples
    --------
    >>> from astrofmx.io import make_source_catalog
    >>> cat = make_source_catalog([[10, 20, 14, 26]], scores=[0.9])
    >>> float(cat['x_centroid'][0].value), float(cat['height'][0].value)
    (12.0, 6.0)
    """
    boxes = np.asarray(boxes, dtype=float)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (xmin, ymin, xmax, ymax), got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise ValueError("boxes contain NaN or infinite values")
    if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
        raise ValueError("boxes must satisfy xmin <= xmax and ymin <= ymax")
    n = boxes.shape[0]
    scores = np.full(n, np.nan) if scores is None else _as_1d("scores", scores, n)
    if labels is None:
        labels = np.full(n, "source", dtype="U16")
    else:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != n:
            raise ValueError(f"labels must have one value per source ({n}), got {labels.shape[0]}")
    if centroids is None:
        xc = 0.5 * (boxes[:, 0] + boxes[:, 2])
        yc = 0.5 * (boxes[:, 1] + boxes[:, 3])
    else:
        centroids = np.asarray(centroids, dtype=float).reshape(-1, 2) if n else np.zeros((0, 2))
        if centroids.shape[0] != n:
            raise ValueError(f"centroids must have shape ({n}, 2), got {centroids.shape}")
        xc, yc = centroids[:, 0], centroids[:, 1]

    table = QTable()
    table["id"] = np.arange(1, n + 1, dtype=np.int64)
    table["x_centroid"] = xc * u.pix
    table["y_centroid"] = yc * u.pix
    has_sky = wcs is not None and getattr(wcs, "has_celestial", False)
    if has_sky:
        table["sky_centroid"] = SkyCoord.from_pixel(xc, yc, wcs.celestial) if n else SkyCoord([], [], unit="deg")
    table["bbox_xmin"] = boxes[:, 0] * u.pix
    table["bbox_xmax"] = boxes[:, 2] * u.pix
    table["bbox_ymin"] = boxes[:, 1] * u.pix
    table["bbox_ymax"] = boxes[:, 3] * u.pix
    table["width"] = (boxes[:, 2] - boxes[:, 0]) * u.pix
    table["height"] = (boxes[:, 3] - boxes[:, 1]) * u.pix
    if has_sky:
        from astropy.wcs.utils import proj_plane_pixel_scales

        scale = proj_plane_pixel_scales(wcs.celestial) * u.deg  # (x, y) per pixel
        table["width_sky"] = (table["width"].value * scale[0]).to(u.arcsec)
        table["height_sky"] = (table["height"].value * scale[1]).to(u.arcsec)
    table["score"] = scores
    table["label"] = labels

    table.meta.update(get_meta())
    if finder is not None:
        table.meta["finder"] = finder
    if meta:
        table.meta.update(meta)
    if n == 0 and warn_empty:
        warnings.warn(f"no sources were found{f' by {finder}' if finder else ''}; returning an empty catalog",
                      NoDetectionsWarning)
    return table
