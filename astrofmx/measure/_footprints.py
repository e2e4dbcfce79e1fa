"""Footprints of boxes: the pixels of a box above the threshold connected to its peak, in non-overlapping layers.

Connected pixels are found with `scipy.ndimage.label` on the box's cutout
(8-connectivity: what `photutils.segmentation.detect_sources` does inside,
without building a segmentation image per box).

Footprints of overlapping boxes may share pixels (a box inside another, two
boxes on one blend).  One segmentation image cannot hold both, so each
footprint goes into the first *layer* (a label image) where none of its pixels
is taken yet; every layer is then measured on its own, and each box gets its
whole footprint.  There are few layers: a new one is needed only where
footprints overlap.
"""

import dataclasses

import numpy as np
from scipy import ndimage

__all__ = []

#: 8-connectivity, as `photutils.segmentation.detect_sources` uses by default.
_CONNECTIVITY = np.ones((3, 3), dtype=bool)


@dataclasses.dataclass
class _Footprints:
    """Per-box peak position and value, and the label layers (label ``i + 1`` is box ``i``)."""

    peak_x: np.ndarray  # absolute pixel column of the peak sought in the inner box (-1: no valid pixel)
    peak_y: np.ndarray
    peak: np.ndarray  # value there (NaN: no valid pixel)
    layer: np.ndarray  # layer holding the box's footprint (-1: none)
    layers: list  # full-size int32 label images
    pixels: tuple = ()  # (rows, columns, box index) of every footprint pixel, concatenated


def _find_footprints(work, above, ranges, inner):
    """Footprints of every box.

    ``work`` is the background-subtracted image with invalid pixels at
    ``-inf``; ``above`` marks the valid pixels above the threshold;
    ``ranges`` and ``inner`` come from `_pixel_ranges` and `_inner_ranges`.
    """
    n = len(ranges)
    fp = _Footprints(np.full(n, -1), np.full(n, -1), np.full(n, np.nan), np.full(n, -1), [])
    rows, cols, owner = [], [], []
    for i in range(n):
        x0, x1, y0, y1 = (int(v) for v in ranges[i])
        if x1 <= x0 or y1 <= y0:
            continue  # wholly outside the image
        ix0, ix1, iy0, iy1 = (int(v) for v in inner[i])
        core = work[y0 + iy0:y0 + iy1, x0 + ix0:x0 + ix1]
        k = int(np.argmax(core))
        py, px = divmod(k, core.shape[1])
        value = core[py, px]
        if not np.isfinite(value):
            continue  # no valid pixel in the inner box
        py, px = py + iy0, px + ix0
        fp.peak_x[i], fp.peak_y[i], fp.peak[i] = x0 + px, y0 + py, value
        cut = above[y0:y1, x0:x1]
        if not cut[py, px]:
            continue  # nothing significant: the row keeps its peak and NaN measurements
        labels, _ = ndimage.label(cut, structure=_CONNECTIVITY)
        mine = labels == labels[py, px]
        fp.layer[i] = _place(fp.layers, work.shape, (slice(y0, y1), slice(x0, x1)), mine, i + 1)
        yy, xx = np.nonzero(mine)
        rows.append(yy + y0), cols.append(xx + x0), owner.append(np.full(len(yy), i))
    if rows:
        fp.pixels = tuple(np.concatenate(a) for a in (rows, cols, owner))
    else:
        fp.pixels = tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
    return fp


def _place(layers, shape, window, mine, label):
    """Write ``label`` into the first layer where the footprint ``mine`` is free; its index."""
    for k, layer in enumerate(layers):
        view = layer[window]
        if not view[mine].any():
            view[mine] = label
            return k
    layers.append(np.zeros(shape, dtype=np.int32))
    layers[-1][window][mine] = label
    return len(layers) - 1
