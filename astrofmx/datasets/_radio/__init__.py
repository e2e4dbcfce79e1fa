"""Simulated radio continuum fields with a truth catalog (`simulate_radio_field`).

Modules: ``_config`` (the settings groups), ``_checks`` (input checks),
``_sources`` (drawing and rendering sources), ``_noise`` (beam-correlated and
primary-beam-corrected noise), ``_artefacts``, ``_field`` (the FITS container),
``_truth`` (the truth catalog and boxes), ``_simulate`` (the simulator),
``_geometry`` and ``_radiogalaxies`` (FR I/FR II components), ``_diffuse``
(unlabelled diffuse emission) and ``_random`` (random training-domain fields).
"""

from ._config import *  # noqa: F401, F403
from ._diffuse import *  # noqa: F401, F403
from ._field import *  # noqa: F401, F403
from ._random import *  # noqa: F401, F403
from ._simulate import *  # noqa: F401, F403
from ._sources import *  # noqa: F401, F403
from ._truth import *  # noqa: F401, F403
from . import _config, _diffuse, _field, _random, _simulate, _sources, _truth

__all__ = [*_sources.__all__, *_simulate.__all__, *_random.__all__, *_config.__all__, *_diffuse.__all__,
           *_field.__all__, *_truth.__all__]
