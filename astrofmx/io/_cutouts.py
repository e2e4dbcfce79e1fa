"""Reading the pixels of many small FITS cutouts fast (`load_pixels`), for `~astrofmx.backbones.embed`."""

import os

import numpy as np

__all__ = ["load_pixels"]

_BLOCK = 2880
_CARD = 80
#: keywords that make a file anything but one plain float image in the primary HDU (read by astropy instead)
_NOT_PLAIN = frozenset({"BSCALE", "BZERO", "BLANK", "ZIMAGE", "GROUPS", "XTENSION"})
#: a header read this far without END is not a cutout's (astropy reads it)
_MAX_HEADER_BLOCKS = 64


def _plain_primary(path):
    """The pixels of a file that holds one uncompressed, unscaled 2-D float image in its primary HDU and
    nothing else, as the big-endian array astropy's ``hdul[0].data`` would give; None for any other file.

    The primary header's fixed-format cards are read here (SIMPLE, BITPIX, NAXISn and the keywords that
    scale or compress pixels) because `astropy.io.fits` costs ~0.8 ms per file to open, parse every card and
    build its HDU objects, which for a 64 x 64 cutout is ten times the read itself. Whatever is not exactly
    that plain case (extensions, scaled or integer pixels, compression, a truncated or odd file) returns None,
    and the caller reads it with astropy.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(_BLOCK)
            if not head.startswith(b"SIMPLE  =") or len(head) < _BLOCK:
                return None
            cards, end, block, n_blocks = {}, False, head, 1
            while not end:
                for i in range(0, _BLOCK, _CARD):
                    card = block[i:i + _CARD]
                    key = card[:8].rstrip()
                    if key == b"END":
                        end = True
                        break
                    if card[8:10] == b"= ":
                        cards[key.decode("ascii", "replace")] = card[10:].split(b"/", 1)[0].strip()
                if not end:
                    if n_blocks >= _MAX_HEADER_BLOCKS:
                        return None
                    block, n_blocks = f.read(_BLOCK), n_blocks + 1
                    if len(block) < _BLOCK:
                        return None
            if cards.get("SIMPLE") != b"T" or _NOT_PLAIN.intersection(cards) or cards.get("NAXIS") != b"2":
                return None
            dtype = {b"-32": ">f4", b"-64": ">f8"}.get(cards.get("BITPIX"))
            nx, ny = int(cards.get("NAXIS1", b"0")), int(cards.get("NAXIS2", b"0"))
            if dtype is None or nx <= 0 or ny <= 0:
                return None
            nbytes = nx * ny * np.dtype(dtype).itemsize
            padded = -(-nbytes // _BLOCK) * _BLOCK
            if os.fstat(f.fileno()).st_size != n_blocks * _BLOCK + padded:  # extensions, or truncated
                return None
            buffer = bytearray(nbytes)
            if f.readinto(buffer) != nbytes:
                return None
    except (OSError, ValueError):
        return None
    return np.frombuffer(buffer, dtype=dtype).reshape(ny, nx)


def load_pixels(path):
    """The pixels and mask of a FITS image, as `~astrofmx.io.load_image` reads them, without its WCS.

    This is the reader for many small cutouts (`~astrofmx.backbones.embed` reads one per image): a file
    holding one plain 2-D float image in its primary HDU (``BITPIX`` -32 or -64, no ``BSCALE``/``BZERO``,
    no extensions: what `astropy.io.fits.writeto` and `~astropy.nddata.Cutout2D` cutouts are) is read
    directly, ~20 times faster than `astropy.io.fits.open`; any other file goes through
    `~astrofmx.io.load_image` itself, with its checks and errors. Both give the same data and mask.

    Parameters
    ----------
    path : str or `os.PathLike`
        A FITS file.

    Returns
    -------
    data : `~numpy.ndarray`
        2-D pixels, as ``load_image(path).data``.
    mask : `~numpy.ndarray` of bool
        True where a pixel is NaN, infinite or blank, as ``load_image(path).mask``.

    Raises
    ------
    FileNotFoundError, OSError, ValueError
        As `~astrofmx.io.load_image` for files it cannot read.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astrofmx.io import load_image, load_pixels
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "cutout.fits"
    >>> fits.writeto(path, np.arange(12, dtype="float32").reshape(3, 4))
    >>> data, mask = load_pixels(path)
    >>> data.shape, bool(mask.any()), bool(np.array_equal(data, load_image(path).data))
    ((3, 4), False, True)
    """
    from ._fits import _from_array, load_image

    pixels = _plain_primary(path)
    if pixels is None:
        image = load_image(path)
    else:  # the pixels read here: errors still name the file
        image = _from_array(pixels, None, None, source_desc=f"'{path}'")
    return image.data, image.mask
