"""Beam-correlated noise and the primary-beam correction of a simulated field (private)."""

import math
import warnings

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.wcs import WCS

__all__ = []


def _correlated_noise(shape, beam_cov, rms, rng):
    """White noise convolved with the (unit-sum) beam, rescaled to ``rms``.

    The convolution is done in Fourier space with the analytic Gaussian
    transfer function (periodic boundaries, which suits stationary noise), and
    the scaling uses the exact sum of the squared kernel, so the expected pixel
    rms is ``rms``.
    """
    ny, nx = shape
    white = rng.standard_normal(shape, dtype=np.float32)
    fy = np.fft.fftfreq(ny).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(nx).astype(np.float32)[None, :]
    c = beam_cov.astype(np.float32)
    transfer = np.exp(-2.0 * np.pi ** 2 * (c[0, 0] * fx * fx + 2 * c[0, 1] * fx * fy + c[1, 1] * fy * fy))
    weights = np.full(fx.shape[1], 2.0, dtype=np.float32)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    sum_k2 = float(np.sum(transfer.astype(np.float64) ** 2 * weights) / (nx * ny))
    spec = np.fft.rfft2(white)
    spec *= transfer
    noise = np.fft.irfft2(spec, s=shape).astype(np.float32)
    noise *= np.float32(rms / math.sqrt(sum_k2))
    return noise


def _primary_beam_center(center, header, shape):
    """Pointing centre in 0-based pixels: the image centre, an (x, y) pair or a SkyCoord through the WCS."""
    ny, nx = shape
    if center is None:
        return (nx - 1) / 2.0, (ny - 1) / 2.0
    if not isinstance(center, SkyCoord):
        return center  # an (x, y) pair, checked by NoiseModel
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
        x, y = WCS(header).world_to_pixel(center)
    x, y = float(x), float(y)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"primary_beam_center {center!r} does not project onto the image plane")
    return x, y


def _primary_beam(shape, x0, y0, fwhm_px, x=None, y=None):
    """Gaussian primary beam response on the pixel grid of ``shape`` (float32) or at points ``x, y``."""
    if shape is not None:
        ny, nx = shape
        dx2 = ((np.arange(nx, dtype=np.float64) - x0) ** 2)[None, :]
        dy2 = ((np.arange(ny, dtype=np.float64) - y0) ** 2)[:, None]
        pb = np.exp(-4.0 * math.log(2.0) * (dx2 + dy2) / fwhm_px ** 2)
        # far outside the beam the response underflows: keep the noise finite (huge) rather than inf
        return np.maximum(pb, 1e-30).astype(np.float32)
    return np.exp(-4.0 * math.log(2.0) * ((np.asarray(x) - x0) ** 2 + (np.asarray(y) - y0) ** 2) / fwhm_px ** 2)


def _add_noise(image, noise, pb_center, beam_cov, pixel_scale, xs, ys, rng):
    """Add the noise of ``noise`` (a `NoiseModel`) to ``image``, primary-beam corrected and blanked if asked.

    Returns the primary beam response at the source centres ``xs, ys`` (None
    without a primary beam).
    """
    shape = image.shape
    values = _correlated_noise(shape, beam_cov, noise.rms, rng)
    pb_map = pb_src = None
    if noise.primary_beam_fwhm is not None:
        fwhm_px = noise.primary_beam_fwhm / pixel_scale
        pb_map = _primary_beam(shape, pb_center[0], pb_center[1], fwhm_px)
        values /= pb_map
        pb_src = _primary_beam(None, pb_center[0], pb_center[1], fwhm_px, xs, ys)
    image += values
    if noise.pb_cutoff is not None:
        image[pb_map < noise.pb_cutoff] = np.nan
    return pb_src
