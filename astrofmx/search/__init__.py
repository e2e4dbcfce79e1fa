"""Similarity search and anomaly discovery over the embeddings of survey sources, with sky positions.

`build_index` cuts a cutout around every source of FITS images (from a
catalog or the default detector), embeds it with a foundation-model
backbone and stores the unit vectors memory-mapped with their provenance;
`load_index` reopens it. `SourceIndex.similar` finds the sources most like
a row, a sky position or an image (exact cosine search for small indexes,
an HNSW graph from hnswlib for large ones); `SourceIndex.outliers` ranks
the strangest (IsolationForest, LOF or kNN distance), re-ranked by the
user's `SourceIndex.feedback`.
"""

from ._anomaly import *  # noqa: F401, F403
from ._api import *  # noqa: F401, F403
from ._build import *  # noqa: F401, F403
from ._index import *  # noqa: F401, F403
