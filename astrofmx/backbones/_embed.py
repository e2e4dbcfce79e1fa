"""`embed`: images or cutouts to feature vectors with any registered backbone."""

import concurrent.futures
import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from astrofmx.utils import atomic_write, autocast, check_overwrite, get_cache_dir, progress_bar as _progress_bar
from astrofmx.utils import resolve_device, resolve_precision

from ._base import Backbone

__all__ = ["embed"]

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = (".npy", ".npz", ".h5", ".hdf5", ".parquet")
_CACHE_VERSION = 1


def _is_cutout(obj):
    from astropy.nddata import Cutout2D

    return isinstance(obj, Cutout2D)


def _as_items(images):
    """Split ``images`` into single images: returns (iterable, length or None)."""
    import torch
    from astropy.nddata import NDData

    if isinstance(images, torch.Tensor):
        if images.ndim == 4:
            return list(images), images.shape[0]
        if images.ndim == 3:
            return [images], 1
        raise ValueError(f"a tensor input must be (C, H, W) or (N, C, H, W), got shape {tuple(images.shape)}")
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            return [images], 1
        if images.ndim in (3, 4):
            return list(images), images.shape[0]
        raise ValueError(f"an array input must be one 2-D image, a (N, H, W) stack or a (N, C, H, W) stack, "
                         f"got shape {images.shape}")
    if isinstance(images, (NDData, str, os.PathLike)) or _is_cutout(images):
        return [images], 1
    if isinstance(images, (list, tuple)):
        return list(images), len(images)
    if hasattr(images, "__iter__") and not isinstance(images, (dict, bytes)):
        return iter(images), None
    raise TypeError(f"images must be an NDData, a path, a 2-D/3-D/4-D array, a tensor, a Cutout2D, or a list or "
                    f"iterable of these, got {type(images).__name__}")


def _default_id(item, index):
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return index


def _preprocess(item, spec, normalizer):
    """One image -> float32 tensor (C, H, W) ready for the backbone."""
    import torch
    from astropy.nddata import NDData

    if isinstance(item, torch.Tensor):
        if item.ndim != 3:
            raise ValueError(f"tensor images must be preprocessed (C, H, W) tensors, got shape {tuple(item.shape)}")
        return item.float()
    from astrofmx.preprocess import Tile

    if _is_cutout(item):
        item = NDData(item.data, wcs=item.wcs)
    elif isinstance(item, Tile):  # from iter_tiles: a window of a (possibly memory-mapped) image
        item = NDData(np.asarray(item.data), mask=item.mask)
    elif isinstance(item, (str, os.PathLike)):
        from astrofmx.io import load_image

        item = load_image(item)
    elif not isinstance(item, (NDData, np.ndarray)):
        raise TypeError(f"each image must be an NDData, a path, an array, a tensor, a Cutout2D or a Tile, "
                        f"got {type(item).__name__}")
    from astrofmx.preprocess import to_model_input

    kwargs = {} if normalizer is None else {"normalizer": normalizer}
    return to_model_input(item, size=spec.input_size, mean=spec.mean, std=spec.std, channels=3, **kwargs)


def _group(tensors, batch_size):
    """Regroup a stream of (C, H, W) tensors into lists of one shape, at most ``batch_size`` long."""
    batch = []
    for tensor in tensors:
        if batch and tensor.shape != batch[0].shape:
            yield batch
            batch = []
        batch.append(tensor)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prefetch(generator):
    """Run ``generator`` one step ahead in a worker thread (preprocessing overlaps the forward pass)."""
    sentinel = object()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrofmx-embed") as pool:
        future = pool.submit(next, generator, sentinel)
        while True:
            value = future.result()
            if value is sentinel:
                return
            future = pool.submit(next, generator, sentinel)
            yield value


class _Preprocessed:
    """Map-style dataset: item i -> preprocessed tensor (for DataLoader worker processes)."""

    def __init__(self, items, spec, normalizer):
        self.items, self.spec, self.normalizer = items, spec, normalizer

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return _preprocess(self.items[index], self.spec, self.normalizer)


