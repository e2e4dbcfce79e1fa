"""Simulated radio continuum fields with a truth catalog, for training and testing source finders.

The simulator draws sources from a power-law flux distribution, renders each
one on a small local stamp (so that a 4k x 4k field takes seconds), adds
noise correlated on the beam scale and, optionally, imaging artefacts around
the brightest sources. Every random number comes from one
`numpy.random.Generator`, so a seed gives the same field on every machine.
"""

import dataclasses
import logging
import math
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import NDData
from astropy.table import QTable
from astropy.wcs import WCS

from ..utils import atomic_write, get_meta

__all__ = [
    "RADIO_MORPHOLOGIES",
    "SimulatedRadioField",
    "simulate_radio_field",
    "read_simulated_field",
    "truth_boxes",
    "truth_boxes_in_window",
]

logger = logging.getLogger(__name__)

#: Morphology classes of simulated radio sources; detector labels are 1 + the index here.
RADIO_MORPHOLOGIES = ("compact", "extended", "double")

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_STAMP_NSIGMA = 6.0  # a component is rendered out to this many sigma (exp(-18) of its peak)
_DEFAULT_DENSITY = 4000.0  # sources per square degree above flux_min_snr * rms


# ----------------------------------------------------------------------------------------------
# input checking
# ----------------------------------------------------------------------------------------------

def _as_quantity(name, value, default_unit, physical_type_unit):
    """Convert ``value`` (Quantity or number in ``default_unit``) to a float in ``default_unit``."""
    if isinstance(value, u.Quantity):
        try:
            value = value.to_value(default_unit)
        except u.UnitConversionError as exc:
            raise ValueError(f"{name} must have units of {physical_type_unit}, got {value!r}") from exc
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a Quantity, got {value!r}") from exc
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _positive(name, value, default_unit, physical_type_unit):
    value = _as_quantity(name, value, default_unit, physical_type_unit)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


def _fraction(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _check_shape(shape):
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a 2-tuple of positive integers (ny, nx), got {shape!r}") from exc
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D (ny, nx), got {shape!r} with {len(shape)} dimensions")
    if min(shape) < 8:
        raise ValueError(f"shape must be at least (8, 8), got {shape!r}")
    return shape


def _check_center(wcs_center):
    if isinstance(wcs_center, SkyCoord):
        icrs = wcs_center.icrs
        return float(icrs.ra.deg), float(icrs.dec.deg)
    try:
        ra, dec = wcs_center
        ra = _as_quantity("wcs_center RA", ra, u.deg, "angle")
        dec = _as_quantity("wcs_center Dec", dec, u.deg, "angle")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"wcs_center must be a SkyCoord or an (ra, dec) pair in degrees, got {wcs_center!r}") from exc
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"wcs_center Dec must be in [-90, 90] degrees, got {dec!r}")
    return ra % 360.0, dec


def _check_rng(seed):
    """Return three independent Generators (population, artefacts, noise) and the seed for the header.

    Separate streams keep the sources and the noise identical whether or not
    artefacts are added.
    """
    if isinstance(seed, np.random.Generator):
        return tuple(seed.spawn(3)), -1
    if seed is None:
        # draw a seed so that even an unseeded field can be regenerated from its header
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}")
    streams = np.random.SeedSequence(int(seed)).spawn(3)
    return tuple(np.random.default_rng(s) for s in streams), int(seed)


# ----------------------------------------------------------------------------------------------
# Gaussian geometry (all in pixels; theta counter-clockwise from +x)
# ----------------------------------------------------------------------------------------------

def _cov(fwhm_major, fwhm_minor, theta):
    sa, sb = fwhm_major * _FWHM_TO_SIGMA, fwhm_minor * _FWHM_TO_SIGMA
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c * c * sa * sa + s * s * sb * sb, c * s * (sa * sa - sb * sb)],
                     [c * s * (sa * sa - sb * sb), s * s * sa * sa + c * c * sb * sb]])


def _cov_to_shape(cov):
    """FWHM major, FWHM minor (pixels) and theta (rad, ccw from +x, in [0, pi))."""
    evals, evecs = np.linalg.eigh(cov)
    minor, major = np.sqrt(np.maximum(evals, 0.0)) / _FWHM_TO_SIGMA
    theta = math.atan2(evecs[1, 1], evecs[0, 1]) % math.pi
    return float(major), float(minor), float(theta)


def _render_gaussian(image, x, y, cov, peak):
    """Add ``peak * exp(-d^T C^-1 d / 2)`` on a local stamp; return the (x, y) half-widths of 1 sigma."""
    ny, nx = image.shape
    sx, sy = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    hx, hy = _STAMP_NSIGMA * sx, _STAMP_NSIGMA * sy
    x0, x1 = max(int(math.floor(x - hx)), 0), min(int(math.ceil(x + hx)) + 1, nx)
    y0, y1 = max(int(math.floor(y - hy)), 0), min(int(math.ceil(y + hy)) + 1, ny)
    if x0 < x1 and y0 < y1:
        inv = np.linalg.inv(cov)
        dx = np.arange(x0, x1) - x
        dy = (np.arange(y0, y1) - y)[:, None]
        q = inv[0, 0] * dx * dx + 2.0 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy
        image[y0:y1, x0:x1] += (peak * np.exp(-0.5 * q)).astype(image.dtype, copy=False)
    return sx, sy


