"""The PSF or restoring beam of an image, measured on its bright, isolated, unsaturated compact sources."""

import dataclasses
import logging
import math

import numpy as np

__all__ = ["PSFEstimate", "estimate_psf"]

logger = logging.getLogger(__name__)

_GAUSS_AREA = math.pi / (4.0 * math.log(2.0))  # integral of a unit-peak Gaussian over FWHM_x * FWHM_y

#: narrowest FWHM (px) of a fitted source counted as a PSF: hot pixels and cosmic-ray hits fit 0.3-0.8 px,
#: and even undersampled space-telescope PSFs (HST WFC3/IR: 1.2 px) are wider
_MIN_FWHM = 1.0

#: `_half_max_size` of a one-pixel region, 2 / sqrt(pi), with some margin
_ONE_PIXEL_SIZE = 1.2

#: sources fitted at a time, and the compact sources that agree on a size after which fitting stops
_CHUNK, _ENOUGH = 16, 12


@dataclasses.dataclass(frozen=True)
class PSFEstimate:
    """The PSF (or beam) of an image as a 2-D Gaussian, in pixels.

    Attributes
    ----------
    major, minor : float
        FWHM of the major and minor axes in pixels.
    theta : float
        Angle of the major axis in degrees, counter-clockwise from the +x
        pixel axis, in [0, 180).
    n_sources : int
        Number of sources the medians were taken over.

    Examples
    --------
    >>> from astrofmx.measure import PSFEstimate
    >>> psf = PSFEstimate(major=6.0, minor=1.5, theta=30.0, n_sources=12)
    >>> psf.fwhm, psf.axis_ratio
    (3.0, 4.0)
    """

    major: float
    minor: float
    theta: float
    n_sources: int

    @property
    def fwhm(self):
        """Geometric mean FWHM ``sqrt(major * minor)`` in pixels."""
        return math.sqrt(self.major * self.minor)

    @property
    def axis_ratio(self):
        """``major / minor`` (1 for a round PSF)."""
        return self.major / self.minor


def _odd(n):
    n = int(math.ceil(n))
    return n + 1 if n % 2 == 0 else n


