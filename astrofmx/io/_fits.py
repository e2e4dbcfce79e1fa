"""Loading FITS images (and arrays) as float32 2-D `~astropy.nddata.NDData` with a celestial WCS."""

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS

from ._header import _header_notes_logged, _image_wcs, _quiet_wcs, parse_bunit
from ._pixels import _invalid_mask, _memmap_plane, _to_float32, is_lazy_array

__all__ = ["FITSFileError", "load_image", "check_fits_file"]

logger = logging.getLogger(__name__)


class FITSFileError(OSError):
    """A file that is not a readable FITS file, holds no HDU, or is truncated (its data run past its end).

    An `OSError`, so code that catches those keeps working; the message
    names the file and, for a truncated one, the expected and actual sizes.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from astrofmx.io import FITSFileError, load_image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.fits"
    >>> _ = path.write_text("not FITS")
    >>> try:
    ...     load_image(path)
    ... except FITSFileError as exc:
    ...     print(isinstance(exc, OSError), "is not a readable FITS file" in str(exc))
    True True
    """


FITSFileError.__module__ = "astrofmx.io"  # where users import it from (tracebacks name it so)

_ACCEPTED = ("a path (str or pathlib.Path) to a FITS file, an HDUList, an image HDU, "
             "a (array, WCS or Header) tuple, an NDData/CCDData, or a 2-D numpy or dask array")

def _describe_hdus(hdul):
    parts = []
    for i, h in enumerate(hdul):
        name = h.name or ""
        shape = tuple(h.shape) if h.is_image else None
        desc = f"{i} {type(h).__name__}"
        if name and name != "PRIMARY":
            desc += f" '{name}'"
        desc += f" shape={shape}" if shape else (" (no data)" if h.is_image else "")
        parts.append(desc)
    return "; ".join(parts)


def _image_hdu_indices(hdul):
    return [i for i, h in enumerate(hdul)
            if h.is_image and len(h.shape) > 0 and all(n > 0 for n in h.shape)]


def _normalize_plane(plane, extra_shape):
    """Index tuple into the leading (non-image) axes for ``plane``."""
    nondeg = [i for i, n in enumerate(extra_shape) if n > 1]
    hint = ("the image has extra axes of shape {} (numpy order) in front of the 2-D image; pass plane=<int> "
            "when one of them has more than one plane, or plane=<tuple> with one index per extra axis")
    given = plane
    if plane is None:
        if nondeg:
            raise ValueError("the data are a cube that needs plane= to choose one 2-D image: "
                             + hint.format(tuple(extra_shape)))
        return tuple(0 for _ in extra_shape)
    if isinstance(plane, (int, np.integer)) and not isinstance(plane, bool):
        if len(nondeg) > 1:
            raise ValueError(f"plane={plane!r} is ambiguous: " + hint.format(tuple(extra_shape)))
        axis = nondeg[0] if nondeg else len(extra_shape) - 1
        plane = tuple(int(plane) if i == axis else 0 for i in range(len(extra_shape)))
    elif isinstance(plane, tuple) and all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                                          for p in plane):
        if len(plane) == len(nondeg) and len(plane) != len(extra_shape):
            it = iter(plane)
            plane = tuple(int(next(it)) if i in nondeg else 0 for i in range(len(extra_shape)))
        elif len(plane) != len(extra_shape):
            raise ValueError(f"plane={plane!r} has {len(plane)} indices, but " + hint.format(tuple(extra_shape)))
    else:
        raise TypeError(f"plane must be an int or a tuple of ints, got {plane!r}")
    out = []
    for p, n in zip(plane, extra_shape):
        if not -n <= p < n:
            raise ValueError(f"plane={given!r} is out of range for the extra axes of shape {tuple(extra_shape)}")
        out.append(p % n)
    return tuple(out)