def _correlated_noise(shape, beam_cov, rms, rng):
    """White noise convolved with the (unit-sum) beam, rescaled to ``rms``.

    The convolution is done in Fourier space with the analytic Gaussian
    transfer function (periodic boundaries, which suits stationary noise), and
    the scaling uses the exact sum of the squared kernel, so the expected pixel
    rms is ``rms``.
    """
    ny, nx = shape
    white = rng.standard_normal(shape, dtype=np.float32)
    fy = np.fft.fftfreq(ny).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(nx).astype(np.float32)[None, :]
    c = beam_cov.astype(np.float32)
    transfer = np.exp(-2.0 * np.pi ** 2 * (c[0, 0] * fx * fx + 2 * c[0, 1] * fx * fy + c[1, 1] * fy * fy))
    weights = np.full(fx.shape[1], 2.0, dtype=np.float32)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    sum_k2 = float(np.sum(transfer.astype(np.float64) ** 2 * weights) / (nx * ny))
    spec = np.fft.rfft2(white)
    spec *= transfer
    noise = np.fft.irfft2(spec, s=shape).astype(np.float32)
    noise *= np.float32(rms / math.sqrt(sum_k2))
    return noise


def _render_artefact(image, x, y, peak, amplitude, kind, beam_fwhm_px, rng):
    """Rings (concentric sidelobes) or radial stripes around a bright source."""
    ny, nx = image.shape
    scale = 8.0 * beam_fwhm_px  # e-folding radius of the artefact envelope
    radius = 4.0 * scale
    x0, x1 = max(int(x - radius), 0), min(int(x + radius) + 1, nx)
    y0, y1 = max(int(y - radius), 0), min(int(y + radius) + 1, ny)
    if x0 >= x1 or y0 >= y1:
        return
    dx = np.arange(x0, x1) - x
    dy = (np.arange(y0, y1) - y)[:, None]
    r = np.hypot(dx, dy)
    envelope = amplitude * peak * np.exp(-r / scale) * (1.0 - np.exp(-(r / beam_fwhm_px) ** 2))
    if kind == "rings":
        period = 2.0 * beam_fwhm_px * rng.uniform(0.8, 1.5)
        pattern = np.cos(2.0 * np.pi * r / period + rng.uniform(0, 2 * np.pi))
    else:  # stripes: alternating positive/negative spokes
        n_spokes = int(rng.integers(2, 5))
        pattern = np.cos(n_spokes * np.arctan2(dy, dx) + rng.uniform(0, 2 * np.pi))
    image[y0:y1, x0:x1] += (envelope * pattern).astype(image.dtype, copy=False)


# ----------------------------------------------------------------------------------------------
# result container
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class SimulatedRadioField:
    """A simulated radio image, its FITS header and its truth catalog.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 image in Jy/beam, shape ``(ny, nx)``.
    header : `~astropy.io.fits.Header`
        Celestial WCS, ``BMAJ``/``BMIN``/``BPA`` (degrees), ``BUNIT`` and the
        simulation parameters (``SIM*`` keywords, ``HISTORY``).
    truth : `~astropy.table.QTable` or None
        One row per source (see `simulate_radio_field`), or None when the
        field was made with ``return_truth=False``.
    """

    data: np.ndarray
    header: fits.Header
    truth: QTable = None

    def __repr__(self):
        n = "no truth" if self.truth is None else f"{len(self.truth)} sources"
        return (f"<SimulatedRadioField shape={self.data.shape} rms={self.header.get('SIMRMS', float('nan')):.3g} "
                f"Jy/beam seed={self.header.get('SIMSEED')} {n}>")

    @property
    def wcs(self):
        """The celestial `~astropy.wcs.WCS` of the image."""
        return WCS(self.header)

    @property
    def rms(self):
        """Target noise rms as a `~astropy.units.Quantity` in Jy/beam (at the primary beam centre, if any)."""
        return self.header["SIMRMS"] * u.Jy / u.beam

    @property
    def beam(self):
        """Beam ``(major, minor, pa)`` as Quantities (FWHM in arcsec, PA in degrees east of north)."""
        return ((self.header["BMAJ"] * u.deg).to(u.arcsec), (self.header["BMIN"] * u.deg).to(u.arcsec),
                self.header["BPA"] * u.deg)

    def to_hdu(self):
        """The image as a `~astropy.io.fits.PrimaryHDU` (data and header are copied)."""
        return fits.PrimaryHDU(self.data.copy(), header=self.header.copy())

    def to_nddata(self):
        """The image as `~astropy.nddata.NDData` with its WCS, unit Jy/beam and header as ``meta``."""
        return NDData(self.data, wcs=self.wcs, unit=u.Jy / u.beam, meta=dict(self.header))

    def to_hdulist(self):
        """`~astropy.io.fits.HDUList`: the image, then the truth catalog in a ``TRUTH`` table HDU."""
        hdus = [self.to_hdu()]
        if self.truth is not None:
            hdus.append(_truth_to_hdu(self.truth))
        return fits.HDUList(hdus)

    def write(self, path, *, overwrite=False):
        """Write the image and the truth catalog to one FITS file.

        Parameters
        ----------
        path : str or `pathlib.Path`
            Output file.
        overwrite : bool, optional
            Replace an existing file; otherwise `FileExistsError`.
        """
        with atomic_write(path, overwrite=overwrite, suffix=".fits") as tmp:
            self.to_hdulist().writeto(tmp, overwrite=True)
        logger.info("wrote simulated field to %s", path)


def _truth_to_hdu(truth):
    table = QTable(truth, copy=True)
    # the parameters are in the image header; nested provenance dicts do not fit a FITS header
    table.meta = {}
    for name in table.colnames:
        if isinstance(table[name], SkyCoord):  # FITS tables hold plain columns: store RA/Dec in degrees
            index = table.colnames.index(name)
            icrs = table[name].icrs
            table.remove_column(name)
            table.add_column(icrs.dec.to(u.deg), name=f"{name}_dec", index=index)
            table.add_column(icrs.ra.to(u.deg), name=f"{name}_ra", index=index)
    hdu = fits.table_to_hdu(table)
    hdu.name = "TRUTH"
    return hdu


