"""Drawing and rendering the simulated stars and Sérsic galaxies, with one truth row each (private).

Every source is rendered on its own noise-free stamp, which gives its peak
and its truth box: the isophote at ``max(box_nsigma * sigma, exp(-4.5) *
peak)``, the peak being capped at the saturation level. For a Gaussian the
second level is the 3-sigma box of the radio simulator; for faint sources
the first, the extent above the noise, decides.
"""

import math

import numpy as np
from astropy.modeling.models import Sersic2D
from scipy.signal import fftconvolve
from scipy.special import gamma, gammaincinv

from .._radio._truth import _OPTICAL_KINDS
from ._psf import _render_spikes, _render_star

__all__ = ["OPTICAL_KINDS"]

#: Kinds of simulated optical sources; detector labels are 1 + the index here.
OPTICAL_KINDS = _OPTICAL_KINDS

_BOX_PEAK_FRACTION = math.exp(-4.5)  # the 3-sigma level of a Gaussian, as the radio truth boxes
_ARCMIN2_PER_PX2 = 1.0 / 3600.0  # for a pixel scale in arcsec: (scale / 60)**2 arcmin2 per pixel


def _powerlaw(rng, n, smin, smax, index):
    uni = rng.uniform(size=n)
    a = 1.0 - index
    return (smin ** a + uni * (smax ** a - smin ** a)) ** (1.0 / a)


def _count(rng, n, density, default, shape, pixel_scale):
    if n is not None:
        return n
    area = shape[0] * shape[1] * pixel_scale ** 2 * _ARCMIN2_PER_PX2
    return int(rng.poisson((default if density is None else density) * area))


def _box_level(peak, sigma, saturation, box_nsigma):
    return max(box_nsigma * sigma, _BOX_PEAK_FRACTION * min(peak, saturation))


def _row(kind, x, y, flux, peak, box, **shape):
    return dict(kind=kind, x=x, y=y, flux=flux, peak=peak, box=box, r_eff=shape.get("r_eff", np.nan),
                sersic_n=shape.get("n", np.nan), axis_ratio=shape["q"], theta=shape["theta"])


def _add_stars(image, population, moffat, psf, ctx, rng):
    """Draw and render the stars; return their truth rows."""
    n = _count(rng, population.n_stars, population.density, 300.0 if population.crowded else 10.0,
               image.shape, ctx.pixel_scale)
    ny, nx = image.shape
    xs, ys = rng.uniform(-0.5, nx - 0.5, n), rng.uniform(-0.5, ny - 0.5, n)
    peaks = _powerlaw(rng, n, population.snr_min, population.snr_max, population.powerlaw_index) * ctx.sigma
    rows = []
    for x, y, peak in zip(xs, ys, peaks):
        _render_star(image, x, y, peak, moffat, 0.05 * ctx.sigma)
        if psf.spikes and peak >= psf.spike_min_snr * ctx.sigma:
            _render_spikes(image, x, y, peak, moffat, psf, ctx.sigma, rng)
        rho = max(moffat.radius(peak, _box_level(peak, ctx.sigma, ctx.saturation, ctx.box_nsigma)), 0.5)
        hx, hy = moffat.half_widths(max(rho, 0.5 * moffat.fwhm_minor / moffat.b))
        rows.append(_row("star", x, y, peak / moffat.peak_per_flux, peak, (x - hx, y - hy, x + hx, y + hy),
                         q=1.0 - psf.ellipticity, theta=psf.theta))
    return rows


