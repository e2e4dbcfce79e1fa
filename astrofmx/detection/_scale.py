"""The beam or PSF of an image in pixels, and the resampling that brings it to the detector's training beams."""

import dataclasses
import logging
import math

import numpy as np

__all__ = []

logger = logging.getLogger(__name__)

_FWHM_PER_SIGMA = math.sqrt(8.0 * math.log(2.0))


@dataclasses.dataclass(frozen=True)
class _PixelBeam:
    """A beam/PSF as a 2-D Gaussian in image pixels, and where it came from."""

    major: float  # FWHM, pixels
    minor: float
    theta: float  # degrees counter-clockwise from +x
    source: str  # 'header', 'estimated' or 'given'
    beam: object = None  # the radio_beam.Beam (header or given), for meta

    @property
    def fwhm(self):
        """Geometric mean FWHM in pixels."""
        return math.sqrt(self.major * self.minor)

    def describe(self):
        text = f"{self.major:.3g} x {self.minor:.3g} pix FWHM, theta {self.theta:.0f} deg from +x"
        if self.beam is not None:
            b = self.beam
            text = (f"{b.major.to_value('arcsec'):.4g} x {b.minor.to_value('arcsec'):.4g} arcsec, "
                    f"PA {b.pa.to_value('deg'):.4g} deg ({text})")
        return text


def _sky_to_pixels(major, minor, pa, wcs):
    """``(major, minor, theta)`` in pixels of a sky-plane Gaussian (FWHMs in deg, PA east of north)."""
    cel = wcs.celestial
    matrix = np.asarray(cel.pixel_scale_matrix, dtype=float)  # world (deg) per pixel
    if cel.wcs.lng == 1:  # latitude first: put (east, north) in that order
        matrix = matrix[::-1]
    p = math.radians(pa)
    u_major, u_minor = np.array([math.sin(p), math.cos(p)]), np.array([math.cos(p), -math.sin(p)])
    cov_sky = ((major / _FWHM_PER_SIGMA) ** 2 * np.outer(u_major, u_major)
               + (minor / _FWHM_PER_SIGMA) ** 2 * np.outer(u_minor, u_minor))
    inv = np.linalg.inv(matrix)
    cov = inv @ cov_sky @ inv.T
    values, vectors = np.linalg.eigh(cov)
    theta = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1])) % 180.0
    return (_FWHM_PER_SIGMA * math.sqrt(values[1]), _FWHM_PER_SIGMA * math.sqrt(max(values[0], 0.0)), theta)


def _has_celestial(wcs):
    return wcs is not None and getattr(wcs, "has_celestial", False)


def _from_radio_beam(beam, wcs, source):
    if not _has_celestial(wcs):
        raise ValueError(f"beam {beam!r} is an angle, but the image has no celestial WCS to convert it to "
                         "pixels; give the FWHM in pixels (e.g. 4 * u.pix)")
    major, minor, theta = _sky_to_pixels(beam.major.to_value("deg"), beam.minor.to_value("deg"),
                                         beam.pa.to_value("deg"), wcs)
    return _PixelBeam(major, minor, theta, source, beam)


def _from_quantity(beam, wcs):
    import astropy.units as u
    from radio_beam import Beam

    if beam.unit.is_equivalent(u.pix):
        value = float(beam.to_value(u.pix))
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"beam must be a positive FWHM, got {beam!r}")
        return _PixelBeam(value, value, 0.0, "given")
    if beam.unit.physical_type != "angle":
        raise ValueError(f"beam must be a FWHM angle or pixels (e.g. 6 * u.arcsec, 4 * u.pix), got {beam!r}")
    if not (np.isfinite(beam.value) and beam.value > 0):
        raise ValueError(f"beam must be a positive FWHM, got {beam!r}")
    return _from_radio_beam(Beam(major=beam), wcs, "given")


