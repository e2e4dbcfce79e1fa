"""Training boxes from source catalogs: Gaussian components (PyBDSF, Aegean) or segment bounding boxes."""

import json
import logging
import os
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np

from ..io import catalog_positions, catalog_sky_positions, ellipse_bboxes
from ..utils import AstrofmxWarning
from ._config import DetectorConfig

__all__ = ["catalog_to_boxes"]

logger = logging.getLogger(__name__)

_FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))

# (major, minor, angle, default size unit, angle convention, sizes are 'fwhm' or 'sigma')
_SHAPE_COLUMNS = (
    ("a", "b", "pa", u.arcsec, "pa", "fwhm"),  # Aegean (FWHM in arcsec, PA east of north)
    ("maj", "min", "pa", u.deg, "pa", "fwhm"),  # PyBDSF gaul/srl (FWHM in deg)
    ("major", "minor", "pa", None, "pa", "fwhm"),
    ("bmaj", "bmin", "bpa", u.deg, "pa", "fwhm"),
    ("semimajor_sigma", "semiminor_sigma", "orientation", u.pix, "theta", "sigma"),  # photutils
    ("semimajor_axis", "semiminor_axis", "orientation", u.pix, "theta", "sigma"),
)
_BOX_COLUMNS = (("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax"), ("xmin", "ymin", "xmax", "ymax"),
                ("x_min", "y_min", "x_max", "y_max"), ("x1", "y1", "x2", "y2"))


def _find(table, names):
    lower = {c.lower(): c for c in table.colnames}
    found = [lower.get(n.lower()) for n in names]
    return found if all(found) else None


def _values(table, name, default_unit=None):
    """Column values as a float array in ``default_unit`` (or raw floats)."""
    col = table[name]
    unit = getattr(col, "unit", None)
    if isinstance(col, u.Quantity):
        values = col
    else:
        values = np.asarray(col, dtype=float)
        if unit is not None and str(unit) not in ("", "None"):
            try:
                values = values * u.Unit(unit)
            except ValueError:
                values = values * (default_unit or u.dimensionless_unscaled)
        elif default_unit is not None:
            values = values * default_unit
    return values


def _shape(image, shape):
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2:
            raise ValueError(f"shape must be (ny, nx), got {shape!r}")
        return shape
    if image is None:
        return None
    data = getattr(image, "data", image)
    return tuple(np.shape(data))[-2:]


def _resolve_image(image, wcs):
    """(shape, wcs, header) of an image given as anything load_image accepts."""
    if image is None:
        return None, wcs, {}
    from ..io import load_image

    if isinstance(image, np.ndarray):
        return image.shape[-2:], wcs, {}
    img = load_image(image)
    return img.data.shape, wcs if wcs is not None else img.wcs, dict(img.meta or {})


def _boxes_from_table(table):
    """Pixel boxes ``(N, 4)`` from a table with bounding-box columns, or `None` if it has none.

    Recognised columns (case-insensitive): ``bbox_xmin/ymin/xmax/ymax`` (the
    astrofmx catalog convention, or photutils' integer pixel indices),
    ``xmin/ymin/xmax/ymax``, ``x_min/...`` and ``x1/y1/x2/y2``. Integer
    columns are pixel indices (the box covers those pixels entirely, so half
    a pixel is added on each side); float columns are box edges in the
    convention of `~astrofmx.io.make_source_catalog` (pixel centres at
    integers). E.g. integer ``bbox_xmin=3, bbox_xmax=5, bbox_ymin=0, bbox_ymax=1`` give
    ``[[2.5, -0.5, 5.5, 1.5]]``.
    """
    for names in _BOX_COLUMNS:
        cols = _find(table, names)
        if cols is None:
            continue
        arrays = []
        integer = True
        for c in cols:
            col = table[c]
            val = col.to_value(u.pix) if isinstance(col, u.Quantity) else np.asarray(col)
            integer &= np.issubdtype(np.asarray(val).dtype, np.integer)
            arrays.append(np.asarray(val, dtype=float))
        boxes = np.stack(arrays, axis=1).reshape(-1, 4)
        if integer:
            boxes = boxes + np.array([-0.5, -0.5, 0.5, 0.5])
        return boxes
    return None


