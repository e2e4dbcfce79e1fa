"""`embed_survey`: the features of many files, shard by shard into a folder, resumable, optionally on Dask."""

import hashlib
import os
import warnings

import numpy as np

from ._base import Backbone
from ..survey import expand_inputs, run_batch
from ._embed_core import _check_batch_size, _embed_images

__all__ = ["embed_survey"]


_NO_EFFECT = ("progress_bar", "batch_size", "device", "num_workers")  # options that do not change the features


def _embed_shard(items, *, hdu=None, plane=None, **kwargs):
    if hdu is not None or plane is not None:
        from ..io import load_image

        items = [load_image(path, hdu=hdu, plane=plane) for path in items]
    return _embed_images(items, **kwargs)


def _shards(paths, shard_size):
    """``{name: paths}``, names stable from run to run (index and a hash of the shard's paths)."""
    shards = {}
    for k in range(0, len(paths), shard_size):
        chunk = paths[k:k + shard_size]
        key = hashlib.sha1("\n".join(chunk).encode("utf-8", "surrogatepass")).hexdigest()[:10]
        shards[f"shard{k // shard_size:06d}-{key}"] = chunk
    return shards


def embed_survey(inputs, output_dir, *, parallel=False, resume=True, shard_size=256, progress_bar=True,
                 time_limit=None, hdu=None, plane=None, **embed_options):
    """Embed many image files into a folder, shard by shard: resumable, and parallel with Dask.

    The inputs are split into shards of ``shard_size`` files; each shard's
    features are computed with `~astrofmx.backbones.embed` and written
    atomically to ``output_dir`` by the batch engine (``run_batch``):
    ``<shard>-<hash>.embed.npy`` per shard, ``embed_summary.ecsv`` and the
    combined ``embed_combined.npy``, so an interrupted run resumes where it
    stopped. The backbone is built once and sent to the workers.

    Parameters
    ----------
    inputs : str, path-like or list of paths
        A glob pattern (``"cutouts/*.fits"``; matches sorted), one file or a
        list of files.
    output_dir : str or path-like
        Folder for the shard files, the summary and the combined features.
    parallel : bool, int, 'current-scheduler' or ``distributed.Client``, optional
        False runs the shards serially, an int on a local Dask cluster of that
        many worker processes, 'current-scheduler' on the active Dask
        scheduler, a Client on that cluster.
    resume : bool, optional
        Skip shards whose features are already in ``output_dir``. The
        backbone's identity (its spec and a sha1 of its weights), the options
        that change the features (``pooling``, ``normalizer``,
        ``precision``), ``hdu`` and ``plane`` are recorded in
        ``embed_settings.json``; a rerun with others stops with an error
        naming them (pass ``resume=False`` to recompute, or use another
        folder).
    shard_size : int, optional
        Files per shard (per task and per result file).
    progress_bar : bool, optional
        Show a progress bar over the shards.
    time_limit : float, optional
        Seconds allowed per shard; a shard still running then is stopped and
        reported as failed (``TimeoutError`` in the summary).
    hdu : int, str or tuple, optional
        The HDU of every file to read (see `~astrofmx.io.load_image`).
    plane : int or tuple of int, optional
        The 2-D plane of cubes (see `~astrofmx.io.load_image`).
    **embed_options
        Passed to `~astrofmx.backbones.embed`: ``backbone``, ``weights``,
        ``batch_size``, ``pooling``, ``device``, ``precision``,
        ``normalizer``, ``cache_dir``.

    Returns
    -------
    result : ``BatchResult``
        ``features`` is the combined ``(N, D)`` array (memory-mapped, input
        order, finished shards only), ``ids`` the shard of each row and
        ``summary`` one row per shard (``failed`` shards are listed there and
        do not stop the run).

    Raises
    ------
    ValueError
        A glob that matches nothing, an empty list, a bad ``shard_size``.
    TypeError
        Inputs that are not files (embed arrays in memory with `embed`).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astrofmx.backbones import embed_survey, get_backbone
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     fits.PrimaryHDU(np.random.default_rng(i).normal(size=(32, 32)).astype("float32")).writeto(
    ...         folder / f"cutout{i}.fits")
    >>> tiny = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> result = embed_survey(str(folder / "*.fits"), folder / "features", backbone=tiny, shard_size=2,
    ...                       precision="fp32", progress_bar=False)
    >>> result.n_done, np.asarray(result.features).shape
    (2, (3, 32))
    """
    from ._vit import check_pooling

    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    bad = sorted(set(embed_options) & {"output", "ids", "cache", "output_dir", "images"})
    if bad:
        raise TypeError(f"embed_survey does not take {bad}: the features are in <output_dir>/embed_combined.npy, "
                        "the shard of each row in embed_combined_ids.npy, and the shard files make reruns resume")
    _check_batch_size(embed_options.get("batch_size", "auto"))
    check_pooling(embed_options.get("pooling", "cls"))
    paths = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in expand_inputs(inputs)]
    if not paths:
        raise ValueError("inputs is empty: nothing to embed")
    kwargs = dict(embed_options, progress_bar=False, num_workers=0)
    kwargs["backbone"] = _model(kwargs.pop("backbone", "msn"), kwargs.pop("weights", "pretrained"),
                                kwargs.pop("cache_dir", None), parallel, progress_bar, kwargs)
    settings = {k: v for k, v in kwargs.items() if k not in _NO_EFFECT}
    if hdu is not None or plane is not None:
        kwargs.update(hdu=hdu, plane=plane)
        settings.update(hdu=hdu, plane=plane)
    with warnings.catch_warnings():
        # the model is sent to the cluster once, as one task: dask's "large graph" advice does not apply
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return run_batch(_embed_shard, _shards(paths, int(shard_size)), output_dir=output_dir, parallel=parallel,
                         resume=resume, output_format="npy", func_kwargs=kwargs, name="embed",
                         progress_bar=progress_bar, settings=settings, time_limit=time_limit)


def _model(backbone, weights, cache_dir, parallel, progress_bar, kwargs):
    """Build the backbone once (on the CPU when it is sent to Dask workers)."""
    if isinstance(backbone, Backbone):
        if weights is not None and weights != "pretrained":
            raise ValueError(f"weights={weights!r} is only used with a backbone name; load a file into a Backbone "
                             f"instance with astrofmx.backbones.load_weights")
        return backbone
    from ._registry import get_backbone

    if not isinstance(backbone, str):
        raise TypeError(f"backbone must be a registered name or a Backbone, got {type(backbone).__name__}")
    device = kwargs.get("device") if parallel in (False, None) else "cpu"
    return get_backbone(backbone, weights=weights, device=device, cache_dir=cache_dir,
                        pooling=kwargs.get("pooling", "cls"), progress_bar=progress_bar)