def _finish(data, wcs, header, unit, mask, source_desc):
    mask = _invalid_mask(data, mask)
    if mask.all():
        raise ValueError(f"every pixel of the image {source_desc} is NaN, infinite or blank; "
                         "there is nothing to process (check hdu= or plane=)")
    if unit is None and header is not None:
        unit = parse_bunit(header.get("BUNIT"))
    meta = header.copy() if header is not None else fits.Header()
    return NDData(data, wcs=wcs, mask=mask, unit=unit, meta=meta, copy=False)


def _lazy(data, wcs, header, unit, mask, source_desc):
    """NDData around ``data`` as it is (no copy, no scan): NaN pixels are found window by window later."""
    if data.ndim != 2:
        raise ValueError(f"image data must be 2-D after choosing a plane, got shape {data.shape}")
    if data.dtype.kind not in "biuf":
        raise TypeError(f"image data must be numeric, got dtype {data.dtype}")
    if unit is None and header is not None:
        unit = parse_bunit(header.get("BUNIT"))
    meta = header.copy() if header is not None else fits.Header()
    logger.debug("load_image: %s %s kept memory-mapped (%s)", source_desc, tuple(data.shape), data.dtype)
    return NDData(data, wcs=wcs, mask=mask, unit=unit, meta=meta, copy=False)



def _from_array(data, wcs, header, unit=None, mask=None, plane=None, source_desc="(array)", memmap=False):
    """Common path for in-memory data: physical values, optional WCS/header/mask."""
    if memmap and is_lazy_array(data) and len(data.shape) >= 2:
        index = _normalize_plane(plane, tuple(data.shape[:-2])) if len(data.shape) > 2 else ()
        if len(data.shape) == 2 and plane is not None:
            raise ValueError(f"plane={plane!r} was given, but the image is already 2-D (shape {data.shape})")
        wcs = _quiet_wcs(wcs) if isinstance(wcs, fits.Header) else wcs
        if mask is not None:
            mask = mask[index] if index else mask
        view = data[index] if index else data
        return _lazy(view, _image_wcs(wcs, len(data.shape), tuple(view.shape)), header, unit, mask, source_desc)
    data = np.asanyarray(data)
    if isinstance(data, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(data) if mask is None else (np.asarray(mask, bool) | np.ma.getmaskarray(data))
        data = np.ma.getdata(data)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"image data must be numeric, got dtype {data.dtype}")
    if data.ndim < 2:
        raise ValueError(f"image data must be at least 2-D, got {data.ndim}-D data of shape {data.shape}")
    index = ()
    if data.ndim > 2:
        index = _normalize_plane(plane, data.shape[:-2])
    elif plane is not None:
        raise ValueError(f"plane={plane!r} was given, but the image is already 2-D (shape {data.shape})")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the data shape {data.shape}")
        mask = mask[index] if index else mask
    if isinstance(wcs, fits.Header):
        header = wcs if header is None else header
        wcs = _quiet_wcs(wcs)
    elif wcs is not None and not isinstance(wcs, WCS):
        low = getattr(wcs, "low_level_wcs", None)
        if not isinstance(low, WCS):
            raise TypeError(f"wcs must be an astropy.wcs.WCS or a FITS Header, got {type(wcs).__name__}")
        wcs = low
    f32 = _to_float32(data, index)
    wcs2d = _image_wcs(wcs, data.ndim, f32.shape)
    return _finish(f32, wcs2d, header, unit, mask, source_desc)