def _sersic_stamp(x, y, flux, r_eff, n, q, theta, moffat, kernel, ctx):
    """The PSF-convolved galaxy on a stamp aligned with the image pixels: (stamp, x0, y0)."""
    b_n = float(gammaincinv(2.0 * n, 0.5))
    total_per_ie = 2.0 * math.pi * n * math.exp(b_n) * b_n ** (-2.0 * n) * float(gamma(2.0 * n)) * r_eff ** 2 * q
    i_e = flux / total_per_ie
    floor = 0.1 * ctx.sigma
    reach = r_eff * (1.0 + max(math.log(i_e / floor), 0.0) / b_n) ** n if i_e > floor else 2.0 * r_eff
    half = min(reach, 8.0 * r_eff + 4.0, 120.0) + kernel.shape[0] // 2 + 1  # profiles end at 8 r_eff
    x0, y0 = int(math.floor(x - half)), int(math.floor(y - half))
    size = int(math.ceil(2 * half)) + 2
    grid = np.arange(size, dtype=np.float64)
    model = Sersic2D.evaluate(grid[None, :] + x0, grid[:, None] + y0, i_e, r_eff, n, x, y, 1.0 - q, theta)
    # the cuspy centre, sampled 5 x 5 per pixel over the central 7 x 7 pixels
    cx, cy = int(round(x)) - x0, int(round(y)) - y0
    c0x, c0y = max(cx - 3, 0), max(cy - 3, 0)
    c1x, c1y = min(cx + 4, size), min(cy + 4, size)
    if c0x < c1x and c0y < c1y:
        sub_x = x0 + c0x + (np.arange((c1x - c0x) * 5) + 0.5) / 5 - 0.5
        sub_y = y0 + c0y + (np.arange((c1y - c0y) * 5) + 0.5) / 5 - 0.5
        fine = Sersic2D.evaluate(sub_x[None, :], sub_y[:, None], i_e, r_eff, n, x, y, 1.0 - q, theta)
        model[c0y:c1y, c0x:c1x] = fine.reshape(c1y - c0y, 5, c1x - c0x, 5).mean(axis=(1, 3))
    total = float(model.sum())
    if total > 0:
        model *= flux / total
    return fftconvolve(model, kernel, mode="same"), x0, y0


def _draw_galaxy(rng, population, x, y, ctx, moffat):
    lo, hi = population.r_eff
    r_eff = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    snr = _powerlaw(rng, 1, population.snr_min, population.snr_max, population.powerlaw_index)[0]
    return dict(x=x, y=y, flux=snr * ctx.sigma / moffat.peak_per_flux, r_eff=r_eff,
                n=rng.uniform(*population.sersic_n), q=rng.uniform(*population.axis_ratio),
                theta=rng.uniform(0.0, math.pi))


def _add_galaxies(image, population, moffat, ctx, rng):
    """Draw and render the galaxies (some in blended pairs); return their truth rows."""
    n = _count(rng, population.n_galaxies, population.density, 10.0, image.shape, ctx.pixel_scale)
    ny, nx = image.shape
    kernel = moffat.kernel()
    galaxies = []
    for x, y in zip(rng.uniform(-0.5, nx - 0.5, n), rng.uniform(-0.5, ny - 0.5, n)):
        galaxies.append(_draw_galaxy(rng, population, x, y, ctx, moffat))
        if rng.uniform() < population.blend_fraction:  # a companion 1-3 half-light radii away
            d, phi = galaxies[-1]["r_eff"] * rng.uniform(1.0, 3.0) + moffat.fwhm_major, rng.uniform(0, 2 * math.pi)
            companion = _draw_galaxy(rng, population, x + d * math.cos(phi), y + d * math.sin(phi), ctx, moffat)
            if -0.5 <= companion["x"] < nx - 0.5 and -0.5 <= companion["y"] < ny - 0.5:  # centres in the image
                galaxies.append(companion)
    rows = []
    for g in galaxies:
        stamp, x0, y0 = _sersic_stamp(g["x"], g["y"], g["flux"], g["r_eff"], g["n"], g["q"], g["theta"],
                                      moffat, kernel, ctx)
        peak = float(stamp.max())
        level = _box_level(peak, ctx.sigma, ctx.saturation, ctx.box_nsigma)
        iy, ix = np.nonzero(stamp >= level)
        if ix.size:
            box = (x0 + ix.min() - 0.5, y0 + iy.min() - 0.5, x0 + ix.max() + 0.5, y0 + iy.max() + 0.5)
        else:  # below the noise everywhere: a box of the PSF core
            hx = 0.5 * moffat.fwhm_major
            box = (g["x"] - hx, g["y"] - hx, g["x"] + hx, g["y"] + hx)
        sx0, sx1 = max(x0, 0), min(x0 + stamp.shape[1], nx)
        sy0, sy1 = max(y0, 0), min(y0 + stamp.shape[0], ny)
        if sx0 < sx1 and sy0 < sy1:
            image[sy0:sy1, sx0:sx1] += stamp[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        rows.append(_row("galaxy", g["x"], g["y"], g["flux"], peak, box, r_eff=g["r_eff"], n=g["n"], q=g["q"],
                         theta=math.degrees(g["theta"])))
    return rows
