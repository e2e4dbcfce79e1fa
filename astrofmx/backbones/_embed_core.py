"""The engine behind `embed` and `embed_survey`: batching, the model run, the embedding cache."""

import dataclasses
import logging

import numpy as np

from astrofmx.utils import atomic_write, autocast, get_cache_dir, progress_bar as _progress_bar
from astrofmx.utils import prefetch_helps, resolve_device, resolve_precision, tune_cpu_allocator

from ._base import Backbone
from ._embed_inputs import _as_items, _batches, _default_id, _resolve_workers
from ._embed_store import _cache_key, _check_output, _write_output
from ._fuse import inference_copy

__all__ = []

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


def _check_batch_size(batch_size):
    if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                 or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")


def _embed_images(images, *, backbone="msn", weights="pretrained", batch_size="auto", pooling="cls", device=None,
                  precision="auto", normalizer=None, compile=False, cache=False, output=None, ids=None,
                  progress_bar=True, overwrite=False, cache_dir=None, num_workers="auto"):
    """The work of `embed` (and of each shard of `embed_survey`): inputs to an ``(N, D)`` feature array."""
    from ._vit import check_pooling

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
    if dev.type == "cpu":
        tune_cpu_allocator()  # batches of activations reuse heap memory, not fresh zeroed pages
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
    if cnn:  # batch norms folded, channels-last: faster on CPU and GPU, the same features (`inference_copy`)
        model = inference_copy(model)
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
                                  batch_size, workers, channels_last=cnn, prefetch=prefetch_helps(dev)):
                x = batch if isinstance(batch, torch.Tensor) else torch.stack(batch)
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
