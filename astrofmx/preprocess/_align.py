"""Putting images on a common WCS grid with reproject (multi-band stacks, target pixel scales).

Flux conventions
----------------
Interpolation (``method='interp'``, the default) and ``'exact'`` reprojection
preserve *surface brightness*: a value in Jy/beam, MJy/sr or mag/arcsec^2 means
the same after resampling, whatever the new pixel size. Quantities *per
pixel* (counts, electrons, nanomaggies per pixel, Jy/pixel) are not
conserved that way: pass ``conserve_flux=True`` to multiply by the ratio of
output to input pixel area, so that the sum over a source is kept. The unit of
the result is the unit of the input either way (for Jy/beam the beam does not
change by reprojection, only the number of pixels per beam).
"""

import logging
import math

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_area, proj_plane_pixel_scales

from ..io import load_image, require_celestial_wcs
from ._resample import PixelMapping

__all__ = ["align_images", "resample_to_pixel_scale"]

logger = logging.getLogger(__name__)

_METHODS = ("interp", "exact", "adaptive")


def _reproject(data, wcs_in, wcs_out, shape_out, *, method, order, conserve_flux):
    import reproject

    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    data = np.asarray(data, dtype=np.float64)
    if method == "interp":
        out, footprint = reproject.reproject_interp((data, wcs_in), wcs_out, shape_out=shape_out, order=order)
    elif method == "exact":
        out, footprint = reproject.reproject_exact((data, wcs_in), wcs_out, shape_out=shape_out)
    else:
        out, footprint = reproject.reproject_adaptive((data, wcs_in), wcs_out, shape_out=shape_out,
                                                      conserve_flux=conserve_flux)
    if conserve_flux and method != "adaptive":
        out = out * (proj_plane_pixel_area(wcs_out) / proj_plane_pixel_area(wcs_in))
    out = out.astype(np.float32)
    mask = ~np.isfinite(out) | (footprint <= 0)
    out[mask] = np.nan
    return out, mask


def _prepare_input(image, i):
    img = load_image(image)
    wcs = require_celestial_wcs(img.wcs, purpose=f"aligning images (image {i})")
    data = np.array(img.data, dtype=np.float32)
    data[np.asarray(img.mask, bool)] = np.nan
    return img, data, wcs


def align_images(images, *, wcs_out=None, shape_out=None, method="interp", order="bilinear",
                 conserve_flux=False):
    """Reproject several images (bands, surveys) onto one WCS grid, as a ``(C, H, W)`` stack.

    Parameters
    ----------
    images : sequence
        Anything `~astrofmx.io.load_image` accepts (paths, NDData,
        ``(array, wcs)``...), each with a celestial WCS; one channel each,
        in order.
    wcs_out : `~astropy.wcs.WCS`, `~astropy.io.fits.Header` or 'optimal', optional
        The output grid. Default: the grid of the first image.
        ``'optimal'``: `reproject.mosaicking.find_optimal_celestial_wcs`, a
        grid covering all images at the finest resolution.
    shape_out : tuple of int, optional
        ``(ny, nx)`` of the output; needed with a ``wcs_out`` WCS that has no
        ``pixel_shape``.
    method : {'interp', 'exact', 'adaptive'}, optional
        `reproject.reproject_interp` (default), `reproject.reproject_exact`
        or `reproject.reproject_adaptive`.
    order : str or int, optional
        Interpolation order for ``'interp'`` (``'bilinear'``,
        ``'nearest-neighbor'``, ``'bicubic'``...).
    conserve_flux : bool, optional
        False (default) preserves surface brightness (right for Jy/beam,
        MJy/sr); True scales by the pixel-area ratio (right for counts or
        flux per pixel). See the module notes.

    Returns
    -------
    stack : `~astropy.nddata.NDData`
        ``data`` float32 ``(C, H, W)``, ``mask`` True where a channel has no
        coverage or a blank pixel, ``wcs`` the 2-D output WCS, ``unit`` the
        common unit (None if they differ), ``meta['units']`` the unit of each
        channel.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from astrofmx.preprocess import align_images
    >>> w = WCS(naxis=2); w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> w.wcs.crval = [150, 2]; w.wcs.crpix = [16.5, 16.5]; w.wcs.cdelt = [-1e-4, 1e-4]
    >>> w2 = w.deepcopy(); w2.wcs.crpix = [14.5, 17.5]   # the same sky, shifted by (-2, +1) pixels
    >>> a = np.random.default_rng(0).random((32, 32)).astype("float32")
    >>> stack = align_images([(a, w), (a, w2)])
    >>> stack.data.shape
    (2, 32, 32)
    >>> bool(np.allclose(stack.data[1, 5:20, 5:20], a[6:21, 3:18], atol=1e-5))
    True
    """
    if isinstance(images, (str, NDData, tuple, np.ndarray)) or not hasattr(images, "__iter__"):
        raise TypeError("images must be a list of images (paths, NDData, (array, wcs) tuples...), "
                        f"got {type(images).__name__}")
    prepared = [_prepare_input(im, i) for i, im in enumerate(images)]
    if not prepared:
        raise ValueError("images must not be empty")
    if wcs_out is None:
        ref_img, ref_data, ref_wcs = prepared[0]
        wcs_out = ref_wcs
        shape_out = ref_data.shape if shape_out is None else tuple(shape_out)
    elif isinstance(wcs_out, str):
        if wcs_out != "optimal":
            raise ValueError(f"wcs_out must be a WCS, a Header, 'optimal' or None, got {wcs_out!r}")
        from reproject.mosaicking import find_optimal_celestial_wcs

        wcs_out, optimal_shape = find_optimal_celestial_wcs([(d, w) for _, d, w in prepared])
        shape_out = optimal_shape if shape_out is None else tuple(shape_out)
    else:
        if isinstance(wcs_out, fits.Header):
            header = wcs_out
            wcs_out = WCS(header)
            if shape_out is None and header.get("NAXIS1") and header.get("NAXIS2"):
                shape_out = (int(header["NAXIS2"]), int(header["NAXIS1"]))
        wcs_out = require_celestial_wcs(wcs_out, purpose="the output grid")
        if shape_out is None:
            if wcs_out.pixel_shape is None:
                raise ValueError("shape_out must be given when wcs_out has no pixel_shape")
            shape_out = (wcs_out.pixel_shape[1], wcs_out.pixel_shape[0])
    shape_out = tuple(int(n) for n in shape_out)
    if len(shape_out) != 2 or min(shape_out) < 1:
        raise ValueError(f"shape_out must be (ny, nx) with positive sizes, got {shape_out!r}")
    wcs_out = wcs_out.deepcopy()
    wcs_out.pixel_shape = (shape_out[1], shape_out[0])
    channels, masks, units = [], [], []
    for img, data, wcs in prepared:
        out, mask = _reproject(data, wcs, wcs_out, shape_out, method=method, order=order,
                               conserve_flux=conserve_flux)
        channels.append(out)
        masks.append(mask)
        units.append(img.unit)
    unit = units[0] if all(un == units[0] for un in units) else None
    return NDData(np.stack(channels), wcs=wcs_out, mask=np.stack(masks), unit=unit,
                  meta={"units": units, "method": method, "conserve_flux": conserve_flux})


