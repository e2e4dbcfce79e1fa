"""DS9 regions from source catalogs, written through the regions package.

Every box of a source catalog (see `make_source_catalog`) becomes a
rectangle region labelled with its score.  Files are always written by
`regions.Regions.serialize` (``format='ds9'``; only DS9's ``global`` line of
defaults is added where regions writes none), never from hand-built region strings, so
the 0-based (astropy) to 1-based (DS9 ``image``) pixel shift is done by the
regions package.
"""

import logging
import math

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from ..utils import atomic_write, check_overwrite

__all__ = ["to_regions", "write_ds9"]

logger = logging.getLogger(__name__)

_PIXEL_COLUMNS = ("x_centroid", "y_centroid", "width", "height")


def _values(column, unit=None):
    """Plain float array of a (Quantity) column."""
    if hasattr(column, "unit") and column.unit is not None and hasattr(column, "to_value"):
        return np.asarray(column.to_value(unit) if unit is not None else column.value, dtype=float)
    return np.asarray(column, dtype=float)


def _row_text(catalog, index, label_format):
    if label_format is None:
        return None
    fields = {}
    for name in catalog.colnames:
        if name == "sky_centroid":
            continue
        value = catalog[name][index]
        if hasattr(value, "unit") and hasattr(value, "value"):
            value = value.value
        if isinstance(value, np.generic):
            value = value.item()
        fields[name] = value
    score = fields.get("score")
    if "score" in label_format and (score is None or (isinstance(score, float) and math.isnan(score))):
        return None  # classical finders have no score: leave the box unlabelled
    try:
        return label_format.format(**fields)
    except (KeyError, IndexError) as exc:
        raise ValueError(f"label_format {label_format!r} refers to {exc}, which is not a catalog column; "
                         f"available: {sorted(fields)}") from None


def _check_finite(*columns):
    """A region file must not hold ``box(nan, ...)``: name the rows whose position or size is not finite."""
    bad = ~np.all([np.isfinite(np.asarray(c, dtype=float)) for c in columns], axis=0)
    if np.any(bad):
        rows = np.flatnonzero(bad)
        raise ValueError(f"{rows.size} catalog row(s) have a NaN or infinite position or box size (rows "
                         f"{rows[:10].tolist()}{' ...' if rows.size > 10 else ''}); remove them "
                         "(e.g. catalog[np.isfinite(catalog['x_centroid'])]) before writing regions")


def to_regions(catalog, *, wcs=None, frame="auto", label_format="{score:.2f}", color=None):
    """Convert a source catalog into DS9-ready rectangle regions.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        A source catalog in the convention of `make_source_catalog`
        (``x_centroid``, ``y_centroid``, ``width``, ``height`` in pixels;
        optionally ``sky_centroid``, ``width_sky`` and ``height_sky``).
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image the catalog was measured on.  With a WCS
        each pixel box is converted to a `~regions.RectangleSkyRegion` by
        `regions.RectanglePixelRegion.to_sky`, so its sky size and rotation
        angle follow the local projection (the box stays aligned with the
        image axes when shown in DS9).  Without a WCS, a catalog with
        ``sky_centroid``, ``width_sky`` and ``height_sky`` gives sky
        rectangles aligned with the local north (angle 0); any other catalog
        gives `~regions.RectanglePixelRegion` boxes.
    frame : {'auto', 'sky', 'image'}, optional
        ``'auto'`` chooses as described under ``wcs``; ``'image'`` always
        writes pixel boxes (exactly the catalog's boxes, whatever the
        projection: DS9 draws sky-box angles with one rotation for the whole
        image, which is visibly off in wide fields near a pole such as
        1904-66); ``'sky'`` requires a WCS or the sky columns.
    label_format : str or None, optional
        `str.format` template for the text shown next to each box, filled
        with the row's columns (``{score:.2f}``, ``{id}``, ``{label}`` ...).
        Rows whose ``score`` is NaN (classical finders) are left unlabelled
        when the template uses the score.  `None` writes no text.
    color : str, optional
        DS9 colour of every box (e.g. ``'green'``).

    Returns
    -------
    regions : `~regions.Regions`
        One rectangle per row, in catalog order; empty for an empty catalog.

    Raises
    ------
    ValueError
        If a required column is missing or ``label_format`` names an unknown
        column.
    TypeError
        If ``wcs`` is not a celestial `~astropy.wcs.WCS`.

    Examples
    --------
    >>> from astrofmx.io import make_source_catalog, to_regions
    >>> cat = make_source_catalog([[10, 20, 14, 26]], scores=[0.91])
    >>> regs = to_regions(cat)
    >>> regs[0].center, regs[0].meta['text']
    (PixCoord(x=12.0, y=23.0), '0.91')
    """
    from regions import PixCoord, RectanglePixelRegion, RectangleSkyRegion, Regions

    if frame not in ("auto", "sky", "image"):
        raise ValueError(f"frame must be 'auto', 'sky' or 'image', got {frame!r}")
    if wcs is not None and not getattr(wcs, "has_celestial", False):
        raise TypeError(f"wcs must be an astropy WCS with celestial axes, got {wcs!r}")
    n = len(catalog)
    colnames = set(catalog.colnames)
    has_pixel = all(name in colnames for name in _PIXEL_COLUMNS)
    has_sky = all(name in colnames for name in ("sky_centroid", "width_sky", "height_sky"))
    if wcs is not None and not has_pixel:
        raise ValueError(f"catalog needs the pixel columns {_PIXEL_COLUMNS} to build sky boxes with a WCS; "
                         f"it has {catalog.colnames}")
    if not has_pixel and not has_sky:
        raise ValueError(f"catalog must have the pixel columns {_PIXEL_COLUMNS} or the sky columns "
                         f"('sky_centroid', 'width_sky', 'height_sky'); it has {catalog.colnames}")
    if frame == "image":
        if not has_pixel:
            raise ValueError(f"frame='image' needs the pixel columns {_PIXEL_COLUMNS}; the catalog has "
                             f"{catalog.colnames}")
        wcs, has_sky = None, False
    elif frame == "sky" and wcs is None and not has_sky:
        raise ValueError("frame='sky' needs a WCS (wcs=...) or the catalog columns sky_centroid, width_sky and "
                         "height_sky")
    visual = {"color": color} if color is not None else {}

    regs = []
    if wcs is not None or not has_sky:
        x = _values(catalog["x_centroid"], u.pix)
        y = _values(catalog["y_centroid"], u.pix)
        # the box centre, not the flux centroid, so that the box covers the segment
        if all(name in colnames for name in ("bbox_xmin", "bbox_xmax", "bbox_ymin", "bbox_ymax")):
            x = 0.5 * (_values(catalog["bbox_xmin"], u.pix) + _values(catalog["bbox_xmax"], u.pix))
            y = 0.5 * (_values(catalog["bbox_ymin"], u.pix) + _values(catalog["bbox_ymax"], u.pix))
        w = _values(catalog["width"], u.pix)
        h = _values(catalog["height"], u.pix)
        _check_finite(x, y, w, h)
        for i in range(n):
            meta = {}
            text = _row_text(catalog, i, label_format)
            if text is not None:
                meta["text"] = text
            # regions requires strictly positive sizes; a point source gets a 1-pixel box
            reg = RectanglePixelRegion(PixCoord(x[i], y[i]), width=max(w[i], 1.0), height=max(h[i], 1.0),
                                       meta=meta, visual=dict(visual))
            if wcs is not None:
                reg = reg.to_sky(wcs.celestial)
                reg.meta = dict(meta)
                reg.visual = dict(visual)
            regs.append(reg)
    else:
        centers = catalog["sky_centroid"]
        if not isinstance(centers, SkyCoord):
            raise ValueError(f"sky_centroid must be a SkyCoord column, got {type(centers).__name__}")
        w = catalog["width_sky"].to(u.arcsec)
        h = catalog["height_sky"].to(u.arcsec)
        _check_finite(centers.spherical.lon.deg, centers.spherical.lat.deg, w.value, h.value)
        for i in range(n):
            meta = {}
            text = _row_text(catalog, i, label_format)
            if text is not None:
                meta["text"] = text
            regs.append(RectangleSkyRegion(centers[i], width=max(w[i], 0.01 * u.arcsec),
                                           height=max(h[i], 0.01 * u.arcsec), meta=meta, visual=dict(visual)))
    return Regions(regs)


