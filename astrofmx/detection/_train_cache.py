"""Frozen-backbone training from cached features.

With ``mode='frozen'`` the backbone never changes, so `train_detector` runs it once per training tile (and once
per flip/rotation the geometric augmentations can draw: at most the 8 symmetries of the square), keeps the
feature maps that enter the pyramid, in memory or in a memory-mapped file, and trains the pyramid, RPN and
RoI heads from them. The photometric augmentations (blur, contrast, jitter) act on the pixels before the
backbone, so they are not applied in this mode.
"""

import contextlib
import logging
import os
import shutil
import tempfile
from collections import OrderedDict

import numpy as np

from ..utils import progress_bar as _progress_bar

__all__ = []

logger = logging.getLogger(__name__)

#: caches above this size (bytes) go to a memory-mapped file with ``feature_cache='auto'``
_MEMORY_BUDGET = 4 * 2**30
_GEOMETRIC = ("flip", "rot90")


def _variants(augmentations):
    """The distinct ``(hflip, quarter_turns)`` symmetries `_augment`'s geometric draws can give."""
    flips = (0, 1) if "flip" in augmentations else (0,)
    turns = range(4) if "rot90" in augmentations else (0,)
    out = {_canonical(h, v, k) for h in flips for v in flips for k in turns}
    return sorted(out)


def _canonical(h, v, k):
    """``rot^k(vflip^v(hflip^h(x)))`` as ``rot^k'(hflip^h'(x))``: a vertical flip is a horizontal one and a
    half turn."""
    return (h ^ v, (k + 2 * v) % 4)


def _apply(img, boxes, variant):
    """``img`` ``(3, S, S)`` and its ``(N, 4)`` boxes under symmetry ``variant`` (as `_augment` moves them)."""
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    size = img.shape[-1]
    im = tv_tensors.Image(img)
    bx = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(size, size))
    if variant[0]:
        im, bx = F.horizontal_flip(im), F.horizontal_flip(bx)
    for _ in range(variant[1]):
        im, bx = F.rotate(im, -90.0), F.rotate(bx, -90.0)
    return im.as_subclass(torch.Tensor), bx.as_subclass(torch.Tensor)


def _resolve_cache(option, config, n_bytes):
    """``'memory'``, ``'disk'`` or None for ``TrainingOptions.feature_cache``."""
    if config.mode != "frozen" or option in (None, False):
        return None
    if option == "auto":
        return "memory" if n_bytes <= _MEMORY_BUDGET else "disk"
    return option


