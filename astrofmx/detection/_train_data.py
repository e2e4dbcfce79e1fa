"""Training data of a detector: labelled tiles cut from whole images, augmentation and batches."""

import math
import os

import numpy as np

from ..utils import progress_bar as _progress_bar
from ._evaluate import mean_average_precision
from ._labels import _boxes_for_image, _read_coco
from ._tiles import _fit_normalizer, _iter_windows, _load, _scale, _to_model

__all__ = []


def _cut_tiles(img, normalizer, boxes, labels, tile, overlap, min_visible):
    """Training tiles ``(tile_data, boxes in tile edge coordinates (unscaled), labels)``."""
    out = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for y0, x0, h, w, data in _iter_windows(img, _fit_normalizer(img, normalizer), tile, overlap):
        if data is None:
            continue
        wx0, wy0, wx1, wy1 = x0 - 0.5, y0 - 0.5, x0 + w - 0.5, y0 + h - 0.5
        clipped = np.stack([np.maximum(boxes[:, 0], wx0), np.maximum(boxes[:, 1], wy0),
                            np.minimum(boxes[:, 2], wx1), np.minimum(boxes[:, 3], wy1)], axis=1)
        cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        keep = (cw >= 1.0) & (ch >= 1.0) & (cw * ch >= min_visible * areas)
        tb = clipped[keep] - np.array([wx0, wy0, wx0, wy0])
        out.append((np.array(data, dtype=np.float32), tb.astype(np.float32), labels[keep]))
    return out


def _prepare(images, boxes, config, overlap, min_visible, label_column, progress_bar, what="training"):
    if isinstance(boxes, (str, os.PathLike)) or (isinstance(boxes, dict) and "annotations" in boxes):
        items = _read_coco(boxes, images, config)
    else:
        if boxes is None:
            raise ValueError(f"{what} boxes are missing: give one box table/array per image, or a COCO file")
        if not isinstance(images, list):
            images, boxes = [images], [boxes]
        if not isinstance(boxes, (list, tuple)) or len(boxes) != len(images):
            raise ValueError(f"give one box set per {what} image: {len(images)} images but "
                             f"{len(boxes) if isinstance(boxes, (list, tuple)) else 'not a list of'} box sets")
        items = [(im, b, None) for im, b in zip(images, boxes)]
    if not items:
        raise ValueError(f"no {what} images given")
    tiles = []
    for image, b, labels in _progress_bar(items, desc=f"preparing {what} tiles", unit="image",
                                          enabled=progress_bar):
        img = _load(image)
        arr, lab = _boxes_for_image(b, img, config, label_column)
        if labels is not None:
            lab = labels
        tiles.extend(_cut_tiles(img, config.normalizer, arr, lab, config.tile_size, overlap, min_visible))
    if not tiles:
        raise ValueError(f"the {what} images have no valid pixels")
    return tiles


def _split_validation(tiles, val_fraction, seed):
    """``(training tiles, validation tiles)``: a seeded random ``val_fraction`` of the tiles held out."""
    order = np.random.default_rng(seed).permutation(len(tiles))
    n_val = max(1, int(round(val_fraction * len(tiles))))
    if n_val >= len(tiles):
        raise ValueError(f"val_fraction={val_fraction} leaves no training tile out of {len(tiles)}")
    return [tiles[i] for i in order[n_val:]], [tiles[i] for i in order[:n_val]]


# -- augmentation ---------------------------------------------------------------------------------------
def _augment(x, boxes, augmentations, gen):
    """Random flips, 90-degree rotations, blur, contrast and colour jitter of one square ``(3, S, S)`` tile.

    The geometric transforms move image and boxes together (`torchvision.transforms.v2` on a
    `~torchvision.tv_tensors.Image` and its `~torchvision.tv_tensors.BoundingBoxes`); all random draws come
    from ``gen``.
    """
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms.v2 import functional as F

    size = x.shape[-1]
    img = tv_tensors.Image(x)
    boxes = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(size, size))
    r = torch.rand(8, generator=gen).tolist()
    if "flip" in augmentations:
        if r[0] < 0.5:
            img, boxes = F.horizontal_flip(img), F.horizontal_flip(boxes)
        if r[1] < 0.5:
            img, boxes = F.vertical_flip(img), F.vertical_flip(boxes)
    if "rot90" in augmentations:
        for _ in range(int(r[2] * 4) % 4):  # quarter turns clockwise (exact for a square tile)
            img, boxes = F.rotate(img, -90.0), F.rotate(boxes, -90.0)
    if "blur" in augmentations and r[3] < 0.5:
        sigma = 0.1 + 1.4 * r[4]
        k = 2 * math.ceil(3 * sigma) + 1
        img = F.gaussian_blur(img, [k, k], [sigma, sigma])
    if "contrast" in augmentations and r[5] < 0.5:
        img = F.adjust_contrast(img, 0.7 + 0.6 * r[6])
    out = img.as_subclass(torch.Tensor)
    if "jitter" in augmentations and r[7] < 0.5:
        gains = 0.8 + 0.4 * torch.rand(3, 1, 1, generator=gen)
        out = out * gains
    return out.clamp(0.0, 1.0), boxes.as_subclass(torch.Tensor)


def _batch(tiles, indices, config, scale, gen=None):
    import torch

    x = _to_model([tiles[i][0] for i in indices], config.tile_size, config.upscale)
    images, targets = [], []
    for j, i in enumerate(indices):
        boxes = torch.from_numpy(tiles[i][1] * scale).float().reshape(-1, 4)
        img = x[j]
        if gen is not None:
            img, boxes = _augment(img, boxes, config.augmentations, gen)
        images.append(img)
        targets.append({"boxes": boxes, "labels": torch.from_numpy(np.asarray(tiles[i][2], dtype=np.int64))})
    return images, targets


def _tile_map(detector, tiles, batch_size, precision, device):
    """mAP of a detector on prepared tiles (boxes in model-input coordinates)."""
    import torch

    cfg = detector.config
    scale = _scale(cfg.tile_size, cfg.upscale)
    preds, targets = [], []
    detector.train(False)
    for start in range(0, len(tiles), batch_size):
        idx = list(range(start, min(start + batch_size, len(tiles))))
        images, tgts = _batch(tiles, idx, cfg, scale)
        with torch.inference_mode(), detector.autocast(precision, device):
            out = detector.model([im.to(device) for im in images])
        preds.extend({k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in o.items()} for o in out)
        targets.extend(tgts)
    return mean_average_precision(preds, targets)
