"""Readers for the reference catalogs astronomers compare against (Aegean, PyBDSF, SExtractor)."""

import logging
import os
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table

from ..io import catalog_positions, catalog_sky_positions, ellipse_bboxes, make_source_catalog

__all__ = ["read_reference_catalog"]

logger = logging.getLogger(__name__)

_FORMATS = ("auto", "aegean", "pybdsf", "sextractor", "generic")


def _detect_format(table):
    names = set(table.colnames)
    if {"ra", "dec", "a", "b", "pa"} <= names and ({"island", "source"} <= names or "uuid" in names):
        return "aegean"
    if {"RA", "DEC", "Maj", "Min", "PA"} <= names and ("Source_id" in names or "Gaus_id" in names):
        return "pybdsf"
    if {"X_IMAGE", "Y_IMAGE"} <= names:
        return "sextractor"
    return "generic"


def _read_table(source):
    if isinstance(source, Table):
        return QTable(source)
    path = os.fspath(source)
    if not os.path.exists(path):
        raise FileNotFoundError(f"reference catalog {path!r} does not exist")
    try:
        return _read_file(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (OSError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"reference catalog {path!r} cannot be read as a table ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); give a FITS, VOTable, ECSV or "
                         "CSV table, or a SExtractor/ASCII catalog, with sky or pixel positions") from None


def _read_file(path):
    """The table in ``path``, in the format its name (or, for other names, its first line) says."""
    lower = path.lower()
    with warnings.catch_warnings():
        # PyBDSF and Aegean write some units astropy does not parse ('Jy/beam' variants)
        warnings.filterwarnings("ignore", message=".*did not parse as fits unit.*")
        warnings.filterwarnings("ignore", category=u.UnitsWarning)
        if lower.endswith((".fits", ".fit", ".fits.gz", ".fts")):
            return QTable.read(path, format="fits")
        if lower.endswith((".vot", ".xml", ".votable")):
            return QTable.read(path, format="votable")
        if lower.endswith(".ecsv"):
            return QTable.read(path, format="ascii.ecsv")
        if lower.endswith(".csv"):
            return QTable.read(path, format="ascii.csv")
        with open(path, errors="replace") as fh:
            head = fh.read(2048)
        if head.lstrip().startswith("#   1 "):
            return QTable.read(path, format="ascii.sextractor")
        return QTable.read(path, format="ascii")


def _quantity(column, default_unit):
    if getattr(column, "unit", None) is not None:
        return u.Quantity(column)
    return u.Quantity(np.asarray(column, dtype=float), default_unit)


def _first(table, *names):
    for name in names:
        if name in table.colnames:
            return name
    return None


def _generic_positions(table, wcs):
    """``(sky, (x, y))`` of a generic catalog: its sky positions (or None) and pixel positions (or None).

    With a WCS the pixel positions are the sky positions projected (pixel
    columns where the catalog has no sky positions); without one they are the
    catalog's pixel columns, and a catalog with sky positions only gets none.
    """
    sky = catalog_sky_positions(table)
    try:
        xy = catalog_positions(table, wcs, prefer="sky")
    except ValueError as err:
        if sky is None:
            raise ValueError(f"cannot find source positions: {err}") from None
        logger.debug("no pixel positions for the reference catalog: %s", err)  # sky only, no WCS
        return sky, None
    return sky, (xy[:, 0], xy[:, 1])


def _describe_source(source):
    return "the reference table" if isinstance(source, Table) else f"the reference catalog {os.fspath(source)!r}"


def _on_image(sky, xy, wcs, source):
    """Rows whose sky position projects through ``wcs`` (NaN on the far side of the projection).

    ValueError if no source projects, or (when the WCS knows the image size) none falls on the image: the
    catalog belongs to another sky field.
    """
    x, y = xy
    keep = np.isfinite(x) & np.isfinite(y)
    shape = getattr(wcs, "array_shape", None) or getattr(getattr(wcs, "celestial", None), "array_shape", None)
    inside = keep.copy()
    if shape is not None and len(shape) >= 2:
        ny, nx = shape[-2:]
        inside &= (x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5)
    if len(x) and not inside.any():
        c = wcs.celestial
        centre = c.pixel_to_world(*(((n - 1) / 2 for n in shape[::-1][:2]) if shape is not None else (0, 0)))
        ra, dec = sky.icrs.ra.deg, sky.icrs.dec.deg
        raise ValueError(
            f"no reference source falls on the image: none of the {len(x)} sources of {_describe_source(source)} "
            f"(RA {np.nanmin(ra):.4f}..{np.nanmax(ra):.4f} deg, Dec {np.nanmin(dec):.4f}..{np.nanmax(dec):.4f} "
            f"deg) lies inside the image (centre RA {centre.icrs.ra.deg:.4f}, Dec {centre.icrs.dec.deg:.4f} deg"
            f"{f', {shape[-1]}x{shape[-2]} pixels' if shape is not None else ''}); the catalog belongs to another "
            "sky field: give the reference catalog of this image")
    if not keep.all():
        logger.warning("%d of %d reference sources lie on the far side of the image's projection and were dropped",
                       int((~keep).sum()), len(x))
    return keep


def read_reference_catalog(source, *, wcs=None, format="auto"):
    """Read a reference source catalog into the astrofmx catalog convention.

    Understands the component tables of Aegean (``ra``, ``dec``, ``a``,
    ``b``, ``pa``; ``a``/``b`` are FWHMs in arcsec), PyBDSF source
    (``srl``) and Gaussian (``gaul``) FITS tables (``RA``, ``DEC``,
    ``Maj``, ``Min``, ``PA`` in degrees), SExtractor ASCII catalogs
    (``X_IMAGE``, ``Y_IMAGE``: 1-based pixels, converted to 0-based) and
    generic tables with ``ra``/``dec`` or ``x``/``y`` columns.

    Source extents become boxes: the bounding box of the FWHM ellipse for
    Gaussian components (projected exactly through the WCS), ``+-3 sqrt(X2_IMAGE)`` by
    ``+-3 sqrt(Y2_IMAGE)`` for SExtractor, zero-size boxes where a catalog
    has no shapes.

    Parameters
    ----------
    source : str, path-like or `~astropy.table.Table`
        The catalog file (FITS, VOTable, ECSV, CSV or SExtractor ASCII) or
        an already-read table.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image the catalog refers to.  With it the
        result has pixel positions and boxes; sky catalogs read without a
        WCS have only ``sky_centroid`` (enough for sky cross-matching).
    format : {'auto', 'aegean', 'pybdsf', 'sextractor', 'generic'}, optional
        Catalog flavour; ``'auto'`` guesses it from the column names.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        ``id`` (from 1), ``sky_centroid`` when the catalog has sky
        positions (or pixel positions and a WCS), ``x_centroid`` /
        ``y_centroid`` and the box columns of `make_source_catalog` when
        pixel positions are known, plus ``major``, ``minor``, ``pa`` and
        ``peak_flux`` / ``flux`` where the catalog has them.
        ``meta['format']`` names the flavour read.

    Raises
    ------
    ValueError
        If the format is unknown or positions cannot be found.
    FileNotFoundError
        If ``source`` does not exist.

    Examples
    --------
    >>> from astrofmx.compare import read_reference_catalog
    >>> from astrofmx.datasets import get_bundled_path
    >>> ref = read_reference_catalog(get_bundled_path("1904_comp.fits"))
    >>> len(ref), ref.meta["format"]
    (51, 'aegean')
    """
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {format!r}")
    if wcs is not None and not getattr(wcs, "has_celestial", False):
        raise TypeError(f"wcs must be an astropy WCS with celestial axes, got {wcs!r}")
    table = _read_table(source)
    fmt = _detect_format(table) if format == "auto" else format

    sky = None
    xy = None
    n_dropped = 0
    shape = None  # (major, minor, pa) sky quantities
    pixel_half = None  # (half_x, half_y) pixel extents
    extra = {}
    if fmt == "aegean":
        sky = SkyCoord(_quantity(table["ra"], u.deg), _quantity(table["dec"], u.deg))
        shape = (_quantity(table["a"], u.arcsec), _quantity(table["b"], u.arcsec), _quantity(table["pa"], u.deg))
        for name in ("peak_flux", "int_flux"):
            if name in table.colnames:
                extra[name] = np.asarray(u.Quantity(table[name]).value, dtype=float)
    elif fmt == "pybdsf":
        sky = SkyCoord(_quantity(table["RA"], u.deg), _quantity(table["DEC"], u.deg))
        shape = (_quantity(table["Maj"], u.deg), _quantity(table["Min"], u.deg), _quantity(table["PA"], u.deg))
        if wcs is None and {"Xposn", "Yposn"} <= set(table.colnames):
            xy = (np.asarray(u.Quantity(table["Xposn"]).value, dtype=float),
                  np.asarray(u.Quantity(table["Yposn"]).value, dtype=float))  # PyBDSF pixels are 0-based
        for src, dst in (("Peak_flux", "peak_flux"), ("Total_flux", "int_flux")):
            if src in table.colnames:
                extra[dst] = np.asarray(u.Quantity(table[src]).value, dtype=float)
    elif fmt == "sextractor":
        xy = (np.asarray(u.Quantity(table["X_IMAGE"]).value, dtype=float) - 1.0,
              np.asarray(u.Quantity(table["Y_IMAGE"]).value, dtype=float) - 1.0)  # 1-based -> 0-based
        if {"X2_IMAGE", "Y2_IMAGE"} <= set(table.colnames):
            pixel_half = (3 * np.sqrt(np.asarray(u.Quantity(table["X2_IMAGE"]).value, dtype=float)),
                          3 * np.sqrt(np.asarray(u.Quantity(table["Y2_IMAGE"]).value, dtype=float)))
        ra, dec = _first(table, "ALPHA_J2000", "ALPHAWIN_J2000"), _first(table, "DELTA_J2000", "DELTAWIN_J2000")
        if ra and dec:
            sky = SkyCoord(_quantity(table[ra], u.deg), _quantity(table[dec], u.deg))
        for name in ("FLUX_AUTO", "FLUX_ISO"):
            if name in table.colnames:
                extra["flux"] = np.asarray(u.Quantity(table[name]).value, dtype=float)
                break
    else:
        sky, xy = _generic_positions(table, wcs)

    n = len(table)
    if wcs is not None and sky is not None:
        x, y = wcs.celestial.world_to_pixel(sky)
        xy = (np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        keep = _on_image(sky, xy, wcs, source)
        if not keep.all():
            table, sky, xy = table[keep], sky[keep], (xy[0][keep], xy[1][keep])
            shape = None if shape is None else tuple(q[keep] for q in shape)
            extra = {k: v[keep] for k, v in extra.items()}
            n_dropped, n = n - len(table), len(table)
    if xy is not None:
        x, y = xy
        if shape is not None and wcs is not None:
            boxes = ellipse_bboxes(sky, shape[0] / 2, shape[1] / 2, shape[2], wcs=wcs)  # FWHM ellipse
        elif pixel_half is not None:
            hx, hy = pixel_half
            boxes = np.stack([x - hx, y - hy, x + hx, y + hy], axis=1)
        else:
            boxes = np.stack([x, y, x, y], axis=1)
        out = make_source_catalog(boxes.reshape(n, 4), centroids=np.stack([x, y], axis=1) if n else None,
                                  wcs=wcs, warn_empty=False, finder=f"reference:{fmt}")
        if sky is not None and "sky_centroid" not in out.colnames:
            out.add_column(sky, name="sky_centroid", index=3)
    else:
        out = QTable()
        out["id"] = np.arange(1, n + 1, dtype=np.int64)
        out["sky_centroid"] = sky
        from ..utils import get_meta

        out.meta.update(get_meta())
        out.meta["finder"] = f"reference:{fmt}"
    if shape is not None:
        out["major"] = shape[0].to(u.arcsec)
        out["minor"] = shape[1].to(u.arcsec)
        out["pa"] = shape[2].to(u.deg)
    for name, values in extra.items():
        out[name] = values
    out.meta["format"] = fmt
    if wcs is not None and sky is not None and n_dropped:
        out.meta["n_off_projection"] = n_dropped
    if not isinstance(source, Table):
        out.meta["source_file"] = os.fspath(source)
    logger.info("read %d reference sources (%s)", n, fmt)
    return out