#: DS9's defaults for every region of the file, written once (its own files start with such a line)
_GLOBAL = ('global color={color} dashlist=8 3 width=1 font="helvetica 10 normal roman" select=1 highlite=1 '
           'dash=0 fixed=0 edit=1 move=1 delete=1 include=1 source=1')


def _with_global_line(text, color=None):
    """The DS9 text of `regions` with a ``global`` line after the header comment (where regions wrote none)."""
    lines = text.splitlines()
    if any(line.startswith("global") for line in lines):
        return text if text.endswith("\n") else text + "\n"
    at = 1 if lines and lines[0].startswith("#") else 0
    lines.insert(at, _GLOBAL.format(color=color or "green"))
    return "\n".join(lines) + "\n"


def write_ds9(catalog, filename, *, overwrite=False, wcs=None, frame="auto", label_format="{score:.2f}",
              color=None, precision=8):
    """Write a source catalog as a DS9 region file (one box per source).

    The file is written by the regions package
    (``Regions.serialize(format='ds9')``, with DS9's ``global`` line of
    defaults after the header): pixel boxes in the ``image``
    frame with DS9's 1-based pixel coordinates (astropy pixel ``(0, 0)`` is
    DS9 ``(1, 1)``), sky boxes in the catalog's frame (``icrs``/``fk5``).
    Each box is labelled with its score (``text={0.93}``).

    An empty catalog writes a valid, empty region file (zero regions; DS9
    loads it and shows nothing), so that a pipeline over many images does
    not fail on an image without sources.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        A source catalog (see `to_regions`).
    filename : str or path-like
        Output file, conventionally ``*.reg``.
    overwrite : bool, optional
        Replace an existing file.  Without it an existing file is never
        touched.
    wcs, frame, label_format, color
        Passed to `to_regions`.
    precision : int, optional
        Number of decimals written for coordinates and sizes.

    Returns
    -------
    regions : `~regions.Regions`
        The regions written.

    Raises
    ------
    FileExistsError
        If ``filename`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.io import make_source_catalog, write_ds9
    >>> cat = make_source_catalog([[10, 20, 14, 26]], scores=[0.91])
    >>> fname = pathlib.Path(tempfile.mkdtemp()) / "sources.reg"
    >>> _ = write_ds9(cat, fname)
    >>> print(fname.read_text().splitlines()[-1])  # 1-based DS9 pixels
    box(13.00000000,24.00000000,4.00000000,6.00000000,0.00000000)
    """
    check_overwrite(filename, overwrite)
    regs = to_regions(catalog, wcs=wcs, frame=frame, label_format=label_format, color=color)
    if len(regs) == 0:
        logger.info("catalog is empty: writing an empty region file %s", filename)
    text = _with_global_line(regs.serialize(format="ds9", precision=precision), color)
    with atomic_write(filename, overwrite=overwrite, suffix=".reg") as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)
    logger.info("wrote %d regions to %s", len(regs), filename)
    return regs