def _truth_from_hdu_table(table):
    for name in list(table.colnames):
        if name.endswith("_ra") and f"{name[:-3]}_dec" in table.colnames:
            base = name[:-3]
            index = table.colnames.index(name)
            sky = SkyCoord(table[name], table[f"{base}_dec"], frame="icrs")
            table.remove_columns([name, f"{base}_dec"])
            table.add_column(sky, name=base, index=index)
    table.meta = {}
    return table


def read_simulated_field(path):
    """Read a field written by `SimulatedRadioField.write`.

    Parameters
    ----------
    path : str or `pathlib.Path`

    Returns
    -------
    field : `SimulatedRadioField`

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.datasets import simulate_radio_field, read_simulated_field
    >>> field = simulate_radio_field((64, 64), seed=1, n_sources=3)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "field.fits"
    >>> field.write(path)
    >>> len(read_simulated_field(path).truth)
    3
    """
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=np.float32).copy()
        header = hdul[0].header.copy()
        has_truth = "TRUTH" in hdul
    truth = _truth_from_hdu_table(QTable.read(path, hdu="TRUTH")) if has_truth else None
    return SimulatedRadioField(data=data, header=header, truth=truth)


# ----------------------------------------------------------------------------------------------
# the simulator
# ----------------------------------------------------------------------------------------------

def _powerlaw(rng, n, smin, smax, index):
    """Draw from dN/dS ~ S^-index between smin and smax (inverse CDF)."""
    uni = rng.uniform(size=n)
    if abs(index - 1.0) < 1e-9:
        return smin * (smax / smin) ** uni
    a = 1.0 - index
    return (smin ** a + uni * (smax ** a - smin ** a)) ** (1.0 / a)


