"""Measuring the footprints of one layer with `photutils.segmentation.SourceCatalog`."""

import warnings

import numpy as np

__all__ = []

#: FWHM of a Gaussian in units of its standard deviation, 2 sqrt(2 ln 2).
_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: The largest isophotal correction `_isocor` applies (threshold at 3/4 of the peak).
_MAX_ISOCOR = 4.0

_KEYS = ("x_moment", "y_moment", "x_quad", "y_quad", "x_win", "y_win", "x_gauss", "y_gauss", "var_x", "var_y",
         "segment_flux", "segment_flux_err", "kron_flux", "kron_flux_err", "peak", "semimajor", "semiminor",
         "orientation", "area")


def _empty(n):
    return {key: np.full(n, np.nan) for key in _KEYS}


def _measure_layers(sub, rms, invalid, footprints, ranges, *, kron=False, centroid="quad"):
    """SourceCatalog measurements of every footprint (NaN for boxes without one), as a dict of arrays.

    The Kron flux only with ``kron``; the quadratic peak centroid only for ``centroid='quad'`` and the
    windowed one only for ``'win'`` (NaN otherwise: each is a per-source computation in photutils, 10% of the
    measurement for the quadratic centroid).
    """
    out = _empty(len(ranges))
    for k, layer in enumerate(footprints.layers):
        rows = np.nonzero(footprints.layer == k)[0]
        x0, y0 = int(ranges[rows, 0].min()), int(ranges[rows, 2].min())
        x1, y1 = int(ranges[rows, 1].max()), int(ranges[rows, 3].max())
        window = (slice(y0, y1), slice(x0, x1))
        values = _measure_window(sub[window], rms[window], invalid[window], layer[window], kron=kron,
                                centroid=centroid)
        labels = values.pop("label")
        for key, val in values.items():
            out[key][labels - 1] = val + (x0 if key.startswith("x_") else y0 if key.startswith("y_") else 0)
    out["var_x"], out["var_y"] = _centroid_variance(footprints.pixels, rms, out)
    return out


def _measure_window(sub, rms, invalid, labels, *, kron=False, centroid="quad"):
    from photutils.segmentation import SegmentationImage, SourceCatalog

    segm = SegmentationImage(labels)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(invalid value|NaN|masked|divide).*")
        cat = SourceCatalog(sub, segm, error=rms, mask=invalid, progress_bar=False)
        values = {"label": np.asarray(cat.labels),
                  "x_moment": _plain(cat.x_centroid), "y_moment": _plain(cat.y_centroid),
                  "segment_flux": _plain(cat.segment_flux), "segment_flux_err": _plain(cat.segment_flux_err),
                  "peak": _plain(cat.max_value),
                  "semimajor": _FWHM_PER_SIGMA * _plain(cat.semimajor_axis),
                  "semiminor": _FWHM_PER_SIGMA * _plain(cat.semiminor_axis),
                  "orientation": _plain(cat.orientation), "area": _plain(cat.area)}
        if centroid != "moment":  # photutils' x_centroid_quad / x_centroid_win, ...
            for axis in ("x", "y"):
                values[f"{axis}_{centroid}"] = _plain(getattr(cat, f"{axis}_centroid_{centroid}"))
        if kron:
            values["kron_flux"], values["kron_flux_err"] = _plain(cat.kron_flux), _plain(cat.kron_flux_err)
    return values


def _plain(values):
    """A float array from a (possibly Quantity or masked) photutils property."""
    values = getattr(values, "value", values)
    return np.asarray(np.ma.filled(values, np.nan) if np.ma.isMaskedArray(values) else values, dtype=float)


def _centroid_variance(pixels, rms, values):
    """Variance of the flux-weighted centroid from the pixel noise: sum(rms**2 (x - xc)**2) / flux**2.

    photutils gives no centroid error; this is the standard propagation of the
    pixel errors through the first moment (SExtractor's ERRX2_IMAGE).
    """
    yy, xx, k = pixels
    n = len(values["segment_flux"])
    var = rms[yy, xx].astype(float) ** 2
    flux2 = values["segment_flux"] ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return [np.bincount(k, weights=var * (pos - cen[k]) ** 2, minlength=n) / flux2
                for pos, cen in ((xx, values["x_moment"]), (yy, values["y_moment"]))]


def _isocor(flux, peak, threshold):
    """Isophotal flux corrected for the wings below the threshold, as for a Gaussian profile.

    Inside its isophote at level ``T`` a Gaussian of peak ``P`` holds the
    fraction ``1 - T / P`` of its flux (SExtractor's FLUX_ISOCOR for
    point-like sources), so the total is ``flux / (1 - T / P)``; the factor is
    at most `_MAX_ISOCOR`.  Returns the factor.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = 1.0 - threshold / peak
    return 1.0 / np.clip(frac, 1.0 / _MAX_ISOCOR, 1.0)