def catalog_to_boxes(table, image=None, *, wcs=None, shape=None, size_factor=1.0, min_size=2.0,
                     default_size=None, clip=True):
    """Pixel bounding boxes of catalog sources, for training or evaluating a detector.

    Boxes come, in this order of preference, from bounding-box columns
    (photutils segment ``bbox_*``, an astrofmx catalog, ``xmin``...), from
    Gaussian components (major/minor axes and position angle, as PyBDSF
    ``Maj``/``Min``/``PA`` and Aegean ``a``/``b``/``pa`` write them, or
    photutils ``semimajor_sigma``/``semiminor_sigma``/``orientation``), or
    from a fixed size (``default_size``, else the restoring beam
    ``BMAJ``/``BMIN``/``BPA`` of the image header) around positions only.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        The catalog. Positions are read from sky columns (``ra``/``dec``,
        ``RA``/``DEC``, ``sky_centroid``; see
        `~astrofmx.io.catalog_sky_positions`) when a WCS is available,
        otherwise from pixel columns (``x_centroid``/``y_centroid``,
        ``xcentroid``, ``x``/``y``, PyBDSF ``Xposn``/``Yposn``; 0-based; see
        `~astrofmx.io.catalog_positions`).
    image : optional
        The image the boxes are for (anything `~astrofmx.io.load_image`
        accepts, or an array): gives the shape, WCS and beam.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS (overrides the image's).
    shape : tuple of int, optional
        ``(ny, nx)`` of the image when ``image`` is not given (for clipping).
    size_factor : float, optional
        Half-extent of a box along each ellipse axis, in units of the
        component FWHM (1 gives boxes two FWHM across, ~+-2.35 sigma).
    min_size : float, optional
        Minimum box side in pixels.
    default_size : `~astropy.units.Quantity` or float, optional
        FWHM of sources in a catalog without shape columns (an angle, or
        pixels); defaults to the beam major axis from the header.
    clip : bool, optional
        Clip boxes to the image; boxes entirely outside it are dropped with a
        warning (needs the image shape).

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (N, 4)
        ``(xmin, ymin, xmax, ymax)`` in pixels, with pixel centres at integer
        coordinates (the convention of `~astrofmx.io.make_source_catalog`).

    Raises
    ------
    ValueError
        If the table has no usable position or size columns, or sky columns
        need a WCS that is missing.

    Examples
    --------
    A component with a 4-pixel FWHM along x and 2 pixels along y:

    >>> from astropy.table import QTable
    >>> from astrofmx.detection import catalog_to_boxes
    >>> cat = QTable({"x": [20.0], "y": [10.0], "semimajor_sigma": [4 / 2.3548], "semiminor_sigma": [2 / 2.3548],
    ...               "orientation": [0.0]})
    >>> catalog_to_boxes(cat, shape=(64, 64)).round(2)
    array([[16., 8., 24., 12.]])
    """
    from astropy.table import Table

    if not isinstance(table, Table):
        raise TypeError(f"table must be an astropy Table or QTable, got {type(table).__name__}")
    if not np.isfinite(size_factor) or size_factor <= 0:
        raise ValueError(f"size_factor must be a positive number, got {size_factor!r}")
    img_shape, wcs, header = _resolve_image(image, wcs)
    img_shape = _shape(None, shape) if shape is not None else img_shape
    if wcs is not None and not getattr(wcs, "has_celestial", False):
        wcs = None
    n = len(table)
    if n == 0:
        return np.zeros((0, 4))

    boxes = _boxes_from_table(table)
    if boxes is None:
        boxes = _gaussian_boxes(table, wcs, header, size_factor, default_size)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if not np.all(np.isfinite(boxes)):
        raise ValueError("some boxes are NaN or infinite: check the catalog's positions and sizes (and the WCS)")
    # enforce the minimum size around the box centre
    centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    half = np.maximum(0.5 * (boxes[:, 2:] - boxes[:, :2]), 0.5 * float(min_size))
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    if clip and img_shape is not None:
        boxes = _clip_boxes(boxes, img_shape)
    return boxes


def _clip_boxes(boxes, shape, *, warn=True):
    """Clip boxes to an image of ``shape`` and drop those entirely outside (with a warning)."""
    ny, nx = shape
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    inside = (boxes[:, 2] > -0.5) & (boxes[:, 0] < nx - 0.5) & (boxes[:, 3] > -0.5) & (boxes[:, 1] < ny - 0.5)
    if not np.all(inside) and warn:
        warnings.warn(f"{int((~inside).sum())} of {len(boxes)} boxes lie entirely outside the {ny}x{nx} image "
                      "and were dropped", AstrofmxWarning)
    boxes = boxes[inside]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], -0.5, nx - 0.5)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], -0.5, ny - 0.5)
    return boxes


