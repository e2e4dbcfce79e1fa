"""A radio field with every setting drawn at random, for training over a wide domain (`random_radio_field`)."""

import math

import astropy.units as u
import numpy as np

from ._checks import _check_rng
from ._config import ArtefactModel, NoiseModel, RadioBeam, SourcePopulation
from ._diffuse import DiffuseEmission
from ._simulate import simulate_radio_field

__all__ = ["random_radio_field"]

_PIXEL_SCALE = 1.5  # arcsec, the simulator's default grid
_SETTINGS_STREAM = 7  # the seed's child stream that draws the settings (the simulator uses 0-3)


def _loguniform(rng, low, high):
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _draw_beam(rng):
    """Minor FWHM 2-8 px, major up to 3 times that and at most 12 px, any position angle."""
    minor_px = _loguniform(rng, 2.0, 8.0)
    ratio = rng.uniform(1.0, 3.0) if rng.uniform() < 0.75 else 1.0
    major_px = min(minor_px * ratio, 12.0)
    return RadioBeam(fwhm=(major_px * _PIXEL_SCALE, minor_px * _PIXEL_SCALE), pa=rng.uniform(0.0, 180.0))


def _draw_population(rng, beam):
    """Density 2-40 sources per 1000 beam areas, fractions of each morphology, count slopes 1.6-2.6."""
    beam_area_deg2 = 1.1331 * beam.major * beam.minor / 3600.0 ** 2
    density = _loguniform(rng, 2e-3, 4e-2) / beam_area_deg2
    extended, double = rng.uniform(0.0, 0.35), rng.uniform(0.0, 0.12)
    fri, frii = rng.uniform(0.0, 0.08), rng.uniform(0.0, 0.08)
    low = _loguniform(rng, 1.1, 2.0)
    return SourcePopulation(source_density=density, flux_min_snr=rng.uniform(2.0, 4.0),
                            flux_max_snr=_loguniform(rng, 300.0, 3e4), powerlaw_index=rng.uniform(1.6, 2.6),
                            extended_fraction=extended, double_fraction=double, fri_fraction=fri,
                            frii_fraction=frii, extended_size=(low, low * _loguniform(rng, 2.0, 8.0)))


def random_radio_field(shape=(256, 256), seed=None, *, return_truth=True):
    """A simulated radio field with all its settings drawn at random, for training a general detector.

    Per field: a restoring beam with major axis 2-12 pixels FWHM, axis ratio
    1-3 (a quarter of the beams round) at any position angle; noise rms
    5-200 microJy/beam; a source density of 2-40 per 1000 beam areas
    with count slopes 1.6-2.6 and random fractions of extended sources of
    many sizes, doubles and FR I/FR II radio galaxies; artefacts (none,
    rings, stripes or dirty-beam sidelobes, 1-5% of the peak); unlabelled
    diffuse emission half of the time; and a primary-beam correction a
    fifth of the time. The settings come from their own random stream of
    ``seed``, so a seed gives the same field. The grid is the simulator's
    default (1.5 arcsec pixels, SIN). The header gets ``SIMRAND = True``.

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
    field : `SimulatedRadioField`
        As from `simulate_radio_field`; the drawn settings are in the
        ``SIM*`` and ``BMAJ``/``BMIN``/``BPA`` header keywords.

    Examples
    --------
    >>> from astrofmx.datasets import random_radio_field
    >>> field = random_radio_field((128, 128), seed=5)
    >>> field.data.shape, field.header["SIMRAND"]
    ((128, 128), True)
    >>> major, minor, pa = field.beam
    >>> 1.0 <= float(major / minor) <= 3.0
    True
    """
    if seed is not None and isinstance(seed, np.random.Generator):
        raise TypeError("random_radio_field needs an int seed (or None), so that the field can be regenerated, "
                        f"got {seed!r}")
    _, recorded_seed = _check_rng(seed, 1)  # checks the seed, draws one for None
    rng = np.random.default_rng(np.random.SeedSequence(recorded_seed).spawn(_SETTINGS_STREAM + 1)[-1])
    beam = _draw_beam(rng)
    population = _draw_population(rng, beam)
    rms = _loguniform(rng, 5e-6, 2e-4)
    noise = NoiseModel(rms=rms * u.Jy / u.beam)
    if rng.uniform() < 0.2:
        fov = max(shape) * _PIXEL_SCALE
        noise = NoiseModel(rms=rms, primary_beam_fwhm=fov * rng.uniform(0.8, 2.0),
                           pb_cutoff=0.2 if rng.uniform() < 0.5 else None)
    kind = (None, "rings", "stripes", "sidelobes")[int(rng.integers(4))]
    artefacts = ArtefactModel(kind, amplitude=rng.uniform(0.01, 0.05), min_snr=_loguniform(rng, 50.0, 500.0))
    diffuse = None
    if rng.uniform() < 0.5:
        diffuse = DiffuseEmission(amplitude=_loguniform(rng, 0.5, 8.0), scale=_loguniform(rng, 3.0, 20.0),
                                  coverage=rng.uniform(0.1, 0.6), slope=rng.uniform(2.0, 4.0))
    field = simulate_radio_field(shape, seed=recorded_seed, population=population, beam=beam, noise=noise,
                                 artefacts=artefacts, diffuse=diffuse, return_truth=return_truth)
    field.header["SIMRAND"] = (True, "settings drawn by random_radio_field")
    return field
