"""Model-ready pixels: normalization, resampling, alignment, tiling and cutouts.

Normalization builds on `astropy.visualization` intervals and stretches;
alignment uses `reproject`; cutouts use `astropy.nddata.Cutout2D`.
"""

from ._align import *  # noqa: F401, F403
from ._background import *  # noqa: F401, F403
from ._cutouts import *  # noqa: F401, F403
from ._fitted import *  # noqa: F401, F403
from ._model_input import *  # noqa: F401, F403
from ._normalize import *  # noqa: F401, F403
from ._presets import *  # noqa: F401, F403
from ._resample import *  # noqa: F401, F403
from ._scale import *  # noqa: F401, F403
from ._tiling import *  # noqa: F401, F403
