"""Column descriptions and provenance for the tables astrofmx writes (what an astronomer reads in the header)."""

import os
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = ["annotate_table", "COLUMN_DESCRIPTIONS"]

#: descriptions of the columns astrofmx writes, by name (a column's own description wins)
COLUMN_DESCRIPTIONS = {
    "id": "source number, from 1",
    "x_centroid": "x position (0-based pixels, centre of the first pixel at 0)",
    "y_centroid": "y position (0-based pixels, centre of the first pixel at 0)",
    "x_centroid_err": "1-sigma uncertainty of x_centroid",
    "y_centroid_err": "1-sigma uncertainty of y_centroid",
    "sky_centroid": "sky position (through the image's WCS)",
    "ra": "right ascension (ICRS)",
    "dec": "declination (ICRS)",
    "bbox_xmin": "bounding box: left edge (0-based pixels)",
    "bbox_xmax": "bounding box: right edge (0-based pixels)",
    "bbox_ymin": "bounding box: bottom edge (0-based pixels)",
    "bbox_ymax": "bounding box: top edge (0-based pixels)",
    "score": "detection score in [0, 1] (calibrated probability of a real source where the detector says so)",
    "label": "class of the source",
    "peak": "brightest pixel value inside the box (image units)",
    "peak_err": "1-sigma uncertainty of peak (local noise)",
    "peak_snr": "peak over the local noise (background subtracted)",
    "peak_flux": "peak surface brightness",
    "int_flux": "integrated flux density",
    "flux": "integrated flux (Jy for a Jy/beam image with a beam; else the background-subtracted pixel sum)",
    "flux_err": "1-sigma uncertainty of flux",
    "semimajor": "semi-major axis of the source's second moments (1 sigma)",
    "semiminor": "semi-minor axis of the source's second moments (1 sigma)",
    "orientation": "position angle of the semi-major axis, counter-clockwise from +x",
    "major": "major axis (FWHM)",
    "minor": "minor axis (FWHM)",
    "pa": "position angle of the major axis",
    "theta": "angle of the major axis, counter-clockwise from +x",
    "morphology": "simulated morphology class",
    "n_components": "number of simulated components",
    "snr": "simulated peak signal-to-noise ratio",
    "has_artefact": "an imaging artefact overlaps the source",
    "finder": "source finder",
    "n_sources": "number of sources the finder reports",
    "n_reference": "number of reference sources",
    "n_matched": "sources matched one-to-one to a reference source",
    "completeness": "n_matched / n_reference (recall)",
    "purity": "n_matched / n_sources (precision)",
    "f1": "harmonic mean of completeness and purity",
    "median_separation": "median separation of the matched pairs",
    "x0": "tile: first column (0-based pixels)",
    "y0": "tile: first row (0-based pixels)",
    "width": "width of the box (catalogs) or the tile (tile tables)",
    "height": "height of the box (catalogs) or the tile (tile tables)",
    "valid_fraction": "fraction of the tile's pixels that are valid (not NaN, blank or masked)",
    "median_normalized": "median normalized value of the tile's valid pixels (model input scale, 0 to 1)",
    "input": "input file or item of the batch",
    "status": "outcome for this input",
    "n_rows": "rows of the result",
    "error": "error message where the input failed",
    "runtime_s": "wall time in seconds",
}

_PATH_KEYS = ("image", "source_file", "input_file")
#: columns in image pixels: given ``u.pix`` where they have no unit
PIXEL_COLUMNS = ("x_centroid", "y_centroid", "x_centroid_err", "y_centroid_err", "bbox_xmin", "bbox_xmax",
                 "bbox_ymin", "bbox_ymax", "x0", "y0", "width", "height")
_PACKAGE = Path(__file__).resolve().parents[1]


def _package_relative(value):
    """An absolute path inside the installed astrofmx package as ``astrofmx/<relative>``; else None."""
    try:
        rel = Path(value).resolve().relative_to(_PACKAGE)
    except (ValueError, OSError):
        return None
    return "astrofmx/" + rel.as_posix()


def _clean_meta_value(key, value):
    if not isinstance(value, (str, os.PathLike)):
        return value
    text = os.fspath(value)
    if not os.path.isabs(text):
        return text
    inside = _package_relative(text)
    if inside is not None:
        return inside
    return os.path.basename(text) if key in _PATH_KEYS else text


def annotate_table(table, *, image=None, pixel_units=True, **provenance):
    """A shallow copy of ``table`` with column descriptions and provenance metadata, ready to be written.

    Columns without a description get the one of ``COLUMN_DESCRIPTIONS``, and
    the pixel columns without a unit (``x_centroid``, ``bbox_xmin``, tile
    ``x0``/``width``...) get ``u.pix``;
    ``meta`` gets the date and package versions (`~astrofmx.utils.get_meta`)
    where they are missing, ``image`` (the source image's file name, not its
    folder) and any other ``provenance`` items given. Absolute paths inside
    the installed package (the bundled image, the embedded detector) become
    ``astrofmx/<path>``; the paths under ``image`` and ``source_file`` keep
    only their file name. The input table is not changed.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
    image : str or path-like, optional
        The image the table was made from.
    pixel_units : bool, optional
        Give the unit-less pixel columns ``u.pix``.
    **provenance
        More metadata (backbone, options...), added as given.

    Returns
    -------
    annotated : same type as ``table``

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astrofmx.io import annotate_table
    >>> t = annotate_table(QTable({"x_centroid": [1.0], "score": [0.9]}), image="/data/field.fits")
    >>> t["x_centroid"].unit, t["score"].description
    (Unit("pix"), 'detection score in [0, 1] (calibrated probability of a real source where the detector says so)')
    >>> t.meta["image"], sorted(t.meta["version"])[0], "date" in t.meta
    ('field.fits', 'astrofmx', True)
    """
    from ..utils import get_meta

    out = table.copy(copy_data=False)
    if pixel_units:
        for name in PIXEL_COLUMNS:
            col = out[name] if name in out.colnames else None
            if col is None or getattr(col, "unit", None) is not None or getattr(col, "dtype", None) is None \
                    or col.dtype.kind not in "iuf":
                continue
            description = col.info.description
            out[name] = u.Quantity(np.asarray(col), u.pix, dtype=col.dtype)
            out[name].info.description = description
    for name in out.colnames:
        col = out[name]
        info = col.info
        if not getattr(info, "description", None) and name in COLUMN_DESCRIPTIONS:
            if isinstance(col, SkyCoord):
                info.description = COLUMN_DESCRIPTIONS[name]
            else:
                col.info.description = COLUMN_DESCRIPTIONS[name]
    meta = dict(get_meta())
    meta.update(out.meta)
    if image is not None:
        meta["image"] = image
    meta.update(provenance)
    out.meta = {key: _clean_meta_value(key, value) for key, value in meta.items()}
    return out
