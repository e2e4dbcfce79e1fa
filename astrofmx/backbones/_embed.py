"""`embed`: images or cutouts to feature vectors with any registered backbone."""

import dataclasses
import logging
import warnings

import numpy as np

from astrofmx.utils import atomic_write, autocast, get_cache_dir, progress_bar as _progress_bar
from astrofmx.utils import resolve_device, resolve_precision

from ._base import Backbone
from ._embed_inputs import _as_items, _batches, _default_id, _resolve_workers
from ._embed_store import _cache_key, _check_output, _write_output

__all__ = ["embed"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _EmbedOptions:
    """How images are turned into features (everything but the inputs, the model and the output)."""

    batch_size: object = "auto"
    pooling: str = "cls"
    precision: str = "auto"
    normalizer: object = None
    compile: bool = False
    progress_bar: bool = True
    num_workers: object = "auto"


def embed(images, *, backbone="msn", weights="pretrained", batch_size="auto", pooling="cls", device=None,
          precision="auto", normalizer=None, compile=False, cache=False, output=None, ids=None,
          progress_bar=True, overwrite=False, cache_dir=None, num_workers="auto", output_dir=None, parallel=False,
          resume=True, shard_size=256):
    """Turn images or cutouts into feature vectors with a foundation-model backbone.

    Images are preprocessed one by one with
    `astrofmx.preprocess.to_model_input` (the chosen ``normalizer``, then the
    backbone's input size, mean and std, three channels) and streamed through
    the backbone in batches, so memory stays bounded by one batch (plus the
    next one, prepared in a worker thread while the current one runs).

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
    from ._vit import check_pooling

    if output_dir is not None or (parallel is not False and parallel is not None):
        return _deprecated_survey(images, output_dir, parallel=parallel, resume=resume, shard_size=shard_size,
                                  progress_bar=progress_bar, output=output, ids=ids, cache=cache,
                                  backbone=backbone, weights=weights, batch_size=batch_size, pooling=pooling,
                                  device=device, precision=precision, normalizer=normalizer, cache_dir=cache_dir)
    _check_batch_size(batch_size)
    check_pooling(pooling)
    opts = _EmbedOptions(batch_size=batch_size, pooling=pooling, precision=precision, normalizer=normalizer,
                         compile=compile, progress_bar=progress_bar, num_workers=num_workers)
    output = _check_output(output, overwrite)
    items, n_items = _as_items(images)
    if cache and n_items is None:
        items = list(items)
        n_items = len(items)
    if n_items == 0:
        raise ValueError("images is empty: nothing to embed")
    if ids is not None:
        ids = list(ids)
        if n_items is not None and len(ids) != n_items:
            raise ValueError(f"ids must have one entry per image ({n_items}), got {len(ids)}")
    model, dev = _resolve_model(backbone, weights=weights, device=device, cache_dir=cache_dir, pooling=pooling,
                                progress_bar=progress_bar)
    prec = resolve_precision(precision, dev)
    was_training = model.training
    model.eval()
    try:
        cache_file = None
        if cache:
            key = _cache_key(model, items, pooling=pooling, precision=prec, normalizer=normalizer)
            cache_file = get_cache_dir(cache_dir) / "embeddings" / f"{key}.npy"
            features = _read_cache(cache_file, n_items)
            if features is not None:
                if output is not None:
                    _write_output(features, ids if ids is not None else
                                  [_default_id(it, i) for i, it in enumerate(items)], output, overwrite)
                return features
        features, default_ids = _run(model, items, n_items, dev, prec, opts, track_ids=output is not None
                                     and ids is None)
    finally:
        model.train(was_training)
    if ids is not None and len(ids) != len(features):
        raise ValueError(f"ids must have one entry per image ({len(features)}), got {len(ids)}")
    if cache_file is not None:
        with atomic_write(cache_file, overwrite=True) as tmp:
            np.save(tmp, features, allow_pickle=False)
    if output is not None:
        _write_output(features, ids if ids is not None else default_ids, output, overwrite)
    return features


def _check_batch_size(batch_size):
    if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                 or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")


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


def _resolve_model(backbone, *, weights, device, cache_dir, pooling, progress_bar):
    """The backbone to run (built from a registry name, or the instance given) and its device."""
    import torch

    if not isinstance(backbone, Backbone):
        from ._registry import get_backbone

        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registered name or a Backbone, got {type(backbone).__name__}")
        model = get_backbone(backbone, weights=weights, device=device, cache_dir=cache_dir, pooling=pooling,
                             progress_bar=progress_bar)
        return model, next(model.parameters()).device
    if weights is not None and weights != "pretrained":
        raise ValueError(f"weights={weights!r} is only used with a backbone name; load a file into a Backbone "
                         f"instance with astrofmx.backbones.load_weights")
    if device is not None:
        dev = resolve_device(device)
        backbone.to(dev)
        return backbone, dev
    param = next(backbone.parameters(), None)
    return backbone, (param.device if param is not None else torch.device("cpu"))


def _read_cache(cache_file, n_items):
    if cache_file.is_file():
        features = np.load(cache_file, allow_pickle=False)
        if len(features) == n_items:
            logger.info("embeddings found in the cache: %s", cache_file)
            return features
    return None


def _run(model, items, n_items, dev, prec, opts, *, track_ids):
    """Stream ``items`` through ``model`` in batches; returns (features, default ids of what was read)."""
    import torch

    cnn = model.spec.arch in ("resnet", "timm")
    if cnn:  # faster convolutions on CPU and GPU; values are unchanged
        model.to(memory_format=torch.channels_last)
    batch_size = _auto_batch_size(opts.batch_size, model, dev, prec, opts.pooling)
    workers = _resolve_workers(opts.num_workers, items, dev)
    default_ids = [] if workers == 0 else [_default_id(it, i) for i, it in enumerate(items)]

    def tracked(iterable):
        for i, item in enumerate(iterable):
            if track_ids:
                default_ids.append(_default_id(item, i))
            yield item

    forward = torch.compile(model) if opts.compile else model
    chunks = []
    bar = _progress_bar(total=n_items, desc=f"embed ({model.spec.name})", unit="img", enabled=opts.progress_bar)
    try:
        with torch.inference_mode(), autocast(dev, prec):
            for batch in _batches(tracked(items) if workers == 0 else items, model.spec, opts.normalizer,
                                  batch_size, workers):
                x = torch.stack(batch)
                x = x.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else x.to(dev)
                if cnn:
                    x = x.contiguous(memory_format=torch.channels_last)
                chunks.append(forward(x, pooling=opts.pooling).float().cpu().numpy())
                bar.update(len(batch))
    finally:
        bar.close()
    if not chunks:
        raise ValueError("images is empty: nothing to embed")
    return np.ascontiguousarray(np.concatenate(chunks, axis=0), dtype=np.float32), default_ids


def _auto_batch_size(batch_size, model, dev, precision, pooling):
    """An int, or 'auto': 32 images on a CPU, as many as fit in the free memory of a GPU."""
    import torch

    from ..utils import resolve_batch_size

    size = int(model.spec.input_size)

    def probe(n):
        with torch.inference_mode(), autocast(dev, precision):
            model(torch.zeros(n, 3, size, size, device=dev), pooling=pooling)

    return resolve_batch_size(batch_size, dev, probe, cpu_default=32)
