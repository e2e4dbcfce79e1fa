"""Smooth Gaussian random fields and Fourier-space Gaussian filtering, shared by the simulators (private)."""

import numpy as np

__all__ = []


def _frequencies(shape):
    ny, nx = shape
    fy = np.fft.fftfreq(ny).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(nx).astype(np.float32)[None, :]
    return fx, fy


def _gaussian_transfer(shape, cov):
    """Fourier transfer function (rfft2 layout) of a unit-sum Gaussian with pixel covariance ``cov``."""
    fx, fy = _frequencies(shape)
    c = np.asarray(cov, dtype=np.float32)
    return np.exp(-2.0 * np.pi ** 2 * (c[0, 0] * fx * fx + 2 * c[0, 1] * fx * fy + c[1, 1] * fy * fy))


def _gaussian_filter(image, cov):
    """``image`` convolved (periodically) with a unit-sum Gaussian of pixel covariance ``cov`` (float32)."""
    spec = np.fft.rfft2(image.astype(np.float32, copy=False))
    spec *= _gaussian_transfer(image.shape, cov)
    return np.fft.irfft2(spec, s=image.shape).astype(np.float32)


def _gaussian_random_field(shape, rng, scale_px, slope=3.0):
    """A zero-mean, unit-variance Gaussian random field with power ``P(k) ~ k**-slope``, smooth below ``scale_px``.

    The spectrum is cut off by ``exp(-(k * scale_px)**2)``, so the field has
    no structure smaller than about ``scale_px`` pixels; the mean (k = 0) is
    removed. float32, periodic.
    """
    fx, fy = _frequencies(shape)
    k = np.sqrt(fx * fx + fy * fy)
    k[0, 0] = 1.0
    amplitude = k ** np.float32(-slope / 2.0) * np.exp(-(k * np.float32(scale_px)) ** 2)
    amplitude[0, 0] = 0.0
    white = rng.standard_normal(shape, dtype=np.float32)
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=shape).astype(np.float32)
    std = float(field.std())
    return field / np.float32(std) if std > 0 else field


def _patchy(field, coverage):
    """The positive part of a unit-variance field above the level that leaves ``coverage`` of the area lit."""
    from scipy.special import ndtri  # the Gaussian quantile

    level = float(ndtri(1.0 - min(max(coverage, 1e-6), 1.0 - 1e-6)))
    return np.clip(field - np.float32(level), 0.0, None)