def simulate_radio_field(shape=(512, 512), *, seed=None, pixel_scale=1.5 * u.arcsec, beam_fwhm=6.0 * u.arcsec,
                         beam_pa=0.0 * u.deg, rms=20.0 * u.uJy / u.beam, n_sources=None, source_density=None,
                         flux_min_snr=3.0, flux_max_snr=1e4, powerlaw_index=2.5, extended_fraction=0.15,
                         double_fraction=0.05, artefacts=None, artefact_amplitude=0.02, artefact_min_snr=100.0,
                         wcs_center=(150.0, 2.2), projection="SIN", box_nsigma=3.0, primary_beam_fwhm=None,
                         primary_beam_center=None, pb_cutoff=None, return_truth=True):
    """Simulate a MeerKAT/FIRST-like radio continuum image with a truth catalog.

    Sources are placed uniformly at random. Their integrated flux densities
    follow a power law ``dN/dS ~ S**-powerlaw_index`` (2.5 is the Euclidean
    slope) from ``flux_min_snr * rms`` up to ``flux_max_snr * rms``. Each source
    is one of

    - ``"compact"``: unresolved, the shape of the beam;
    - ``"extended"``: an elliptical Gaussian 1.2-5 beams across (FWHM),
      convolved with the beam;
    - ``"double"``: two resolved lobes 2.5-12 beams apart, with (half of the
      time) a faint compact core and (30% of the time) a faint bridge.

    Noise is white noise convolved with the beam and rescaled to ``rms``, so
    it is correlated on the beam scale as in an interferometric image. With
    ``primary_beam_fwhm`` the image is primary-beam corrected, as
    MeerKAT/ASKAP/VLA images usually are: the noise (and only the noise;
    sources keep their true flux densities) is divided by a Gaussian primary
    beam response ``PB(r) = exp(-4 ln 2 r**2 / primary_beam_fwhm**2)``, so it
    rises from ``rms`` at the pointing centre toward the edges, and pixels
    where ``PB < pb_cutoff`` are blanked (NaN).
    Optionally, rings or radial stripes (``artefacts``) are added around the
    brightest sources. Each source is rendered on a local stamp, so the cost
    grows with the number of sources, not with their product with the image
    size (a 4096 x 4096 field with ~12,000 sources takes a few seconds).

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)`` of the image.
    seed : int, `numpy.random.Generator` or None, optional
        Random seed. The same seed gives the same field. With None a seed is
        drawn and written to the header (``SIMSEED``), so the field can be
        regenerated.
    pixel_scale : `~astropy.units.Quantity` or float, optional
        Pixel size (float: arcsec).
    beam_fwhm : `~astropy.units.Quantity`, float or pair, optional
        Beam FWHM (float: arcsec); a pair gives ``(major, minor)``. The default
        (6 arcsec with 1.5 arcsec pixels) gives a 4-pixel beam, which suits
        detectors working on 16-pixel ViT patches after a 2x upscale.
    beam_pa : `~astropy.units.Quantity` or float, optional
        Beam position angle, east of north (float: degrees).
    rms : `~astropy.units.Quantity` or float, optional
        Noise rms (float: Jy/beam).
    n_sources : int, optional
        Exact number of sources. Give this or ``source_density``, not both.
    source_density : `~astropy.units.Quantity` or float, optional
        Mean number of sources per square degree (float: deg**-2) above
        ``flux_min_snr * rms``; the number is then Poisson-distributed.
        Default (when neither is given): 4000 deg**-2 (~180 sources in the
        default 512 x 512 field).
    flux_min_snr, flux_max_snr : float, optional
        Flux density range as multiples of ``rms``.
    powerlaw_index : float, optional
        Slope of the differential source counts, > 1.
    extended_fraction, double_fraction : float, optional
        Fractions of resolved and double-lobed sources (each in [0, 1], sum <= 1).
    artefacts : {None, 'rings', 'stripes'}, optional
        Imaging artefacts around every source with ``peak_flux >=
        artefact_min_snr * rms`` (or around the brightest source if none is
        that bright).
    artefact_amplitude : float, optional
        Artefact amplitude as a fraction of the source peak.
    artefact_min_snr : float, optional
        Peak signal-to-noise above which a source gets artefacts.
    wcs_center : `~astropy.coordinates.SkyCoord` or (ra, dec), optional
        Sky position of the image centre (degrees for plain numbers).
    projection : {'SIN', 'TAN'}, optional
        Celestial projection of the WCS.
    box_nsigma : float, optional
        Half-size of each truth box in Gaussian sigma of its (beam-convolved)
        components; the default 3 covers 99.7% of each component's extent.
    primary_beam_fwhm : `~astropy.units.Quantity`, float or None, optional
        FWHM of the Gaussian primary beam (float: arcsec) that the noise is
        divided by; None (the default) gives uniform noise. ``rms`` is then
        the noise at the pointing centre.
    primary_beam_center : (x, y), `~astropy.coordinates.SkyCoord` or None, optional
        Pointing centre: 0-based pixel coordinates or a sky position (through
        the WCS). None: the image centre.
    pb_cutoff : float or None, optional
        Blank (NaN) the pixels where the primary beam response is below this
        value (in (0, 1); e.g. 0.2), as imaging pipelines do. Sources centred
        in the blanked area are left out of the truth catalog. Needs
        ``primary_beam_fwhm``.
    return_truth : bool, optional
        Build the truth catalog (``False`` leaves ``truth`` as None).

    Returns
    -------
    field : `SimulatedRadioField`
        ``data`` (float32, Jy/beam), ``header`` and ``truth``, a
        `~astropy.table.QTable` with columns ``id`` (from 1),
        ``x_centroid``, ``y_centroid`` (0-based pixels, the centre of the
        first pixel is (0, 0)), ``sky_centroid`` (`~astropy.coordinates.SkyCoord`),
        ``flux`` (integrated, Jy), ``peak_flux`` (Jy/beam: the brightest pixel
        of the noise-free source), ``major``, ``minor`` (FWHM in arcsec of
        the beam-convolved source, as PyBDSF and Aegean report it; for
        doubles the end-to-end extent), ``pa`` (degrees east of north),
        ``theta`` (degrees counter-clockwise from +x, the pixel-frame angle),
        ``morphology`` (one of `RADIO_MORPHOLOGIES`), ``n_components``,
        ``snr`` (``peak_flux`` over the local noise, ``rms / PB`` at the
        source centre; ``peak_flux / rms`` without a primary beam),
        ``has_artefact`` and the box ``bbox_xmin``, ``bbox_ymin``,
        ``bbox_xmax``, ``bbox_ymax`` in pixel coordinates (pixel edges at
        half-integers), clipped to the image. With ``primary_beam_fwhm`` a
        column ``primary_beam`` holds the response PB at each source centre.
        The header records the primary beam in ``SIMPBFW`` (arcsec),
        ``SIMPBX``, ``SIMPBY`` (0-based pixels) and ``SIMPBCUT``.

    Raises
    ------
    ValueError
        For a shape that is not 2-D, non-positive rms/beam/pixel scale,
        fractions outside [0, 1], both ``n_sources`` and ``source_density``,
        an unknown ``artefacts`` or ``projection``, a ``pb_cutoff`` outside
        (0, 1) or without ``primary_beam_fwhm``.

    See Also
    --------
    truth_boxes_in_window : boxes and labels of a training window.

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field
    >>> field = simulate_radio_field((128, 128), seed=0, n_sources=10)
    >>> field.data.shape, field.data.dtype
    ((128, 128), dtype('float32'))
    >>> field.header["BUNIT"], field.header["CTYPE1"]
    ('JY/BEAM', 'RA---SIN')
    >>> len(field.truth)
    10

    A primary-beam-corrected field: the noise grows toward the edges, which
    are blanked where the primary beam response drops below 0.3:

    >>> import numpy as np
    >>> import astropy.units as u
    >>> pbc = simulate_radio_field((256, 256), seed=0, n_sources=0, primary_beam_fwhm=300 * u.arcsec,
    ...                            pb_cutoff=0.3)
    >>> centre, edge = np.nanstd(pbc.data[118:138, 118:138]), np.nanstd(pbc.data[:, :20])
    >>> bool(edge > 2 * centre), bool(np.isnan(pbc.data[0, 0])), pbc.header["SIMPBCUT"]
    (True, True, 0.3)
    """
    shape = _check_shape(shape)
    ny, nx = shape
    (rng, rng_artefacts, rng_noise), recorded_seed = _check_rng(seed)
    pix_arcsec = _positive("pixel_scale", pixel_scale, u.arcsec, "angle")
    if isinstance(beam_fwhm, (tuple, list)):
        if len(beam_fwhm) != 2:
            raise ValueError(f"beam_fwhm must be a number or a (major, minor) pair, got {beam_fwhm!r}")
        bmaj = _positive("beam_fwhm major", beam_fwhm[0], u.arcsec, "angle")
        bmin = _positive("beam_fwhm minor", beam_fwhm[1], u.arcsec, "angle")
        if bmin > bmaj:
            raise ValueError(f"beam_fwhm minor must not exceed major, got {beam_fwhm!r}")
    else:
        bmaj = bmin = _positive("beam_fwhm", beam_fwhm, u.arcsec, "angle")
    bpa = _as_quantity("beam_pa", beam_pa, u.deg, "angle")
    rms_jy = _positive("rms", rms, u.Jy / u.beam, "flux density per beam (e.g. Jy/beam)")
    flux_min_snr = _positive("flux_min_snr", flux_min_snr, u.dimensionless_unscaled, "dimensionless")
    flux_max_snr = _positive("flux_max_snr", flux_max_snr, u.dimensionless_unscaled, "dimensionless")
    if flux_max_snr <= flux_min_snr:
        raise ValueError(f"flux_max_snr must exceed flux_min_snr ({flux_min_snr}), got {flux_max_snr!r}")
    powerlaw_index = _as_quantity("powerlaw_index", powerlaw_index, u.dimensionless_unscaled, "dimensionless")
    if powerlaw_index <= 1.0:
        raise ValueError(f"powerlaw_index must be > 1 (2.5 is Euclidean), got {powerlaw_index!r}")
    extended_fraction = _fraction("extended_fraction", extended_fraction)
    double_fraction = _fraction("double_fraction", double_fraction)
    if extended_fraction + double_fraction > 1.0:
        raise ValueError("extended_fraction + double_fraction must be <= 1, got "
                         f"{extended_fraction} + {double_fraction}")
    if artefacts not in (None, "rings", "stripes"):
        raise ValueError(f"artefacts must be None, 'rings' or 'stripes', got {artefacts!r}")
    artefact_amplitude = _fraction("artefact_amplitude", artefact_amplitude)
    artefact_min_snr = _positive("artefact_min_snr", artefact_min_snr, u.dimensionless_unscaled, "dimensionless")
    box_nsigma = _positive("box_nsigma", box_nsigma, u.dimensionless_unscaled, "dimensionless")
    if projection not in ("SIN", "TAN"):
        raise ValueError(f"projection must be 'SIN' or 'TAN', got {projection!r}")
    ra0, dec0 = _check_center(wcs_center)
    if primary_beam_fwhm is not None:
        pb_fwhm = _positive("primary_beam_fwhm", primary_beam_fwhm, u.arcsec, "angle")
    elif pb_cutoff is not None or primary_beam_center is not None:
        raise ValueError("pb_cutoff and primary_beam_center need primary_beam_fwhm (the primary beam FWHM, "
                         f"e.g. 1 * u.deg), got pb_cutoff={pb_cutoff!r}, "
                         f"primary_beam_center={primary_beam_center!r}")
    if pb_cutoff is not None:
        pb_cutoff = _fraction("pb_cutoff", pb_cutoff)
        if not 0.0 < pb_cutoff < 1.0:
            raise ValueError(f"pb_cutoff must be in (0, 1) or None, got {pb_cutoff!r}")
    header = _make_header(shape, ra0, dec0, pix_arcsec, bmaj, bmin, bpa, projection)
    if primary_beam_fwhm is not None:
        pb_x, pb_y = _check_pb_center(primary_beam_center, header, nx, ny)

    area_deg2 = (nx * pix_arcsec / 3600.0) * (ny * pix_arcsec / 3600.0)
    if n_sources is not None and source_density is not None:
        raise ValueError("give n_sources or source_density, not both")
    if n_sources is not None:
        if isinstance(n_sources, (bool, np.bool_)) or not isinstance(n_sources, (int, np.integer)) \
                or n_sources < 0:
            raise ValueError(f"n_sources must be a non-negative integer, got {n_sources!r}")
        n = int(n_sources)
    else:
        density = _DEFAULT_DENSITY if source_density is None else source_density
        density = _as_quantity("source_density", density, u.deg ** -2, "inverse solid angle (e.g. 1/deg2)")
        if density < 0:
            raise ValueError(f"source_density must be >= 0, got {source_density!r}")
        n = int(rng.poisson(density * area_deg2))

    # beam in pixels; theta (ccw from +x) = PA (east of north) + 90 deg for a north-up, east-left image
    bmaj_px, bmin_px = bmaj / pix_arcsec, bmin / pix_arcsec
    beam_cov = _cov(bmaj_px, bmin_px, math.radians(bpa + 90.0))
    beam_det_sqrt = math.sqrt(np.linalg.det(beam_cov))
    beam_mean_px = math.sqrt(bmaj_px * bmin_px)

    # --- draw the population (all draws in a fixed order) ---
    xs = rng.uniform(-0.5, nx - 0.5, size=n)
    ys = rng.uniform(-0.5, ny - 0.5, size=n)
    fluxes = _powerlaw(rng, n, flux_min_snr * rms_jy, flux_max_snr * rms_jy, powerlaw_index)
    kinds = rng.choice(3, size=n, p=[1.0 - extended_fraction - double_fraction, extended_fraction,
                                     double_fraction]) if n else np.zeros(0, int)

    # each source: list of (x, y, cov_observed, integrated flux)
    image = np.zeros(shape, dtype=np.float32)
    truth_rows = []
    for i in range(n):
        x, y, s, kind = xs[i], ys[i], fluxes[i], int(kinds[i])
        comps = []
        if kind == 0:
            comps.append((x, y, beam_cov, s))
        elif kind == 1:
            major = beam_mean_px * math.exp(rng.uniform(math.log(1.2), math.log(5.0)))
            minor = major * rng.uniform(0.3, 1.0)
            comps.append((x, y, _cov(major, minor, rng.uniform(0, math.pi)) + beam_cov, s))
        else:
            sep = beam_mean_px * math.exp(rng.uniform(math.log(2.5), math.log(12.0)))
            axis = rng.uniform(0, math.pi)
            f_core = 0.05 if rng.uniform() < 0.5 else 0.0
            f_bridge = 0.10 if rng.uniform() < 0.3 else 0.0
            f1 = rng.uniform(0.35, 0.65) * (1.0 - f_core - f_bridge)
            f2 = 1.0 - f_core - f_bridge - f1
            ux, uy = math.cos(axis), math.sin(axis)
            for sign, frac in ((+1, f1), (-1, f2)):
                lmaj = beam_mean_px * rng.uniform(0.8, 2.0)
                lmin = lmaj * rng.uniform(0.5, 1.0)
                ltheta = axis + rng.uniform(-0.5, 0.5)
                comps.append((x + sign * ux * sep / 2, y + sign * uy * sep / 2,
                              _cov(lmaj, lmin, ltheta) + beam_cov, s * frac))
            if f_core:
                comps.append((x, y, beam_cov, s * f_core))
            if f_bridge:
                comps.append((x, y, _cov(0.8 * sep, 0.6 * beam_mean_px, axis) + beam_cov, s * f_bridge))
        # render on stamps, tracking the peak of the noise-free source on its own
        xmin = ymin = np.inf
        xmax = ymax = -np.inf
        # peak of a blend: render the source alone on a small stamp first
        peak = _blend_peak(comps, beam_det_sqrt) if len(comps) > 1 else None
        for cx, cy, cov, cflux in comps:
            cpeak = cflux * beam_det_sqrt / math.sqrt(np.linalg.det(cov))
            sx, sy = _render_gaussian(image, cx, cy, cov, cpeak)
            xmin, xmax = min(xmin, cx - box_nsigma * sx), max(xmax, cx + box_nsigma * sx)
            ymin, ymax = min(ymin, cy - box_nsigma * sy), max(ymax, cy + box_nsigma * sy)
            if peak is None:
                peak = _sampled_peak(cx, cy, cov, cpeak, nx, ny)
        if kind == 2:
            lobe_major = max(_cov_to_shape(c[2])[0] for c in comps[:2])
            lobe_minor = max(_cov_to_shape(c[2])[1] for c in comps[:2])
            major, minor, theta = sep + lobe_major, lobe_minor, axis
        else:
            major, minor, theta = _cov_to_shape(comps[0][2])
        truth_rows.append((x, y, s, peak, major * pix_arcsec, minor * pix_arcsec, math.degrees(theta),
                           RADIO_MORPHOLOGIES[kind], len(comps),
                           max(xmin, -0.5), max(ymin, -0.5), min(xmax, nx - 0.5), min(ymax, ny - 0.5)))

    # --- artefacts around the brightest sources ---
    has_artefact = np.zeros(n, dtype=bool)
    if artefacts is not None and n:
        peaks = np.array([r[3] for r in truth_rows])
        bright = np.flatnonzero(peaks / rms_jy >= artefact_min_snr)
        if bright.size == 0:
            bright = np.array([int(np.argmax(peaks))])
        for i in bright:
            _render_artefact(image, xs[i], ys[i], peaks[i], artefact_amplitude, artefacts,
                             beam_mean_px, rng_artefacts)
        has_artefact[bright] = True

    noise = _correlated_noise(shape, beam_cov, rms_jy, rng_noise)
    pb_src = None
    if primary_beam_fwhm is not None:
        pb_map = _primary_beam(shape, pb_x, pb_y, pb_fwhm / pix_arcsec)
        noise /= pb_map
        pb_src = _primary_beam(None, pb_x, pb_y, pb_fwhm / pix_arcsec, xs, ys)
    image += noise
    if pb_cutoff is not None:
        image[pb_map < pb_cutoff] = np.nan

    params = {
        "SIMSEED": (recorded_seed, "random seed (-1: a Generator was given)"),
        "SIMRMS": (rms_jy, "[Jy/beam] target noise rms"),
        "SIMNSRC": (n, "number of simulated sources"),
        "SIMSMIN": (flux_min_snr * rms_jy, "[Jy] minimum integrated flux density"),
        "SIMSMAX": (flux_max_snr * rms_jy, "[Jy] maximum integrated flux density"),
        "SIMALPHA": (powerlaw_index, "differential counts dN/dS ~ S^-SIMALPHA"),
        "SIMEXTF": (extended_fraction, "fraction of extended sources"),
        "SIMDBLF": (double_fraction, "fraction of double-lobed sources"),
        "SIMARTEF": (str(artefacts), "artefacts around bright sources"),
        "SIMBOXNS": (box_nsigma, "truth box half-size in component sigma"),
    }
    if primary_beam_fwhm is not None:  # only then, so that uniform-noise headers stay as they were
        params["SIMPBFW"] = (pb_fwhm, "[arcsec] primary beam FWHM (noise divided by PB)")
        params["SIMPBX"] = (pb_x, "[pix] primary beam centre x (0-based)")
        params["SIMPBY"] = (pb_y, "[pix] primary beam centre y (0-based)")
        params["SIMPBCUT"] = (pb_cutoff if pb_cutoff is not None else 0.0, "blanked where PB < SIMPBCUT")
    for key, (value, comment) in params.items():
        header[key] = (value, comment)
    meta = get_meta()
    header["HISTORY"] = f"simulated by astrofmx {meta['version']['astrofmx']} simulate_radio_field on {meta['date']}"

    truth = None
    if return_truth:
        truth = _make_truth(truth_rows, has_artefact, header, rms_jy, meta, params, pb_src)
        if pb_cutoff is not None:
            truth = truth[np.asarray(truth["primary_beam"]) >= pb_cutoff]
    logger.debug("simulated %d sources in a %dx%d field", n, ny, nx)
    return SimulatedRadioField(data=image, header=header, truth=truth)


