"""Cutouts around catalog positions (sky or pixel) with astropy's Cutout2D, keeping the WCS."""

import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.nddata import Cutout2D, NDData, NoOverlapError, PartialOverlapError

from ..io import load_image, require_celestial_wcs
from ..utils import AstrofmxWarning
from ._resample import PixelMapping

__all__ = ["make_cutouts"]

_MODES = ("pad", "skip", "error")


def _positions(positions, wcs):
    """List of scalar SkyCoord or (x, y) tuples, and whether they are sky positions."""
    if isinstance(positions, (list, tuple)) and positions and all(isinstance(p, SkyCoord) for p in positions):
        positions = SkyCoord(positions)
    if isinstance(positions, SkyCoord):
        require_celestial_wcs(wcs, purpose="cutouts around sky positions")
        return ([positions] if positions.isscalar else [positions[i] for i in range(len(positions))]), True
    pos = np.asarray(positions, dtype=float)
    if pos.ndim == 1 and pos.shape[0] == 2:
        pos = pos[None]
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must be a SkyCoord or pixel (x, y) pairs of shape (N, 2), got shape "
                         f"{pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions must be finite pixel coordinates")
    return [(float(x), float(y)) for x, y in pos], False


def _iter_cutouts(img, items, size, mode, fill_value):
    data = np.asarray(img.data)
    mask = None if img.mask is None else np.asarray(img.mask, dtype=bool)
    skipped = []
    c2d_mode = "partial" if mode == "pad" else "strict"
    for i, pos in enumerate(items):
        try:
            cut = Cutout2D(data, pos, size, wcs=img.wcs, mode=c2d_mode, fill_value=fill_value)
        except (NoOverlapError, PartialOverlapError) as exc:
            where = pos if isinstance(pos, tuple) else pos.to_string("decimal")
            if mode == "skip":
                skipped.append(i)
                continue
            if mode == "error" and isinstance(exc, PartialOverlapError):
                raise ValueError(f"the cutout around position {i} ({where}) runs off the image; use "
                                 "mode='pad' to pad it or mode='skip' to leave it out") from exc
            raise ValueError(f"the cutout around position {i} ({where}) does not overlap the image at all; "
                             "use mode='skip' to leave such positions out") from exc
        cmask = None
        if mask is not None:
            cmask = np.ones(cut.shape, dtype=bool)
            cmask[cut.slices_cutout] = mask[cut.slices_original]
        cdata = np.asarray(cut.data, dtype=np.float32)
        filled = ~np.isfinite(cdata)
        cmask = filled if cmask is None else (cmask | filled)
        header = img.meta if img.meta is not None else None
        # pixel (0, 0) of the cutout in the parent image; padding in 'partial' mode shifts it by origin_cutout
        x0 = cut.origin_original[0] - cut.origin_cutout[0]
        y0 = cut.origin_original[1] - cut.origin_cutout[1]
        yield NDData(cdata, wcs=cut.wcs, mask=cmask, unit=img.unit,
                     meta={"index": i, "position": pos, "offset": (int(x0), int(y0)),
                           "mapping": PixelMapping(1.0, 1.0, x0, y0), "cutout": cut, "header": header})
    if skipped:
        warnings.warn(f"skipping {len(skipped)} of {len(items)} positions whose cutouts run off the image "
                      f"(mode='skip'): indices {skipped[:20]}{' ...' if len(skipped) > 20 else ''}",
                      AstrofmxWarning)


def _check_size(size):
    """A cutout size must be one or two positive, finite numbers (pixels or an angle)."""
    value = size.value if isinstance(size, u.Quantity) else size
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"size must be a number, a (ny, nx) pair or a Quantity, got {size!r}") from None
    if arr.ndim > 1 or arr.size not in (1, 2) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"size must be one or two positive numbers (pixels, or an angle), got {size!r}")


def make_cutouts(image, positions, size, *, mode="pad", fill_value=np.nan, lazy=False):
    """Cut out square or rectangular stamps around positions, each with its own WCS.

    Parameters
    ----------
    image : anything `~astrofmx.io.load_image` accepts
        The parent image (NDData, path, ``(array, wcs)``...).
    positions : `~astropy.coordinates.SkyCoord` or array-like
        Sky positions (needs a celestial WCS), or pixel ``(x, y)`` positions
        of shape ``(N, 2)`` (0-based, pixel centres), or one ``(x, y)`` pair.
    size : int, tuple or `~astropy.units.Quantity`
        Cutout size as in `~astropy.nddata.Cutout2D`: pixels (an int for a
        square, or ``(ny, nx)``) or an angle.
    mode : {'pad', 'skip', 'error'}, optional
        What to do with a cutout that runs off the image: ``'pad'`` (default)
        fills the missing part with ``fill_value`` and masks it; ``'skip'``
        leaves it out (one `~astrofmx.utils.AstrofmxWarning` lists the skipped
        indices); ``'error'`` raises ValueError. A cutout that does not
        overlap the image at all raises ValueError in ``'pad'`` and
        ``'error'`` modes, and is skipped in ``'skip'`` mode.
    fill_value : float, optional
        Value of padded pixels (``mode='pad'``).
    lazy : bool, optional
        False (default): return a list. True: return a generator that cuts
        one stamp at a time (for long catalogs).

    Returns
    -------
    cutouts : list or generator of `~astropy.nddata.NDData`
        float32 ``data``; ``mask`` (True for NaN/blank and padding); ``wcs``
        the cutout's WCS (consistent with the parent's); ``unit``; ``meta``
        with ``'index'`` (position in ``positions``), ``'position'``,
        ``'offset'`` (``(x0, y0)``: where the cutout's pixel (0, 0) lies in
        the parent, padding included), ``'mapping'`` (the same as a
        `~astrofmx.preprocess.PixelMapping`, e.g.
        ``meta['mapping'].to_original(x, y)``), ``'cutout'`` (the
        `~astropy.nddata.Cutout2D`) and ``'header'`` (the parent's).

    Notes
    -----
    For padded cutouts, map pixels back with ``meta['offset']`` or
    ``meta['mapping']``: astropy's ``Cutout2D.to_original_position`` adds
    ``origin_original`` only and so ignores the padding in ``'partial'`` mode.

    Examples
    --------
    >>> from astrofmx.datasets import get_bundled_path
    >>> from astrofmx.io import load_image
    >>> from astrofmx.preprocess import make_cutouts
    >>> image = load_image(get_bundled_path("1904-66_SIN.fits"))
    >>> cutouts = make_cutouts(image, [(96, 96), (5, 5)], 32)
    >>> [c.data.shape for c in cutouts], bool(cutouts[1].mask[0, 0])
    ([(32, 32), (32, 32)], True)
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     kept = make_cutouts(image, [(96, 96), (5, 5)], 32, mode="skip")
    >>> len(kept), str(caught[0].message)[:25]
    (1, 'skipping 1 of 2 positions')
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    _check_size(size)
    img = image if isinstance(image, NDData) and np.ndim(image.data) == 2 else load_image(image)
    items, _ = _positions(positions, img.wcs)
    gen = _iter_cutouts(img, items, size, mode, fill_value)
    return gen if lazy else list(gen)
