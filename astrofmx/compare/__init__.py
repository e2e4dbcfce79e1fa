"""Classical source finders, one-to-one cross-matching and completeness/purity metrics.

`find_sources_photutils`, `find_sources_sep` and `find_sources_pybdsf` return
catalogs in the same convention as `astrofmx.detect_sources`
(`astrofmx.io.make_source_catalog`); `crossmatch`, `match_metrics` and
`compare_catalogs` score them against a reference catalog read by
`read_reference_catalog` (`catalog_scores` turns matched counts into
completeness, purity and F1); `plot_catalogs` overlays them on the image.
"""

from ._crossmatch import *  # noqa: F401, F403
from ._metrics import *  # noqa: F401, F403
from ._photutils import *  # noqa: F401, F403
from ._plot import *  # noqa: F401, F403
from ._pybdsf import *  # noqa: F401, F403
from ._reference import *  # noqa: F401, F403
from ._sep import *  # noqa: F401, F403