def _as_arrays(data, mask, max_size):
    """``(float32 data, bad-pixel mask)``: at most ``max_size`` square from the centre of the image, through
    its `~astrofmx.preprocess.PixelScale` (a power of two near the noise, as every astrofmx step reads pixels),
    so that images at any intensity scale, 1e-300 or near FLT_MAX, give the same PSF."""
    from ..preprocess import PixelScale

    if hasattr(data, "data") and hasattr(data, "mask") and not isinstance(data, np.ndarray):  # NDData
        mask = data.mask if mask is None else mask
        data = data.data
    if len(getattr(data, "shape", ())) != 2:
        raise ValueError(f"data must be a 2-D image, got shape {getattr(data, 'shape', None)}")
    ny, nx = data.shape
    y0, x0 = max(0, (ny - max_size) // 2), max(0, (nx - max_size) // 2)
    window = (slice(y0, y0 + max_size), slice(x0, x0 + max_size))
    stored = np.asarray(data[window])  # a memory-mapped image is read only here
    if mask is not None:
        mask = np.asarray(mask[window] if np.shape(mask) == (ny, nx) else mask, dtype=bool)
        if mask.shape != stored.shape:
            raise ValueError(f"mask must have the shape of data {data.shape}, got {np.shape(mask)}")
    arr = PixelScale.from_data(stored, mask).apply(stored)
    bad = ~np.isfinite(arr)
    if mask is not None:
        bad |= mask
    return arr, bad


def _half_max_size(img, y, x, radius=32):
    """FWHM (px) of the connected region above half the peak at (y, x), or NaN when it reaches the window."""
    from scipy import ndimage

    y0, x0 = max(0, y - radius), max(0, x - radius)
    cut = img[y0:y + radius + 1, x0:x + radius + 1]
    labels, _ = ndimage.label(cut >= 0.5 * img[y, x])
    region = labels == labels[y - y0, x - x0]
    rows, cols = np.nonzero(region)
    if rows.min() == 0 or cols.min() == 0 or rows.max() == cut.shape[0] - 1 or cols.max() == cut.shape[1] - 1:
        return np.nan
    return 2.0 * math.sqrt(region.sum() / math.pi)


def _peaks(img, bad, threshold, box):
    """``(y, x, value)`` of the local maxima above ``threshold``, brightest first (`photutils.detection.find_peaks`)."""
    import warnings

    from photutils.detection import find_peaks
    from photutils.utils import NoDetectionsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        table = find_peaks(img, threshold=threshold, box_size=max(3, _odd(box)), mask=bad)
    if table is None:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    order = np.argsort(-np.asarray(table["peak_value"]))
    return (np.asarray(table["y_peak"])[order], np.asarray(table["x_peak"])[order],
            np.asarray(table["peak_value"], dtype=float)[order])


def _first_guess(img, ys, xs, n=30):
    """Median half-maximum FWHM of the ``n`` brightest peaks: the scale of the fit boxes.

    Peaks whose half-maximum region is a single pixel (hot pixels, cosmic-ray hits: often the brightest
    peaks of an optical frame) are left out when at least 3 others remain; counting them had given 1.1-px
    guesses, and so fit boxes too small for the stars, on simulated 2.5-5.5 px PSFs.
    """
    sizes = np.array([_half_max_size(img, y, x) for y, x in zip(ys[:n], xs[:n])])
    sizes = sizes[np.isfinite(sizes)]
    wider = sizes[sizes > _ONE_PIXEL_SIZE]
    if len(wider) >= 3:
        sizes = wider
    return float(np.median(sizes)) if len(sizes) else 3.0


def _select(img, bad, ys, xs, vs, faint, half, max_sources, skip_single=False):
    """Indices of the peaks that are unsaturated, away from edges and masked pixels, and isolated; with
    ``skip_single``, not a single pixel above half their peak (hot pixels, cosmic-ray hits)."""
    ny, nx = img.shape
    vmax = float(np.max(img[~bad]))
    saturated_level = vmax if np.count_nonzero(img == vmax) > 1 else np.inf
    fy, fx, fv = faint
    keep = []
    for i, (y, x, v) in enumerate(zip(ys, xs, vs)):
        if y < half or x < half or y >= ny - half or x >= nx - half:
            continue
        if bad[y - half:y + half + 1, x - half:x + half + 1].any():
            continue
        core = img[max(0, y - 1):y + 2, max(0, x - 1):x + 2]
        if v >= saturated_level or np.count_nonzero(core == v) > 1:  # clipped or flat-topped
            continue
        d2 = (fy - y) ** 2 + (fx - x) ** 2
        near = (d2 > 0) & (d2 <= (1.5 * half) ** 2) & (fv > 0.1 * v)
        if near.any():
            continue
        if skip_single and not _half_max_size(img, y, x) > _ONE_PIXEL_SIZE:
            continue
        keep.append(i)
        if len(keep) == max_sources:
            break
    return np.asarray(keep, dtype=int)


def _fit(img, ys, xs, vs, guess, fit_size):
    """``(major, minor, theta)`` arrays of elliptical Gaussians fitted with `photutils.psf.PSFPhotometry`."""
    import warnings

    from astropy.modeling.fitting import LevMarLSQFitter, NonFiniteValueError
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.psf import GaussianPSF, PSFPhotometry

    psf = GaussianPSF(x_fwhm=guess, y_fwhm=guess)
    for name in ("x_fwhm", "y_fwhm", "theta"):
        getattr(psf, name).fixed = False
    init = Table({"x": xs.astype(float), "y": ys.astype(float), "flux": vs * _GAUSS_AREA * guess ** 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        # Levenberg-Marquardt (MINPACK): the same PSFs as photutils' default trust-region fitter in about half
        # the time; where its unbounded steps diverge (seen once during development, on cosmic-ray peaks), the
        # bounded default fits that group again
        shape = (fit_size, fit_size)
        try:
            result = PSFPhotometry(psf, fit_shape=shape, fitter=LevMarLSQFitter())(img, init_params=init)
        except NonFiniteValueError:
            result = PSFPhotometry(psf, fit_shape=shape)(img, init_params=init)
    fx, fy = np.abs(np.asarray(result["x_fwhm_fit"], float)), np.abs(np.asarray(result["y_fwhm_fit"], float))
    theta = np.asarray(result["theta_fit"], float)
    ok = (np.asarray(result["flags"]) == 0) & np.isfinite(fx) & np.isfinite(fy) & (np.minimum(fx, fy) >= _MIN_FWHM)
    ok &= np.maximum(fx, fy) < fit_size
    major, minor = np.maximum(fx, fy), np.minimum(fx, fy)
    theta = np.where(fx >= fy, theta, theta + 90.0) % 180.0
    return major[ok], minor[ok], theta[ok]


def _candidates(img, bad, threshold, faint_threshold, guess, max_sources):
    """``((y, x, value) of the peaks above threshold, indices of those to fit, fit-box half size)`` for a
    first FWHM ``guess`` (px).

    Where the PSF spans more than a pixel, one-pixel peaks are hot pixels and cosmic rays, which are often the
    brightest of an optical frame: they are not chosen (they had filled the fitted sources of the simulated
    optical fields).
    """
    half = max(3, int(math.ceil(1.5 * guess)))
    faint = _peaks(img, bad, faint_threshold, max(3, guess))
    peaks = _peaks(img, bad, threshold, max(3, guess))
    chosen = _select(img, bad, *peaks, faint, half, max_sources, skip_single=guess > _ONE_PIXEL_SIZE)
    return peaks, chosen, half


def _fit_enough(img, peaks, chosen, guess, fit_size, min_sources):
    """`_fit` of the ``chosen`` peaks, brightest first, `_CHUNK` at a time, until `_ENOUGH` (or
    ``min_sources``, if more) compact sources agree on a size (`_robust`) or every chosen peak is fitted:
    ``(major, minor, theta)`` of the fitted ones.

    Fitting is the cost of `estimate_psf` (about 30 ms a source); most images have enough bright stars or
    compact radio sources among their brightest few tens.
    """
    ys, xs, vs = peaks
    parts = []
    if len(chosen) < min_sources:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    enough = max(_ENOUGH, min_sources)
    for start in range(0, len(chosen), _CHUNK):
        part = chosen[start:start + _CHUNK]
        parts.append(_fit(img, ys[part], xs[part], vs[part], guess, fit_size))
        major, minor, theta = (np.concatenate(v) for v in zip(*parts))
        if len(major) >= enough and _robust(major, minor, theta)[3] >= enough:
            break
    return major, minor, theta


def _robust(major, minor, theta):
    """Medians over the compact sources: those within 30% of the size of the smallest well-fitted ones."""
    size = np.sqrt(major * minor)
    ref = np.percentile(size, 30)
    ref = float(np.median(size[(size > ref / 1.3) & (size < ref * 1.3)]))
    keep = (size > ref / 1.3) & (size < ref * 1.3)
    major, minor, theta = major[keep], minor[keep], theta[keep]
    weight = 1.0 - minor / major  # round sources carry no angle
    angle = np.radians(2.0 * theta)
    c, s = np.sum(weight * np.cos(angle)), np.sum(weight * np.sin(angle))
    pa = (0.5 * math.degrees(math.atan2(s, c))) % 180.0 if (c or s) else 0.0
    return float(np.median(major)), float(np.median(minor)), pa, int(keep.sum())


def estimate_psf(data, mask=None, *, min_snr=10.0, max_sources=50, min_sources=5, max_size=2048):
    """Estimate the PSF (optical/IR) or restoring beam (radio) FWHM of an image from its compact sources.

    The background and noise are the sigma-clipped median and MAD standard
    deviation (`astropy.stats.sigma_clipped_stats`). Local maxima above
    ``min_snr`` sigma (`photutils.detection.find_peaks`) are kept when they
    are unsaturated (no clipped or flat-topped peak), away from the image
    edge and masked or NaN pixels, and isolated (no other peak above 10% of
    theirs within 1.5 fit radii); where the PSF spans more than a pixel,
    peaks that are a single pixel above half their maximum (hot pixels,
    cosmic rays) are left out too. An elliptical Gaussian
    (`photutils.psf.GaussianPSF`, FWHMs and angle free) is fitted with
    `photutils.psf.PSFPhotometry` (Levenberg-Marquardt) to the brightest,
    16 at a time, until 12 (or ``min_sources``, if more) compact sources
    agree on a size or ``max_sources`` are fitted, and the medians are taken over the compact
    ones (within 30% of the size of the smallest well-fitted sources, so
    resolved galaxies and radio lobes do not widen the estimate).

    Parameters
    ----------
    data : array-like or `~astropy.nddata.NDData`
        2-D image (its ``mask`` is used for an NDData). A memory-mapped image
        is read only in its central ``max_size`` square.
    mask : array-like of bool, optional
        True for pixels to ignore (NaN and infinite pixels always are).
    min_snr : float, optional
        Minimum peak signal-to-noise ratio of the sources used.
    max_sources : int, optional
        Most of the brightest selected sources that are fitted.
    min_sources : int, optional
        Fewest compact sources to accept an estimate from.
    max_size : int, optional
        Side of the central square of the image that is searched.

    Returns
    -------
    psf : `PSFEstimate`
        Major and minor FWHM (pixels), angle (degrees from +x) and the number
        of sources used.

    Raises
    ------
    ValueError
        If the image is not 2-D, has no valid pixel or no noise, or fewer than
        ``min_sources`` compact sources qualify.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.datasets import simulate_radio_field
    >>> from astrofmx.measure import estimate_psf
    >>> field = simulate_radio_field((256, 256), seed=1, n_sources=60, flux_min_snr=20, extended_fraction=0,
    ...                              double_fraction=0, beam_fwhm=(12 * u.arcsec, 6 * u.arcsec))
    >>> psf = estimate_psf(field.data)  # the beam is 8 x 4 pixels (1.5 arcsec pixels)
    >>> round(psf.major), round(psf.minor), round(psf.theta, -1)
    (8, 4, 90.0)
    """
    from astropy.stats import sigma_clipped_stats

    if isinstance(min_sources, bool) or not isinstance(min_sources, int) or min_sources < 1:
        raise ValueError(f"min_sources must be a positive integer, got {min_sources!r}")
    if not (isinstance(min_snr, (int, float)) and np.isfinite(min_snr) and min_snr > 0):
        raise ValueError(f"min_snr must be a positive number, got {min_snr!r}")
    img, bad = _as_arrays(data, mask, int(max_size))
    if bad.all():
        raise ValueError("every pixel of the image is NaN, infinite or masked; no PSF can be estimated")
    _, median, std = sigma_clipped_stats(img[~bad], sigma=3.0, maxiters=5, stdfunc="mad_std")
    if not (np.isfinite(std) and std > 0):
        raise ValueError(f"the image has no noise (robust std {std!r}); no PSF can be estimated")
    img = np.where(bad, 0.0, img - median).astype(np.float32)
    ys, xs, vs = _peaks(img, bad, min_snr * std, 3)
    if len(ys) < min_sources:
        raise ValueError(f"only {len(ys)} peaks above {min_snr:g} sigma; estimate_psf needs at least "
                         f"{min_sources} bright compact sources (give the beam/PSF instead)")
    guess = _first_guess(img, ys, xs)
    (ys, xs, vs), chosen, half = _candidates(img, bad, min_snr * std, 5.0 * std, guess, max_sources)
    if len(chosen) >= 3:  # the guess again, from the isolated, unsaturated, resolved peaks only
        refined = _first_guess(img, ys[chosen], xs[chosen], n=15)
        if abs(refined - guess) > 0.2 * guess:
            guess = refined
            (ys, xs, vs), chosen, half = _candidates(img, bad, min_snr * std, 5.0 * std, guess, max_sources)
    major, minor, theta = _fit_enough(img, (ys, xs, vs), chosen, guess, 2 * half + 1, min_sources)
    n_fit = len(major)
    if n_fit < min_sources:
        raise ValueError(f"only {n_fit} bright, isolated, unsaturated sources could be fitted (of {len(ys)} peaks "
                         f"above {min_snr:g} sigma); estimate_psf needs at least {min_sources} (give the "
                         "beam/PSF instead)")
    major, minor, pa, n = _robust(major, minor, theta)
    if n < min_sources:
        raise ValueError(f"only {n} compact sources agree on a PSF size; estimate_psf needs at least {min_sources}")
    logger.debug("estimate_psf: %.2f x %.2f px, theta %.0f deg, from %d sources", major, minor, pa, n)
    return PSFEstimate(major=major, minor=minor, theta=pa, n_sources=n)
