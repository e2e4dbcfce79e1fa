"""Tiles and cutouts streamed from many images for pretraining, one tile in memory at a time.

The inputs are indexed once into a *plan*: a list of windows (image, plane,
``y0``, ``x0``) laid out with `astrofmx.preprocess.TileGrid` (the grid of
`astrofmx.preprocess.iter_tiles`), or centred on the sources a classical
finder detects (`astrofmx.compare.find_sources_photutils`). Each epoch visits
the plan in a shuffled order drawn from ``(seed, epoch)``, and sample ``i``
of the run is always the same window with the same augmentations, so a run
resumed at any step sees exactly what an uninterrupted run sees. Pixels are
read only when a window is drawn (FITS files memory-mapped).
"""

import glob
import logging
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ._augment import make_views

__all__ = ["TilePlan"]

logger = logging.getLogger(__name__)

_SAMPLINGS = ("tiles", "detections")


def _expand(inputs):
    """Inputs -> list of items: paths (globs expanded, folders listed), arrays and NDData."""
    from astropy.nddata import NDData

    if isinstance(inputs, (str, os.PathLike, np.ndarray, NDData)):
        inputs = [inputs]
    items = []
    for item in inputs:
        if isinstance(item, (str, os.PathLike)):
            text = str(item)
            if any(c in text for c in "*?["):
                found = sorted(glob.glob(text, recursive=True))
                if not found:
                    raise FileNotFoundError(f"no file matches the pattern {text!r}")
                items.extend(Path(p) for p in found)
            elif Path(text).is_dir():
                found = sorted(p for p in Path(text).rglob("*") if p.suffix.lower() in (".fits", ".fit", ".fz")
                               or p.name.lower().endswith(".fits.gz"))
                if not found:
                    raise FileNotFoundError(f"folder {text!r} holds no FITS file")
                items.extend(found)
            elif Path(text).is_file():
                items.append(Path(text))
            else:
                raise FileNotFoundError(f"input {text!r} does not exist")
        elif isinstance(item, (np.ndarray, NDData)):
            items.append(item)
        else:
            raise TypeError(f"each input must be a path, a glob pattern, a folder, an array or an NDData, "
                            f"got {type(item).__name__}")
    if not items:
        raise ValueError("no input images given")
    return items


def _planes(item):
    """Number of 2-D images in an item and their shape (reads only the header of a file)."""
    from astropy.nddata import NDData

    if isinstance(item, Path):
        from astrofmx.io import load_image

        image = load_image(item, memmap=True)
        shape = image.data.shape
        return 1, shape[-2:]
    data = item.data if isinstance(item, NDData) else item
    if data.ndim == 2:
        return 1, data.shape
    if data.ndim == 3:
        return data.shape[0], data.shape[1:]
    raise ValueError(f"array inputs must be 2-D images or 3-D stacks (N, H, W), got shape {data.shape}")


