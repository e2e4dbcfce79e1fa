"""Simulated fields, synthetic galaxies, bundled files and data-set loaders."""

from . import _bundled, _galaxies, _loaders, _optical, _radio, _read
from ._bundled import *  # noqa: F401, F403
from ._galaxies import *  # noqa: F401, F403
from ._loaders import *  # noqa: F401, F403
from ._optical import *  # noqa: F401, F403
from ._radio import *  # noqa: F401, F403
from ._read import *  # noqa: F401, F403

__all__ = [*_radio.__all__, *_optical.__all__, *_galaxies.__all__, *_loaders.__all__, *_bundled.__all__, *_read.__all__]
