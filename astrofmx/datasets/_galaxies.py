"""Synthetic optical galaxies (Sersic profiles, spiral arms, edge-on disks) for classification tests."""

import logging
import math

import numpy as np
from astropy.modeling.models import Sersic2D
from astropy.table import QTable
from scipy.ndimage import gaussian_filter

from ..utils import get_meta
from ..utils import progress_bar as _progress_bar
from ._loaders import LabeledImages

__all__ = ["GALAXY_CLASSES", "make_galaxy_image", "simulate_galaxies"]

logger = logging.getLogger(__name__)

#: Morphology classes of the synthetic galaxies (GalaxyMNIST-like).
GALAXY_CLASSES = ("smooth_round", "smooth_cigar", "edge_on_disk", "spiral")

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
# g, r, i weights of each component: bulges are red, disks neutral, spiral arms blue
_COLOURS = {"bulge": (0.55, 0.8, 1.0), "disk": (0.8, 1.0, 1.0), "arms": (1.0, 0.9, 0.7)}


def _check_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise TypeError(f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(seed)


def _check_common(size, psf_fwhm, noise, bands):
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an integer, got {size!r}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size!r}")
    if not np.isfinite(psf_fwhm) or psf_fwhm < 0:
        raise ValueError(f"psf_fwhm must be >= 0 (pixels), got {psf_fwhm!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    if bands not in (1, 3):
        raise ValueError(f"bands must be 1 or 3, got {bands!r}")


def _sersic(yy, xx, r_eff, n, x0, y0, q, theta):
    model = Sersic2D(amplitude=1.0, r_eff=r_eff, n=n, x_0=x0, y_0=y0, ellip=1.0 - q, theta=theta)
    img = model(xx, yy)
    return img / img.sum()


def _galaxy_frame(yy, xx, x0, y0, q, theta):
    """Coordinates along the major axis and the de-projected minor axis."""
    c, s = math.cos(theta), math.sin(theta)
    dx, dy = xx - x0, yy - y0
    xm = c * dx + s * dy
    ym = -s * dx + c * dy
    return xm, ym / q, ym


def _draw_params(morphology, size, rng):
    s = size / 64.0
    p = {"x_0": size / 2 - 0.5 + rng.uniform(-1.5, 1.5) * s, "y_0": size / 2 - 0.5 + rng.uniform(-1.5, 1.5) * s,
         "theta": rng.uniform(0, math.pi), "bulge_fraction": 0.0, "arm_amplitude": 0.0, "n_arms": 0,
         "pitch_deg": 0.0, "dust_lane": False}
    if morphology == "smooth_round":
        p.update(sersic_n=rng.uniform(2.0, 4.0), r_eff=rng.uniform(4.0, 9.0) * s, axis_ratio=rng.uniform(0.75, 1.0),
                 bulge_fraction=1.0)
    elif morphology == "smooth_cigar":
        p.update(sersic_n=rng.uniform(1.0, 3.0), r_eff=rng.uniform(4.0, 9.0) * s, axis_ratio=rng.uniform(0.25, 0.5),
                 bulge_fraction=1.0)
    elif morphology == "edge_on_disk":
        p.update(sersic_n=rng.uniform(0.8, 1.2), r_eff=rng.uniform(6.0, 12.0) * s,
                 axis_ratio=rng.uniform(0.08, 0.2), bulge_fraction=rng.uniform(0.1, 0.35),
                 dust_lane=bool(rng.uniform() < 0.5))
    elif morphology == "spiral":
        p.update(sersic_n=rng.uniform(0.8, 1.2), r_eff=rng.uniform(7.0, 13.0) * s, axis_ratio=rng.uniform(0.5, 1.0),
                 bulge_fraction=rng.uniform(0.05, 0.3), arm_amplitude=rng.uniform(0.5, 0.9),
                 n_arms=int(rng.choice([2, 2, 3])), pitch_deg=rng.uniform(12.0, 30.0))
    else:
        raise ValueError(f"morphology must be one of {GALAXY_CLASSES}, got {morphology!r}")
    return p


def _render(morphology, p, size, psf_fwhm, noise, bands, brightness, rng):
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    x0, y0, theta, q = p["x_0"], p["y_0"], p["theta"], p["axis_ratio"]
    comps = []  # (image with unit sum times flux fraction, colour)
    if morphology in ("smooth_round", "smooth_cigar"):
        comps.append((_sersic(yy, xx, p["r_eff"], p["sersic_n"], x0, y0, q, theta), _COLOURS["bulge"]))
    else:
        fb = p["bulge_fraction"]
        disk = _sersic(yy, xx, p["r_eff"], p["sersic_n"], x0, y0, q, theta)
        xm, ym_deproj, ym = _galaxy_frame(yy, xx, x0, y0, q, theta)
        if morphology == "spiral":
            r = np.hypot(xm, ym_deproj) + 1e-6
            phi = np.arctan2(ym_deproj, xm)
            phase0 = rng.uniform(0, 2 * math.pi)
            wind = np.log(r / p["r_eff"]) / math.tan(math.radians(p["pitch_deg"]))
            arms = 0.5 * (1.0 + np.cos(p["n_arms"] * (phi - wind) + phase0))
            arms *= 1.0 - np.exp(-(r / (0.5 * p["r_eff"])) ** 2)  # arms fade into the bulge
            arm_img = disk * arms * p["arm_amplitude"] * 2.0
            disk_img = disk * (1.0 - p["arm_amplitude"])
            total = disk_img.sum() + arm_img.sum()
            comps.append((disk_img / total * (1 - fb), _COLOURS["disk"]))
            comps.append((arm_img / total * (1 - fb), _COLOURS["arms"]))
        else:
            if p["dust_lane"]:
                disk = disk * (1.0 - 0.6 * np.exp(-0.5 * (ym / 0.6) ** 2))
                disk /= disk.sum()
            comps.append((disk * (1 - fb), _COLOURS["disk"]))
        bulge = _sersic(yy, xx, max(0.25 * p["r_eff"], 1.0), rng.uniform(1.5, 3.5), x0, y0,
                        rng.uniform(0.6, 0.95), theta)
        comps.append((bulge * fb, _COLOURS["bulge"]))
    band_weights = [1] if bands == 1 else [0, 1, 2]
    out = np.empty((len(band_weights), size, size), dtype=float)
    for b, band in enumerate(band_weights):
        img = sum(c * (col[band] if bands == 3 else 1.0) for c, col in comps)
        if psf_fwhm > 0:
            img = gaussian_filter(img, psf_fwhm * _FWHM_TO_SIGMA, mode="constant")
        out[b] = img
    ref = out[0] if bands == 1 else out[1]
    out *= brightness / ref.max()
    if noise > 0:
        out += rng.normal(0.0, noise, size=out.shape)
    return out.astype(np.float32)


def make_galaxy_image(morphology, *, size=64, seed=None, psf_fwhm=2.0, noise=0.02, bands=1, brightness=None,
                      return_params=False):
    """One synthetic galaxy image of a given morphology.

    Profiles are `~astropy.modeling.functional_models.Sersic2D` models:
    ``smooth_round`` (n 2-4, axis ratio 0.75-1), ``smooth_cigar`` (n 1-3,
    axis ratio 0.25-0.5), ``edge_on_disk`` (a thin exponential disk, axis
    ratio 0.08-0.2, plus a small bulge and, half of the time, a dust lane)
    and ``spiral`` (an exponential disk, axis ratio 0.5-1, modulated by 2 or 3
    logarithmic arms with pitch 12-30 degrees, plus a bulge). Size,
    orientation, centre and brightness are random. The image is convolved with
    a Gaussian PSF and gets Gaussian noise.

    Parameters
    ----------
    morphology : str
        One of `GALAXY_CLASSES`.
    size : int, optional
        Image side in pixels (sizes scale with it; 64 matches GalaxyMNIST).
    seed : int, `numpy.random.Generator` or None, optional
        Random seed.
    psf_fwhm : float, optional
        FWHM of the Gaussian PSF in pixels (0: none).
    noise : float, optional
        Standard deviation of the Gaussian noise, in units where the peak of
        the galaxy (r band) is ``brightness``.
    bands : {1, 3}, optional
        One band, or three (g, r, i; bulges are redder than disks and arms).
    brightness : float, optional
        Peak of the noise-free, PSF-convolved galaxy; default log-uniform in
        [0.3, 1].
    return_params : bool, optional
        Also return a dict of the drawn parameters.

    Returns
    -------
    image : `~numpy.ndarray`
        float32, ``(size, size)`` for one band, ``(3, size, size)`` for three.
    params : dict
        Only with ``return_params=True``.

    Examples
    --------
    >>> from astrofmx.datasets import make_galaxy_image
    >>> make_galaxy_image("spiral", seed=0).shape
    (64, 64)
    >>> make_galaxy_image("smooth_cigar", seed=0, bands=3, size=32).shape
    (3, 32, 32)
    """
    if morphology not in GALAXY_CLASSES:
        raise ValueError(f"morphology must be one of {GALAXY_CLASSES}, got {morphology!r}")
    _check_common(size, psf_fwhm, noise, bands)
    rng = _check_rng(seed)
    params = _draw_params(morphology, size, rng)
    if brightness is None:
        brightness = float(math.exp(rng.uniform(math.log(0.3), 0.0)))
    elif not np.isfinite(brightness) or brightness <= 0:
        raise ValueError(f"brightness must be positive, got {brightness!r}")
    params["brightness"] = float(brightness)
    image = _render(morphology, params, size, psf_fwhm, noise, bands, brightness, rng)
    image = image[0] if bands == 1 else image
    return (image, params) if return_params else image


def simulate_galaxies(n, *, size=64, seed=None, classes=GALAXY_CLASSES, psf_fwhm=2.0, noise=0.02, bands=1,
                      balanced=True, progress_bar=False):
    """A labelled set of synthetic galaxy images (see `make_galaxy_image`).

    Parameters
    ----------
    n : int
        Number of images.
    size : int, optional
        Image side in pixels.
    seed : int, `numpy.random.Generator` or None, optional
        Random seed; the same seed gives identical images and labels.
    classes : sequence of str, optional
        Subset (and order) of `GALAXY_CLASSES`; labels index into it.
    psf_fwhm, noise, bands : optional
        As in `make_galaxy_image`.
    balanced : bool, optional
        Equal numbers per class (up to one), in random order; otherwise each
        label is drawn uniformly.
    progress_bar : bool, optional
        Show a progress bar.

    Returns
    -------
    data : `LabeledImages`
        ``images`` float32 ``(n, size, size)`` (or ``(n, 3, size, size)``),
        ``labels`` int64, ``class_names`` and a ``catalog`` of the drawn
        parameters (``sersic_n``, ``r_eff``, ``axis_ratio``, ``theta``,
        ``x_0``, ``y_0``, ``brightness``, ...).

    Examples
    --------
    >>> from astrofmx.datasets import simulate_galaxies
    >>> data = simulate_galaxies(8, size=32, seed=1)
    >>> data.images.shape, data.class_names
    ((8, 32, 32), ('smooth_round', 'smooth_cigar', 'edge_on_disk', 'spiral'))
    >>> sorted(set(data.labels.tolist()))
    [0, 1, 2, 3]
    """
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must name at least one class")
    unknown = [c for c in classes if c not in GALAXY_CLASSES]
    if unknown or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {GALAXY_CLASSES}, got {classes!r}")
    _check_common(size, psf_fwhm, noise, bands)
    rng = _check_rng(seed)
    if balanced:
        labels = rng.permutation(np.arange(n) % len(classes))
    else:
        labels = rng.integers(0, len(classes), size=n)
    labels = labels.astype(np.int64)
    shape = (n, size, size) if bands == 1 else (n, 3, size, size)
    images = np.empty(shape, dtype=np.float32)
    rows = []
    for i in _progress_bar(range(n), desc="galaxies", unit="img", enabled=progress_bar):
        image, params = make_galaxy_image(classes[labels[i]], size=size, seed=rng, psf_fwhm=psf_fwhm, noise=noise,
                                          bands=bands, return_params=True)
        images[i] = image
        rows.append(params)
    catalog = QTable()
    catalog["label"] = labels
    catalog["class_name"] = np.array([classes[k] for k in labels])
    for key in ("sersic_n", "r_eff", "axis_ratio", "theta", "x_0", "y_0", "brightness", "bulge_fraction",
                "arm_amplitude", "n_arms", "pitch_deg", "dust_lane"):
        catalog[key] = np.array([r[key] for r in rows])
    meta = get_meta()
    meta.update(source="astrofmx.datasets.simulate_galaxies", size=size, psf_fwhm=psf_fwhm, noise=noise,
                bands=bands)
    return LabeledImages(images=images, labels=labels, class_names=classes, catalog=catalog, meta=meta)
