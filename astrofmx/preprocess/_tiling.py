"""Lazy tiling of large images into overlapping windows, each with its offset and its own WCS."""

import dataclasses
import functools
import math
import os

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData

from ..io import fits_float32, is_blank_value
from ..utils import progress_bar as _progress_bar
from ._resample import PixelMapping

__all__ = ["TileGrid", "Tile", "iter_tiles", "tile_to_image"]

_EDGES = ("shift", "pad")


def _tile_pixels(stored):
    """The pixels of a tile: float32, or their own type (native byte order) where float32 would lose them."""
    stored = np.asarray(stored)
    if fits_float32(stored):
        return np.asarray(stored, dtype=np.float32)
    return np.asarray(stored, dtype=stored.dtype.newbyteorder("="))


def _pair_int(value, name):
    vals = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(vals) != 2 or any(int(v) != v for v in vals):
        raise ValueError(f"{name} must be an int or a (y, x) pair of ints, got {value!r}")
    return int(vals[0]), int(vals[1])


def _starts(n, tile, overlap, edge):
    if n <= tile:
        return (0,)
    stride = tile - overlap
    count = math.ceil((n - tile) / stride) + 1
    starts = [i * stride for i in range(count)]
    if edge == "shift":
        starts[-1] = n - tile
    return tuple(starts)


