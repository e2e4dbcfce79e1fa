"""Inputs of `embed`: one image or many, preprocessed and regrouped into batches of one shape."""

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


def _as_nddata(item):
    """A 2-D/3-D image item as NDData (or an ndarray); tensors are returned as they are."""
    import torch
    from astropy.nddata import NDData

    from astrofmx.preprocess import Tile

    if isinstance(item, torch.Tensor):
        if item.ndim != 3:
            raise ValueError(f"tensor images must be preprocessed (C, H, W) tensors, got shape {tuple(item.shape)}")
        return item
    if _is_cutout(item):
        return NDData(item.data, wcs=item.wcs)
    if isinstance(item, Tile):  # from iter_tiles: a window of a (possibly memory-mapped) image
        return NDData(np.asarray(item.data), mask=item.mask)
    if isinstance(item, (str, os.PathLike)):
        from astrofmx.io import load_pixels

        data, mask = load_pixels(item)
        return NDData(data, mask=mask)
    if not isinstance(item, (NDData, np.ndarray)):
        raise TypeError(f"each image must be an NDData, a path, an array, a tensor, a Cutout2D or a Tile, "
                        f"got {type(item).__name__}")
    return item


def _preprocess(item, spec, normalizer):
    """One image -> float32 tensor (C, H, W) ready for the backbone."""
    import torch

    item = _as_nddata(item)
    if isinstance(item, torch.Tensor):
        return item.float()
    from astrofmx.preprocess import to_model_input

    kwargs = {} if normalizer is None else {"normalizer": normalizer}
    return to_model_input(item, size=spec.input_size, mean=spec.mean, std=spec.std, channels=3, **kwargs)


def _preprocess_chunk(items, spec, normalizer, channels_last=False):
    """Several images -> one ``(N, C, H, W)`` batch tensor when they share a shape, else a list of (C, H, W)
    tensors; the values are exactly those of `_preprocess`, image by image.

    Each image is normalized to [0, 1] on its own; the single-channel ones of one shape are then resized,
    replicated to 3 channels and standardized in one batched call, written once into the batch (in the
    channels-last memory layout a CNN runs fastest on, with ``channels_last``).
    """
    import torch

    from astrofmx.preprocess import resample_image, resolve_normalizer, to_model_input

    kwargs = {} if normalizer is None else {"normalizer": resolve_normalizer(normalizer)}  # a preset: once
    out, pending = [None] * len(items), {}
    for i, item in enumerate(items):
        item = _as_nddata(item)
        if isinstance(item, torch.Tensor):
            out[i] = item.float()
            continue
        unit = to_model_input(item, mean=None, std=None, channels=None, **kwargs)  # (C, h, w) in [0, 1]
        if unit.shape[0] != 1:
            out[i] = _preprocess(item, spec, normalizer)
            continue
        pending.setdefault(tuple(unit.shape), []).append((i, unit[0]))
    size = int(spec.input_size)
    for group in pending.values():
        x, _ = resample_image(torch.stack([u for _, u in group]), size=size)  # images as channels
        x = _standardize(x.clamp_(0.0, 1.0), spec, channels_last)
        if len(group) == len(items):
            return x
        for (i, _), tensor in zip(group, x):
            out[i] = tensor
    return out


def _standardize(x, spec, channels_last):
    """``(x - mean) / std`` of ``(N, H, W)`` images in [0, 1] per backbone channel: ``(N, 3, H, W)``,
    made in one pass (``x / std - mean / std``, as `~astrofmx.preprocess.to_model_input` computes it: 0.14
    instead of 0.34 ms per 224-px image for a subtraction and a division) into memory laid out channels-last
    (NHWC) or contiguous (NCHW)."""
    import torch

    mean = torch.tensor(spec.mean, dtype=torch.float32)
    scale = 1.0 / torch.tensor(spec.std, dtype=torch.float32)
    offset = -mean * scale
    if channels_last:
        return torch.addcmul(offset, x[..., None], scale).permute(0, 3, 1, 2)
    return torch.addcmul(offset[:, None, None], x[:, None], scale[:, None, None])


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
    """``generator`` one step ahead in a worker thread (`astrofmx.utils.prefetch`)."""
    from ..utils import prefetch

    return prefetch(generator, name="astrofmx-embed")


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
        from ..utils import available_cores

        cpus = available_cores()
        # on CPU the forward pass needs the cores itself; on a GPU, preprocessing is the bottleneck
        return min(8, cpus - 1) if device.type != "cpu" else (min(4, cpus // 4) if cpus >= 8 else 0)
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
        raise ValueError(f"num_workers must be 'auto' or an integer >= 0, got {num_workers!r}")
    return int(num_workers) if isinstance(items, list) else 0  # iterators are read in order, in this process


def _is_tensor(obj):
    import torch

    return isinstance(obj, torch.Tensor)


def _prepared(items, spec, normalizer, batch_size, channels_last):
    """Batches of ``items`` in order, made ``batch_size`` images at a time (`_preprocess_chunk`): one tensor
    for images of one shape, else lists of tensors of one shape."""
    pending = []
    for item in items:
        pending.append(item)
        if len(pending) == batch_size:
            yield from _ready(_preprocess_chunk(pending, spec, normalizer, channels_last), batch_size)
            pending = []
    if pending:
        yield from _ready(_preprocess_chunk(pending, spec, normalizer, channels_last), batch_size)


def _ready(prepared, batch_size):
    """The batches of one prepared chunk: the chunk's batch tensor, or its tensors regrouped by shape."""
    if isinstance(prepared, list):
        yield from _group(prepared, batch_size)
    else:
        yield prepared


def _batches(items, spec, normalizer, batch_size, num_workers, channels_last=False, prefetch=True):
    """Yield batches of preprocessed images of one shape, at most ``batch_size`` long: ``(N, C, H, W)``
    tensors, or lists of ``(C, H, W)`` tensors to stack. In this process, each batch is made in a thread
    while the model runs on the previous one with ``prefetch``, else in turn with the model."""
    if num_workers == 0 or not isinstance(items, list):
        batches = _prepared(items, spec, normalizer, batch_size, channels_last)
        yield from (_prefetch(batches) if prefetch else batches)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(_Preprocessed(items, spec, normalizer), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, collate_fn=list, prefetch_factor=2)
    for chunk in loader:
        yield from _group(chunk, batch_size)