def _sampled_peak(cx, cy, cov, cpeak, nx, ny):
    """Brightest pixel-centre value of one Gaussian component (within the image)."""
    inv = np.linalg.inv(cov)
    px = np.clip(np.arange(math.floor(cx) - 1, math.floor(cx) + 3), 0, nx - 1)
    py = np.clip(np.arange(math.floor(cy) - 1, math.floor(cy) + 3), 0, ny - 1)
    dx = px - cx
    dy = (py - cy)[:, None]
    q = inv[0, 0] * dx * dx + 2.0 * inv[0, 1] * dx * dy + inv[1, 1] * dy * dy
    return float(cpeak * np.exp(-0.5 * q).max())


def _blend_peak(comps, beam_det_sqrt):
    """Brightest pixel of a multi-component source rendered alone (pixel grid aligned with the image)."""
    x_lo = min(c[0] - _STAMP_NSIGMA * math.sqrt(c[2][0, 0]) for c in comps)
    x_hi = max(c[0] + _STAMP_NSIGMA * math.sqrt(c[2][0, 0]) for c in comps)
    y_lo = min(c[1] - _STAMP_NSIGMA * math.sqrt(c[2][1, 1]) for c in comps)
    y_hi = max(c[1] + _STAMP_NSIGMA * math.sqrt(c[2][1, 1]) for c in comps)
    ox, oy = int(math.floor(x_lo)), int(math.floor(y_lo))
    stamp = np.zeros((int(math.ceil(y_hi)) - oy + 1, int(math.ceil(x_hi)) - ox + 1))
    for cx, cy, cov, cflux in comps:
        cpeak = cflux * beam_det_sqrt / math.sqrt(np.linalg.det(cov))
        _render_gaussian(stamp, cx - ox, cy - oy, cov, cpeak)
    return float(stamp.max())