def _gaussian_boxes(table, wcs, header, size_factor, default_size):
    n = len(table)
    shape_cols = None
    for major, minor, angle, unit, convention, kind in _SHAPE_COLUMNS:
        cols = _find(table, (major, minor, angle))
        if cols is not None:
            shape_cols = (cols, unit, convention, kind)
            break

    if shape_cols is not None:
        (cmaj, cmin, cang), unit, convention, kind = shape_cols
        if unit is None and getattr(table[cmaj], "unit", None) in (None, ""):
            raise ValueError(f"columns {cmaj!r}/{cmin!r} have no unit; give them one (e.g. table[{cmaj!r}].unit = "
                             "'arcsec' or 'pix')")
        maj = _values(table, cmaj, unit)
        mnr = _values(table, cmin, unit)
        ang = _values(table, cang, u.deg)
        if ang.unit == u.dimensionless_unscaled:
            ang = ang.value * u.deg
        factor = size_factor * (1.0 / _FWHM_TO_SIGMA if kind == "sigma" else 1.0)
        # half-extents: size_factor FWHM along each axis
        maj = maj * factor
        mnr = mnr * factor
    else:
        if default_size is None:
            bmaj = header.get("BMAJ") if header else None
            if bmaj is None:
                raise ValueError("the catalog has neither box columns (bbox_xmin...) nor Gaussian shape columns "
                                 "(Maj/Min/PA, a/b/pa, semimajor_sigma...); pass default_size=<FWHM> "
                                 "(an angle or pixels) or an image whose header has BMAJ/BMIN")
            bmin = header.get("BMIN", bmaj)
            maj = np.full(n, float(bmaj)) * u.deg * size_factor
            mnr = np.full(n, float(bmin)) * u.deg * size_factor
            ang = np.full(n, float(header.get("BPA", 0.0))) * u.deg
        else:
            size = default_size if isinstance(default_size, u.Quantity) else float(default_size) * u.pix
            maj = np.full(n, size.value) * size.unit * size_factor
            mnr = maj.copy()
            ang = np.zeros(n) * u.deg
        convention = "pa"

    sky_pos = catalog_sky_positions(table)
    angular = maj.unit.physical_type == "angle"
    if angular or (convention == "pa" and wcs is not None and sky_pos is not None):
        if wcs is None:
            raise ValueError("source sizes are angles, so a celestial WCS is needed to turn them into pixel boxes; "
                             "pass wcs= or an image with a WCS")
        if not angular:  # pixel sizes with a PA: convert through the pixel scale
            from astropy.wcs.utils import proj_plane_pixel_scales

            scale = np.mean(proj_plane_pixel_scales(wcs.celestial)) * u.deg
            maj, mnr = maj.to_value(u.pix) * scale, mnr.to_value(u.pix) * scale
        centre = sky_pos if sky_pos is not None else catalog_sky_positions(table, wcs)  # pixel columns via the WCS
        if centre is None:
            raise ValueError(f"no position columns found in {table.colnames}")
        return ellipse_bboxes(centre, maj, mnr, ang, wcs=wcs, n_points=48)

    # pixel sizes: pixel columns, else sky positions through the WCS (catalog_positions raises without either)
    xy = catalog_positions(table, wcs)
    theta = ang.to_value(u.rad)
    if convention == "pa":  # east of north with north up, east left
        theta = theta + np.pi / 2
    return ellipse_bboxes(xy, maj.to_value(u.pix), mnr.to_value(u.pix), theta * u.rad)


# -- box readers (training and evaluation) -----------------------------------------------------------
def _labels_from(table, n, config, label_column):
    if label_column is None:
        return np.ones(n, dtype=np.int64)
    if label_column not in table.colnames:
        raise ValueError(f"label_column {label_column!r} is not a column of the box table ({table.colnames})")
    names = list(config.class_names)
    values = [str(v) for v in np.asarray(table[label_column])]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"labels {unknown} in column {label_column!r} are not in class_names={tuple(names)}")
    return np.array([names.index(v) + 1 for v in values], dtype=np.int64)