def resample_to_pixel_scale(image, pixel_scale, *, method="interp", order="bilinear", conserve_flux=False):
    """Reproject an image to a given pixel scale over the same field (same centre and projection).

    Use it to match what a model was trained on, e.g. so that a radio beam
    spans the number of pixels a detector expects:
    ``pixel_scale = bmaj / n_pixels`` with ``bmaj = header['BMAJ'] * u.deg``.

    Parameters
    ----------
    image : anything `~astrofmx.io.load_image` accepts
        With a celestial WCS.
    pixel_scale : `~astropy.units.Quantity`
        Target angular size of a pixel (a scalar, or ``(y, x)``).
    method, order, conserve_flux
        As in `align_images` (by default surface brightness, e.g. Jy/beam,
        is preserved).

    Returns
    -------
    image : `~astropy.nddata.NDData`
        float32 2-D data on a grid of exactly ``pixel_scale`` pixels, centred
        on the input and covering its field (size rounded up), the new WCS, mask, the input unit, ``meta['header']``
        (the input header) and ``meta['pixel_mapping']``: the `PixelMapping` from new to old pixels
        (exact for the linear part of the projection).

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.datasets import get_bundled_path
    >>> from astrofmx.preprocess import resample_to_pixel_scale
    >>> out = resample_to_pixel_scale(get_bundled_path("1904-66_SIN.fits"), 8 * u.arcmin)
    >>> out.data.shape, out.unit
    ((96, 96), Unit("Jy / beam"))
    """
    img, data, wcs = _prepare_input(image, 0)
    if not isinstance(pixel_scale, u.Quantity) or pixel_scale.unit.physical_type != "angle":
        raise TypeError(f"pixel_scale must be an angle Quantity such as 2 * u.arcsec, got {pixel_scale!r}")
    target = np.broadcast_to(pixel_scale.to_value(u.deg), (2,)).astype(float)[::-1]  # (x, y)
    if not np.all(target > 0):
        raise ValueError(f"pixel_scale must be positive, got {pixel_scale!r}")
    current = proj_plane_pixel_scales(wcs)  # deg per pixel along x, y
    fx, fy = current / target
    ny, nx = data.shape
    shape_out = (max(1, int(math.ceil(ny * fy - 1e-6))), max(1, int(math.ceil(nx * fx - 1e-6))))
    # exact pixel scale; the new grid is centred on the old one (it covers the field, rounded up)
    mapping = PixelMapping(fx, fy, nx / 2 - shape_out[1] / (2 * fx), ny / 2 - shape_out[0] / (2 * fy))
    lin = wcs.deepcopy()
    lin.sip = None
    lin.cpdis1 = lin.cpdis2 = lin.det2im1 = lin.det2im2 = None
    wcs_out = mapping.model_wcs(lin, shape=shape_out)
    out, mask = _reproject(data, wcs, wcs_out, shape_out, method=method, order=order,
                           conserve_flux=conserve_flux)
    if mask.all():
        raise ValueError("the resampled image has no valid pixel")
    meta = {"header": img.meta, "pixel_mapping": mapping}
    return NDData(out, wcs=wcs_out, mask=mask, unit=img.unit, meta=meta)