@dataclasses.dataclass(frozen=True)
class TileGrid:
    """The layout of tiles over an image, computed without touching the data.

    Tiles advance by ``tile_size - overlap`` and cover the whole image,
    edges included. With ``edge='shift'`` (default) the last tile of each row
    and column is moved inward so that it ends at the image edge: every tile
    is full size and lies inside the image (it overlaps its neighbour more).
    With ``edge='pad'`` tiles keep the regular stride and the last ones run
    past the edge; `iter_tiles` pads them with ``fill_value`` and masks the
    padding. An image smaller than a tile is padded in either case.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image (or ``(C, ny, nx)``: the last two are used).
    tile_size : int or (int, int)
        Tile height and width in pixels.
    overlap : int or (int, int), optional
        Pixels shared by neighbouring tiles; ``0 <= overlap < tile_size``.
    edge : {'shift', 'pad'}, optional
        Edge policy, see above.

    Examples
    --------
    >>> from astrofmx.preprocess import TileGrid
    >>> grid = TileGrid((1000, 1300), tile_size=512, overlap=64)
    >>> len(grid), grid.n_rows, grid.n_cols
    (9, 3, 3)
    >>> grid.starts_x
    (0, 448, 788)
    """

    shape: tuple
    tile_size: object
    overlap: object = 0
    edge: str = "shift"

    def __post_init__(self):
        shape = tuple(int(n) for n in self.shape)
        if len(shape) < 2 or min(shape[-2:]) < 1:
            raise ValueError(f"shape must end with two positive sizes (ny, nx), got {self.shape!r}")
        ty, tx = _pair_int(self.tile_size, "tile_size")
        oy, ox = _pair_int(self.overlap, "overlap")
        if ty < 1 or tx < 1:
            raise ValueError(f"tile_size must be positive, got {self.tile_size!r}")
        if not (0 <= oy < ty and 0 <= ox < tx):
            raise ValueError(f"overlap must be >= 0 and smaller than tile_size ({self.tile_size!r}), "
                             f"got {self.overlap!r}")
        if self.edge not in _EDGES:
            raise ValueError(f"edge must be one of {_EDGES}, got {self.edge!r}")
        object.__setattr__(self, "shape", shape[-2:])
        object.__setattr__(self, "tile_size", (ty, tx))
        object.__setattr__(self, "overlap", (oy, ox))

    @functools.cached_property
    def starts_y(self):
        """Row offsets ``y0`` of the tiles."""
        return _starts(self.shape[0], self.tile_size[0], self.overlap[0], self.edge)

    @functools.cached_property
    def starts_x(self):
        """Column offsets ``x0`` of the tiles."""
        return _starts(self.shape[1], self.tile_size[1], self.overlap[1], self.edge)

    @property
    def n_rows(self):
        return len(self.starts_y)

    @property
    def n_cols(self):
        return len(self.starts_x)

    def __len__(self):
        return self.n_rows * self.n_cols

    @property
    def positions(self):
        """``(N, 2)`` int array of tile offsets ``(x0, y0)``, row by row."""
        yy, xx = np.meshgrid(self.starts_y, self.starts_x, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def __iter__(self):
        """Yield ``(row, col, y0, x0)`` for every tile, row by row."""
        for r, y0 in enumerate(self.starts_y):
            for c, x0 in enumerate(self.starts_x):
                yield r, c, y0, x0


@dataclasses.dataclass(frozen=True, eq=False)
class Tile:
    """One window of an image, produced by `iter_tiles`.

    Attributes
    ----------
    data : `~numpy.ndarray`
        ``(th, tw)`` or ``(C, th, tw)`` float32: a view into the image where
        possible (a copy for padded tiles or non-float32 images).
    mask : `~numpy.ndarray`
        bool, True for NaN/blank pixels and for padding.
    x0, y0 : int
        Offset of the tile's first pixel in the full image.
    row, col : int
        Position of the tile in the `TileGrid`.
    slices : tuple of slice
        ``(slice(y0, y1), slice(x0, x1))``: the part of the full image the
        tile covers (clipped to the image for padded tiles).
    wcs : `~astropy.wcs.WCS` or None
        The tile's own WCS (``parent_wcs.slice(...)``), computed on first use.
    """

    data: np.ndarray
    mask: np.ndarray
    x0: int
    y0: int
    row: int
    col: int
    slices: tuple
    parent_wcs: object = dataclasses.field(default=None, repr=False)

    @functools.cached_property
    def wcs(self):
        if self.parent_wcs is None:
            return None
        th, tw = self.shape
        return self.parent_wcs.slice((slice(self.y0, self.y0 + th), slice(self.x0, self.x0 + tw)))

    @property
    def shape(self):
        """``(th, tw)``, the tile's 2-D size (padding included)."""
        return tuple(self.data.shape[-2:])

    @property
    def padded(self):
        """True if the tile runs past the image edge and was padded."""
        return (self.slices[0].stop - self.slices[0].start, self.slices[1].stop - self.slices[1].start) \
            != self.shape

    def mapping(self, scale=1.0):
        """`PixelMapping` from this tile (resampled by ``scale``) to full-image pixels."""
        sy, sx = (scale, scale) if np.ndim(scale) == 0 else tuple(scale)
        return PixelMapping(sx, sy, self.x0, self.y0)

    def to_image(self, x, y, *, scale=1.0):
        """Tile pixel coordinates (of the tile resampled by ``scale``) -> full-image pixel coordinates."""
        return self.mapping(scale).to_original(x, y)

    def from_image(self, x, y, *, scale=1.0):
        """Full-image pixel coordinates -> tile pixel coordinates (resampled by ``scale``)."""
        return self.mapping(scale).to_model(x, y)

    def boxes_to_image(self, boxes, *, scale=1.0, convention="center"):
        """``(N, 4)`` boxes in tile coordinates -> full-image pixels (see `PixelMapping.boxes_to_original`)."""
        return self.mapping(scale).boxes_to_original(boxes, convention=convention)

    def to_sky(self, x, y, *, scale=1.0):
        """Tile pixel coordinates -> `~astropy.coordinates.SkyCoord` (needs a celestial WCS)."""
        return self.mapping(scale).to_sky(x, y, self.parent_wcs)

    def from_sky(self, skycoord, *, scale=1.0):
        """`~astropy.coordinates.SkyCoord` -> tile pixel coordinates (resampled by ``scale``)."""
        return self.mapping(scale).from_sky(skycoord, self.parent_wcs)


def tile_to_image(coords, *, x0, y0, scale=1.0, convention="center"):
    """Map positions ``(N, 2)`` or boxes ``(N, 4)`` from tile coordinates to full-image pixels.

    For catalogs that stored only the tile offsets; equivalent to
    `Tile.to_image` and `Tile.boxes_to_image`.

    Parameters
    ----------
    coords : array-like, shape (N, 2) or (N, 4)
        ``(x, y)`` positions or ``(xmin, ymin, xmax, ymax)`` boxes in the tile,
        possibly after resampling the tile by ``scale``.
    x0, y0 : float
        The tile's offset in the full image.
    scale : float or (float, float), optional
        Resampling factor applied to the tile before the model saw it.
    convention : {'center', 'edge'}, optional
        Box convention of the input (see `PixelMapping.boxes_to_original`);
        positions always use pixel centres.

    Returns
    -------
    coords : `~numpy.ndarray`
        Same shape, in full-image pixel coordinates (pixel-centre convention).

    Examples
    --------
    >>> from astrofmx.preprocess import tile_to_image
    >>> tile_to_image([[0.0, 0.0]], x0=512, y0=1024).tolist()
    [[512.0, 1024.0]]
    >>> tile_to_image([[-0.5, -0.5, 9.5, 9.5]], x0=512, y0=0, scale=2.0).tolist()
    [[511.5, -0.5, 516.5, 4.5]]
    """
    c = np.asarray(coords, dtype=float)
    if c.ndim == 1:
        c = c[None]
    sy, sx = (scale, scale) if np.ndim(scale) == 0 else tuple(scale)
    mapping = PixelMapping(sx, sy, x0, y0)
    if c.ndim == 2 and c.shape[1] == 2:
        x, y = mapping.to_original(c[:, 0], c[:, 1])
        return np.stack([x, y], axis=1)
    if c.ndim == 2 and c.shape[1] == 4:
        return mapping.boxes_to_original(c, convention=convention)
    raise ValueError(f"coords must have shape (N, 2) for positions or (N, 4) for boxes, got {c.shape}")


def _coerce_image(image):
    """(data, mask or None, wcs or None) for tiling."""
    if isinstance(image, NDData):
        from ..io import is_lazy_array

        mask = image.mask
        if mask is not None and not is_lazy_array(mask):
            mask = np.asarray(mask, dtype=bool)
        data = image.data if is_lazy_array(image.data) else np.asarray(image.data)  # memmaps/dask stay lazy
        return data, mask, image.wcs
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise ValueError(f"image must be 2-D (H, W) or 3-D (C, H, W), got shape {image.shape}")
        return image, None, None
    if isinstance(image, (str, os.PathLike, fits.HDUList, fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU,
                          tuple)):
        from ..io import load_image

        img = load_image(image)
        return img.data, img.mask, img.wcs
    raise TypeError(f"image must be an NDData, a numpy array or anything load_image accepts, "
                    f"got {type(image).__name__}")


def _check_padded_tile(shape, itemsize, image_shape, free=None):
    """ValueError before a padded tile (data + mask) larger than half the free memory is allocated."""
    need = int(np.prod(shape)) * (itemsize + 1)
    from ..utils import available_memory

    free = available_memory() if free is None else free
    if free is not None and need > 0.5 * free:
        raise ValueError(f"tile_size {shape[-2]}x{shape[-1]} on a {image_shape[1]}x{image_shape[0]} image would "
                         f"allocate {need / 2 ** 30:.1f} GiB per padded tile, more than half of the "
                         f"{free / 2 ** 30:.1f} GiB free; use a tile_size no larger than the image "
                         f"(<= {max(image_shape)})")


def iter_tiles(image, *, tile_size, overlap=0, edge="shift", fill_value=np.nan, progress_bar=False):
    """Yield the tiles of an image lazily, one `Tile` at a time.

    Only one tile's data exist at a time (views into the image where
    possible), so a memory-mapped or very large image can be processed tile by
    tile; no list of all tiles is built.

    Parameters
    ----------
    image : `~astropy.nddata.NDData`, `~numpy.ndarray` or anything `~astrofmx.io.load_image` accepts
        2-D image or ``(C, H, W)`` stack (e.g. from
        `~astrofmx.preprocess.align_images`). The mask and WCS of an NDData
        travel with the tiles.
    tile_size : int or (int, int)
        Tile height and width.
    overlap : int or (int, int), optional
        Pixels shared by neighbouring tiles.
    edge : {'shift', 'pad'}, optional
        ``'shift'`` (default): the last tile of each row/column is moved
        inward to end at the edge (all tiles full size, views). ``'pad'``:
        regular stride, tiles past the edge are padded with ``fill_value``
        and the padding is masked. See `TileGrid`.
    fill_value : float, optional
        Value of padded pixels.
    progress_bar : bool, optional
        Show a tqdm progress bar.

    Yields
    ------
    tile : `Tile`

    Raises
    ------
    ValueError
        If a padded tile would take more than half the free memory (a
        ``tile_size`` far larger than the image), before anything is
        allocated.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import iter_tiles
    >>> image = np.arange(100 * 150, dtype=np.float32).reshape(100, 150)
    >>> tiles = iter_tiles(image, tile_size=64, overlap=8)
    >>> [(t.x0, t.y0) for t in tiles]
    [(0, 0), (56, 0), (86, 0), (0, 36), (56, 36), (86, 36)]
    """
    data, mask, wcs = _coerce_image(image)
    if data.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D (H, W) or 3-D (C, H, W), got shape {data.shape}")
    grid = TileGrid(data.shape, tile_size, overlap, edge)
    if mask is not None and mask.shape not in (data.shape, data.shape[-2:]):
        raise ValueError(f"mask shape {mask.shape} does not match the data shape {data.shape}")
    ny, nx = data.shape[-2:]
    ty, tx = grid.tile_size
    lead = data.shape[:-2]
    if ty > ny or tx > nx or edge == "pad":
        _check_padded_tile(lead + (ty, tx), np.dtype(data.dtype).itemsize, (ny, nx))
    bar = _progress_bar(total=len(grid), desc="tiles", unit="tile", enabled=progress_bar)
    try:
        for r, c, y0, x0 in grid:
            y1, x1 = min(y0 + ty, ny), min(x0 + tx, nx)
            sl = (slice(y0, y1), slice(x0, x1))
            view = _tile_pixels(data[(...,) + sl])
            if mask is not None:
                mview = np.asarray(mask[(...,) + sl] if mask.ndim == data.ndim else np.broadcast_to(
                    mask[sl], view.shape), dtype=bool)
                mview = mview | ~np.isfinite(view) if view.dtype.kind == "f" else mview
            else:
                mview = ~np.isfinite(view)
            if view.dtype.kind == "f":
                mview = mview | is_blank_value(view)  # +-FLT_MAX: a blank value
            if (y1 - y0, x1 - x0) != (ty, tx):
                tile_data = np.full(lead + (ty, tx), fill_value if view.dtype.kind == "f" else 0, dtype=view.dtype)
                tile_mask = np.ones(lead + (ty, tx), dtype=bool)
                tile_data[..., : y1 - y0, : x1 - x0] = view
                tile_mask[..., : y1 - y0, : x1 - x0] = mview
            else:
                tile_data, tile_mask = view, mview
            yield Tile(tile_data, tile_mask, x0, y0, r, c, sl, wcs)
            bar.update(1)
    finally:
        bar.close()
