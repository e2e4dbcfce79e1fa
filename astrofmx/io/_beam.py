"""The restoring beam of a radio image, read from its FITS header with `radio_beam`."""

import logging
import math

from astropy.io import fits

__all__ = ["read_beam"]

logger = logging.getLogger(__name__)


def _as_header(header):
    """A `~astropy.io.fits.Header` from a Header, an NDData/HDU (its header or meta) or a mapping."""
    if isinstance(header, fits.Header):
        return header
    inner = getattr(header, "header", None)
    if inner is None and hasattr(header, "meta") and not isinstance(header, dict):
        inner = header.meta
    if inner is not None:
        return _as_header(inner)
    if isinstance(header, dict):
        if isinstance(header.get("header"), fits.Header):
            return header["header"]
        out = fits.Header()
        for key, value in header.items():
            if isinstance(key, str) and len(key) <= 8 and isinstance(value, (str, int, float, bool)):
                # a FITS card cannot hold NaN or inf: kept as text, which read_beam reports as not a number
                out[key] = value if not isinstance(value, float) or math.isfinite(value) else str(value)
        return out
    raise TypeError(f"header must be a FITS Header, an HDU, an NDData or a dict, got {type(header).__name__}")


def _ordered_axes(hdr):
    """``hdr`` with BMAJ and BMIN swapped (and BPA turned by 90 degrees) where BMIN > BMAJ, which some
    pipelines write (rounding, or the axes in the other order); a copy, the caller's header is not changed."""
    major, minor = hdr.get("BMAJ"), hdr.get("BMIN")
    if not (isinstance(major, (int, float)) and isinstance(minor, (int, float)) and minor > major > 0):
        return hdr
    hdr = hdr.copy()
    hdr["BMAJ"], hdr["BMIN"] = minor, major
    hdr["BPA"] = (float(hdr.get("BPA", 0.0)) + 90.0 + 90.0) % 180.0 - 90.0
    logger.info("read_beam: the header's BMIN (%g deg) exceeds its BMAJ (%g deg); read as a beam of major axis "
                "%g deg at PA %g deg", minor, major, minor, hdr["BPA"])
    return hdr


def read_beam(header):
    """The restoring beam recorded in a FITS header, or None.

    ``BMAJ``/``BMIN``/``BPA`` (degrees) are read first; without them the
    AIPS ``HISTORY AIPS CLEAN BMAJ= ... BMIN= ... BPA= ...`` cards written by
    AIPS and older VLA pipelines (FIRST, NVSS cutouts). Both come from
    `radio_beam.Beam.from_fits_header`.

    Parameters
    ----------
    header : `~astropy.io.fits.Header`, HDU, `~astropy.nddata.NDData` or dict
        The header (for an NDData from `~astrofmx.io.load_image`, its
        ``meta``, which is the header).

    Returns
    -------
    beam : `radio_beam.Beam` or None
        None when the header has no beam, or when its axes are not positive
        finite angles: ``BMAJ = 0`` (common in single-dish and optical
        headers) is logged at INFO level, a negative, infinite or
        non-numeric beam at WARNING level, since the header then declares a
        beam that cannot be used. ``BMIN > BMAJ`` is read as the beam with
        the axes swapped and the position angle turned by 90 degrees.

    Raises
    ------
    TypeError
        If ``header`` is none of the accepted types.

    Examples
    --------
    >>> from astropy.io import fits
    >>> from astrofmx.io import read_beam
    >>> header = fits.Header({"BMAJ": 54 / 3600, "BMIN": 25 / 3600, "BPA": 30.0})
    >>> beam = read_beam(header)
    >>> [round(float(q.to_value(unit)), 3) for q, unit in ((beam.major, "arcsec"), (beam.minor, "arcsec"),
    ...                                                     (beam.pa, "deg"))]
    [54.0, 25.0, 30.0]
    >>> aips = fits.Header()
    >>> aips["HISTORY"] = "AIPS   CLEAN BMAJ=  1.5000E-03 BMIN=  1.5000E-03 BPA=   0.00"
    >>> round(float(read_beam(aips).major.to_value("arcsec")), 3)
    5.4
    >>> read_beam(fits.Header()) is None
    True
    """
    from radio_beam import Beam
    from radio_beam.beam import NoBeamException

    hdr = _as_header(header)
    bad = [k for k in ("BMAJ", "BMIN", "BPA") if k in hdr and (isinstance(hdr[k], bool)
                                                               or not isinstance(hdr[k], (int, float)))]
    if bad:
        logger.warning("read_beam: the header's %s = %r is not a number, so its restoring beam is ignored; pass "
                       "the beam yourself (beam=radio_beam.Beam(...) or a Quantity FWHM)", bad[0], hdr[bad[0]])
        return None
    hdr = _ordered_axes(hdr)
    try:
        beam = Beam.from_fits_header(hdr)
    except NoBeamException:
        return None
    except (ValueError, TypeError) as exc:  # an unreadable history card
        logger.warning("read_beam: the header's beam could not be read (%s), so it is ignored; pass the beam "
                       "yourself (beam=radio_beam.Beam(...) or a Quantity FWHM)", exc)
        return None
    major, minor = beam.major.to_value("deg"), beam.minor.to_value("deg")
    if major == 0 or minor == 0:  # a placeholder of single-dish and optical headers: no beam, nothing wrong
        logger.info("read_beam: the header's beam BMAJ=%r BMIN=%r is a zero placeholder; no beam", major, minor)
        return None
    if not (math.isfinite(major) and math.isfinite(minor) and major > 0 and minor > 0):
        logger.warning("read_beam: the header's beam BMAJ=%r BMIN=%r (deg) is not a positive angle, so it is "
                       "ignored; pass the beam yourself (beam=radio_beam.Beam(...) or a Quantity FWHM)", major, minor)
        return None
    return beam