def _make_header(shape, ra0, dec0, pix_arcsec, bmaj, bmin, bpa, projection):
    ny, nx = shape
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = nx
    header["NAXIS2"] = ny
    header["CTYPE1"] = f"RA---{projection}"
    header["CTYPE2"] = f"DEC--{projection}"
    header["CRVAL1"] = ra0
    header["CRVAL2"] = dec0
    header["CRPIX1"] = nx / 2.0 + 0.5
    header["CRPIX2"] = ny / 2.0 + 0.5
    header["CDELT1"] = -pix_arcsec / 3600.0
    header["CDELT2"] = pix_arcsec / 3600.0
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    header["RADESYS"] = "ICRS"
    header["EQUINOX"] = 2000.0
    header["BMAJ"] = (bmaj / 3600.0, "[deg] beam major axis FWHM")
    header["BMIN"] = (bmin / 3600.0, "[deg] beam minor axis FWHM")
    header["BPA"] = (bpa, "[deg] beam position angle, east of north")
    header["BUNIT"] = "JY/BEAM"
    header["BTYPE"] = "Intensity"
    header["TELESCOP"] = "SIMULATED"
    header["OBJECT"] = "astrofmx simulated radio field"
    header["ORIGIN"] = "astrofmx"
    return header


def _check_pb_center(center, header, nx, ny):
    """Pointing centre in 0-based pixels: the image centre, an (x, y) pair or a SkyCoord through the WCS."""
    if center is None:
        return (nx - 1) / 2.0, (ny - 1) / 2.0
    if isinstance(center, SkyCoord):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
            x, y = WCS(header).world_to_pixel(center)
        x, y = float(x), float(y)
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(f"primary_beam_center {center!r} does not project onto the image plane")
        return x, y
    try:
        x, y = (float(v) for v in center)
    except (TypeError, ValueError) as exc:
        raise TypeError("primary_beam_center must be None, a SkyCoord or an (x, y) pair of pixel coordinates, "
                        f"got {center!r}") from exc
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"primary_beam_center must be finite, got {center!r}")
    return x, y


