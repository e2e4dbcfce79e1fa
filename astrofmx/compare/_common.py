"""What the classical finders share: parameter checks, defaults, renamed arguments and the catalog."""

import numpy as np
from astropy.utils.decorators import deprecated_renamed_argument

from ..io import make_source_catalog

__all__ = []

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