def _boxes_for_image(boxes, img, config=None, label_column=None):
    """``(boxes (N, 4) in image pixels, labels (N,) 1-based)`` for one image from any accepted form."""
    from astropy.table import Table

    config = config or DetectorConfig()
    shape = img.data.shape
    if boxes is None:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    if isinstance(boxes, Table):
        arr = _boxes_from_table(boxes)
        if arr is None:  # a source catalog: boxes from Gaussian components or the beam
            arr = catalog_to_boxes(boxes, img, clip=True)
            if label_column is not None and len(arr) != len(boxes):
                raise ValueError(f"{len(boxes) - len(arr)} catalog sources lie outside the image, so their labels "
                                 "cannot be matched; select the sources inside the image first")
        labels = _labels_from(boxes, len(arr), config, label_column)
    else:
        arr = np.asarray(boxes, dtype=float)
        if arr.size == 0:
            arr = arr.reshape(0, 4)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes must be an (N, 4) array of (xmin, ymin, xmax, ymax), a Table, or a COCO file; "
                             f"got an array of shape {arr.shape}")
        labels = np.ones(len(arr), dtype=np.int64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("boxes contain NaN or infinite values")
    if np.any(arr[:, 2] <= arr[:, 0]) or np.any(arr[:, 3] <= arr[:, 1]):
        bad = int(np.sum((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])))
        raise ValueError(f"{bad} boxes have xmax <= xmin or ymax <= ymin; boxes are (xmin, ymin, xmax, ymax)")
    ny, nx = shape
    outside = (arr[:, 2] <= -0.5) | (arr[:, 0] >= nx - 0.5) | (arr[:, 3] <= -0.5) | (arr[:, 1] >= ny - 0.5)
    if outside.any():
        first = arr[outside][0].round(2).tolist()
        raise ValueError(f"{int(outside.sum())} boxes lie entirely outside the {ny}x{nx} image (e.g. {first}); "
                         "boxes must be in the image's 0-based pixel coordinates")
    arr = arr.copy()
    arr[:, [0, 2]] = np.clip(arr[:, [0, 2]], -0.5, nx - 0.5)
    arr[:, [1, 3]] = np.clip(arr[:, [1, 3]], -0.5, ny - 0.5)
    return arr, labels


def _read_coco(coco, images, config):
    """``[(image, boxes, labels)]`` from a COCO detection file (or dict)."""
    if isinstance(coco, (str, os.PathLike)):
        path = Path(coco)
        if not path.is_file():
            raise FileNotFoundError(f"COCO annotation file {str(path)!r} does not exist")
        data = json.loads(path.read_text())
        base = path.parent
    else:
        data, base = coco, Path(".")
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError("a COCO file must hold 'images' and 'annotations' lists")
    cats = {c["id"]: c.get("name", str(c["id"])) for c in data.get("categories", [])}
    names = list(config.class_names)
    if cats and all(n in names for n in cats.values()):
        cat_to_label = {cid: names.index(n) + 1 for cid, n in cats.items()}
    elif len(names) == 1:
        cat_to_label = None  # class-agnostic
    else:
        raise ValueError(f"COCO categories {sorted(cats.values())} do not match class_names={tuple(names)}")
    entries = data["images"]
    if images is None:
        images = [base / e["file_name"] for e in entries]
    elif not isinstance(images, (list, tuple)) or len(images) != len(entries):
        raise ValueError(f"with a COCO file, images must be None (read the files it names) or a list of "
                         f"{len(entries)} images in the file's order")
    by_image = {e["id"]: [] for e in entries}
    for ann in data["annotations"]:
        if ann["image_id"] not in by_image:
            raise ValueError(f"COCO annotation {ann.get('id')} refers to unknown image_id {ann['image_id']}")
        by_image[ann["image_id"]].append(ann)
    out = []
    for entry, image in zip(entries, images):
        anns = by_image[entry["id"]]
        # COCO boxes are [x, y, w, h] with the image corner at (0, 0): shift to pixel centres at integers
        boxes = np.array([[a["bbox"][0] - 0.5, a["bbox"][1] - 0.5, a["bbox"][0] + a["bbox"][2] - 0.5,
                           a["bbox"][1] + a["bbox"][3] - 0.5] for a in anns], dtype=float).reshape(-1, 4)
        labels = np.array([1 if cat_to_label is None else cat_to_label[a["category_id"]] for a in anns],
                          dtype=np.int64)
        out.append((image, boxes, labels))
    return out
