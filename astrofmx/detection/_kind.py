"""Radio or optical/IR: what kind of image `detect_sources` is given, decided from its header (or pixels)."""

import math
import re

import numpy as np
from astropy.stats import mad_std

__all__ = []

KINDS = ("radio", "optical")

#: TELESCOP/INSTRUME substrings of radio telescopes and interferometers (upper case)
_RADIO_TELESCOPES = ("VLA", "VLBA", "ATCA", "ASKAP", "MEERKAT", "MKT", "LOFAR", "GMRT", "UGMRT", "WSRT", "APERTIF",
                     "MWA", "PARKES", "MURRIYANG", "EFFELSBERG", "EFFLSBRG", "GBT", "GREEN BANK", "ALMA", "NOEMA",
                     "SMA", "JCMT", "ARECIBO", "FAST", "MOPRA", "EVLA", "JVLA", "KAT-7", "SKA", "ATA", "CARMA",
                     "IRAM", "APEX", "LWA", "NVSS", "FIRST", "SUMSS", "MOST")
#: TELESCOP/INSTRUME substrings of optical and infrared telescopes and cameras (upper case)
_OPTICAL_TELESCOPES = ("HST", "JWST", "SPITZER", "WISE", "2MASS", "UKIRT", "WFCAM", "VISTA", "VIRCAM", "SDSS",
                       "2.5M", "SUBARU", "HSC", "DECAM", "BLANCO", "CFHT", "MEGACAM", "PAN-STARRS", "PS1", "GAIA",
                       "EUCLID", "KECK", "GEMINI", "VLT", "ESO", "NTT", "EMMI", "WFC3", "ACS", "WFPC", "NICMOS",
                       "SCHMIDT", "PALOMAR", "POSS", "DSS", "PHOTOGRAPHIC", "ZTF", "ATLAS-CAM", "LSST", "RUBIN",
                       "OPTICAL", "INT", "WHT", "SOAR", "MAGELLAN", "MMT", "LBT", "HERSCHEL", "GALEX")
#: BUNIT spellings of optical/IR images (lower case, spaces removed)
_OPTICAL_UNITS = ("count", "electron", "adu", "dn", "maggy", "nanomaggy", "mag", "e-/s", "e/s", "erg", "mjy/sr",
                  "photon", "cts", "e-")
#: header keywords only optical/IR exposures carry
_OPTICAL_KEYS = ("FILTER", "AIRMASS", "SEEING", "PHOTFLAM", "PHOTZP", "MAGZP", "MAGZPT", "ZEROPT", "SATURATE",
                 "GAIN", "RDNOISE", "READNOIS", "EXPTIME")


def _contains(value, names):
    text = str(value).upper()
    return next((n for n in names if re.search(rf"(^|[^A-Z0-9]){re.escape(n)}([^A-Z0-9]|$)", text)), None)


def _spectral_axis(header):
    for i in range(1, int(header.get("NAXIS", 0) or 0) + 1):
        ctype = str(header.get(f"CTYPE{i}", "")).upper()
        if ctype.startswith(("FREQ", "VRAD", "VELO", "FELO")):
            return f"CTYPE{i}={header[f'CTYPE{i}']}"
    return None


def _check_kind(kind):
    if kind != "auto" and kind not in KINDS:
        raise ValueError(f"kind must be 'auto', 'radio' or 'optical', got {kind!r}")
    return kind


#: the sky level, in robust standard deviations above zero, above which pixels say optical/IR (`_kind_from_pixels`)
_SKY_LEVEL_SIGMA = 3.0
#: pixels sampled for it (a regular grid of rows and columns)
_SAMPLE_PIXELS = 2 ** 20


def _kind_from_pixels(data, mask=None):
    """``(kind, reason)`` from the pixels where the header says nothing, or None where they do not decide.

    Integer pixels are counts (a photographic plate, a CCD/IR detector: radio maps are floating point), and a
    background far above zero is sky (an interferometer's map has zero mean and a single-dish one is
    baseline-subtracted); a sky-subtracted optical image decides nothing and stays radio.
    """
    if np.issubdtype(np.asarray(data[:1, :1]).dtype, np.integer):
        return "optical", f"no header keyword decides; its pixels are integers ({data.dtype}: counts)"
    step = max(1, int(math.ceil(math.sqrt(data.shape[0] * data.shape[1] / _SAMPLE_PIXELS))))
    sample = np.asarray(data[::step, ::step], dtype=np.float64)
    ok = np.isfinite(sample)
    if mask is not None:
        ok &= ~np.asarray(mask[::step, ::step], dtype=bool)
    values = sample[ok]
    if values.size < 100:
        return None
    median, spread = float(np.median(values)), float(mad_std(values))
    if spread > 0 and median > _SKY_LEVEL_SIGMA * spread:
        return "optical", (f"no header keyword decides; its background is {median / spread:.3g} sigma above zero "
                           "(sky)")
    return None


def _resolve_kind(kind, header, beam_in_header, pixels=None):
    """``(kind, reason)``: ``kind`` as given, else decided from the header, else from ``pixels`` (``(data,
    mask)``, `_kind_from_pixels`), else radio."""
    if _check_kind(kind) != "auto":
        return kind, "given (kind=...)"
    header = header if header is not None else {}
    bunit = str(header.get("BUNIT", "") or "").strip()
    unit = bunit.lower().replace(" ", "")
    if "beam" in unit:
        return "radio", f"BUNIT={bunit}"
    if beam_in_header:
        return "radio", "the header has a restoring beam (BMAJ/BMIN or AIPS CLEAN history)"
    spectral = _spectral_axis(header)
    if spectral:
        return "radio", spectral
    for key in ("TELESCOP", "INSTRUME"):
        if header.get(key):
            name = _contains(header[key], _RADIO_TELESCOPES)
            if name:
                return "radio", f"{key}={str(header[key]).strip()}"
            name = _contains(header[key], _OPTICAL_TELESCOPES)
            if name:
                return "optical", f"{key}={str(header[key]).strip()}"
    if unit and any(unit.startswith(u) or unit == u for u in _OPTICAL_UNITS):
        return "optical", f"BUNIT={bunit}"
    key = next((k for k in _OPTICAL_KEYS if k in header), None)
    if key:
        return "optical", f"the header has {key}"
    decided = _kind_from_pixels(*pixels) if pixels is not None else None
    if decided is not None:
        return decided
    return "radio", "no header keyword decides (no BUNIT, beam, spectral axis or telescope); the default"
