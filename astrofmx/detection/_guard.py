"""Guards of `detect_sources` against image and tile sizes: small images padded with noise, tiles clamped to
the image, memory checked before the model input is allocated."""

import logging

import numpy as np

__all__ = []

logger = logging.getLogger(__name__)

#: images with a side below this many pixels are padded to it (the detector misses sources on tiny crops)
MIN_SIDE = 64

#: bytes of working memory per model-input pixel of one tile in a Faster R-CNN forward pass (measured
#: ~550-850 B/px on CPU in fp32 for the default detector at 256-1024 px tiles; rounded up for larger backbones)
BYTES_PER_MODEL_PIXEL = 1000


def _pad_small(img, min_side=MIN_SIDE):
    """``(work, (py, px))``: ``img`` padded to at least ``min_side`` pixels on each side, or ``(img, None)``.

    The image sits in the middle of the padded frame; the padding is Gaussian noise of the image's own
    sigma-clipped background level and noise (seeded, so runs repeat), so that it creates neither sources nor
    an edge. Detections whose centre falls in the padding are dropped by `_unpad`.
    """
    from astropy.nddata import NDData
    from astropy.stats import sigma_clipped_stats

    ny, nx = img.data.shape
    if ny >= min_side and nx >= min_side:
        return img, None
    data = np.asarray(img.data, dtype=np.float32)
    mask = np.zeros(data.shape, bool) if img.mask is None else np.asarray(img.mask, bool)
    valid = ~mask & np.isfinite(data)
    if not valid.any():
        return img, None  # nothing to detect; _fit_normalizer says so
    _, median, std = sigma_clipped_stats(data[valid], sigma=3.0, maxiters=10)
    if not np.isfinite(std) or std <= 0:
        std = float(np.nanstd(data[valid])) or abs(float(median)) * 1e-3 or 1.0
    ty, tx = max(ny, min_side), max(nx, min_side)
    py, px = (ty - ny) // 2, (tx - nx) // 2
    rng = np.random.default_rng(0)
    out = (median + std * rng.standard_normal((ty, tx))).astype(np.float32)
    out[py:py + ny, px:px + nx] = data
    out_mask = np.zeros((ty, tx), bool)
    out_mask[py:py + ny, px:px + nx] = mask
    logger.info("detect_sources: the %dx%d image is padded to %dx%d with noise (median %.3g, sigma %.3g) so that "
                "the detector sees enough context; detections in the padding are dropped", nx, ny, tx, ty,
                median, std)
    return NDData(out, mask=out_mask if out_mask.any() else None, unit=img.unit, meta=img.meta), (py, px)


def _unpad(boxes, scores, labels, pad, img):
    """Boxes of the padded frame back in ``img`` pixels: those centred on a valid pixel of ``img``, clipped."""
    from ._postprocess import _valid_at

    if pad is None:
        return boxes, scores, labels
    py, px = pad
    ny, nx = img.data.shape
    boxes = boxes - np.array([px, py, px, py], dtype=boxes.dtype)
    cx, cy = 0.5 * (boxes[:, 0] + boxes[:, 2]), 0.5 * (boxes[:, 1] + boxes[:, 3])
    keep = (cx > -0.5) & (cx < nx - 0.5) & (cy > -0.5) & (cy < ny - 0.5)
    ix = np.clip(np.round(cx).astype(int), 0, nx - 1)
    iy = np.clip(np.round(cy).astype(int), 0, ny - 1)
    keep[keep] = _valid_at(img, iy[keep], ix[keep])
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], -0.5, nx - 0.5)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], -0.5, ny - 0.5)
    return boxes, scores, labels


def _clamp_tile(tile_size, overlap, shape, config, resample=1.0):
    """``(tile_size, overlap)`` with the tile no larger than the image (or the detector's default tile, if that
    is larger): a larger tile only adds padding."""
    default_tile = config.inference_tile_size or config.tile_size
    if resample != 1.0:
        default_tile = max(1, int(round(default_tile / resample)))
    limit = max(int(shape[0]), int(shape[1]), int(default_tile))
    if tile_size <= limit:
        return tile_size, overlap
    logger.info("detect_sources: tile_size=%d is larger than the %dx%d image; tiles clamped to %d", tile_size,
                shape[1], shape[0], limit)
    return limit, min(overlap, limit // 4)


def _available_bytes(dev):
    """Free memory of ``dev`` in bytes (GPU: torch's free device memory; CPU: MemAvailable), or None."""
    import torch

    if getattr(dev, "type", str(dev)) == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except Exception:  # pragma: no cover - driver without the query
            return None
    from ..utils import available_memory

    return available_memory()


def _check_memory(dev, tile_size, upscale, batch_size=1, *, auto=False, available=None):
    """The batch size to use, checked before any model input is allocated.

    ValueError if one tile of ``tile_size`` (x ``upscale``) model pixels would need more memory than ``dev``
    has free (``available`` bytes, default measured), or if ``batch_size`` tiles would and the batch size was
    given; an ``auto`` batch size is lowered to what fits.
    """
    side = int(round(tile_size * upscale))
    per_tile = BYTES_PER_MODEL_PIXEL * side * side
    available = _available_bytes(dev) if available is None else available
    if available is None or per_tile * int(batch_size) <= 0.8 * available:
        return batch_size
    gib = 2.0 ** 30
    fit = int(0.8 * available // per_tile)
    if fit < 1:
        raise ValueError(f"one tile of {side}x{side} model pixels (tile_size={tile_size} x {upscale:g}) needs about "
                         f"{per_tile / gib:.1f} GiB of memory on {dev}, but only {available / gib:.1f} GiB is free; "
                         "use a smaller tile_size (the default is the detector's)")
    if auto:
        logger.info("detect_sources: batch_size lowered from %d to %d tiles to fit %.1f GiB of free memory",
                    batch_size, fit, available / gib)
        return fit
    raise ValueError(f"batch_size={batch_size} tiles of {side}x{side} model pixels need about "
                     f"{per_tile * batch_size / gib:.1f} GiB of memory on {dev}, but only {available / gib:.1f} GiB "
                     f"is free; use batch_size={fit} or less, or 'auto'")