def _primary_beam(shape, x0, y0, fwhm_px, x=None, y=None):
    """Gaussian primary beam response on the pixel grid of ``shape`` (float32) or at points ``x, y``."""
    if shape is not None:
        ny, nx = shape
        dx2 = ((np.arange(nx, dtype=np.float64) - x0) ** 2)[None, :]
        dy2 = ((np.arange(ny, dtype=np.float64) - y0) ** 2)[:, None]
        pb = np.exp(-4.0 * math.log(2.0) * (dx2 + dy2) / fwhm_px ** 2)
        # far outside the beam the response underflows: keep the noise finite (huge) rather than inf
        return np.maximum(pb, 1e-30).astype(np.float32)
    return np.exp(-4.0 * math.log(2.0) * ((np.asarray(x) - x0) ** 2 + (np.asarray(y) - y0) ** 2) / fwhm_px ** 2)


def _make_truth(rows, has_artefact, header, rms_jy, meta, params, pb_src=None):
    names = ("x", "y", "flux", "peak", "major", "minor", "theta", "morph", "ncomp",
             "xmin", "ymin", "xmax", "ymax")
    n = len(rows)
    cols = {name: [r[k] for r in rows] for k, name in enumerate(names)}
    x = np.asarray(cols["x"], dtype=float)
    y = np.asarray(cols["y"], dtype=float)
    theta = np.asarray(cols["theta"], dtype=float) % 180.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=fits.verify.VerifyWarning)
        sky = WCS(header).pixel_to_world(x, y) if n else SkyCoord([] * u.deg, [] * u.deg, frame="icrs")
    peak = np.asarray(cols["peak"], dtype=float)
    table = QTable()
    table["id"] = np.arange(1, n + 1, dtype=np.int64)
    table["x_centroid"] = x
    table["y_centroid"] = y
    table["sky_centroid"] = sky
    table["flux"] = np.asarray(cols["flux"], dtype=float) * u.Jy
    table["peak_flux"] = peak * u.Jy / u.beam
    table["major"] = np.asarray(cols["major"], dtype=float) * u.arcsec
    table["minor"] = np.asarray(cols["minor"], dtype=float) * u.arcsec
    table["pa"] = ((theta - 90.0) % 180.0) * u.deg
    table["theta"] = theta * u.deg
    table["morphology"] = np.asarray(cols["morph"], dtype="U8")
    table["n_components"] = np.asarray(cols["ncomp"], dtype=np.int64)
    table["snr"] = peak / rms_jy if pb_src is None else peak * np.asarray(pb_src, dtype=float) / rms_jy
    table["has_artefact"] = has_artefact
    if pb_src is not None:
        table["primary_beam"] = np.asarray(pb_src, dtype=float)
    for name in ("xmin", "ymin", "xmax", "ymax"):
        table[f"bbox_{name}"] = np.asarray(cols[name], dtype=float)
    table.meta.update(meta)
    table.meta["simulation"] = {k: v[0] for k, v in params.items()}
    table.meta["box_convention"] = "astropy pixel coordinates: pixel centres at integers, edges at half-integers"
    return table


