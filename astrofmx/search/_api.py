"""`build_index` and `load_index`: make a source index on disk, or open one."""

import logging

from . import _store
from ._build import _prepare, resolve_backbone
from ._index import SourceIndex

__all__ = ["build_index", "load_index"]

logger = logging.getLogger(__name__)


def build_index(inputs, *, output, catalog=None, backbone="msn", weights="pretrained", cutout_size=64,
                normalizer=None, hdu=None, ids=None, parallel=False, progress_bar=True, overwrite=False,
                thumb_size=48, exact_limit=20000, detect_options=None, batch_size="auto", precision="auto",
                rotation_invariant=False):
    """Build a searchable index of the sources of FITS images: one embedding per source cutout.

    For each input the sources are taken from ``catalog`` (or found by the
    default detector, `~astrofmx.detection.detect_sources`), a square cutout
    is cut around each one (`~astrofmx.preprocess.make_cutouts`) and embedded
    with a foundation-model backbone (`~astrofmx.backbones.embed`). Vectors
    are stored unit-normalized and memory-mapped, so search uses cosine
    distance. The inputs run through the survey batch engine
    (`~astrofmx.survey.run_batch`): a crashed build resumes where it stopped
    when called again with the same inputs through `SourceIndex.add`, and
    ``parallel`` spreads the inputs over Dask workers.

    Parameters
    ----------
    inputs : str, path-like, array, NDData or list of these
        FITS files, glob patterns (``'survey/*.fits'``) or images.
    output : str or path-like
        The index folder (created; see `load_index` for its layout).
    catalog : `~astropy.table.Table`, `~astropy.coordinates.SkyCoord`, 'center' or None, optional
        The sources to index: a catalog with pixel columns (a
        `~astrofmx.detection.detect_sources` result, a photutils or PyBDSF
        table) or sky positions (used with each image's WCS, keeping the
        sources inside it), a SkyCoord, ``'center'`` (each input is one
        cutout of a source, e.g. a MiraBest image) or None (detect them).
    backbone : str or `~astrofmx.backbones.Backbone`, optional
        Registry name or a built backbone.
    weights : {'pretrained', None} or path-like, optional
        Weights for a backbone given by name (see `~astrofmx.backbones.get_backbone`).
    cutout_size : int, optional
        Side of the square cutouts, in pixels.
    normalizer : str or callable, optional
        Image normalizer of `~astrofmx.backbones.embed` (e.g. ``'radio'``).
    hdu : int or str, optional
        The HDU to read from each FITS file (default: the only image HDU).
    ids : list of str, optional
        One id per input (the ``file`` column); default the path, or a hash
        of the pixels for arrays.
    parallel : bool, int or `distributed.Client`, optional
        As in `~astrofmx.survey.run_batch`.
    progress_bar : bool, optional
        Show a progress bar over the inputs.
    overwrite : bool, optional
        Replace an existing index at ``output``.
    thumb_size : int, optional
        Side of the display stamps kept for mosaics.
    exact_limit : int, optional
        Up to this many sources searches are exact (a scan of the vectors);
        above it an approximate HNSW graph is built and used.
    detect_options : dict, optional
        Keyword arguments of `~astrofmx.detection.detect_sources` (no catalog).
    batch_size, precision : optional
        Passed to `~astrofmx.backbones.embed`.
    rotation_invariant : bool, optional
        Embed each cutout as the mean of its 8 flips and 90-degree
        rotations, so that a source's vector does not depend on its
        orientation on the sky (queries by image follow the index). It costs
        8 times the embedding; on a simulated survey with injected rings and
        giant doubles (``benchmarks/bench_search.py --sections anomalies
        --rotation-invariant``) it raised their enrichment in the top 1% of
        `SourceIndex.outliers` from 4-8x to 16-24x over random.

    Returns
    -------
    index : `SourceIndex`

    Raises
    ------
    FileExistsError
        If ``output`` exists and ``overwrite`` is False.
    ValueError
        No inputs, or an ``output`` that exists and is not an index.
    TypeError
        If ``rotation_invariant`` is not a bool.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astrofmx.backbones import get_backbone
    >>> from astrofmx.search import build_index
    >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> image = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    >>> sources = QTable({"x_centroid": [16.0, 40.0, 50.0], "y_centroid": [16.0, 30.0, 50.0]})
    >>> index = build_index(image, output=tempfile.mkdtemp() + "/idx", catalog=sources, backbone=vit,
    ...                     cutout_size=16, progress_bar=False, precision="fp32")
    >>> len(index), index.dim
    (3, 32)
    """
    if not isinstance(rotation_invariant, bool):
        raise TypeError(f"rotation_invariant must be True or False, got {rotation_invariant!r}")
    model, identity = resolve_backbone(backbone, weights)
    output = _prepare(output, overwrite)
    meta = dict(format=_store.FORMAT, version=_store.VERSION, n=0, cutout_size=int(cutout_size),
                thumb_size=int(thumb_size), normalizer=normalizer if isinstance(normalizer, str) or normalizer is None
                else getattr(normalizer, "__name__", "custom"), exact_limit=int(exact_limit), ingested=[],
                ann_n=0, orientations=8 if rotation_invariant else 1, **identity)
    _store.write_meta(output, meta)
    index = SourceIndex(output)
    index.add(inputs, catalog=catalog, backbone=model, ids=ids, parallel=parallel, progress_bar=progress_bar,
              hdu=hdu, detect_options=detect_options, batch_size=batch_size, precision=precision)
    return index


def load_index(path):
    """Open an index written by `build_index`.

    Parameters
    ----------
    path : str or path-like
        The index folder: ``index.json`` (metadata: backbone name, weights
        and fingerprint, dimension, cutout size), ``vectors.f32`` (the unit
        vectors, memory-mapped), ``thumbs.u8`` (display stamps),
        ``sources.ecsv`` (provenance), ``ann.hnsw`` (the approximate graph of
        a large index), ``labels.ecsv`` (feedback) and ``batch/`` (the
        per-input results of the batch engine, which make builds resumable).

    Returns
    -------
    index : `SourceIndex`

    Raises
    ------
    ValueError
        If ``path`` is not an index folder.

    Examples
    --------
    >>> from astrofmx.search import load_index
    >>> load_index("/nonexistent")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: '/nonexistent' is not a source index (no index.json); build one with ...
    """
    return SourceIndex(path)
