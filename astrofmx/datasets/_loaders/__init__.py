"""Loaders for the labelled image sets of the paper: GalaxyMNIST, MiraBest, Radio Galaxy Zoo, MGCLS cutouts.

Each loader reads local files, one module per data set. Where a data set has
a stable download address (`DATASET_SOURCES`), a missing file is fetched
(``_download``) when ``download=True`` and the machine is online; otherwise a
`FileNotFoundError` says where to download the data and where to put it.
Nothing is ever unpickled.
"""

from . import _galaxy_mnist, _labeled, _mgcls, _mirabest, _rgz, _sources
from ._galaxy_mnist import *  # noqa: F401, F403
from ._labeled import *  # noqa: F401, F403
from ._mgcls import *  # noqa: F401, F403
from ._mirabest import *  # noqa: F401, F403
from ._rgz import *  # noqa: F401, F403
from ._sources import *  # noqa: F401, F403

__all__ = [*_labeled.__all__, *_sources.__all__, *_galaxy_mnist.__all__, *_mirabest.__all__, *_rgz.__all__,
           *_mgcls.__all__]
