"""The simulated optical/IR field: container, FITS header and truth catalog."""

import dataclasses
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from .._fits_field import _SimulatedField, _wcs_header

__all__ = ["SimulatedOpticalField"]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SimulatedOpticalField(_SimulatedField):
    """A simulated optical/IR image, its FITS header and its truth catalog.

    Made by `simulate_optical_field` or `random_optical_field`;
    `read_simulated_field` reads one back. It has the interface of
    `SimulatedRadioField`.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 image in ADU, shape ``(ny, nx)``, sky included.
    header : `~astropy.io.fits.Header`
        Celestial TAN WCS, ``BUNIT = 'adu'``, ``TELESCOP``/``INSTRUME``,
        ``PSF_FWHM`` and ``SEEING`` (arcsec), ``GAIN``, ``RDNOISE``,
        ``SATURATE``, ``MAGZPT`` and the ``SIM*`` simulation parameters.
    truth : `~astropy.table.QTable` or None
        One row per star or galaxy (see `simulate_optical_field`).

    Examples
    --------
    >>> from astrofmx.datasets import simulate_optical_field
    >>> field = simulate_optical_field((64, 64), seed=1, n_stars=3, n_galaxies=2)
    >>> field
    <SimulatedOpticalField shape=(64, 64) psf_fwhm=3 px sigma=10.3 adu seed=1 5 sources>
    >>> field.header["BUNIT"], field.to_hdulist()[1].name
    ('adu', 'TRUTH')
    """

    _unit = u.adu
    _label = "simulated optical field"

    def _summary(self):
        return (f"psf_fwhm={self.header.get('PSFFWPIX', 0):.3g} px "
                f"sigma={self.header.get('SIMSIGMA', float('nan')):.3g} adu")

    @property
    def psf_fwhm(self):
        """PSF FWHM (geometric mean of the axes) as a `~astropy.units.Quantity` in arcsec."""
        return self.header["PSF_FWHM"] * u.arcsec

    @property
    def sigma(self):
        """Background noise rms (sky Poisson noise and read noise) as a Quantity in ADU."""
        return self.header["SIMSIGMA"] * u.adu


def _make_header(shape, grid, psf, detector, filter_name):
    """Image header: TAN (or SIN) WCS of ``grid``, the PSF and the camera."""
    header = _wcs_header(shape, grid)
    fwhm_arcsec = psf.fwhm * grid.pixel_scale
    header["BUNIT"] = ("adu", "image unit: analog-to-digital units, sky included")
    header["TELESCOP"] = ("SIMULATED-OPTICAL", "simulated ground-based optical/IR telescope")
    header["INSTRUME"] = ("ASTROFMX-CCD", "simulated CCD camera")
    header["FILTER"] = (filter_name, "passband")
    header["PSF_FWHM"] = (fwhm_arcsec, "[arcsec] PSF FWHM (geometric mean of the axes)")
    header["SEEING"] = (fwhm_arcsec, "[arcsec] seeing FWHM")
    header["PSFFWPIX"] = (psf.fwhm, "[pix] PSF FWHM")
    header["PSFBETA"] = (psf.beta, "Moffat beta of the PSF")
    header["PSFELL"] = (psf.ellipticity, "PSF ellipticity 1 - b/a")
    header["PSFTHETA"] = (psf.theta, "[deg] PSF major axis, ccw from +x")
    header["GAIN"] = (detector.gain, "[electron/adu] gain")
    header["RDNOISE"] = (detector.read_noise, "[electron] read noise")
    header["SATURATE"] = (detector.saturation, "[adu] saturation level")
    header["MAGZPT"] = (detector.zeropoint, "mag = MAGZPT - 2.5 log10(flux / adu)")
    header["OBJECT"] = "astrofmx simulated optical field"
    header["ORIGIN"] = "astrofmx"
    return header


def _make_truth(rows, header, sigma, saturated, zeropoint, bleed_boxes, shape):
    """The truth `~astropy.table.QTable` from the per-source rows."""
    n = len(rows)
    ny, nx = shape
    col = {key: np.array([r[key] for r in rows], dtype=float) for key in
           ("x", "y", "flux", "peak", "r_eff", "sersic_n", "axis_ratio", "theta")} if n else \
        {key: np.zeros(0) for key in ("x", "y", "flux", "peak", "r_eff", "sersic_n", "axis_ratio", "theta")}
    boxes = np.array([r["box"] for r in rows], dtype=float).reshape(-1, 4)
    for i, box in bleed_boxes.items():  # saturated stars: the box also covers the saturated core and bleed trail
        boxes[i] = (min(boxes[i, 0], box[0]), min(boxes[i, 1], box[1]), max(boxes[i, 2], box[2]),
                    max(boxes[i, 3], box[3]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
        sky = WCS(header).pixel_to_world(col["x"], col["y"]) if n else SkyCoord([] * u.deg, [] * u.deg)
    scale = header["CDELT2"] * 3600.0
    theta = col["theta"] % 180.0
    table = QTable()
    table["id"] = np.arange(1, n + 1, dtype=np.int64)
    table["x_centroid"], table["y_centroid"], table["sky_centroid"] = col["x"], col["y"], sky
    table["kind"] = np.array([r["kind"] for r in rows], dtype="U6")
    table["flux"] = col["flux"] * u.adu
    with np.errstate(divide="ignore"):
        table["mag"] = zeropoint - 2.5 * np.log10(col["flux"])
    table["peak_flux"] = col["peak"] * u.adu
    table["snr"] = col["peak"] / sigma
    table["saturated"] = np.asarray(saturated, dtype=bool).reshape(n)
    table["r_eff"] = col["r_eff"] * scale * u.arcsec
    table["sersic_n"] = col["sersic_n"]
    table["axis_ratio"] = col["axis_ratio"]
    table["theta"] = theta * u.deg
    table["pa"] = ((theta - 90.0) % 180.0) * u.deg
    for k, name in enumerate(("xmin", "ymin", "xmax", "ymax")):
        limit = (-0.5, -0.5, nx - 0.5, ny - 0.5)[k]
        table[f"bbox_{name}"] = np.maximum(boxes[:, k], limit) if k < 2 else np.minimum(boxes[:, k], limit)
    table.meta["box_convention"] = "astropy pixel coordinates: pixel centres at integers, edges at half-integers"
    return table