class TilePlan:
    """The windows that pretraining draws from a set of images, and the views of each sample.

    Parameters
    ----------
    inputs : path, glob pattern, folder, array, NDData, or a list of these
        FITS files (memory-mapped; a folder is searched recursively), 2-D
        images or ``(N, H, W)`` stacks of images.
    tile_size : int
        Side of the windows in pixels; smaller images are used whole.
    sampling : {'tiles', 'detections'}, optional
        ``'tiles'``: a grid of windows over each image (`iter_tiles`' grid).
        ``'detections'``: one window centred on each source that
        `~astrofmx.compare.find_sources_photutils` finds (each image is read
        once, while the plan is built).
    overlap : int, optional
        Pixels shared by neighbouring grid windows.
    max_blank : float, optional
        Windows with a larger fraction of NaN pixels are replaced by the next
        one in the epoch's order.
    detection_kwargs : dict, optional
        Passed to `~astrofmx.compare.find_sources_photutils`.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.pretrain import TilePlan
    >>> stack = np.random.default_rng(0).normal(size=(3, 100, 100)).astype(np.float32)
    >>> plan = TilePlan([stack, np.zeros((300, 200), np.float32)], tile_size=100)
    >>> len(plan), plan.windows[0]
    (9, (0, 0, 0, 0))
    >>> plan.tile(0).shape
    (100, 100)
    """

    def __init__(self, inputs, *, tile_size, sampling="tiles", overlap=0, max_blank=0.5, detection_kwargs=None):
        from astrofmx.preprocess import TileGrid

        if not isinstance(tile_size, int) or tile_size < 8:
            raise ValueError(f"tile_size must be an integer >= 8, got {tile_size!r}")
        if sampling not in _SAMPLINGS:
            raise ValueError(f"sampling must be one of {_SAMPLINGS}, got {sampling!r}")
        if not 0 <= max_blank <= 1:
            raise ValueError(f"max_blank must be in [0, 1], got {max_blank!r}")
        self.items = _expand(inputs)
        self.tile_size, self.sampling, self.max_blank = tile_size, sampling, float(max_blank)
        self._open = OrderedDict()
        windows = []
        for index, item in enumerate(self.items):
            n_planes, (ny, nx) = _planes(item)
            for plane in range(n_planes):
                if sampling == "detections":
                    windows.extend(self._detections(index, plane, (ny, nx), detection_kwargs or {}))
                elif ny <= tile_size or nx <= tile_size:
                    windows.append((index, plane, 0, 0))
                else:
                    grid = TileGrid((ny, nx), tile_size, overlap, "shift")
                    windows.extend((index, plane, y0, x0) for _, _, y0, x0 in grid)
        if not windows:
            raise ValueError("the inputs give no window to train on (no source detected?)")
        self.windows = windows
        logger.info("pretraining plan: %d windows of %d px from %d inputs (%s)", len(windows), tile_size,
                    len(self.items), sampling)

    def __len__(self):
        return len(self.windows)

    def _image(self, index, plane):
        """The 2-D pixels of one input (files memory-mapped, a few kept open)."""
        from astropy.nddata import NDData

        item = self.items[index]
        if isinstance(item, Path):
            if index not in self._open:
                from astrofmx.io import load_image

                self._open[index] = load_image(item, memmap=True).data
                if len(self._open) > 8:
                    self._open.popitem(last=False)
            data = self._open[index]
        else:
            data = item.data if isinstance(item, NDData) else item
        return data[plane] if data.ndim == 3 else data

    def _detections(self, index, plane, shape, kwargs):
        from astrofmx.compare import find_sources_photutils
        from astrofmx.io import catalog_positions

        data = np.asarray(self._image(index, plane), dtype=np.float32)
        catalog = find_sources_photutils(data, **kwargs)
        half, out = self.tile_size // 2, []
        positions = np.asarray(catalog_positions(catalog), float).reshape(-1, 2) if len(catalog) else np.zeros((0, 2))
        for x, y in positions:
            y0 = int(np.clip(round(y) - half, 0, max(0, shape[0] - self.tile_size)))
            x0 = int(np.clip(round(x) - half, 0, max(0, shape[1] - self.tile_size)))
            out.append((index, plane, y0, x0))
        self._open.pop(index, None)
        return out

    def tile(self, window):
        """The float32 pixels of window number ``window`` (a copy; NaN where blank)."""
        index, plane, y0, x0 = self.windows[window]
        data = self._image(index, plane)
        return np.array(data[y0:y0 + self.tile_size, x0:x0 + self.tile_size], dtype=np.float32)

    def order(self, epoch, seed):
        """The shuffled window order of ``epoch``."""
        return np.random.default_rng([int(seed), int(epoch), 7]).permutation(len(self.windows))

    def sample(self, i, *, seed, crop_size, config, mean, std):
        """Views of sample ``i`` of a run: ``(global_views, local_views)``, the same for the same arguments."""
        n = len(self.windows)
        epoch, cursor = divmod(int(i), n)
        order = self._cached_order(epoch, seed)
        for k in range(n):  # skip mostly blank windows, deterministically
            tile = self.tile(int(order[(cursor + k) % n]))
            if np.mean(~np.isfinite(tile)) <= self.max_blank:
                break
        rng = np.random.default_rng([int(seed), int(i), 11])
        return make_views(tile, rng, crop_size=crop_size, config=config, mean=mean, std=std)

    def _cached_order(self, epoch, seed):
        cached = getattr(self, "_order_cache", None)
        if cached is None or cached[0] != (epoch, seed):
            self._order_cache = ((epoch, seed), self.order(epoch, seed))
        return self._order_cache[1]

    def describe(self):
        """A JSON-ready summary: the inputs (file names, array shapes) and the number of windows."""
        names = [str(it) if isinstance(it, Path) else f"array{tuple(getattr(it, 'shape', it.data.shape))}"
                 for it in self.items]
        return {"inputs": names, "windows": len(self.windows), "tile_size": self.tile_size,
                "sampling": self.sampling}
