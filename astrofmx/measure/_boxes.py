"""Boxes to pixel ranges: checks, clipping to the image and the inner region where a source's peak is sought."""

import numpy as np

__all__ = []


def _check_boxes(boxes):
    """``boxes`` as an ``(N, 4)`` float array; ValueError naming the bad value otherwise."""
    try:
        arr = np.asarray(boxes, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"boxes must be an (N, 4) array of (xmin, ymin, xmax, ymax), got {boxes!r}") from exc
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (xmin, ymin, xmax, ymax), got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"boxes must be finite, got box {k} = {arr[k].tolist()}")
    bad = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"boxes must satisfy xmin <= xmax and ymin <= ymax, got box {k} = {arr[k].tolist()}")
    return arr


def _pixel_ranges(boxes, shape):
    """First and past-the-end column and row ``(x0, x1, y0, y1)`` of the pixels each box covers, clipped.

    A pixel belongs to a box when its centre lies inside the box (edges
    included); a box narrower than a pixel gets the pixel it lies on.  Boxes
    wholly outside the image get an empty range (``x1 <= x0`` or ``y1 <= y0``).
    """
    ny, nx = shape
    lo = np.floor(boxes[:, :2] + 0.5)
    hi = np.maximum(np.ceil(boxes[:, 2:] - 0.5), lo) + 1
    x0, y0 = np.clip(lo[:, 0], 0, nx), np.clip(lo[:, 1], 0, ny)
    x1, y1 = np.clip(hi[:, 0], 0, nx), np.clip(hi[:, 1], 0, ny)
    return np.stack([x0, x1, y0, y1], axis=1).astype(np.int64)


def _inner_ranges(ranges):
    """The central half of each range along each axis (at least one pixel): where the peak is sought."""
    x0, x1, y0, y1 = ranges.T
    out = []
    for a, b in ((x0, x1), (y0, y1)):
        n = b - a
        cut = n // 4
        out += [a + cut, np.maximum(b - cut, a + cut + 1)]
    return np.stack(out, axis=1) - ranges[:, [0, 0, 2, 2]]  # relative to the box's first column and row
