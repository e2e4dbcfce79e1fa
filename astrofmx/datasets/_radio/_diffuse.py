"""Unlabelled diffuse emission for simulated radio fields (`DiffuseEmission`)."""

import dataclasses

import numpy as np

from .._random_field import _gaussian_filter, _gaussian_random_field, _patchy
from ._checks import _fraction, _positive_number

__all__ = ["DiffuseEmission"]


@dataclasses.dataclass(frozen=True)
class DiffuseEmission:
    """Smooth, large-scale emission (halos, relics, Galactic foreground) that is not in the truth catalog.

    A Gaussian random field with power spectrum ``P(k) ~ k**-slope``, smooth
    below ``scale`` beams, keeps only its brightest ``coverage`` of the area
    (so it comes in patches and filaments on an empty background), is
    convolved with the restoring beam and scaled so that its brightest pixel
    is ``amplitude`` times the noise rms. Sources, noise and truth are the
    same with or without it for the same seed: it has its own random stream.

    Parameters
    ----------
    amplitude : float, optional
        Peak brightness of the diffuse emission in units of the noise rms.
    scale : float, optional
        Smallest structure size, in beams (mean FWHM), > 0.
    coverage : float, optional
        Fraction of the image covered by emission, in [0, 1].
    slope : float, optional
        Slope of the power spectrum, > 0 (larger: smoother, larger patches).

    Raises
    ------
    ValueError
        For a non-positive amplitude, scale or slope, or a coverage outside [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.datasets import DiffuseEmission, simulate_radio_field
    >>> plain = simulate_radio_field((128, 128), seed=0, n_sources=5)
    >>> halo = simulate_radio_field((128, 128), seed=0, n_sources=5, diffuse=DiffuseEmission(amplitude=5))
    >>> len(halo.truth) == len(plain.truth), bool(halo.data.mean() > plain.data.mean())
    (True, True)
    """

    amplitude: float = 3.0
    scale: float = 6.0
    coverage: float = 0.3
    slope: float = 3.0

    def __post_init__(self):
        object.__setattr__(self, "amplitude", _positive_number("diffuse amplitude", self.amplitude))
        object.__setattr__(self, "scale", _positive_number("diffuse scale", self.scale))
        object.__setattr__(self, "coverage", _fraction("diffuse coverage", self.coverage))
        object.__setattr__(self, "slope", _positive_number("diffuse slope", self.slope))


def _check_diffuse(diffuse):
    """None/False (off), True (the defaults) or a `DiffuseEmission`."""
    if diffuse is None or diffuse is False:
        return None
    if diffuse is True:
        return DiffuseEmission()
    if not isinstance(diffuse, DiffuseEmission):
        raise TypeError(f"diffuse must be None, True or a DiffuseEmission, got {diffuse!r}")
    return diffuse


def _add_diffuse(image, diffuse, rms, beam_cov, beam_mean_px, rng):
    """Add the diffuse emission of ``diffuse`` (a `DiffuseEmission`) to ``image`` in place."""
    field = _gaussian_random_field(image.shape, rng, diffuse.scale * beam_mean_px, diffuse.slope)
    emission = _gaussian_filter(_patchy(field, diffuse.coverage), beam_cov)
    peak = float(emission.max())
    if peak > 0:
        image += emission * np.float32(diffuse.amplitude * rms / peak)
