"""Pixels kept where they are: float32 conversion block by block, memory maps and the release of their pages."""

import mmap

import numpy as np
from astropy.io import fits

__all__ = ["is_lazy_array", "release_mapped_pages"]

# rows are converted to float32 in blocks of about this many bytes, so that
# scaled integer plates and big-endian memmaps never need a full float64 copy
_BLOCK_BYTES = 1 << 22
# above this size the pages of a memory-mapped file are released after each block
_RELEASE_BYTES = 1 << 26


def _to_float32(raw, index, *, bscale=1.0, bzero=0.0, blank=None, release=None):
    """Native float32 copy of ``raw[index]`` made block by block (or ``raw[index]`` itself when possible)."""
    view = raw[index] if index else raw
    if view.ndim != 2:
        raise ValueError(f"image data must be 2-D after choosing a plane, got shape {view.shape}")
    scaled = (bscale != 1.0 or bzero != 0.0)
    if (view.dtype == np.float32 and view.dtype.isnative and not scaled and blank is None):
        return view
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
        out[r0:r0 + rows] = val
        if blank is not None:
            out[r0:r0 + rows][blk == blank] = np.nan
        if release is not None:
            release = _release_pages(release)
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
    """True where ``data`` is NaN/inf (or ``extra`` is True); computed block by block."""
    mask = np.empty(data.shape, dtype=bool)
    rows = max(1, _BLOCK_BYTES // max(1, data.shape[1] * 4))
    for r0 in range(0, data.shape[0], rows):
        np.logical_not(np.isfinite(data[r0:r0 + rows]), out=mask[r0:r0 + rows])
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
