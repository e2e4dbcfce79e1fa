"""Pixels kept where they are: float32 conversion block by block, memory maps and the release of their pages."""

import logging
import mmap

import numpy as np
from astropy.io import fits

__all__ = ["FLT_MAX", "fits_float32", "is_blank_value", "is_lazy_array", "release_mapped_pages"]

logger = logging.getLogger(__name__)

#: Largest float32 (3.4028235e38): pixels at exactly +-this value are a blank value some software
#: writes instead of NaN, and are treated as blank.
FLT_MAX = float(np.finfo(np.float32).max)
#: float32 is said to lose an image when its range is below this fraction of its largest value.
_PRECISION = 2.0**-16
#: ... or when its largest value is below this (7.9e-31): float32's normal numbers end at 2**-126, so the
#: 2**26 (7e7) below such a peak, where the noise lies, would fall into subnormals and zero
_TINY = 2.0**-100

# rows are converted to float32 in blocks of about this many bytes, so that
# scaled integer plates and big-endian memmaps never need a full float64 copy
_BLOCK_BYTES = 1 << 22
# above this size the pages of a memory-mapped file are released after each block
_RELEASE_BYTES = 1 << 26


def is_blank_value(values):
    """True where ``values`` are +-FLT_MAX (3.4028235e38), the blank value some software writes instead of NaN.

    Such pixels are treated as blank (masked) by `load_image` and by the
    tiled functions of `astrofmx.preprocess`, which say so in a log message.

    Parameters
    ----------
    values : array-like
        Pixels of any numeric type (integers are never blank).

    Returns
    -------
    blank : `~numpy.ndarray` of bool

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.io import is_blank_value
    >>> is_blank_value(np.float32([1.0, 3.4028235e38, -3.4028235e38, 3e38])).tolist()
    [False, True, True, False]
    """
    values = np.asarray(values)
    if values.dtype.kind != "f":
        return np.zeros(values.shape, dtype=bool)
    blank = values == FLT_MAX  # two comparisons: no float temporary of the block's size
    blank |= values == -FLT_MAX
    return blank