def _from_hdu(h, *, raw, fobj=None, plane=None, source_desc="", release=None, memmap_path=None):
    header = h.header
    shape = tuple(h.shape)
    if len(shape) < 2:
        raise ValueError(f"the HDU of {source_desc} holds {len(shape)}-D data of shape {shape}; "
                         "astrofmx needs an image (2-D, or a cube with plane=)")
    index = _normalize_plane(plane, shape[:-2]) if len(shape) > 2 else ()
    if len(shape) == 2 and plane is not None:
        raise ValueError(f"plane={plane!r} was given, but the image in {source_desc} is already 2-D "
                         f"(shape {shape})")
    if memmap_path is not None:
        view = _memmap_plane(memmap_path, h, index)
        if view is not None:
            return _lazy(view, _image_wcs(_quiet_wcs(header, fobj=fobj), len(shape), tuple(view.shape)), header,
                         None, None, source_desc)
        logger.info("load_image: %s is compressed or scaled (BSCALE/BZERO/BLANK); it cannot stay memory-mapped "
                    "and is read into memory", source_desc)
    data = h.data
    if raw:
        bscale = float(header.get("BSCALE", 1.0))
        bzero = float(header.get("BZERO", 0.0))
        blank = header.get("BLANK") if data.dtype.kind in "iu" else None
        f32 = _to_float32(data, index, bscale=bscale, bzero=bzero, blank=blank, release=release)
    else:
        f32 = _to_float32(data, index)
    if raw and not f32.flags.owndata:  # a view into the file's memory map, which is closed on return
        f32 = np.array(f32)
    wcs = _quiet_wcs(header, fobj=fobj)
    wcs2d = _image_wcs(wcs, len(shape), f32.shape)
    return _finish(f32, wcs2d, header, None, None, source_desc)


def _data_bytes(header):
    """Bytes of the data unit that ``header`` declares (without the padding to 2880-byte blocks)."""
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    n = 1
    for i in range(1, naxis + 1):
        n *= int(header.get(f"NAXIS{i}", 0))
    if int(header.get("NAXIS1", 0)) == 0 and header.get("GROUPS", False):  # random groups: NAXIS1 = 0
        n = int(np.prod([int(header.get(f"NAXIS{i}", 0)) for i in range(2, naxis + 1)]))
    pcount, gcount = int(header.get("PCOUNT", 0)), int(header.get("GCOUNT", 1))
    return abs(int(header.get("BITPIX", 8))) // 8 * gcount * (pcount + n)


def _check_complete(hdul, path, desc):
    """Raise FITSFileError naming the file, the expected and the actual size if an HDU's data run past its end."""
    if getattr(getattr(hdul, "_file", None), "compression", None):  # gzip/bz2: sizes on disk are compressed
        return
    actual = os.path.getsize(path)
    for i, h in enumerate(hdul):
        info = h.fileinfo()
        if not info:
            continue
        header = h.header
        if isinstance(h, fits.CompImageHDU):  # the stored (binary table) header, not the image's
            bintable = getattr(h, "_bintable", None)
            header = getattr(bintable, "header", None) if bintable is not None else None
            if header is None:
                continue
        expected = int(info["datLoc"]) + _data_bytes(header)
        if expected > actual:
            raise FITSFileError(f"{desc} is truncated: HDU {i} ({h.name or 'PRIMARY'}) declares data up to byte "
                          f"{expected:,} but the file holds {actual:,} bytes ({expected - actual:,} missing); the "
                          "download or copy was cut short: fetch or write the file again")


