"""The Moffat PSF on the pixel grid: stars on local stamps, the convolution kernel, diffraction spikes (private)."""

import math

import numpy as np

__all__ = []

_MAX_STAMP = 384  # the largest stamp half-size in pixels (bounds memory and time for very bright stars)


class _MoffatPixels:
    """An elliptical Moffat profile in pixels: axes, rotation, unit-flux peak and isophote radii."""

    def __init__(self, psf):
        self.beta = psf.beta
        root = math.sqrt(1.0 - psf.ellipticity)
        self.a, self.b = psf.alpha / root, psf.alpha * root  # core radii along the major and minor axes
        self.cos, self.sin = math.cos(math.radians(psf.theta)), math.sin(math.radians(psf.theta))
        self.peak_per_flux = (self.beta - 1.0) / (math.pi * self.a * self.b)
        self.fwhm_major, self.fwhm_minor = psf.fwhm / root, psf.fwhm * root

    def radius(self, peak, level):
        """Isophote radius in units of the core radius where a profile of ``peak`` falls to ``level``."""
        if level <= 0 or peak <= level:
            return 0.0
        return math.sqrt((peak / level) ** (1.0 / self.beta) - 1.0)

    def half_widths(self, rho):
        """x and y half-widths of the ellipse of radius ``rho`` (in core radii)."""
        a, b, c, s = self.a * rho, self.b * rho, self.cos, self.sin
        return math.sqrt(a * a * c * c + b * b * s * s), math.sqrt(a * a * s * s + b * b * c * c)

    def evaluate(self, dx, dy, peak):
        u = (dx * self.cos + dy * self.sin) / self.a
        v = (-dx * self.sin + dy * self.cos) / self.b
        return peak * (1.0 + u * u + v * v) ** -self.beta

    def kernel(self, level=1e-3):
        """The unit-sum PSF on an odd square grid out to ``level`` of its peak (for convolving galaxies)."""
        half = int(math.ceil(min(self.a * self.radius(1.0, level), 6.0 * self.fwhm_major)))
        d = np.arange(-half, half + 1, dtype=np.float64)
        k = self.evaluate(d[None, :], d[:, None], 1.0)
        return k / k.sum()


def _stamp_bounds(shape, x, y, hx, hy):
    ny, nx = shape
    hx, hy = min(hx, _MAX_STAMP), min(hy, _MAX_STAMP)
    return (max(int(math.floor(x - hx)), 0), min(int(math.ceil(x + hx)) + 1, nx),
            max(int(math.floor(y - hy)), 0), min(int(math.ceil(y + hy)) + 1, ny))


def _render_star(image, x, y, peak, moffat, floor):
    """Add a Moffat star of ``peak`` (ADU) at ``(x, y)`` out to where it falls below ``floor`` ADU."""
    hx, hy = moffat.half_widths(max(moffat.radius(peak, floor), 2.0))
    x0, x1, y0, y1 = _stamp_bounds(image.shape, x, y, hx, hy)
    if x0 < x1 and y0 < y1:
        dx = np.arange(x0, x1) - x
        dy = (np.arange(y0, y1) - y)[:, None]
        image[y0:y1, x0:x1] += moffat.evaluate(dx, dy, peak)


def _render_spikes(image, x, y, peak, moffat, psf, sigma, rng):
    """Four diffraction spikes: narrow lines whose brightness falls as ``(1 + d / fwhm)**-2`` from the core.

    They reach out to where they fall to the noise ``sigma``.
    """
    strength = psf.spike_strength * peak
    length = moffat.fwhm_major * min(max(math.sqrt(strength / sigma), 2.0), 100.0)
    width = 0.35 * moffat.fwhm_minor
    angle = math.radians(psf.spike_angle) + rng.normal(0.0, 0.003)
    x0, x1, y0, y1 = _stamp_bounds(image.shape, x, y, length, length)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1) - x
    dy = (np.arange(y0, y1) - y)[:, None]
    out = np.zeros((y1 - y0, x1 - x0))
    for k in range(2):  # two lines through the star, four spikes
        c, s = math.cos(angle + k * math.pi / 2), math.sin(angle + k * math.pi / 2)
        along = np.abs(dx * c + dy * s)
        across = -dx * s + dy * c
        out += np.exp(-0.5 * (across / width) ** 2) * (1.0 + along / moffat.fwhm_major) ** -2.0 \
            * np.clip(1.0 - along / length, 0.0, None)
    image[y0:y1, x0:x1] += strength * out