class _FeatureCache:
    """The backbone feature maps of every (tile, symmetry), computed once with the frozen backbone.

    ``arrays[name]`` is ``(n_tiles, n_variants, C, h, w)`` (a numpy array or memmap; bf16 stored as int16).
    """

    def __init__(self, detector, tiles, *, variants, where, folder=None, batch_size=8, precision="fp32",
                 device="cpu", progress_bar=False, what="training"):
        import torch

        from ._tiles import _scale, _to_model

        cfg = detector.config
        self.variants = list(variants)
        self.index = {v: i for i, v in enumerate(self.variants)}
        self.where = where
        self.n_tiles = len(tiles)
        self._folder = None
        adapter = detector.model.backbone
        body, names = adapter.body, list(adapter.in_features)
        self.names = names
        scale = _scale(cfg.tile_size, cfg.upscale)
        self.arrays, self.dtype = None, None
        was_training = detector.training
        detector.train(False)
        jobs = [(t, v) for t in range(len(tiles)) for v in range(len(self.variants))]
        bar = _progress_bar(total=len(jobs), desc=f"caching {what} features", unit="tile", enabled=progress_bar)
        try:
            with torch.inference_mode(), detector.autocast(precision, device) as prec:
                dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
                for start in range(0, len(jobs), batch_size):
                    chunk = jobs[start:start + batch_size]
                    unique = list(dict.fromkeys(t for t, _ in chunk))
                    x = _to_model([tiles[t][0] for t in unique], cfg.tile_size, cfg.upscale)
                    row = {t: i for i, t in enumerate(unique)}
                    empty = torch.zeros((0, 4))
                    imgs = [_apply(x[row[t]], empty, self.variants[v])[0].to(device) for t, v in chunk]
                    batch, _ = detector.model.transform(imgs)
                    with torch.autocast(device_type=batch.tensors.device.type, dtype=dtype or torch.bfloat16,
                                        enabled=dtype is not None):
                        feats = body.forward_feature_maps(batch.tensors)
                    if self.arrays is None:
                        self._allocate({n: feats[n] for n in names}, folder)
                    for n in names:
                        out = feats[n].detach().cpu()
                        out = out.view(torch.int16) if out.dtype == torch.bfloat16 else out
                        for j, (t, v) in enumerate(chunk):
                            self.arrays[n][t, v] = out[j].numpy()
                    bar.update(len(chunk))
        finally:
            bar.close()
            detector.train(was_training)
        self.scale = scale
        logger.info("cached the frozen backbone's features of %d %s tiles x %d symmetries (%.0f MiB, %s)",
                    self.n_tiles, what, len(self.variants), self.nbytes / 2**20, where)

    def _allocate(self, sample, folder):
        import torch

        shapes = {n: (self.n_tiles, len(self.variants)) + tuple(t.shape[1:]) for n, t in sample.items()}
        self.dtype = next(iter(sample.values())).dtype
        np_dtype = np.int16 if self.dtype == torch.bfloat16 else np.dtype(str(self.dtype).replace("torch.", ""))
        if self.where == "disk":
            root = None if folder is None else os.fspath(folder)
            if root is not None:
                os.makedirs(root, exist_ok=True)
            self._folder = tempfile.mkdtemp(prefix="astrofmx-features-", dir=root)
            self.arrays = {n: np.lib.format.open_memmap(os.path.join(self._folder, f"level_{i}.npy"), mode="w+",
                                                        dtype=np_dtype, shape=s)
                           for i, (n, s) in enumerate(shapes.items())}
        else:
            self.arrays = {n: np.empty(s, dtype=np_dtype) for n, s in shapes.items()}

    @property
    def nbytes(self):
        return sum(a.nbytes for a in self.arrays.values()) if self.arrays else 0

    def features(self, tiles, variants, device):
        """``{name: (B, C, h, w) tensor}`` of tiles ``tiles`` under symmetries ``variants``."""
        import torch

        out = OrderedDict()
        vi = [self.index[v] for v in variants]
        for n in self.names:
            arr = np.stack([self.arrays[n][t, v] for t, v in zip(tiles, vi)])
            tensor = torch.from_numpy(arr)
            if self.dtype == torch.bfloat16:
                tensor = tensor.view(torch.bfloat16)
            out[n] = tensor.to(device)
        return out

    def close(self):
        """Drop the arrays (and the memory-mapped files)."""
        self.arrays = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


@contextlib.contextmanager
def _body_returns(detector, feats):
    """Make the detector's backbone return ``feats`` instead of running (the pyramid and heads run as usual);
    None: a no-op."""
    if feats is None:
        yield
        return
    body = detector.model.backbone.body
    body.forward_feature_maps = lambda x: feats
    try:
        yield
    finally:
        del body.forward_feature_maps


def _draw_variants(n, augmentations, gen):
    """One geometric symmetry per tile, from the same draws `_augment` makes (8 uniforms per tile)."""
    import torch

    out = []
    for _ in range(n):
        r = torch.rand(8, generator=gen).tolist()
        h = int("flip" in augmentations and r[0] < 0.5)
        v = int("flip" in augmentations and r[1] < 0.5)
        k = int(r[2] * 4) % 4 if "rot90" in augmentations else 0
        out.append(_canonical(h, v, k))
        if "jitter" in augmentations and r[7] < 0.5:  # keep the generator in step with the uncached path
            torch.rand(3, 1, 1, generator=gen)
    return out