def check_fits_file(path):
    """Check that a FITS file is complete: every HDU's data end inside the file.

    A download or copy cut short leaves a file whose headers read but whose
    data are missing; astropy then fails deep inside numpy ("buffer is too
    small for requested array"). `load_image` runs this check on every file.

    Parameters
    ----------
    path : str or path-like

    Raises
    ------
    FITSFileError
        (an `OSError`) If the file is not FITS, or is truncated (the message gives the
        expected and the actual size).
    FileNotFoundError
        If the file does not exist.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from astropy.io import fits
    >>> from astrofmx.io import check_fits_file
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "f.fits"
    >>> fits.writeto(path, np.zeros((100, 100), np.float32))
    >>> check_fits_file(path)
    >>> _ = path.write_bytes(path.read_bytes()[:20000])
    >>> check_fits_file(path)
    Traceback (most recent call last):
    ...
    astrofmx.io.FITSFileError: '...f.fits' is truncated: HDU 0 (PRIMARY) declares data up to byte 42,880 but the file holds 20,000 bytes (22,880 missing)...
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"no such file: '{path}'")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="File may have been truncated")
            hdul = fits.open(path, memmap=True, lazy_load_hdus=False)
    except Exception as exc:
        raise FITSFileError(f"'{path}' is not a readable FITS file: {exc}") from exc
    with hdul:
        _check_complete(hdul, path, f"'{path}'")


def _from_hdulist(hdul, hdu, plane, *, raw, source_desc, release=None, memmap_path=None):
    if hdu is None:
        cands = _image_hdu_indices(hdul)
        if not cands:
            raise ValueError(f"no image HDU with data in {source_desc}: HDUs are [{_describe_hdus(hdul)}]")
        if len(cands) > 1:
            raise ValueError(f"several HDUs of {source_desc} hold images ({cands}); choose one with hdu=: "
                             f"[{_describe_hdus(hdul)}]")
        hdu = cands[0]
    try:
        h = hdul[hdu]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"hdu={hdu!r} is not in {source_desc}: HDUs are [{_describe_hdus(hdul)}]") from exc
    if not h.is_image or h.data is None:
        raise ValueError(f"hdu={hdu!r} of {source_desc} holds no image data: HDUs are [{_describe_hdus(hdul)}]")
    return _from_hdu(h, raw=raw, fobj=hdul, plane=plane, source_desc=source_desc, release=release,
                     memmap_path=memmap_path)


def load_image(source, *, hdu=None, plane=None, memmap=False):
    """Load an image as float32 2-D data with its celestial WCS, mask, unit and header.

    Parameters
    ----------
    source : path, HDUList, image HDU, tuple, NDData or ndarray
        A FITS file (also ``.fits.gz``, ``.fits.bz2`` and tile-compressed
        HDUs), an open HDU list, a ``PrimaryHDU``/``ImageHDU``/``CompImageHDU``,
        an ``(array, WCS or Header)`` tuple, an `~astropy.nddata.NDData` or
        `~astropy.nddata.CCDData`, or a plain numpy array (no WCS).
    hdu : int, str or tuple, optional
        Which HDU to read (index, EXTNAME or ``(EXTNAME, EXTVER)``). By
        default the only HDU holding image data is used (e.g. an empty primary
        HDU followed by the image in HDU 1); if several hold images, the error
        lists them.
    plane : int or tuple of int, optional
        For cubes (e.g. radio images with FREQ and STOKES axes): which 2-D
        plane to take. Degenerate axes of length 1 are dropped without it. An
        int indexes the only non-degenerate extra axis; a tuple gives one
        index per extra axis (numpy order, or one per non-degenerate axis).
    memmap : bool, optional
        Keep the pixels where they are instead of converting them: for a FITS
        file, ``data`` is a read-only `numpy.memmap` of the stored pixels (any
        byte order and type) and nothing is read until used; a `numpy.memmap`
        or dask array given directly is kept as it is. ``mask`` is then None
        (NaN pixels are found window by window by the tiled functions) and the
        "all pixels NaN" check is left to them. This is how a 16k x 16k or
        larger image is processed tile by tile in bounded memory (see
        `~astrofmx.detect_sources`). Compressed files (``.gz``, tile-compressed
        HDUs) and scaled integers (``BSCALE``/``BZERO``/``BLANK``) cannot stay
        mapped and are read into memory as usual.

    Returns
    -------
    image : `~astropy.nddata.NDData`
        ``data``: 2-D float32 in native byte order (physical values:
        ``BSCALE``/``BZERO`` applied, ``BLANK`` pixels set to NaN), except
        for unscaled pixels that float32 would lose (`fits_float32`: finite
        values beyond +-3.4e38, float64 images whose largest value is below
        7.9e-31, or integers near ``2**62``), which keep their
        own type (float64, int64) and are scaled by `astrofmx.preprocess`
        before any float32 step;
        ``wcs``: the 2-D celestial `~astropy.wcs.WCS` (spectral/Stokes axes
        dropped) or None when the image has no celestial WCS; ``mask``: bool,
        True where a pixel is NaN, infinite or blank (``BLANK``, or +-FLT_MAX
        = 3.4028235e38, which some software writes for blanks: a warning says
        how many) or masked in the input;
        ``unit``: from ``BUNIT`` (None when absent or unparseable, with a
        warning for the latter); ``meta``: a copy of the FITS header.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    FITSFileError
        (an `OSError`) If the file is not a FITS file, holds no HDU or is
        truncated.
    ValueError
        No image HDU, several candidate HDUs, 1-D data, an all-NaN image, a
        cube without ``plane=``, or ``plane`` out of range.
    TypeError
        If ``source`` is of an unsupported type.

    Notes
    -----
    Files are opened memory-mapped. FITS stores numbers big-endian, so on
    little-endian machines the selected plane is converted once into a native
    float32 array, block by block (4 MiB at a time, releasing the mapped pages
    of large files as it goes): memory use is one float32 image plus a bool
    mask, never a float64 copy, whatever the stored type (int16 with
    ``BSCALE``, int32, float64...). Data already native float32 (an array, a
    `numpy.memmap` in an ``(array, wcs)`` tuple, or `~astropy.nddata.NDData`)
    are kept as they are, without a copy. Only the requested plane of a cube
    is read.

    Examples
    --------
    >>> from astrofmx.datasets import get_bundled_path
    >>> from astrofmx.io import load_image
    >>> image = load_image(get_bundled_path("1904-66_SIN.fits"))
    >>> image.data.shape, image.data.dtype, image.unit
    ((192, 192), dtype('float32'), Unit("Jy / beam"))
    >>> round(float(image.mask.mean()), 2)  # ~40% blank pixels
    0.4
    >>> image.wcs.wcs.ctype[0]
    'RA---SIN'
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such file: '{path}'")
        if path.is_dir():
            raise IsADirectoryError(f"'{path}' is a directory, not a FITS file")
        desc = f"'{path}'"
        with _header_notes_logged():
            try:
                with warnings.catch_warnings():  # a truncated file is refused below, with its sizes
                    warnings.filterwarnings("ignore", message="File may have been truncated")
                    hdul = fits.open(path, memmap=True, do_not_scale_image_data=True, lazy_load_hdus=False)
            except Exception as exc:  # astropy raises OSError (and others) on files that are not FITS
                raise FITSFileError(f"{desc} is not a readable FITS file: {exc}") from exc
        with hdul, _header_notes_logged():
            if len(hdul) == 0:
                raise FITSFileError(f"{desc} is not a readable FITS file: it holds no HDU")
            _check_complete(hdul, path, desc)
            return _from_hdulist(hdul, hdu, plane, raw=True, source_desc=desc, release=None if memmap else hdul,
                                 memmap_path=path if memmap else None)
    if isinstance(source, fits.HDUList):
        return _from_hdulist(source, hdu, plane, raw=False, source_desc="the HDUList")
    if isinstance(source, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        if hdu is not None:
            raise ValueError(f"hdu={hdu!r} cannot be used with a single HDU as source")
        if source.data is None:
            raise ValueError("the HDU holds no image data")
        return _from_hdu(source, raw=False, plane=plane, source_desc="the HDU")
    if isinstance(source, NDData):
        meta = source.meta if isinstance(source.meta, fits.Header) else fits.Header()
        if not isinstance(source.meta, fits.Header) and isinstance(source.meta.get("header"), fits.Header):
            meta = source.meta["header"]
        unit = source.unit
        return _from_array(source.data, source.wcs, meta, unit=unit, mask=source.mask, plane=plane,
                           source_desc="(NDData)", memmap=memmap)
    if isinstance(source, tuple):
        if len(source) != 2:
            raise TypeError(f"a tuple source must be (array, WCS or Header), got a tuple of length {len(source)}")
        data, wcs = source
        header = wcs if isinstance(wcs, fits.Header) else None
        return _from_array(data, wcs, header, plane=plane, source_desc="(array, wcs)", memmap=memmap)
    if isinstance(source, np.ndarray) or is_lazy_array(source):
        return _from_array(source, None, None, plane=plane, source_desc="(array)", memmap=memmap)
    raise TypeError(f"source must be {_ACCEPTED}; got {type(source).__name__}")
