"""What the classical finders share: parameter checks, defaults, renamed arguments and the catalog."""

import logging

import astropy.units as u
import numpy as np
from astropy.utils.decorators import deprecated_renamed_argument

from ..io import make_source_catalog
from ..measure import MEASURE_COLUMNS, measure_sources

__all__ = []

logger = logging.getLogger(__name__)

_RENAMED_SINCE = "0.2"  # photutils 3.0's names: nsigma -> n_sigma, npixels -> n_pixels, nlevels -> n_levels


def _renamed(**old_to_new):
    """Accept the pre-photutils-3.0 names ``old_to_new`` for one release, with a DeprecationWarning."""
    old, new = list(old_to_new), list(old_to_new.values())
    return deprecated_renamed_argument(old, new, [_RENAMED_SINCE] * len(old), warning_type=DeprecationWarning)


def _check_positive(name, value, *, integer=False, allow_zero=False):
    if value is None:
        return
    bad = not np.isscalar(value) or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero)
    if integer and not bad:
        bad = int(value) != value
    if bad:
        kind = "a positive integer" if integer else "a positive number"
        kind = "zero or " + kind if allow_zero else kind
        raise ValueError(f"{name} must be {kind}, got {value!r}")


def _default_box(data_shape, beam):
    """Background mesh size: ~10 beams for radio images, 64 px otherwise, at most a third of the image."""
    box = int(round(10 * beam[0])) if beam is not None else 64
    return int(max(8, min(box, min(data_shape) // 3 or 1)))


def _check_box(box, data_shape):
    if box > min(data_shape):
        raise ValueError(f"background_box must not exceed the image size {data_shape}, got {box}")


def _image_meta(wcs, beam):
    meta = {}
    if beam is not None:
        meta["beam_fwhm_pix"] = [round(beam[0], 4), round(beam[1], 4), round(beam[2], 4)]
    meta["has_wcs"] = wcs is not None
    return meta


def _finder_catalog(boxes, centroids, wcs, finder, meta, columns):
    """`~astrofmx.io.make_source_catalog` of ``boxes`` plus the finder's own ``columns`` (name -> values)."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    cat = make_source_catalog(boxes, centroids=centroids if len(boxes) else None, wcs=wcs, finder=finder,
                              meta=meta)
    for name, values in columns.items():
        cat[name] = values
    return cat


def _header_beam(header, wcs):
    """The restoring beam (`radio_beam.Beam`) of ``header`` (`astrofmx.io.read_beam`), or None."""
    if wcs is None or header is None or len(header) == 0:
        return None
    from ..io import read_beam

    return read_beam(header)


def _header_unit(header):
    """The pixel unit from BUNIT, or None when absent or not understood."""
    from ..io import parse_bunit

    return parse_bunit(header.get("BUNIT")) if header is not None else None


def _measure(cat, sub, mask, wcs, header, rms):
    """`~astrofmx.measure.measure_sources` in the boxes of ``cat`` on the background-subtracted ``sub``."""
    boxes = np.stack([np.asarray(cat[c].value if hasattr(cat[c], "value") else cat[c], dtype=float)
                      for c in ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")], axis=1).reshape(-1, 4)
    return measure_sources(sub, boxes, mask=mask, background=0.0, rms=rms, beam=_header_beam(header, wcs),
                           wcs=wcs, unit=_header_unit(header))


def _as_flux(values, measured):
    """A finder's own pixel-sum fluxes in the units of `measure_sources`' ``flux`` (Jy for Jy/beam images)."""
    values = np.asarray(values, dtype=float)
    area = measured.meta["measure"]["beam_area_pix"]
    unit = getattr(measured["flux"], "unit", None)
    if area is not None and unit is not None and unit.is_equivalent(u.Jy):
        values = values / area
    return values * unit if unit is not None else values


def _as_peak(values, measured):
    """A finder's own peak values in the units of `measure_sources`' ``peak``."""
    unit = getattr(measured["peak"], "unit", None)
    values = np.asarray(values, dtype=float)
    return values * unit if unit is not None else values


def _set_core_columns(cat, measured, own=None):
    """Add `~astrofmx.measure.MEASURE_COLUMNS` to ``cat``: the finder's ``own`` values, else ``measured``.

    The positions stay the finder's own; ``peak_snr`` follows the finder's
    own ``peak`` when it has one.
    """
    own = dict(own or {})
    if "peak" in own and "peak_snr" not in own:
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = own["peak"] / measured["peak_err"]
        own["peak_snr"] = snr.to_value(u.dimensionless_unscaled) if isinstance(snr, u.Quantity) else snr
    for name in MEASURE_COLUMNS:
        if name in ("x_centroid", "y_centroid", "sky_centroid"):
            continue
        cat[name] = own[name] if name in own else measured[name]
    if "area" not in cat.colnames:
        cat["area"] = measured["area"]
    cat.meta["measure"] = measured.meta["measure"]
    return cat
