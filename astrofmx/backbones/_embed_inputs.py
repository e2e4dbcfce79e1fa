"""Inputs of `embed`: one image or many, preprocessed and regrouped into batches of one shape."""

import concurrent.futures
import os

import numpy as np

__all__ = []


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
