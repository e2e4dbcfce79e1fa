"""Turning whatever the user passes as ``image`` into arrays for the classical finders."""

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

__all__ = []


def as_image(image, *, hdu=None):
    """Return ``(data, mask, wcs, header)`` for any supported ``image``.

    ``data`` is a 2-D native-endian float32 array, ``mask`` is True where a
    pixel is masked or not finite, ``wcs`` is a celestial WCS or None and
    ``header`` a FITS header (possibly empty).
    """
    from ..io import load_image

    nd = load_image(image, hdu=hdu)
    data = np.asarray(nd.data)
    if hasattr(data, "unit"):
        data = data.value
    data = np.asarray(data, dtype=np.float32)
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(f"image must be 2-D (or have only degenerate extra axes), got shape {np.shape(nd.data)}; "
                         "select a plane first, e.g. load_image(path, plane=0)")
    if data.size == 0:
        raise ValueError(f"image is empty, got shape {data.shape}")
    data = np.ascontiguousarray(data, dtype=np.dtype("float32").newbyteorder("="))
    mask = ~np.isfinite(data)
    if nd.mask is not None:
        extra = np.asarray(nd.mask, dtype=bool)
        while extra.ndim > 2 and extra.shape[0] == 1:
            extra = extra[0]
        if extra.shape != data.shape:
            raise ValueError(f"mask must have the image shape {data.shape}, got {extra.shape}")
        mask = mask | extra
    if mask.all():
        raise ValueError("every pixel of the image is masked or NaN; nothing to search")
    wcs = nd.wcs
    if wcs is not None and not isinstance(wcs, WCS):
        wcs = getattr(wcs, "low_level_wcs", None)
        wcs = wcs if isinstance(wcs, WCS) else None
    if wcs is not None:
        wcs = wcs.celestial if wcs.has_celestial else None
    header = nd.meta if isinstance(nd.meta, fits.Header) else fits.Header()
    if not isinstance(nd.meta, fits.Header) and isinstance(nd.meta, dict) and "header" in nd.meta:
        header = nd.meta["header"]
    return data, mask, wcs, header


def beam_fwhm_pixels(header, wcs):
    """Beam major/minor FWHM (pixels) and position angle (deg) from BMAJ/BMIN/BPA, or None."""
    if wcs is None or header is None or "BMAJ" not in header:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial)))  # deg / pixel
    bmaj = float(header["BMAJ"]) / scale
    bmin = float(header.get("BMIN", header["BMAJ"])) / scale
    return bmaj, bmin, float(header.get("BPA", 0.0))