def fits_float32(values):
    """Whether float32 holds ``values`` without losing them: no finite value beyond +-FLT_MAX, a largest
    value not below ``2**-100`` (7.9e-31: below it, the noise of the image would fall among float32's
    subnormal numbers or flush to zero), and a range of values not below ``2**-16`` of the largest one (as
    integers near ``2**62`` or ``1e10 + noise`` are).

    `load_image` keeps images that float32 would lose in their own type
    (float64 or int64), and `astrofmx.preprocess` scales them
    (`~astrofmx.preprocess.PixelScale`) before casting pixels to float32.

    Parameters
    ----------
    values : array-like
        Pixels of any numeric type.

    Returns
    -------
    ok : bool

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.io import fits_float32
    >>> fits_float32(np.array([0.0, 1e39])), fits_float32(2**62 + np.arange(256)), fits_float32(np.arange(9.0))
    (False, False, True)
    >>> fits_float32(np.array([0.0, 1e-45])), fits_float32(np.zeros(4))
    (False, True)
    """
    values = np.asarray(values)
    if values.dtype == np.float32 or values.dtype.itemsize <= 2 or values.size == 0:
        return True
    values = values.reshape(values.shape[0], -1) if values.ndim > 1 else values[:, None]
    rows = max(1, _BLOCK_BYTES // max(1, values.shape[1] * 8))
    lo, hi = None, None
    for r0 in range(0, values.shape[0], rows):  # block by block: no full-size copy
        lo, hi = _finite_range(values[r0:r0 + rows], lo, hi)
    return _lossless(values.dtype, lo, hi)


def _finite_range(block, lo=None, hi=None):
    """(min, max) of the finite values of ``block`` merged with ``lo``, ``hi`` (None: none yet)."""
    if block.dtype.kind == "f":
        block = block[np.isfinite(block)]
    if block.size == 0:
        return lo, hi
    bmin, bmax = block.min(), block.max()
    bmin, bmax = (float(bmin), float(bmax)) if block.dtype.kind == "f" else (int(bmin), int(bmax))
    return (bmin if lo is None else min(lo, bmin)), (bmax if hi is None else max(hi, bmax))


def _lossless(dtype, lo, hi):
    """Whether float32 holds values of ``dtype`` spanning ``[lo, hi]`` (see `fits_float32`)."""
    if lo is None or dtype == np.float32 or dtype.itemsize <= 2:
        return True
    big = max(abs(lo), abs(hi))
    if dtype.kind == "f" and (big > FLT_MAX or 0 < big < _TINY):
        return False
    if dtype.kind != "f" and big <= 2**24:
        return True
    return not (hi - lo < big * _PRECISION)


def _to_float32(raw, index, *, bscale=1.0, bzero=0.0, blank=None, release=None):
    """Native float32 copy of ``raw[index]`` made block by block (or ``raw[index]`` itself when possible).

    Unscaled data that float32 would lose (`fits_float32`) are kept in their own type (native byte order).
    """
    view = raw[index] if index else raw
    if view.ndim != 2:
        raise ValueError(f"image data must be 2-D after choosing a plane, got shape {view.shape}")
    scaled = (bscale != 1.0 or bzero != 0.0)
    if (view.dtype == np.float32 and view.dtype.isnative and not scaled and blank is None):
        return view
    track = not scaled and blank is None and view.dtype.itemsize > 2 and view.dtype != np.float32
    lo = hi = None
    ny, nx = view.shape
    out = np.empty((ny, nx), dtype=np.float32)
    rows = max(1, _BLOCK_BYTES // (nx * 8))  # the working copy of a block may be float64
    wide = view.dtype.kind in "iu" and view.dtype.itemsize > 2 or view.dtype == np.float64
    for r0 in range(0, ny, rows):
        blk = view[r0:r0 + rows]
        if scaled:
            val = blk.astype(np.float64 if wide else np.float32)
            if bscale != 1.0:
                val *= bscale
            if bzero != 0.0:
                val += bzero
        else:
            val = blk
        with np.errstate(over="ignore"):
            out[r0:r0 + rows] = val
        if track:
            lo, hi = _finite_range(blk, lo, hi)
        if blank is not None:
            out[r0:r0 + rows][blk == blank] = np.nan
        if release is not None:
            release = _release_pages(release)
    if track and not _lossless(view.dtype, lo, hi):
        logger.info("the image's %s values do not fit in float32 (beyond +-3.4e38, or a range too small "
                    "for their size): they are kept as %s and scaled before any float32 step",
                    view.dtype, view.dtype.newbyteorder("="))
        return np.asarray(view, dtype=view.dtype.newbyteorder("="))
    return out


def _release_pages(hdul):
    """Drop the pages of a large memory-mapped file already converted (they are re-read if needed).

    Returns ``hdul`` to keep releasing, or None where this is not possible.
    """
    mm = getattr(getattr(hdul, "_file", None), "_mmap", None)  # created by astropy on first data access
    if mm is None or len(mm) <= _RELEASE_BYTES or not _dont_need(mm):
        return None
    return hdul


def _dont_need(mm):
    """``madvise(MADV_DONTNEED)`` on an mmap: True where it worked."""
    if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):  # pragma: no cover
        return False
    try:
        mm.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - platform without MADV_DONTNEED
        return False
    return True


def release_mapped_pages(array):
    """Unmap the pages of a read-only `numpy.memmap` that were read so far (no effect on other arrays).

    Pages of a memory-mapped file stay in the process's resident memory once
    read, so a pass over a 16k x 16k image would end with the whole file
    resident (reclaimable, but counted in RSS). The tiled readers call this
    after each strip or row of tiles; the pages are read again from the page
    cache if needed, so results do not change. Only maps larger than 64 MiB
    are released (smaller files are left to the operating system).

    Parameters
    ----------
    array : array-like
        Typically ``load_image(path, memmap=True).data``. Anything that is not
        a read-only `numpy.memmap` (an in-memory array, a dask array) is left
        alone.

    Returns
    -------
    None

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.io import release_mapped_pages
    >>> data = np.arange(6.0).reshape(2, 3)
    >>> release_mapped_pages(data)  # not a memory map: nothing happens
    >>> float(data.sum())
    15.0
    """
    mm = getattr(array, "_mmap", None)
    if mm is not None and getattr(array, "mode", None) == "r" and len(mm) > _RELEASE_BYTES:
        _dont_need(mm)


def _invalid_mask(data, extra=None):
    """True where ``data`` is NaN/inf or +-FLT_MAX (or ``extra`` is True); computed block by block."""
    mask = np.empty(data.shape, dtype=bool)
    rows = max(1, _BLOCK_BYTES // max(1, data.shape[1] * 4))
    n_blank = 0
    for r0 in range(0, data.shape[0], rows):
        blk = data[r0:r0 + rows]
        np.logical_not(np.isfinite(blk), out=mask[r0:r0 + rows])
        blank = is_blank_value(blk)
        if blank.any():
            n_blank += int(blank.sum())
            mask[r0:r0 + rows] |= blank
    if n_blank:
        logger.warning("%d pixel(s) (%.1f%%) are +-FLT_MAX (3.4028235e38), a blank value: they are masked "
                       "(treated as blank)", n_blank, 100.0 * n_blank / max(1, data.size))
    if extra is not None:
        mask |= extra
    return mask


def is_lazy_array(obj):
    """Whether ``obj`` is read piece by piece rather than copied: a `numpy.memmap` or a dask array.

    `~astrofmx.io.load_image` (``memmap=True``) and the tiled functions of
    `astrofmx.preprocess` keep such arrays as they are and read them a window
    or a strip at a time.

    Parameters
    ----------
    obj : object
        Anything.

    Returns
    -------
    lazy : bool

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.io import is_lazy_array
    >>> is_lazy_array(np.zeros((4, 4)))
    False
    >>> import dask.array as da
    >>> is_lazy_array(da.zeros((4, 4)))
    True
    """
    return isinstance(obj, np.memmap) or type(obj).__module__.startswith("dask.")


def _memmap_plane(path, h, index):
    """A read-only `numpy.memmap` of the stored pixels of HDU ``h`` (plane ``index``), or None if not possible.

    Possible for an uncompressed file whose pixels are stored as they are
    (floating point, or integers without BSCALE/BZERO/BLANK).
    """
    header = h.header
    if isinstance(h, fits.CompImageHDU) or getattr(h, "_file", None) is None:
        return None
    if getattr(h._file, "compression", None):
        return None
    bitpix = int(header["BITPIX"])
    scaled = float(header.get("BSCALE", 1.0)) != 1.0 or float(header.get("BZERO", 0.0)) != 0.0
    if scaled or (bitpix > 0 and "BLANK" in header):
        return None
    dtype = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}[bitpix]
    offset = h.fileinfo()["datLoc"]
    data = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(h.shape))
    return data[index] if index else data
