"""The on-disk layout of a source index: memory-mapped vectors and thumbnails, provenance, metadata.

An index folder holds

- ``index.json``: metadata (format version, backbone name, weights and
  fingerprint, vector dimension, cutout and thumbnail sizes, the number of
  committed sources ``n``, the batch results already ingested);
- ``vectors.f32``: ``(n, dim)`` float32 unit vectors, raw, memory-mapped;
- ``thumbs.u8``: ``(n, t, t)`` uint8 display stamps for mosaics;
- ``sources.ecsv``: the provenance of each source (file, hdu, catalog row,
  pixel and sky position);
- ``ann.hnsw``: the approximate (HNSW) graph, once the index is large;
- ``labels.ecsv``: the user's feedback (`SourceIndex.feedback`).

Rows are appended to the raw files first and committed by rewriting
``index.json`` atomically, so a crash mid-way leaves bytes past ``n`` that
the next writer cuts off: the index is always the last committed state.
"""

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..utils import atomic_write

__all__ = []

logger = logging.getLogger(__name__)

FORMAT = "astrofmx-source-index"
VERSION = 1
META, VECTORS, THUMBS, SOURCES, ANN, LABELS = ("index.json", "vectors.f32", "thumbs.u8", "sources.ecsv",
                                               "ann.hnsw", "labels.ecsv")


def read_meta(path):
    """The metadata of the index folder ``path`` (ValueError if it is not one)."""
    path = Path(path)
    file = path / META
    if not file.is_file():
        raise ValueError(f"{str(path)!r} is not a source index (no {META}); build one with "
                         "astrofmx.search.build_index(inputs, output=...)")
    meta = json.loads(file.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(file)!r} is not the metadata of an astrofmx source index (format "
                         f"{meta.get('format')!r})")
    if meta.get("version", 0) > VERSION:
        raise ValueError(f"{str(path)!r} was written by a newer astrofmx (index format {meta['version']}; this "
                         f"one reads {VERSION}): upgrade astrofmx")
    return meta


def write_meta(path, meta):
    with atomic_write(Path(path) / META, overwrite=True) as tmp:
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")


def _truncate(file, nbytes):
    if file.exists() and file.stat().st_size > nbytes:
        logger.info("cutting %s back to its last committed size (%d bytes)", file, nbytes)
        with open(file, "r+b") as fh:
            fh.truncate(nbytes)


def append_rows(path, meta, vectors, thumbs):
    """Append vectors and thumbnails after the committed rows (the caller commits ``meta``)."""
    path = Path(path)
    n, dim, t = meta["n"], meta["dim"], meta["thumb_size"]
    for name, row_bytes, block in ((VECTORS, 4 * dim, np.ascontiguousarray(vectors, dtype=np.float32)),
                                   (THUMBS, t * t, np.ascontiguousarray(thumbs, dtype=np.uint8))):
        file = path / name
        _truncate(file, n * row_bytes)
        with open(file, "ab") as fh:
            fh.write(block.tobytes())
            fh.flush()
            os.fsync(fh.fileno())


def open_vectors(path, meta, mode="r"):
    """The committed vectors as a read-only ``(n, dim)`` `numpy.memmap` (an empty array when n is 0)."""
    n, dim = meta["n"], meta["dim"]
    if n == 0:
        return np.zeros((0, dim), np.float32)
    return np.memmap(Path(path) / VECTORS, dtype=np.float32, mode=mode, shape=(n, dim))


def open_thumbs(path, meta):
    n, t = meta["n"], meta["thumb_size"]
    if n == 0:
        return np.zeros((0, t, t), np.uint8)
    return np.memmap(Path(path) / THUMBS, dtype=np.uint8, mode="r", shape=(n, t, t))


def read_sources(path):
    from astropy.table import QTable

    file = Path(path) / SOURCES
    return QTable.read(file, format="ascii.ecsv") if file.exists() else None


def write_sources(path, table):
    with atomic_write(Path(path) / SOURCES, overwrite=True) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