def _cached_batch(cache, tiles, indices, config, device, gen=None):
    """``(images, targets, features)`` of one step from the cache: blank images of the model-input size (the
    RPN needs only their size), boxes moved with the drawn symmetry, and the cached feature maps."""
    import torch

    size = config.input_size
    variants = _draw_variants(len(indices), config.augmentations, gen) if gen is not None else [(0, 0)] * len(
        indices)
    blank = torch.zeros((3, size, size))
    images, targets = [], []
    for i, var in zip(indices, variants):
        boxes = torch.from_numpy(tiles[i][1] * cache.scale).float().reshape(-1, 4)
        if var != (0, 0):
            _, boxes = _apply(blank, boxes, var)
        images.append(blank.to(device))
        targets.append({"boxes": boxes.to(device),
                        "labels": torch.from_numpy(np.asarray(tiles[i][2], dtype=np.int64)).to(device)})
    return images, targets, cache.features(indices, variants, device)


def _cached_tile_map(detector, cache, tiles, batch_size, device):
    """`_tile_map` from cached features (the identity symmetry)."""
    import torch

    from ._evaluate import mean_average_precision

    preds, targets = [], []
    detector.train(False)
    for start in range(0, len(tiles), batch_size):
        idx = list(range(start, min(start + batch_size, len(tiles))))
        images, tgts, feats = _cached_batch(cache, tiles, idx, detector.config, device)
        with torch.inference_mode(), _body_returns(detector, feats):
            out = detector.model(images)
        preds.extend({k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in o.items()} for o in out)
        targets.extend({k: v.cpu() for k, v in t.items()} for t in tgts)
    return mean_average_precision(preds, targets)


def _cache_bytes(detector, n_tiles, n_variants, precision, device):
    """Bytes a cache of ``n_tiles`` x ``n_variants`` would take (one probe forward of a blank tile)."""
    import torch

    size = detector.config.input_size
    adapter = detector.model.backbone
    with torch.inference_mode(), detector.autocast(precision, device) as prec:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec)
        batch, _ = detector.model.transform([torch.zeros((3, size, size), device=device)])
        with torch.autocast(device_type=batch.tensors.device.type, dtype=dtype or torch.bfloat16,
                            enabled=dtype is not None):
            feats = adapter.body.forward_feature_maps(batch.tensors)
    per = sum(feats[n].numel() * feats[n].element_size() for n in adapter.in_features)
    return per * n_tiles * n_variants


@contextlib.contextmanager
def _feature_caches(detector, tiles, val_tiles, options, precision, device, *, epochs_left=1):
    """``(training cache, validation cache)`` for a frozen detector (None, None when not caching)."""
    cfg = detector.config
    if cfg.mode != "frozen" or options.feature_cache in (None, False) or epochs_left < 1:
        yield None, None
        return
    variants = _variants(cfg.augmentations)
    n_val = len(val_tiles or ())
    n_bytes = _cache_bytes(detector, len(tiles) * len(variants) + n_val, 1, precision, device)
    where = _resolve_cache(options.feature_cache, cfg, n_bytes)
    skipped = sorted(set(cfg.augmentations) - set(_GEOMETRIC))
    if skipped:
        logger.info("training the heads from cached frozen-backbone features: the photometric augmentations %s "
                    "are not applied (feature_cache=None applies them, running the backbone at every step)",
                    skipped)
    common = dict(where=where, folder=options.feature_cache_dir, batch_size=options.batch_size,
                  precision=precision, device=device, progress_bar=options.progress_bar)
    caches = []
    try:
        caches.append(_FeatureCache(detector, tiles, variants=variants, **common))
        caches.append(_FeatureCache(detector, val_tiles, variants=[(0, 0)], what="validation", **common)
                      if n_val else None)
        yield tuple(caches)
    finally:
        for cache in caches:
            if cache is not None:
                cache.close()

