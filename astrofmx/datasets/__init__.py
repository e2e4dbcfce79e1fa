"""Simulated fields, synthetic galaxies, bundled files and data-set loaders."""

from ._bundled import *  # noqa: F401, F403
from ._galaxies import *  # noqa: F401, F403
from ._loaders import *  # noqa: F401, F403
from ._radio import *  # noqa: F401, F403
