"""Simulated optical/IR fields with a truth catalog (`simulate_optical_field`, `random_optical_field`).

Modules: ``_config`` (the settings groups), ``_psf`` (the Moffat PSF and
diffraction spikes), ``_sources`` (stars and Sérsic galaxies), ``_detector``
(sky, noise, saturation and bleeding, hot pixels, cosmic rays), ``_field``
(the FITS container and truth table), ``_simulate`` and ``_random``.
"""

from . import _config, _field, _random, _simulate, _sources
from ._config import *  # noqa: F401, F403
from ._field import *  # noqa: F401, F403
from ._random import *  # noqa: F401, F403
from ._simulate import *  # noqa: F401, F403
from ._sources import *  # noqa: F401, F403

__all__ = [*_simulate.__all__, *_random.__all__, *_field.__all__, *_config.__all__, *_sources.__all__]
