"""Resampling by a factor (e.g. 2x, or 64 px -> 224 px) that keeps the model-to-original pixel mapping."""

import dataclasses

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData

__all__ = ["PixelMapping", "resample_image", "upscale"]

_MODES = {"nearest": "nearest-exact", "bilinear": "bilinear", "bicubic": "bicubic", "area": "area"}


def _pair(value, name):
    if np.ndim(value) == 0:
        return float(value), float(value)
    vals = tuple(float(v) for v in value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be a number or a (y, x) pair, got {value!r}")
    return vals


@dataclasses.dataclass(frozen=True)
class PixelMapping:
    """Affine map between model-grid pixels and original-image pixels.

    Both grids use astropy's pixel-centre convention: 0-based, the centre of
    the first pixel at (0, 0), its edges at -0.5 and 0.5. A model pixel
    ``(x, y)`` lies at ``((x + 0.5) / scale_x - 0.5 + x0, (y + 0.5) /
    scale_y - 0.5 + y0)`` in the original image. This is exactly the
    geometry of `torch.nn.functional.interpolate` with
    ``align_corners=False``, used by `resample_image` and
    `~astrofmx.preprocess.to_model_input`, so the map is exact, not
    approximate.

    Attributes
    ----------
    scale_x, scale_y : float
        Model pixels per original pixel (2.0 for a 2x upscale; 224/64 for a
        64 px cutout resized to 224 px).
    x0, y0 : float
        Position in the original image of the region that was resampled
        (e.g. a tile's offset): the original pixel ``(x0, y0)`` is where the
        resampled region starts.

    Examples
    --------
    >>> from astrofmx.preprocess import PixelMapping
    >>> m = PixelMapping(scale_x=2.0, scale_y=2.0, x0=100, y0=50)
    >>> m.to_original(0.5, 0.5)  # the corner between the first 2x2 model pixels
    (100.0, 50.0)
    >>> m.to_model(*m.to_original(13.25, 7.0))
    (13.25, 7.0)
    """

    scale_x: float = 1.0
    scale_y: float = 1.0
    x0: float = 0.0
    y0: float = 0.0

    def __post_init__(self):
        for name in ("scale_x", "scale_y"):
            val = getattr(self, name)
            if not (np.isfinite(val) and val > 0):
                raise ValueError(f"{name} must be a positive number, got {val!r}")
            object.__setattr__(self, name, float(val))
        object.__setattr__(self, "x0", float(self.x0))
        object.__setattr__(self, "y0", float(self.y0))

    def to_original(self, x, y):
        """Model-grid pixel coordinates -> original-image pixel coordinates (floats or arrays)."""
        xo = (np.asarray(x, dtype=float) + 0.5) / self.scale_x - 0.5 + self.x0
        yo = (np.asarray(y, dtype=float) + 0.5) / self.scale_y - 0.5 + self.y0
        return (float(xo), float(yo)) if xo.ndim == 0 and yo.ndim == 0 else (xo, yo)

    def to_model(self, x, y):
        """Original-image pixel coordinates -> model-grid pixel coordinates (inverse of `to_original`)."""
        xm = (np.asarray(x, dtype=float) - self.x0 + 0.5) * self.scale_x - 0.5
        ym = (np.asarray(y, dtype=float) - self.y0 + 0.5) * self.scale_y - 0.5
        return (float(xm), float(ym)) if xm.ndim == 0 and ym.ndim == 0 else (xm, ym)

    def boxes_to_original(self, boxes, *, convention="center"):
        """Map ``(N, 4)`` boxes ``(xmin, ymin, xmax, ymax)`` from the model grid to the original image.

        Parameters
        ----------
        boxes : array-like, shape (N, 4)
            Boxes on the model grid.
        convention : {'center', 'edge'}, optional
            ``'center'``: the boxes use the pixel-centre convention (the
            image spans -0.5 to W-0.5, as astropy and the astrofmx catalogs).
            ``'edge'``: the image spans 0 to W (torchvision boxes).

        Returns
        -------
        boxes : `~numpy.ndarray`, shape (N, 4)
            In the original image, always in the pixel-centre convention (what
            `~astrofmx.io.make_source_catalog` expects).
        """
        b = _as_boxes(boxes)
        if convention == "edge":
            b = b - 0.5
        elif convention != "center":
            raise ValueError(f"convention must be 'center' or 'edge', got {convention!r}")
        xmin, ymin = self.to_original(b[:, 0], b[:, 1])
        xmax, ymax = self.to_original(b[:, 2], b[:, 3])
        return np.stack([xmin, ymin, xmax, ymax], axis=1)

    def boxes_to_model(self, boxes):
        """Map ``(N, 4)`` boxes from the original image to the model grid (pixel-centre convention)."""
        b = _as_boxes(boxes)
        xmin, ymin = self.to_model(b[:, 0], b[:, 1])
        xmax, ymax = self.to_model(b[:, 2], b[:, 3])
        return np.stack([xmin, ymin, xmax, ymax], axis=1)

    def then(self, outer):
        """Chain two mappings: ``self`` maps model -> intermediate, ``outer`` intermediate -> original.

        Examples
        --------
        >>> from astrofmx.preprocess import PixelMapping
        >>> up = PixelMapping(2.0, 2.0)                     # a 2x upscale of a tile...
        >>> tile = PixelMapping(1.0, 1.0, x0=512, y0=0)    # ...that starts at x = 512
        >>> up.then(tile)
        PixelMapping(scale_x=2.0, scale_y=2.0, x0=512.0, y0=0.0)
        """
        if not isinstance(outer, PixelMapping):
            raise TypeError(f"outer must be a PixelMapping, got {type(outer).__name__}")
        return PixelMapping(self.scale_x * outer.scale_x, self.scale_y * outer.scale_y,
                            self.x0 / outer.scale_x + outer.x0, self.y0 / outer.scale_y + outer.y0)

    def to_sky(self, x, y, wcs):
        """Model-grid pixel coordinates -> `~astropy.coordinates.SkyCoord` through the original image's WCS."""
        from ..io import require_celestial_wcs

        wcs = require_celestial_wcs(wcs, purpose="sky positions of model pixels")
        return wcs.pixel_to_world(*self.to_original(x, y))

    def from_sky(self, skycoord, wcs):
        """`~astropy.coordinates.SkyCoord` -> model-grid pixel coordinates ``(x, y)``."""
        from ..io import require_celestial_wcs

        wcs = require_celestial_wcs(wcs, purpose="model pixels of sky positions")
        return self.to_model(*wcs.world_to_pixel(skycoord))

    def model_wcs(self, wcs, shape=None):
        """The WCS of the model grid, derived from the original image's WCS.

        Parameters
        ----------
        wcs : `~astropy.wcs.WCS`
            2-D WCS of the original image (without SIP or lookup-table
            distortions, which live in original pixels).
        shape : tuple of int, optional
            ``(ny, nx)`` of the model grid, stored as ``pixel_shape``.

        Returns
        -------
        wcs : `~astropy.wcs.WCS`
        """
        if wcs.naxis != 2:
            raise ValueError(f"wcs must be 2-D, got {wcs.naxis} axes")
        if wcs.sip is not None or wcs.cpdis1 is not None or wcs.cpdis2 is not None or wcs.det2im1 is not None:
            raise ValueError("cannot rescale a WCS with SIP or lookup-table distortions; map model pixels with "
                             "to_original() and use the original WCS instead")
        out = wcs.deepcopy()
        s = np.array([self.scale_x, self.scale_y])
        off = np.array([self.x0, self.y0])
        out.wcs.crpix = (np.asarray(wcs.wcs.crpix) - 0.5 - off) * s + 0.5
        if out.wcs.has_cd():
            out.wcs.cd = np.asarray(wcs.wcs.cd) / s[None, :]
        else:
            out.wcs.pc = np.asarray(wcs.wcs.get_pc()) / s[None, :]
        out.wcs.set()
        if shape is not None:
            out.pixel_shape = (int(shape[1]), int(shape[0]))
        return out


def _as_boxes(boxes):
    b = np.asarray(boxes, dtype=float)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as (xmin, ymin, xmax, ymax), got shape {b.shape}")
    return b


def _out_shape(in_shape, factor, size):
    if (factor is None) == (size is None):
        raise ValueError("give exactly one of factor= and size=")
    if size is not None:
        oy, ox = (size, size) if np.ndim(size) == 0 else tuple(size)
        if int(oy) != oy or int(ox) != ox or oy < 1 or ox < 1:
            raise ValueError(f"size must be a positive int or (height, width), got {size!r}")
        return int(oy), int(ox)
    fy, fx = _pair(factor, "factor")
    if not (fy > 0 and fx > 0 and np.isfinite(fy) and np.isfinite(fx)):
        raise ValueError(f"factor must be positive, got {factor!r}")
    return max(1, int(round(in_shape[0] * fy))), max(1, int(round(in_shape[1] * fx)))


def _interpolate(tensor, out_shape, interpolation, antialias):
    import torch.nn.functional as F

    if interpolation not in _MODES:
        raise ValueError(f"interpolation must be one of {sorted(_MODES)}, got {interpolation!r}")
    mode = _MODES[interpolation]
    kwargs = {}
    if mode in ("bilinear", "bicubic"):
        kwargs = {"align_corners": False, "antialias": bool(antialias)}
    return F.interpolate(tensor, size=out_shape, mode=mode, **kwargs)


def resample_image(data, *, factor=None, size=None, interpolation="bilinear", antialias=True):
    """Resample an image by a factor or to a size, returning the exact pixel mapping.

    Parameters
    ----------
    data : `~numpy.ndarray`, `torch.Tensor` or `~astropy.nddata.NDData`
        2-D ``(H, W)`` or ``(C, H, W)``. NaN pixels spread to their
        neighbours under interpolation: fill them first (normalizers do).
    factor : float or (float, float), optional
        Scale factor (``(fy, fx)`` for different axes); the output size is
        the input size times the factor, rounded.
    size : int or (int, int), optional
        Output ``(height, width)`` (an int for a square).
    interpolation : {'bilinear', 'bicubic', 'nearest', 'area'}, optional
        ``'nearest'`` uses PyTorch's ``'nearest-exact'`` (pixel-centre
        correct).
    antialias : bool, optional
        Low-pass filter when shrinking (bilinear/bicubic).

    Returns
    -------
    resampled : same type as ``data``
        float32. For `~astropy.nddata.NDData` the WCS is rescaled to the new
        grid (`PixelMapping.model_wcs`), the mask resampled (a new pixel is
        masked if any masked pixel contributes to it), and ``meta`` holds
        ``'header'`` (the input header) and ``'pixel_mapping'``.
    mapping : `PixelMapping`
        From the new grid to the input pixels; ``scale_x`` is the actual
        ``new_width / old_width``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import resample_image
    >>> img = np.zeros((64, 64), dtype=np.float32)
    >>> out, mapping = resample_image(img, size=224)
    >>> out.shape, round(mapping.scale_x, 4)
    ((224, 224), 3.5)
    """
    import torch

    if isinstance(data, NDData):
        arr = np.asarray(data.data, dtype=np.float32)
        out, mapping = resample_image(arr, factor=factor, size=size, interpolation=interpolation,
                                      antialias=antialias)
        mask = None
        if data.mask is not None:
            m = np.asarray(data.mask, dtype=np.float32)
            mres, _ = resample_image(m, size=out.shape[-2:], interpolation="bilinear", antialias=False)
            mask = mres > 0
        wcs = None
        if data.wcs is not None:
            wcs = mapping.model_wcs(data.wcs, shape=out.shape[-2:])
        header = data.meta if isinstance(data.meta, fits.Header) else (data.meta or {}).get("header")
        meta = {"header": header, "pixel_mapping": mapping}
        return NDData(out, wcs=wcs, mask=mask, unit=data.unit, meta=meta), mapping
    is_tensor = isinstance(data, torch.Tensor)
    t = data if is_tensor else torch.from_numpy(np.ascontiguousarray(np.asarray(data, dtype=np.float32)))
    if t.ndim not in (2, 3):
        raise ValueError(f"data must be 2-D (H, W) or 3-D (C, H, W), got shape {tuple(t.shape)}")
    in_shape = tuple(t.shape[-2:])
    out_shape = _out_shape(in_shape, factor, size)
    batch = t.reshape(1, -1, *in_shape).to(torch.float32)
    res = _interpolate(batch, out_shape, interpolation, antialias)
    res = res.reshape(*t.shape[:-2], *out_shape)
    mapping = PixelMapping(out_shape[1] / in_shape[1], out_shape[0] / in_shape[0])
    if is_tensor:
        return res, mapping
    return res.numpy(), mapping


def upscale(data, factor, *, interpolation="bilinear", antialias=True):
    """Upscale an image by ``factor`` (the paper upsampled MGCLS crops 2x); see `resample_image`.

    Parameters
    ----------
    data : array-like
        2-D image or ``(C, H, W)`` stack.
    factor : float
        Scale factor (> 1 enlarges).
    interpolation : {'bilinear', 'bicubic', 'nearest', 'area'}, optional
        As in `resample_image`.
    antialias : bool, optional
        As in `resample_image`.

    Returns
    -------
    out : `~numpy.ndarray`
        The resampled image.
    mapping : `PixelMapping`
        Maps positions between ``out`` and ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import upscale
    >>> out, mapping = upscale(np.ones((100, 80), dtype=np.float32), 2)
    >>> out.shape, mapping.to_original(1.5, 1.5)
    ((200, 160), (0.5, 0.5))
    """
    return resample_image(data, factor=factor, interpolation=interpolation, antialias=antialias)
