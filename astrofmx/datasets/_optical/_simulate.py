"""Simulated optical/IR fields with a truth catalog, for training and testing source finders.

Stars (Moffat PSF with wings, diffraction spikes, saturation and bleed
trails) and Sérsic galaxies on a structured sky, observed with Poisson and
read noise, with hot pixels and cosmic rays. Every random number comes from
child streams of one seed, so a seed gives the same field on every machine.
"""

import dataclasses
import logging

import numpy as np
from scipy import ndimage

from .._fits_field import _stamp_header
from .._radio import ImageGrid
from .._radio._checks import _check_rng, _check_shape, _positive_number
from ._config import GalaxyPopulation, OpticalDetector, OpticalPSF, SkyBackground, StarPopulation
from ._detector import _bleed, _defects, _observe, _sky
from ._field import SimulatedOpticalField, _make_header, _make_truth
from ._psf import _MoffatPixels
from ._sources import _add_galaxies, _add_stars

__all__ = ["simulate_optical_field"]

logger = logging.getLogger(__name__)

_DEFAULT_GRID = ImageGrid(pixel_scale=0.4, center=(150.1, 2.2), projection="TAN")


@dataclasses.dataclass(frozen=True)
class _Context:
    sigma: float
    saturation: float
    pixel_scale: float
    box_nsigma: float


def _group(name, value, cls, count_keyword=None, count=None):
    if value is None:
        return cls(**({count_keyword: count} if count is not None else {}))
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__} or None, got {value!r}")
    if count is not None:
        raise TypeError(f"give {count_keyword} inside {name}={cls.__name__}(...) or as a keyword, not both")
    return value


def simulate_optical_field(shape=(512, 512), *, seed=None, psf=None, stars=None, galaxies=None, sky=None,
                           detector=None, grid=None, n_stars=None, n_galaxies=None, box_nsigma=1.5,
                           filter_name="r", return_truth=True):
    """Simulate a ground-based optical/IR CCD image of stars and galaxies with a truth catalog.

    - **PSF**: an elliptical Moffat profile (`OpticalPSF`), with wings, and
      four diffraction spikes on bright stars.
    - **Stars** (`StarPopulation`): power-law fluxes, uniform positions; a
      crowded stellar field with ``crowded=True``. Stars brighter than the
      saturation level are clipped there and bleed along their columns.
    - **Galaxies** (`GalaxyPopulation`): Sérsic profiles
      (`~astropy.modeling.functional_models.Sersic2D`, index 0.5-4,
      half-light radii 1-20 px, axis ratios 0.2-1), convolved with the PSF;
      some in blended pairs. Each galaxy is one truth row, so a blend of two
      is two rows.
    - **Sky** (`SkyBackground`): a level, a gradient and patchy nebulosity,
      not in the truth.
    - **Camera** (`OpticalDetector`): Poisson noise in electrons, read
      noise, saturation, hot pixels and cosmic-ray tracks (unlabelled
      negatives).

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)`` of the image.
    seed : int, `numpy.random.Generator` or None, optional
        Random seed; None draws one and writes it to ``SIMSEED``.
    psf : `OpticalPSF`, optional
    stars : `StarPopulation`, optional
    galaxies : `GalaxyPopulation`, optional
    sky : `SkyBackground`, optional
    detector : `OpticalDetector`, optional
    grid : `ImageGrid`, optional
        Pixel scale and WCS; default 0.4 arcsec pixels, TAN projection.
    n_stars, n_galaxies : int, optional
        Shortcuts for ``StarPopulation(n_stars=...)`` and
        ``GalaxyPopulation(n_galaxies=...)``.
    box_nsigma : float, optional
        Truth boxes are the isophote of each noise-free source at
        ``max(box_nsigma * sigma, exp(-4.5) * peak)`` (``sigma``: the
        background noise; the peak capped at the saturation level). For a
        Gaussian the second level is the 3-sigma extent, the radio
        simulator's box; for faint sources the first, the extent above the
        noise, decides. Saturated stars' boxes also cover their saturated
        core and bleed trail; diffraction spikes are left out.
    filter_name : str, optional
        ``FILTER`` keyword of the header.
    return_truth : bool, optional
        Build the truth catalog.

    Returns
    -------
    field : `SimulatedOpticalField`
        ``data`` (float32, ADU, sky included), ``header`` and ``truth``, a
        `~astropy.table.QTable` with ``id``, ``x_centroid``, ``y_centroid``
        (0-based pixels), ``sky_centroid``, ``kind`` (one of
        `OPTICAL_KINDS`), ``flux`` (ADU, total), ``mag`` (through
        ``MAGZPT``), ``peak_flux`` (ADU above the sky, noise-free, before
        saturation), ``snr`` (``peak_flux`` over the background noise),
        ``saturated``, ``r_eff`` (arcsec; NaN for stars), ``sersic_n``
        (NaN for stars), ``axis_ratio``, ``theta`` (degrees ccw from +x),
        ``pa`` (degrees east of north) and the box ``bbox_xmin``,
        ``bbox_ymin``, ``bbox_xmax``, ``bbox_ymax`` (pixel edges at
        half-integers, clipped to the image).

    Raises
    ------
    ValueError
        For a bad shape or settings (see the settings groups).
    TypeError
        For a group of the wrong type or a group given with its shortcut.

    See Also
    --------
    random_optical_field : the same with settings drawn at random, for training.
    simulate_radio_field : the radio counterpart.

    Examples
    --------
    >>> from astrofmx.datasets import OpticalPSF, simulate_optical_field
    >>> field = simulate_optical_field((128, 128), seed=0, n_stars=20, n_galaxies=10, psf=OpticalPSF(fwhm=4))
    >>> field.data.dtype, field.header["CTYPE1"], field.header["BUNIT"]
    (dtype('float32'), 'RA---TAN', 'adu')
    >>> sorted(set(field.truth["kind"].tolist()))
    ['galaxy', 'star']
    >>> round(field.header["PSF_FWHM"], 2)  # arcsec: 4 pixels of 0.4 arcsec
    1.6
    """
    shape = _check_shape(shape)
    (rng_stars, rng_galaxies, rng_sky, rng_noise, rng_defects), recorded_seed = _check_rng(seed, 5)
    psf = _group("psf", psf, OpticalPSF)
    stars = _group("stars", stars, StarPopulation, "n_stars", n_stars)
    galaxies = _group("galaxies", galaxies, GalaxyPopulation, "n_galaxies", n_galaxies)
    sky = _group("sky", sky, SkyBackground)
    detector = _group("detector", detector, OpticalDetector)
    grid = _DEFAULT_GRID if grid is None else _group("grid", grid, ImageGrid)
    box_nsigma = _positive_number("box_nsigma", box_nsigma)
    sigma = detector.noise_sigma(sky.level)
    ctx = _Context(sigma=sigma, saturation=detector.saturation - sky.level, pixel_scale=grid.pixel_scale,
                   box_nsigma=box_nsigma)
    moffat = _MoffatPixels(psf)

    sources = np.zeros(shape, dtype=np.float64)
    rows = _add_stars(sources, stars, moffat, psf, ctx, rng_stars)
    rows += _add_galaxies(sources, galaxies, moffat, ctx, rng_galaxies)
    model = _sky(shape, sky, sigma, rng_sky) + sources
    del sources
    image = _observe(model, detector, rng_noise)
    n_hot, n_cr = _defects(image, detector, sigma, rng_defects)
    if detector.bleed:
        _bleed(image, model, detector.saturation)
    np.minimum(image, detector.saturation, out=image)
    image = image.astype(np.float32)

    header = _make_header(shape, grid, psf, detector, filter_name)
    params = _parameters(recorded_seed, sigma, sky, stars, galaxies, detector, box_nsigma, rows, n_hot, n_cr)
    meta = _stamp_header(header, params, "simulate_optical_field")
    truth = None
    if return_truth:
        saturated, bleed_boxes = _saturated_stars(rows, model, image, detector.saturation)
        truth = _make_truth(rows, header, sigma, saturated, detector.zeropoint, bleed_boxes, shape)
        truth.meta.update(meta)
        truth.meta["simulation"] = {k: v[0] for k, v in params.items()}
    logger.debug("simulated %d stars and galaxies in a %dx%d optical field", len(rows), *shape)
    return SimulatedOpticalField(data=image, header=header, truth=truth)