# ----------------------------------------------------------------------------------------------
# boxes for detector training
# ----------------------------------------------------------------------------------------------

_BOX_COLUMNS = ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")


def truth_boxes(truth):
    """Truth boxes as an ``(N, 4)`` float array ``(xmin, ymin, xmax, ymax)`` in image pixel coordinates.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        A truth catalog from `simulate_radio_field` (any table with the
        ``bbox_*`` columns).

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (N, 4)

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field, truth_boxes
    >>> field = simulate_radio_field((64, 64), seed=2, n_sources=4)
    >>> truth_boxes(field.truth).shape
    (4, 4)
    """
    missing = [c for c in _BOX_COLUMNS if c not in truth.colnames]
    if missing:
        raise ValueError(f"truth must have the columns {_BOX_COLUMNS}; missing {missing}")
    return np.stack([np.asarray(u.Quantity(truth[c]).value, dtype=float) for c in _BOX_COLUMNS], axis=-1) \
        .reshape(-1, 4)


def truth_boxes_in_window(truth, x0, y0, width, height, *, min_visible_fraction=0.5, min_snr=None,
                          convention="torchvision", class_agnostic=False, return_index=False):
    """Truth boxes and labels of the sources visible in a pixel window, in window coordinates.

    Use it to cut training tiles out of a simulated field: ``window =
    field.data[y0:y0 + height, x0:x0 + width]`` goes with the boxes returned
    here.

    Parameters
    ----------
    truth : `~astropy.table.Table`
        Truth catalog from `simulate_radio_field`.
    x0, y0 : int
        First column and row of the window in the full image.
    width, height : int
        Window size in pixels.
    min_visible_fraction : float, optional
        Keep a source only if at least this fraction of its box area lies in
        the window (in [0, 1]; 0 keeps any overlap). Kept boxes are clipped to
        the window.
    min_snr : float, optional
        Drop sources whose ``snr`` (peak over rms) is below this, e.g. faint
        extended sources that no finder could see.
    convention : {'torchvision', 'astropy'}, optional
        ``'torchvision'``: pixel ``i`` spans ``[i, i + 1]``, boxes lie in
        ``[0, width] x [0, height]`` (what torchvision detectors expect).
        ``'astropy'``: pixel centres at integers, edges at half-integers, as in
        the truth table.
    class_agnostic : bool, optional
        Give every source label 1 instead of one label per morphology.
    return_index : bool, optional
        Also return the row indices into ``truth`` of the kept sources.

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (M, 4), float32
        ``(xmin, ymin, xmax, ymax)`` relative to the window.
    labels : `~numpy.ndarray`, shape (M,), int64
        ``1 + RADIO_MORPHOLOGIES.index(morphology)`` (0 is left for the
        background, as torchvision expects), or all 1 with ``class_agnostic``.
    index : `~numpy.ndarray`, shape (M,), int64
        Only with ``return_index=True``.

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field, truth_boxes_in_window
    >>> field = simulate_radio_field((256, 256), seed=3, n_sources=40)
    >>> boxes, labels = truth_boxes_in_window(field.truth, 0, 0, 128, 128)
    >>> bool(((boxes >= 0) & (boxes <= 128)).all())
    True
    """
    for name, value in (("x0", x0), ("y0", y0), ("width", width), ("height", height)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {value!r}")
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width!r} x {height!r}")
    min_visible_fraction = _fraction("min_visible_fraction", min_visible_fraction)
    if convention not in ("torchvision", "astropy"):
        raise ValueError(f"convention must be 'torchvision' or 'astropy', got {convention!r}")
    boxes = truth_boxes(truth)
    # window edges in astropy pixel coordinates
    wx0, wy0, wx1, wy1 = x0 - 0.5, y0 - 0.5, x0 + width - 0.5, y0 + height - 0.5
    cx0 = np.maximum(boxes[:, 0], wx0)
    cy0 = np.maximum(boxes[:, 1], wy0)
    cx1 = np.minimum(boxes[:, 2], wx1)
    cy1 = np.minimum(boxes[:, 3], wy1)
    inter = np.clip(cx1 - cx0, 0, None) * np.clip(cy1 - cy0, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        visible = np.where(area > 0, inter / area, 0.0)
    keep = (inter > 0) & (visible >= min_visible_fraction)
    if min_snr is not None:
        if "snr" not in truth.colnames:
            raise ValueError("min_snr needs an 'snr' column in truth")
        keep &= np.asarray(truth["snr"], dtype=float) >= float(min_snr)
    index = np.flatnonzero(keep)
    shift = 0.5 if convention == "torchvision" else 0.0
    out = np.stack([cx0[keep] - x0 + shift, cy0[keep] - y0 + shift,
                    cx1[keep] - x0 + shift, cy1[keep] - y0 + shift], axis=-1).astype(np.float32).reshape(-1, 4)
    if class_agnostic or "morphology" not in truth.colnames:
        labels = np.ones(index.size, dtype=np.int64)
    else:
        morph = np.asarray(truth["morphology"])[index]
        unknown = set(morph) - set(RADIO_MORPHOLOGIES)
        if unknown:
            raise ValueError(f"morphology must be one of {RADIO_MORPHOLOGIES}, got {sorted(unknown)}")
        labels = np.array([1 + RADIO_MORPHOLOGIES.index(m) for m in morph], dtype=np.int64)
    if return_index:
        return out, labels, index.astype(np.int64)
    return out, labels