def _estimated(img):
    """The PSF estimated from the image (`~astrofmx.measure.estimate_psf`), or None when it cannot be."""
    from ..measure import estimate_psf

    try:
        psf = estimate_psf(img.data, img.mask)
    except ValueError as exc:
        logger.info("detect_sources: no beam in the header and none could be estimated (%s); no resampling", exc)
        return None
    return _PixelBeam(psf.major, psf.minor, psf.theta, "estimated")


def _resolve_beam(beam, img):
    """The `_PixelBeam` of a `detect_sources` call, or None (``beam=None``, or 'auto' with nothing found)."""
    import astropy.units as u
    from radio_beam import Beam

    if beam is None:
        return None
    if isinstance(beam, str):
        if beam != "auto":
            raise ValueError(f"beam must be 'auto', None, a Quantity or a radio_beam.Beam, got {beam!r}")
        from ..io import read_beam

        header_beam = read_beam(img.meta) if img.meta is not None else None
        if header_beam is not None and _has_celestial(img.wcs):
            return _from_radio_beam(header_beam, img.wcs, "header")
        if header_beam is not None:
            logger.info("detect_sources: the header beam cannot be put in pixels (no celestial WCS); estimating it")
        return _estimated(img)
    if isinstance(beam, Beam):
        return _from_radio_beam(beam, img.wcs, "given")
    if isinstance(beam, u.Quantity) and beam.isscalar:
        return _from_quantity(beam, img.wcs)
    raise TypeError(f"beam must be 'auto', None, a scalar Quantity (FWHM angle or pixels) or a radio_beam.Beam, "
                    f"got {type(beam).__name__}: {beam!r:.80}")


def _resample_factor(pixel_beam, beam_range):
    """Resampling factor bringing the beam to the nearest edge of ``beam_range`` (px), or 1 inside the range.

    The nearest edge, rather than the centre, was measured as good or better (simulated 320^2 fields, two
    seeds, completeness at S/N >= 5: 1.2 px beam 0.87/0.94 both ways; 12 px beam 0.67/0.67 against
    0.64/0.63; 10.8x4.9 px beam 0.85/0.83 against 0.82/0.87), and an upsampled image is smaller.
    """
    if pixel_beam is None or beam_range is None:
        return 1.0
    low, high = beam_range
    if low <= pixel_beam.fwhm <= high:
        return 1.0
    return (low if pixel_beam.fwhm < low else high) / pixel_beam.fwhm


#: the largest upsampling `_check_scale` allows: a beam below ~0.4 px (a 2.5 px range edge / 6) is a wrong
#: header or a hopelessly undersampled image, and upsampling it further multiplies the tiles without end
_MAX_UPSAMPLE = 6.0


def _check_scale(pixel_beam, factor, shape):
    """A clear error where the beam cannot be right for the image: too small to upsample, or wider than it."""
    if pixel_beam is None:
        return
    where = {"header": "the header's BMAJ/BMIN and CDELT/CD", "estimated": "the PSF estimated from the image",
             "given": "the beam= argument"}.get(pixel_beam.source, pixel_beam.source)
    fix = ("check the beam and the pixel scale, or pass beam=None to detect on the pixels as they are "
           "(or beam=<FWHM> * u.pix)")
    if factor > _MAX_UPSAMPLE:
        raise ValueError(f"the beam/PSF is {pixel_beam.describe()} (from {where}), so small that the detector "
                         f"would need the image upsampled x{factor:.3g} (at most x{_MAX_UPSAMPLE:g}); {fix}")
    if pixel_beam.major > min(shape):
        raise ValueError(f"the beam/PSF is {pixel_beam.describe()} (from {where}), wider than the "
                         f"{shape[1]}x{shape[0]}-pixel image: no source could be told from the background; {fix}")


def _beam_meta(pixel_beam, factor):
    """The ``beam``, ``beam_source`` and ``resample_factor`` entries of the catalog meta."""
    if pixel_beam is None:
        return {"beam": "none", "beam_source": "none", "resample_factor": 1.0}
    return {"beam": pixel_beam.describe(), "beam_source": pixel_beam.source, "beam_fwhm_pix": round(pixel_beam.fwhm, 4),
            "resample_factor": round(float(factor), 6)}