def _saturated_stars(rows, model, image, saturation):
    """Which sources are saturated at their centre, and the box of each saturated region (core + bleed)."""
    ny, nx = model.shape
    labels, _ = ndimage.label(image >= saturation)
    regions = ndimage.find_objects(labels)
    saturated = np.zeros(len(rows), dtype=bool)
    boxes = {}
    for i, row in enumerate(rows):
        ix, iy = int(round(row["x"])), int(round(row["y"]))
        if not (0 <= ix < nx and 0 <= iy < ny) or model[iy, ix] <= saturation:
            continue
        saturated[i] = True
        label = labels[iy, ix]
        if label:
            ys, xs = regions[label - 1]
            boxes[i] = (xs.start - 0.5, ys.start - 0.5, xs.stop - 0.5, ys.stop - 0.5)
    return saturated, boxes


def _parameters(seed, sigma, sky, stars, galaxies, detector, box_nsigma, rows, n_hot, n_cr):
    """The ``SIM*`` header keywords: name -> (value, comment)."""
    n_star = sum(r["kind"] == "star" for r in rows)
    return {
        "SIMKIND": ("optical", "kind of simulated field"),
        "SIMSEED": (seed, "random seed (-1: a Generator was given)"),
        "SIMSKY": (sky.level, "[adu] mean sky level"),
        "SIMSIGMA": (sigma, "[adu] background noise rms (sky Poisson + read)"),
        "SIMNSTAR": (n_star, "number of simulated stars"),
        "SIMNGAL": (len(rows) - n_star, "number of simulated galaxies"),
        "SIMCROWD": (stars.crowded, "crowded stellar field"),
        "SIMGRAD": (sky.gradient, "sky gradient, fraction of the level"),
        "SIMNEBUL": (sky.nebulosity, "[sigma] peak nebulosity"),
        "SIMBLEND": (galaxies.blend_fraction, "fraction of galaxies with a companion"),
        "SIMNHOT": (n_hot, "hot pixels (not in the truth)"),
        "SIMNCR": (n_cr, "cosmic rays (not in the truth)"),
        "SIMBOXNS": (box_nsigma, "truth box isophote in background sigma"),
    }
