"""FITS header readers: ``BUNIT`` units and the 2-D celestial WCS of an image, with header notes logged."""

import contextlib
import logging
import re
import warnings

import astropy.units as u
from astropy.io.fits.verify import VerifyWarning
from astropy.wcs import WCS, FITSFixedWarning

from ..utils import AstrofmxWarning

__all__ = ["parse_bunit", "require_celestial_wcs"]

logger = logging.getLogger(__name__)

# FITS BUNIT spellings that astropy's parsers do not take as they are
_UNIT_ALIASES = {"jy": "Jy", "beam": "beam", "beams": "beam", "electrons": "electron", "electron": "electron",
                 "e-": "electron", "counts": "count", "count": "count", "pixel": "pix", "pixels": "pix",
                 "pix": "pix", "adu": "adu", "dn": "DN", "mjy": "mJy", "ujy": "uJy", "k": "K", "sr": "sr",
                 "nanomaggy": "nanomaggy", "nanomaggies": "nanomaggy", "maggy": "maggy", "s": "s", "sec": "s"}


def parse_bunit(bunit):
    """Parse a FITS ``BUNIT`` string into an astropy unit, tolerating common spellings.

    Tries the FITS standard, then astropy's generic format, then a
    case-insensitive reading of each word (``JY/BEAM`` -> ``Jy / beam``,
    ``ELECTRONS`` -> ``electron``).

    Parameters
    ----------
    bunit : str or None
        The header value.

    Returns
    -------
    unit : `~astropy.units.UnitBase` or None
        None for a missing or blank value, or one that cannot be parsed (then
        an `~astrofmx.utils.AstrofmxWarning` names it).

    Examples
    --------
    >>> from astrofmx.io import parse_bunit
    >>> parse_bunit("JY/BEAM")
    Unit("Jy / beam")
    >>> parse_bunit("") is None
    True
    """
    if bunit is None:
        return None
    text = str(bunit).strip()
    if not text:
        return None
    for fmt in ("fits", None):
        try:
            return u.Unit(text, format=fmt, parse_strict="raise")
        except (ValueError, TypeError):
            pass

    def _fix(match):
        word = match.group(0)
        return _UNIT_ALIASES.get(word.lower(), word)

    fixed = re.sub(r"[A-Za-z][A-Za-z\-]*", _fix, text)
    try:
        return u.Unit(fixed, parse_strict="raise")
    except (ValueError, TypeError):
        try:
            return u.Unit(fixed.lower(), parse_strict="raise")
        except (ValueError, TypeError):
            pass
    warnings.warn(f"BUNIT {text!r} is not a unit astropy can parse; the image unit is left as None",
                  AstrofmxWarning)
    return None


def require_celestial_wcs(wcs, *, purpose="sky coordinates"):
    """Return the 2-D celestial part of ``wcs``, or raise a helpful error.

    Parameters
    ----------
    wcs : `~astropy.wcs.WCS` or None
        The WCS of an image (e.g. ``load_image(...).wcs``).
    purpose : str, optional
        What the celestial WCS is needed for; used in the error message.

    Returns
    -------
    wcs : `~astropy.wcs.WCS`
        ``wcs.celestial``.

    Raises
    ------
    ValueError
        If ``wcs`` is None or has no celestial (longitude and latitude) axes.

    Examples
    --------
    >>> from astropy.wcs import WCS
    >>> from astrofmx.io import require_celestial_wcs
    >>> w = WCS(naxis=2); w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> require_celestial_wcs(w).naxis
    2
    >>> require_celestial_wcs(None)
    Traceback (most recent call last):
    ...
    ValueError: sky coordinates need a celestial WCS, but the image has none ...
    """
    if wcs is None:
        raise ValueError(f"{purpose} need a celestial WCS, but the image has none (no WCS in the header, or it "
                         "was dropped); load a FITS file with CTYPE1/CTYPE2 such as RA---TAN/DEC--TAN, pass "
                         "(array, wcs) to load_image, or work in pixel coordinates instead")
    if not isinstance(wcs, WCS):
        low = getattr(wcs, "low_level_wcs", None)
        if isinstance(low, WCS):
            wcs = low
        else:
            raise TypeError(f"wcs must be an astropy.wcs.WCS, got {type(wcs).__name__}")
    if not wcs.has_celestial:
        ctypes = list(wcs.wcs.ctype)
        raise ValueError(f"{purpose} need a celestial WCS, but the image's WCS has no celestial axes "
                         f"(CTYPE = {ctypes!r}); only pixel coordinates are available for this image")
    return wcs.celestial


def _is_header_note(w):
    return (issubclass(w.category, (FITSFixedWarning, VerifyWarning))
            or "header keyword is invalid" in str(w.message))


@contextlib.contextmanager
def _header_notes_logged():
    """Log (not raise) astropy's warnings about repaired or non-standard header cards."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            pending = list(caught)
    for w in pending:
        if _is_header_note(w):
            logger.debug("FITS header note: %s", w.message)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _quiet_wcs(header, fobj=None):
    """Build a WCS from a header, logging (not raising) astropy's header-repair warnings."""
    with _header_notes_logged():
        try:
            wcs = WCS(header, fobj=fobj, relax=True)
        except Exception as exc:  # invalid WCS keywords: keep the pixels, drop the WCS
            warnings.warn(f"the header's WCS could not be read ({exc}); the image has no WCS",
                          AstrofmxWarning)
            wcs = None
    return wcs


def _image_wcs(wcs, ndim, shape2d):
    """The 2-D celestial WCS for a data array whose last two numpy axes are the image (or None)."""
    if wcs is None:
        return None
    if wcs.naxis < 2 or not wcs.has_celestial:
        logger.debug("dropping a WCS without celestial axes (CTYPE=%r)", list(wcs.wcs.ctype))
        return None
    if {wcs.wcs.lng, wcs.wcs.lat} != {0, 1}:
        raise ValueError(f"the celestial axes of the WCS are FITS axes {wcs.wcs.lng + 1} and {wcs.wcs.lat + 1}; "
                         "astrofmx needs them as axes 1 and 2 (the image plane): transpose the data and the "
                         "WCS (wcs.swapaxes) first")
    cel = wcs.celestial
    cel.pixel_shape = (shape2d[1], shape2d[0])
    return cel
