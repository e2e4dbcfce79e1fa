"""The inputs of `measure_sources`: pixels, mask, WCS, unit, beam and the background and rms maps."""

import logging

import astropy.units as u
import numpy as np

__all__ = []

logger = logging.getLogger(__name__)


def _load(image, mask, wcs, unit, hdu):
    """``(data, invalid, wcs, unit)``: float32 2-D pixels, bool mask of unusable pixels, celestial WCS or None."""
    from ..io import load_image

    if isinstance(image, u.Quantity):
        unit = image.unit if unit is None else unit
        image = image.value
    nd = load_image(image, hdu=hdu)
    data = np.asarray(nd.data, dtype=np.float32)
    invalid = ~np.isfinite(data)
    if nd.mask is not None:
        invalid |= np.asarray(nd.mask, dtype=bool)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask must have the image shape {data.shape}, got shape {mask.shape}")
        invalid |= mask
    wcs = nd.wcs if wcs is None else wcs
    if wcs is not None and not getattr(wcs, "has_celestial", False):
        wcs = None
    elif wcs is not None:
        wcs = wcs.celestial
    unit = _as_unit(nd.unit if unit is None else unit)
    return data, invalid, wcs, unit


def _as_unit(unit):
    if unit is None or isinstance(unit, u.UnitBase):
        return unit
    from ..io import parse_bunit

    parsed = parse_bunit(str(unit)) if isinstance(unit, str) else None
    if parsed is None:
        raise ValueError(f"unit must be an astropy unit or a string astropy can parse, got {unit!r}")
    return parsed


def _beam_area_pixels(beam, wcs):
    """Beam solid angle in pixels (``beam.sr`` over the pixel area of ``wcs``), or None without a beam."""
    if beam is None:
        return None
    import radio_beam

    if not isinstance(beam, radio_beam.Beam):
        raise TypeError(f"beam must be a radio_beam.Beam or None, got {type(beam).__name__}: {beam!r}")
    if wcs is None:
        raise ValueError(f"beam={beam!r} needs a celestial wcs to convert it to pixels; pass wcs=")
    from astropy.wcs.utils import proj_plane_pixel_area

    area = float((beam.sr / (proj_plane_pixel_area(wcs) * u.deg**2)).decompose())
    if not np.isfinite(area) or area <= 0:
        raise ValueError(f"beam={beam!r} gives a beam area of {area} pixels")
    return area


def _map(name, value, shape, unit):
    """A scalar or image-shaped background/rms as a float32 array of the image shape."""
    if isinstance(value, u.Quantity):
        value = value.to_value(unit) if unit is not None else value.value
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        return np.full(shape, arr, dtype=np.float32)
    if arr.shape != shape:
        raise ValueError(f"{name} must be a scalar or have the image shape {shape}, got shape {arr.shape}")
    return arr


def _background(data, invalid, background, rms, box_size):
    """Background and rms maps: the given ones, the rest from `~astrofmx.preprocess.estimate_background_mesh`."""
    if background is None or rms is None:
        from ..preprocess import estimate_background_mesh

        mesh = estimate_background_mesh(data, invalid, box_size=box_size)
        mesh_bkg, mesh_rms = mesh.maps()
        background = mesh_bkg if background is None else background
        rms = mesh_rms if rms is None else rms
    return background, rms


def _default_box_size(shape, beam_area):
    """Background mesh: ~10 beams across for radio images, 64 pixels otherwise, at most the image."""
    size = 64 if beam_area is None else int(round(10 * np.sqrt(beam_area / 1.1331)))
    return int(max(8, min(size, *shape)))
