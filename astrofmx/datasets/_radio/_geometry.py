"""Elliptical Gaussian geometry in pixels, theta counter-clockwise from +x (private)."""

import math

import numpy as np

__all__ = []

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def _cov(fwhm_major, fwhm_minor, theta):
    """Pixel covariance of a Gaussian with FWHM ``fwhm_major`` x ``fwhm_minor`` at angle ``theta`` (rad)."""
    sa, sb = fwhm_major * _FWHM_TO_SIGMA, fwhm_minor * _FWHM_TO_SIGMA
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c * c * sa * sa + s * s * sb * sb, c * s * (sa * sa - sb * sb)],
                     [c * s * (sa * sa - sb * sb), s * s * sa * sa + c * c * sb * sb]])