def _resolve_workers(num_workers, items, device):
    if num_workers == "auto":
        if not isinstance(items, list) or all(_is_tensor(it) for it in items[:64]):
            return 0
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        # on CPU the forward pass needs the cores itself; on a GPU, preprocessing is the bottleneck
        return min(8, cpus - 1) if device.type != "cpu" else (min(4, cpus // 4) if cpus >= 8 else 0)
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers must be 'auto' or an integer >= 0, got {num_workers!r}")
    return int(num_workers) if isinstance(items, list) else 0  # iterators are read in order, in this process


def _is_tensor(obj):
    import torch

    return isinstance(obj, torch.Tensor)


def _batches(items, spec, normalizer, batch_size, num_workers):
    """Yield lists of preprocessed tensors of one shape, at most ``batch_size`` long."""
    if num_workers == 0 or not isinstance(items, list):
        yield from _prefetch(_group((_preprocess(it, spec, normalizer) for it in items), batch_size))
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(_Preprocessed(items, spec, normalizer), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=list, prefetch_factor=2)
    for chunk in loader:
        yield from _group(chunk, batch_size)


def _hash_item(item, digest):
    import torch
    from astropy.nddata import NDData

    if _is_cutout(item):
        item = item.data
    if isinstance(item, (str, os.PathLike)):
        path = Path(item).expanduser().resolve()
        st = path.stat()
        digest.update(f"path:{path}:{st.st_size}:{st.st_mtime_ns}".encode())
        return
    if isinstance(item, NDData):
        _hash_item(np.asarray(item.data), digest)
        if item.mask is not None:
            _hash_item(np.asarray(item.mask), digest)
        digest.update(f"unit:{item.unit}".encode())
        return
    if isinstance(item, torch.Tensor):
        item = item.detach().cpu().contiguous().numpy()
    arr = np.ascontiguousarray(item)
    digest.update(f"array:{arr.dtype.str}:{arr.shape}:{getattr(item, 'unit', '')}".encode())
    digest.update(arr.view(np.uint8).reshape(-1) if arr.size else b"")


def _weights_digest(model):
    import torch

    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        digest.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    return digest.hexdigest()


def _cache_key(model, items, *, pooling, precision, normalizer):
    spec = model.spec
    digest = hashlib.sha256()
    head = {"v": _CACHE_VERSION, "name": spec.name, "model": spec.model_name, "arch": spec.arch,
            "size": spec.input_size, "mean": list(spec.mean), "std": list(spec.std), "pooling": pooling,
            "precision": precision, "normalizer": repr(normalizer), "weights": _weights_digest(model)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for item in items:
        _hash_item(item, digest)
    return digest.hexdigest()[:32]


def _check_output(output, overwrite):
    if output is None:
        return None
    output = Path(output).expanduser()
    suffix = output.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"output must end in one of {OUTPUT_FORMATS}, got {str(output)!r}")
    check_overwrite(output, overwrite)
    if suffix == ".npy":
        check_overwrite(_ids_sidecar(output), overwrite)
    return output


def _ids_sidecar(path):
    return path.with_name(path.stem + "_ids.npy")


def _ids_array(ids):
    arr = np.asarray(ids)
    if arr.dtype == object or arr.dtype.kind not in "iuU":
        arr = np.asarray([str(i) for i in ids])
    return arr


def _write_output(features, ids, output, overwrite):
    suffix = output.suffix.lower()
    ids = _ids_array(ids)
    if suffix == ".npy":
        with atomic_write(output, overwrite=overwrite) as tmp:
            np.save(tmp, features, allow_pickle=False)
        with atomic_write(_ids_sidecar(output), overwrite=overwrite) as tmp:
            np.save(tmp, ids, allow_pickle=False)
    elif suffix == ".npz":
        with atomic_write(output, overwrite=overwrite) as tmp:
            np.savez(tmp, features=features, ids=ids)
    elif suffix in (".h5", ".hdf5"):
        import h5py

        with atomic_write(output, overwrite=overwrite) as tmp:
            with h5py.File(tmp, "w") as fh:
                fh.create_dataset("features", data=features)
                if ids.dtype.kind == "U":
                    fh.create_dataset("ids", data=ids.astype(object), dtype=h5py.string_dtype())
                else:
                    fh.create_dataset("ids", data=ids)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        flat = pa.array(features.reshape(-1), type=pa.float32())
        table = pa.table({"id": pa.array(ids.tolist()),
                          "features": pa.FixedSizeListArray.from_arrays(flat, features.shape[1])})
        with atomic_write(output, overwrite=overwrite) as tmp:
            pq.write_table(table, tmp)
    logger.info("wrote %d feature vectors to %s", len(features), output)


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
a list/iterable of these, or a glob pattern
        A glob pattern (a string with ``*``, ``?`` or ``[...]`` that is not
        an existing file, e.g. ``"cutouts/*.fits"``) stands for the sorted
        list of the files it matches. An iterable is consumed lazily, so
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
    output_dir : str or `~pathlib.Path`, optional
        Survey mode: split the inputs (a list of files or a glob pattern)
        into shards of ``shard_size`` images and write each shard's features
        atomically to this folder with `astrofmx.utils.run_batch`
        (``<shard>-<hash>.embed.npy``, ``embed_summary.ecsv`` and the
        combined ``embed_combined.npy``), so an interrupted run resumes
        where it stopped. The backbone is built once and sent to the workers.
    parallel : bool, int, 'current-scheduler' or ``distributed.Client``, optional
        Survey mode (needs ``output_dir``): False runs the shards serially,
        an int on a local Dask cluster of that many worker processes,
        'current-scheduler' on the active Dask scheduler, a Client on that
        cluster.
    resume : bool, optional
        Survey mode: skip shards whose features are already in ``output_dir``.
    shard_size : int, optional
        Survey mode: images per shard (per task and per result file).

    Returns
    -------
    features : `numpy.ndarray` or `~astrofmx.utils.BatchResult`
        ``(N, D)`` float32, in input order. In survey mode (``output_dir``
        given) a `~astrofmx.utils.BatchResult`: ``features`` is the combined
        ``(N, D)`` array (memory-mapped, input order, finished shards only),
        ``ids`` the shard of each row and ``summary`` one row per shard
        (``failed`` shards are listed there and do not stop the run).

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
    import torch

    from ._vit import check_pooling

    if batch_size != "auto" and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                 or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
    check_pooling(pooling)
    images = _expand_glob(images)
    if output_dir is not None or (parallel is not False and parallel is not None):
        return _embed_many(images, backbone=backbone, weights=weights, batch_size=batch_size, pooling=pooling,
                           device=device, precision=precision, normalizer=normalizer, cache_dir=cache_dir,
                           progress_bar=progress_bar, output_dir=output_dir, parallel=parallel, resume=resume,
                           shard_size=shard_size, output=output, ids=ids, cache=cache)
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

    own_model = not isinstance(backbone, Backbone)
    if own_model:
        from ._registry import get_backbone

        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registered name or a Backbone, got {type(backbone).__name__}")
        model = get_backbone(backbone, weights=weights, device=device, cache_dir=cache_dir, pooling=pooling,
                             progress_bar=progress_bar)
        dev = next(model.parameters()).device
    else:
        if weights is not None and weights != "pretrained":
            raise ValueError(f"weights={weights!r} is only used with a backbone name; load a file into a Backbone "
                             f"instance with astrofmx.backbones.load_weights")
        model = backbone
        if device is not None:
            dev = resolve_device(device)
            model.to(dev)
        else:
            param = next(model.parameters(), None)
            dev = param.device if param is not None else torch.device("cpu")
    prec = resolve_precision(precision, dev)
    cnn = model.spec.arch in ("resnet", "timm")
    if cnn:  # faster convolutions on CPU and GPU; values are unchanged
        model.to(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()

    cache_file = None
    if cache:
        key = _cache_key(model, items, pooling=pooling, precision=prec, normalizer=normalizer)
        cache_file = get_cache_dir(cache_dir) / "embeddings" / f"{key}.npy"
        if cache_file.is_file():
            features = np.load(cache_file, allow_pickle=False)
            if len(features) == n_items:
                logger.info("embeddings found in the cache: %s", cache_file)
                model.train(was_training)
                if output is not None:
                    _write_output(features, ids if ids is not None else
                                  [_default_id(it, i) for i, it in enumerate(items)], output, overwrite)
                return features

    batch_size = _auto_batch_size(batch_size, model, dev, prec, pooling)
    workers = _resolve_workers(num_workers, items, dev)
    default_ids = [] if workers == 0 else [_default_id(it, i) for i, it in enumerate(items)]

    def tracked(iterable):
        for i, item in enumerate(iterable):
            if ids is None and output is not None and workers == 0:
                default_ids.append(_default_id(item, i))
            yield item

    forward = torch.compile(model) if compile else model
    chunks = []
    bar = _progress_bar(total=n_items, desc=f"embed ({model.spec.name})", unit="img", enabled=progress_bar)
    try:
        with torch.inference_mode(), autocast(dev, prec):
            for batch in _batches(tracked(items) if workers == 0 else items, model.spec, normalizer, batch_size,
                                  workers):
                x = torch.stack(batch)
                if dev.type == "cuda":
                    x = x.pin_memory().to(dev, non_blocking=True)
                else:
                    x = x.to(dev)
                if cnn:
                    x = x.contiguous(memory_format=torch.channels_last)
                feats = forward(x, pooling=pooling)
                chunks.append(feats.float().cpu().numpy())
                bar.update(len(batch))
    finally:
        bar.close()
        model.train(was_training)
    if not chunks:
        raise ValueError("images is empty: nothing to embed")
    features = np.ascontiguousarray(np.concatenate(chunks, axis=0), dtype=np.float32)
    if ids is not None and len(ids) != len(features):
        raise ValueError(f"ids must have one entry per image ({len(features)}), got {len(ids)}")
    if cache_file is not None:
        with atomic_write(cache_file, overwrite=True) as tmp:
            np.save(tmp, features, allow_pickle=False)
    if output is not None:
        _write_output(features, ids if ids is not None else default_ids, output, overwrite)
    return features


# -- survey mode -----------------------------------------------------------------------------------------------
def _expand_glob(images):
    """A glob pattern (a str with * ? [ that is not an existing file) -> the sorted list of matching files."""
    import glob

    if isinstance(images, str) and any(c in images for c in "*?[") and not os.path.exists(images):
        matches = sorted(p for p in glob.glob(os.path.expanduser(images), recursive=True) if os.path.isfile(p))
        if not matches:
            raise ValueError(f"the glob pattern {images!r} matched no files")
        return matches
    return images


def _embed_shard(items, **kwargs):
    return embed(items, **kwargs)


def _auto_batch_size(batch_size, model, dev, precision, pooling):
    """An int, or 'auto': 32 images on a CPU, as many as fit in the free memory of a GPU."""
    import torch

    from ..utils import resolve_batch_size

    size = int(model.spec.input_size)

    def probe(n):
        with torch.inference_mode(), autocast(dev, precision):
            model(torch.zeros(n, 3, size, size, device=dev), pooling=pooling)

    return resolve_batch_size(batch_size, dev, probe, cpu_default=32)


def _embed_many(images, *, backbone, weights, batch_size, pooling, device, precision, normalizer, cache_dir,
                progress_bar, output_dir, parallel, resume, shard_size, output, ids, cache):
    """`embed` over shards of many inputs with `astrofmx.utils.run_batch`."""
    from ..survey import run_batch

    if output_dir is None:
        raise ValueError(f"parallel={parallel!r} needs output_dir=<folder> where the features of each shard are "
                         "written (survey mode)")
    for name, value in (("output", output), ("ids", ids)):
        if value is not None:
            raise ValueError(f"{name}= is not used with output_dir= (survey mode): the features are in "
                             f"<output_dir>/embed_combined.npy and the shard of each row in embed_combined_ids.npy")
    if cache:
        raise ValueError("cache=True is not used with output_dir= (survey mode): the shard files already make "
                         "reruns resume")
    if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if not isinstance(images, (list, tuple)) or not all(isinstance(p, (str, os.PathLike)) for p in images):
        raise TypeError("survey mode (output_dir=) takes a list of files or a glob pattern; embed arrays or tensors "
                        "in memory without output_dir")
    paths = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in images]
    if not paths:
        raise ValueError("images is empty: nothing to embed")
    shards = {}
    for k in range(0, len(paths), int(shard_size)):
        chunk = paths[k:k + int(shard_size)]
        key = hashlib.sha1("\n".join(chunk).encode("utf-8", "surrogatepass")).hexdigest()[:10]
        shards[f"shard{k // int(shard_size):06d}-{key}"] = chunk
    if isinstance(backbone, Backbone):
        if weights is not None and weights != "pretrained":
            raise ValueError(f"weights={weights!r} is only used with a backbone name; load a file into a Backbone "
                             f"instance with astrofmx.backbones.load_weights")
        model = backbone
    else:
        from ._registry import get_backbone

        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registered name or a Backbone, got {type(backbone).__name__}")
        model = get_backbone(backbone, weights=weights, device=device if parallel in (False, None) else "cpu",
                             cache_dir=cache_dir, pooling=pooling, progress_bar=progress_bar)
    kwargs = dict(backbone=model, batch_size=batch_size, pooling=pooling, precision=precision, normalizer=normalizer,
                  device=device, progress_bar=False, num_workers=0)
    with warnings.catch_warnings():
        # the model is sent to the cluster once, as one task: dask's "large graph" advice does not apply
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return run_batch(_embed_shard, shards, output_dir=output_dir, parallel=parallel, resume=resume,
                         output_format="npy", func_kwargs=kwargs, name="embed", progress_bar=progress_bar)
