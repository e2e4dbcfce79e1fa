"""Nearest neighbours by cosine distance: an exact scan of the memory-mapped vectors, or an HNSW graph.

Vectors are unit-normalized when they are stored, so cosine distance is
``1 - q . v``. The exact search reads the vectors in blocks (memory stays
bounded for any index size). The approximate search is an HNSW graph from
hnswlib (chosen by measurement against faiss and usearch: see
docs/search.rst), kept beside the vectors and extended when sources are
added.
"""

import logging
import math
from pathlib import Path

import numpy as np

__all__ = []

logger = logging.getLogger(__name__)

_BLOCK = 65536
#: HNSW build settings (M, ef_construction) and the default query breadth up to `_EF_BASE_N` vectors
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF = 16, 100, 64
#: above this many vectors the default breadth grows 4x per decade (`default_ef`)
_EF_BASE_N = 100_000
_EF_MAX = 2048


def default_ef(n):
    """The default HNSW search breadth for a graph of ``n`` vectors: 64 up to 100,000, 4x per decade above.

    A fixed breadth loses recall as the graph grows. Measured on clustered 384-d unit vectors
    (``benchmarks/bench_search.py``): recall@10 = 1.000 at 100,000 vectors with ef = 64; at 1,000,000,
    0.775 with ef = 64, 0.88-0.90 with 128, 0.964 with 256 (1.0 ms a query, 104x the exact scan), 0.983
    with 512. At 1M this gives 256.
    """
    if n <= _EF_BASE_N:
        return HNSW_EF
    return int(min(_EF_MAX, math.ceil(HNSW_EF * 4 ** math.log10(n / _EF_BASE_N) - 1e-9)))


def exact_search(vectors, queries, k):
    """The ``k`` nearest rows of ``vectors`` to each query: (distances, rows), each ``(m, k)``, nearest first."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    n = len(vectors)
    k = min(k, n)
    best_d = np.full((len(queries), 0), np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for start in range(0, n, _BLOCK):
        block = np.asarray(vectors[start:start + _BLOCK], dtype=np.float32)
        dist = 1.0 - queries @ block.T
        kk = min(k, dist.shape[1])
        part = np.argpartition(dist, kk - 1, axis=1)[:, :kk]
        best_d = np.concatenate([best_d, np.take_along_axis(dist, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        if best_d.shape[1] > k:
            keep = np.argpartition(best_d, k - 1, axis=1)[:, :k]
            best_d, best_i = np.take_along_axis(best_d, keep, 1), np.take_along_axis(best_i, keep, 1)
    order = np.lexsort((best_i, best_d), axis=1) if best_d.size else np.zeros_like(best_i)
    return np.take_along_axis(best_d, order, 1), np.take_along_axis(best_i, order, 1)


def _hnswlib():
    try:
        import hnswlib
    except ImportError as exc:  # pragma: no cover - declared in the 'search' extra
        raise ImportError("approximate search needs hnswlib: pip install 'astrofmx[search]'") from exc
    return hnswlib


def update_graph(path, vectors, n_done, *, threads=-1, progress_bar=False):
    """Build (``n_done`` = 0) or extend the HNSW graph at ``path`` to all ``len(vectors)`` rows; returns it.

    ``threads=-1`` builds with all cores (the graph is the same whatever the number of threads, up to the
    order in which parallel insertions land).
    """
    from ..utils import progress_bar as _bar

    hnswlib = _hnswlib()
    path = Path(path)
    n, dim = vectors.shape
    graph = hnswlib.Index(space="ip", dim=dim)
    if n_done and path.exists():
        graph.load_index(str(path), max_elements=n)
    else:
        n_done = 0
        graph.init_index(max_elements=n, M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION, random_seed=0)
    graph.set_num_threads(threads)
    step = 50000
    for start in _bar(range(n_done, n, step), total=-(-(n - n_done) // step), desc="HNSW graph", unit="block",
                      enabled=progress_bar):
        stop = min(start + step, n)
        graph.add_items(np.asarray(vectors[start:stop], dtype=np.float32), np.arange(start, stop))
    tmp = path.with_name(f".{path.name}.tmp")
    graph.save_index(str(tmp))
    tmp.replace(path)
    return graph


def load_graph(path, n, dim):
    """The HNSW graph saved at ``path`` (``n`` rows of dimension ``dim``)."""
    graph = _hnswlib().Index(space="ip", dim=dim)
    graph.load_index(str(path), max_elements=n)
    return graph


def graph_search(graph, queries, k, ef=None):
    """Approximate ``k`` nearest neighbours with the HNSW ``graph``: (distances, rows)."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    k = min(k, graph.get_current_count())
    graph.set_ef(max(int(ef or default_ef(graph.get_current_count())), k))
    rows, dist = graph.knn_query(queries, k=k)
    return dist.astype(np.float32), rows.astype(np.int64)
