"""The sky background and the camera: noise, saturation and bleed trails, hot pixels, cosmic rays (private)."""

import math

import numpy as np
from scipy import ndimage

from .._random_field import _gaussian_filter, _gaussian_random_field, _patchy

__all__ = []


def _sky(shape, sky, sigma, rng):
    """The sky model in ADU: level, a linear gradient in a random direction and patchy nebulosity (float64)."""
    ny, nx = shape
    phi = rng.uniform(0.0, 2.0 * math.pi)
    x = (np.arange(nx) - (nx - 1) / 2.0)[None, :]
    y = (np.arange(ny) - (ny - 1) / 2.0)[:, None]
    model = sky.level * (1.0 + sky.gradient * (x * math.cos(phi) + y * math.sin(phi)) / max(shape))
    if sky.nebulosity > 0:
        field = _patchy(_gaussian_random_field(shape, rng, sky.nebula_scale, 3.0), sky.nebula_coverage)
        s = 0.25 * sky.nebula_scale
        field = _gaussian_filter(field, np.array([[s * s, 0.0], [0.0, s * s]]))
        peak = float(field.max())
        if peak > 0:
            model = model + field.astype(np.float64) * (sky.nebulosity * sigma / peak)
    return np.maximum(model, 0.0)


def _observe(model, detector, rng):
    """Poisson noise in electrons and Gaussian read noise, back in ADU (float64)."""
    electrons = rng.poisson(model * detector.gain).astype(np.float64)
    if detector.read_noise > 0:
        electrons += rng.normal(0.0, detector.read_noise, size=model.shape)
    return electrons / detector.gain


def _bleed(image, model, saturation):
    """Saturate the pixels whose noise-free value exceeds ``saturation`` and spill the excess along columns.

    In each column of each saturated region the excess charge fills
    ``excess / saturation`` more pixels, half above and half below the run,
    as a CCD bleeds along its readout columns.
    """
    mask = model > saturation
    if not mask.any():
        return
    ny = image.shape[0]
    labels, _ = ndimage.label(mask)
    for region in ndimage.find_objects(labels):
        rows, cols = region
        for col in range(cols.start, cols.stop):
            run = np.flatnonzero(mask[rows, col])
            if not run.size:
                continue
            y0, y1 = rows.start + run[0], rows.start + run[-1] + 1
            excess = float(np.sum(model[y0:y1, col] - saturation, where=mask[y0:y1, col]))
            spill = int(excess / saturation)
            up, down = spill // 2, spill - spill // 2
            image[max(y0 - down, 0):min(y1 + up, ny), col] = saturation


def _defects(image, detector, sigma, rng):
    """Hot pixels and cosmic-ray tracks (not PSF-convolved, not in the truth catalog), in place."""
    ny, nx = image.shape
    n_hot = int(rng.poisson(detector.hot_pixel_fraction * image.size))
    hot = rng.integers(0, image.size, n_hot)
    image.flat[hot] += sigma * np.exp(rng.uniform(math.log(10.0), math.log(1000.0), n_hot))
    n_cr = int(rng.poisson(detector.cosmic_ray_rate * image.size))
    for _ in range(n_cr):
        length = min(rng.exponential(5.0), 20.0)
        phi = rng.uniform(0.0, math.pi)
        x, y = rng.uniform(0, nx), rng.uniform(0, ny)
        t = np.arange(0.0, length + 0.5, 0.5)
        ix = np.clip(np.rint(x + t * math.cos(phi)).astype(int), 0, nx - 1)
        iy = np.clip(np.rint(y + t * math.sin(phi)).astype(int), 0, ny - 1)
        keep = np.unique(iy * nx + ix)
        image.flat[keep] += sigma * rng.uniform(20.0, 300.0) * rng.uniform(0.5, 1.0, keep.size)
    return n_hot, n_cr
