"""Reading FITS images with their WCS, catalog columns, and writing catalogs and DS9 regions."""

from ._beam import *  # noqa: F401, F403
from ._catalog import *  # noqa: F401, F403
from ._columns import *  # noqa: F401, F403
from ._export import *  # noqa: F401, F403
from ._cutouts import *  # noqa: F401, F403
from ._fits import *  # noqa: F401, F403
from ._header import *  # noqa: F401, F403
from ._pixels import *  # noqa: F401, F403
from ._provenance import *  # noqa: F401, F403
from ._regions import *  # noqa: F401, F403
