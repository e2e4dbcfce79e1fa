"""Utilities shared by every astrofmx subpackage: devices, progress bars, caches and warnings."""

from ._batching import *  # noqa: F401, F403
from ._device import *  # noqa: F401, F403
from ._download import *  # noqa: F401, F403
from ._malloc import *  # noqa: F401, F403
from ._misc import *  # noqa: F401, F403
from ._progress import *  # noqa: F401, F403
from .exceptions import *  # noqa: F401, F403
