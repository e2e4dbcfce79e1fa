"""An optical/IR field with every setting drawn at random, for training over a wide domain."""

import math

import numpy as np

from .._radio import ImageGrid
from .._radio._checks import _check_rng
from ._config import GalaxyPopulation, OpticalDetector, OpticalPSF, SkyBackground, StarPopulation
from ._simulate import simulate_optical_field

__all__ = ["random_optical_field"]

_SETTINGS_STREAM = 9  # the seed's child stream that draws the settings (the simulator uses 0-4)


def _loguniform(rng, low, high):
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _draw_psf(rng):
    return OpticalPSF(fwhm=_loguniform(rng, 1.5, 8.0), beta=rng.uniform(2.5, 4.5),
                      ellipticity=rng.uniform(0.0, 0.15), theta=rng.uniform(0.0, 180.0),
                      spikes=bool(rng.uniform() < 0.6),
                      spike_angle=(0.0, 45.0)[int(rng.integers(2))] + rng.normal(0, 3),
                      spike_strength=_loguniform(rng, 0.005, 0.05), spike_min_snr=_loguniform(rng, 100.0, 3000.0))


def _draw_sources(rng, psf, pixel_scale):
    """Star and galaxy populations; densities per PSF area, so that crowding does not depend on the pixel scale.

    Sparse fields hold 0.5-10 stars per 1000 PSF areas (FWHM squared),
    crowded ones 10-80; galaxies 0.5-6.
    """
    psf_area_arcmin2 = (psf.fwhm * pixel_scale / 60.0) ** 2
    crowded = bool(rng.uniform() < 0.25)
    star_density = (_loguniform(rng, 1e-2, 8e-2) if crowded else _loguniform(rng, 5e-4, 1e-2)) / psf_area_arcmin2
    stars = StarPopulation(density=star_density, crowded=crowded, snr_min=rng.uniform(2.0, 4.0),
                           snr_max=_loguniform(rng, 1e3, 3e5), powerlaw_index=rng.uniform(1.5, 2.3))
    r_lo = _loguniform(rng, 0.5, 2.0) * psf.fwhm / 2.0
    galaxies = GalaxyPopulation(density=_loguniform(rng, 5e-4, 6e-3) / psf_area_arcmin2,
                                snr_min=rng.uniform(5.0, 15.0), snr_max=_loguniform(rng, 1e3, 1e5),
                                powerlaw_index=rng.uniform(1.6, 2.4), r_eff=(r_lo, r_lo * _loguniform(rng, 4.0, 20.0)),
                                sersic_n=(0.5, 4.0), axis_ratio=(rng.uniform(0.1, 0.4), 1.0),
                                blend_fraction=rng.uniform(0.0, 0.3))
    return stars, galaxies


def random_optical_field(shape=(256, 256), seed=None, *, return_truth=True):
    """A simulated optical/IR field with all its settings drawn at random, for training a general detector.

    Per field: a Moffat PSF of FWHM 1.5-8 pixels, beta 2.5-4.5, ellipticity
    up to 0.15 at any angle, with diffraction spikes 60% of the time; pixel
    scales of 0.1-1.5 arcsec; a sparse or (a quarter of the time) crowded
    stellar field; Sérsic galaxies of many sizes relative to the PSF, some
    blended; a sky of 10-5000 ADU with gradients and (40% of the time)
    nebulosity; gain 0.5-4 electron/ADU, read noise 2-15 electrons, a
    saturation level 300-30000 times the sky noise above the sky (at most
    65535 ADU), and hot pixels and cosmic rays. The settings come from their own random
    stream of ``seed``; ``SIMRAND = True`` in the header.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)`` of the image.
    seed : int or None, optional
        Random seed (None: drawn and written to ``SIMSEED``).
    return_truth : bool, optional
        Build the truth catalog.

    Returns
    -------
    field : `SimulatedOpticalField`

    Examples
    --------
    >>> from astrofmx.datasets import random_optical_field
    >>> field = random_optical_field((128, 128), seed=3)
    >>> field.header["SIMRAND"], 1.5 <= field.header["PSFFWPIX"] <= 8.0
    (True, True)
    """
    if isinstance(seed, np.random.Generator):
        raise TypeError(f"random_optical_field needs an int seed (or None), got {seed!r}")
    _, recorded_seed = _check_rng(seed, 1)
    rng = np.random.default_rng(np.random.SeedSequence(recorded_seed).spawn(_SETTINGS_STREAM + 1)[-1])
    psf = _draw_psf(rng)
    pixel_scale = _loguniform(rng, 0.1, 1.5)
    grid = ImageGrid(pixel_scale=pixel_scale, center=(rng.uniform(0, 360), rng.uniform(-80, 80)), projection="TAN")
    stars, galaxies = _draw_sources(rng, psf, pixel_scale)
    level = _loguniform(rng, 10.0, 5000.0)
    nebulosity = _loguniform(rng, 1.0, 50.0) if rng.uniform() < 0.4 else 0.0
    sky = SkyBackground(level=level, gradient=rng.uniform(0.0, 0.1), nebulosity=nebulosity,
                        nebula_scale=_loguniform(rng, 10.0, 80.0), nebula_coverage=rng.uniform(0.2, 0.7))
    gain, read_noise = _loguniform(rng, 0.5, 4.0), rng.uniform(2.0, 15.0)
    sigma = math.sqrt(level / gain + (read_noise / gain) ** 2)
    saturation = min(level + sigma * _loguniform(rng, 300.0, 3e4), 65535.0)
    detector = OpticalDetector(gain=gain, read_noise=read_noise, saturation=max(saturation, level + 50 * sigma),
                               bleed=bool(rng.uniform() < 0.9), hot_pixel_fraction=_loguniform(rng, 1e-6, 1e-3),
                               cosmic_ray_rate=_loguniform(rng, 1e-6, 3e-4), zeropoint=rng.uniform(22.0, 30.0))
    field = simulate_optical_field(shape, seed=recorded_seed, psf=psf, stars=stars, galaxies=galaxies, sky=sky,
                                   detector=detector, grid=grid, filter_name=("g", "r", "i", "z", "J", "H", "K")[
                                       int(rng.integers(7))], return_truth=return_truth)
    field.header["SIMRAND"] = (True, "settings drawn by random_optical_field")
    return field
