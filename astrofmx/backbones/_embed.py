"""`embed`: images or cutouts to feature vectors with any registered backbone."""

import logging
import warnings

from ._embed_core import _embed_images

__all__ = ["embed"]

logger = logging.getLogger(__name__)


def embed(images, *, backbone="msn", weights="pretrained", batch_size="auto", pooling="cls", device=None,
          precision="auto", normalizer=None, compile=False, cache=False, output=None, ids=None,
          progress_bar=True, overwrite=False, cache_dir=None, num_workers="auto", output_dir=None, parallel=False,
          resume=True, shard_size=256):
    """Turn images or cutouts into feature vectors with a foundation-model backbone.

    Images are preprocessed as `astrofmx.preprocess.to_model_input` does (the
    chosen ``normalizer`` image by image, then the backbone's input size, mean
    and std and three channels, a batch at a time; FITS cutouts are read
    without building their WCS) and streamed through the backbone in batches,
    so memory stays bounded by one batch (plus the next one, prepared in a
    worker thread while the current one runs).

    Parameters
    ----------
    images : NDData, path, array, tensor, `~astropy.nddata.Cutout2D`, `~astrofmx.preprocess.Tile`, \
or a list/iterable of these
        For files matched by a glob pattern, and for surveys written to a
        folder, use `~astrofmx.backbones.embed_survey`. An iterable is
        consumed lazily, so
        ``embed(iter_tiles(load_image(path, memmap=True), tile_size=224))``
        embeds a huge image a batch of tiles at a time.
        A 2-D array is one image, a 3-D array a stack ``(N, H, W)`` of 2-D
        images and a 4-D array ``(N, C, H, W)`` a stack of multi-channel ones
        (put a single ``(C, H, W)`` image in a list). Paths are read with
        `astrofmx.io.load_image`. Tensors are taken as already preprocessed:
        ``(C, H, W)`` or ``(N, C, H, W)``, normalized with the backbone's
        mean/std, and are not resized.
    backbone : str or `~astrofmx.backbones.Backbone`, optional
        Registry name (see `~astrofmx.backbones.list_backbones`) or a built
        backbone (used as is; moved only if ``device`` is given; CNNs are
        switched to the channels_last memory format, which leaves their
        outputs unchanged).
    weights : {'pretrained', None} or path-like, optional
        Weights for a backbone given by name (see
        `~astrofmx.backbones.get_backbone`); ignored for a backbone instance
        (a path is then an error).
    batch_size : int or 'auto', optional
        Images per forward pass. 'auto' (default): 32 on a CPU; on a GPU as
        many as fit in its free memory, measured with a probe batch
        (`astrofmx.utils.resolve_batch_size`).
    pooling : {'cls', 'mean'}, optional
        Class token or mean patch token (CNNs: global average pooling).
    device : None, str or `torch.device`, optional
        None picks CUDA when available (for a backbone instance: where it is).
    precision : {'auto', 'fp32', 'bf16', 'fp16'}, optional
        'auto' runs in bf16 autocast on GPUs and on CPUs with native bf16
        (AVX512-BF16/AMX), fp32 elsewhere (see `astrofmx.utils.resolve_precision`).
        Features are always returned as float32.
    normalizer : str or callable, optional
        Passed to `~astrofmx.preprocess.to_model_input` (default: its own,
        ``"optical"``); e.g. ``"radio"`` for radio maps.
    compile : bool, optional
        Run the backbone through `torch.compile` (worth it for large jobs on
        GPU; the first batch is slow).
    cache : bool, optional
        Reuse features computed before for the same backbone, weights,
        preprocessing, precision and inputs, kept in
        ``<cache>/embeddings/<key>.npy`` (paths are keyed by name, size and
        modification time). An iterator input is read into a list first.
    output : path-like, optional
        Also write the features with their ids: ``.npy`` (features, plus ids
        in ``<stem>_ids.npy``), ``.npz`` / ``.h5`` / ``.hdf5`` (arrays
        ``features`` and ``ids``) or ``.parquet`` (columns ``id`` and
        ``features``).
    ids : sequence, optional
        One source id per image for ``output``; default the path for path
        inputs, else the index.
    progress_bar : bool, optional
        Show a progress bar (images done).
    overwrite : bool, optional
        Replace an existing ``output``.
    cache_dir : path-like, optional
        Cache root for weights and embeddings (default ``ASTROFMX_CACHE`` or
        ``~/.cache/astrofmx``).
    num_workers : int or 'auto', optional
        Worker processes that load and normalize images in parallel (a
        `torch.utils.data.DataLoader`; list inputs only). 0 prepares the next
        batch in one background thread. 'auto': 0 for tensors and on CPUs
        with fewer than 8 cores (the forward pass needs them), up to 8 when
        the model runs on a GPU.
    output_dir, parallel, resume, shard_size : optional
        Deprecated: survey mode moved to `~astrofmx.backbones.embed_survey`;
        passing ``output_dir`` still works for one release (with a
        `DeprecationWarning`) and returns what ``embed_survey`` returns.

    Returns
    -------
    features : `numpy.ndarray`
        ``(N, D)`` float32, in input order.

    Raises
    ------
    ValueError
        Bad shapes, batch size, pooling, output suffix, or ids of the wrong
        length.
    TypeError
        Unsupported input type.
    FileExistsError
        ``output`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import torch
    >>> from astrofmx.backbones import embed, get_backbone
    >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> x = torch.randn(5, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> embed(x, backbone=vit, batch_size=2, precision="fp32", progress_bar=False).shape
    (5, 32)
    """
    if output_dir is not None or (parallel is not False and parallel is not None):
        return _deprecated_survey(images, output_dir, parallel=parallel, resume=resume, shard_size=shard_size,
                                  progress_bar=progress_bar, output=output, ids=ids, cache=cache,
                                  backbone=backbone, weights=weights, batch_size=batch_size, pooling=pooling,
                                  device=device, precision=precision, normalizer=normalizer, cache_dir=cache_dir)
    return _embed_images(images, backbone=backbone, weights=weights, batch_size=batch_size, pooling=pooling,
                         device=device, precision=precision, normalizer=normalizer, compile=compile, cache=cache,
                         output=output, ids=ids, progress_bar=progress_bar, overwrite=overwrite,
                         cache_dir=cache_dir, num_workers=num_workers)


def _deprecated_survey(images, output_dir, **kwargs):
    from ._embed_survey import embed_survey

    warnings.warn("embed(..., output_dir=...) is deprecated and will be removed in the next release; use "
                  "astrofmx.backbones.embed_survey(inputs, output_dir, ...) for files and globs", DeprecationWarning,
                  stacklevel=3)
    if output_dir is None:
        raise ValueError(f"parallel={kwargs['parallel']!r} needs output_dir=<folder> where the features of each "
                         "shard are written (survey mode: use embed_survey)")
    for name in ("output", "ids"):
        if kwargs.pop(name) is not None:
            raise ValueError(f"{name}= is not used with output_dir= (survey mode): the features are in "
                             f"<output_dir>/embed_combined.npy and the shard of each row in embed_combined_ids.npy")
    if kwargs.pop("cache"):
        raise ValueError("cache=True is not used with output_dir= (survey mode): the shard files already make "
                         "reruns resume")
    return embed_survey(images, output_dir, **kwargs)

