"""Settings of the radio-field simulator, grouped by what they describe.

Each group is a frozen dataclass that checks and normalises its values when it
is made (Quantities become floats in the documented units), so a bad value is
reported where it is given. `simulate_radio_field` takes either the groups or
the flat keywords (``rms=``, ``beam_fwhm=``, ...), which `_resolve_settings`
turns into groups; error messages use the flat keyword names.
"""

import dataclasses

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from ._checks import (_as_quantity, _check_center, _check_pixel_pair, _fraction, _is_int, _positive,
                      _positive_number)

__all__ = ["SourcePopulation", "RadioBeam", "ImageGrid", "NoiseModel", "ArtefactModel"]

_JY_BEAM = u.Jy / u.beam
# the defaults as the flat keywords' Quantity defaults convert, so both spellings give the same floats
_DEFAULT_RMS = (20.0 * u.uJy / u.beam).to_value(_JY_BEAM)
_DEFAULT_BEAM_FWHM = (6.0 * u.arcsec).to_value(u.arcsec)
_DEFAULT_PIXEL_SCALE = (1.5 * u.arcsec).to_value(u.arcsec)


def _check_size_range(value):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"extended_size must be a (min, max) pair of sizes in beams, got {value!r}") from exc
    if not (np.isfinite(low) and np.isfinite(high) and 0.0 < low <= high):
        raise ValueError(f"extended_size must be a (min, max) pair with 0 < min <= max, got {value!r}")
    return low, high


def _set(obj, **values):
    for name, value in values.items():
        object.__setattr__(obj, name, value)


@dataclasses.dataclass(frozen=True)
class SourcePopulation:
    """How many sources a simulated field holds, how bright they are and of which morphologies.

    Flux densities follow ``dN/dS ~ S**-powerlaw_index`` from
    ``flux_min_snr * rms`` to ``flux_max_snr * rms``.

    Parameters
    ----------
    n_sources : int, optional
        Exact number of sources. Give this or ``source_density``, not both.
    source_density : `~astropy.units.Quantity` or float, optional
        Mean number of sources per square degree (float: deg**-2); the number
        is then Poisson-distributed. Default (when neither is given): 4000
        deg**-2. Stored as a float in deg**-2.
    flux_min_snr, flux_max_snr : float, optional
        Flux density range as multiples of the noise rms.
    powerlaw_index : float, optional
        Slope of the differential source counts, > 1 (2.5 is Euclidean).
    extended_fraction, double_fraction : float, optional
        Fractions of resolved and double-lobed sources (each in [0, 1], sum <= 1).
    fri_fraction, frii_fraction : float, optional
        Fractions of multi-component radio galaxies (default 0, off): FR I-like
        (a bright core and two, sometimes one, fading and widening jets of
        several knots, 3-15 beams long, sometimes bent; morphology
        ``'extended'``) and FR II-like (a faint core, two edge-brightened
        lobes with compact hot spots, sometimes a faint jet, 5-30 beams long;
        morphology ``'double'``). Each is one truth row whose box covers all
        its components. All four fractions sum to at most 1.
    extended_size : (float, float), optional
        Range of the intrinsic FWHM major axis of ``'extended'`` sources, in
        beams (log-uniform); default (1.2, 5).

    Raises
    ------
    ValueError
        For both ``n_sources`` and ``source_density``, a negative count or
        density, fractions outside [0, 1] or summing to more than 1, or
        ``flux_max_snr <= flux_min_snr``.

    Examples
    --------
    >>> from astrofmx.datasets import SourcePopulation, simulate_radio_field
    >>> population = SourcePopulation(n_sources=12, double_fraction=0.5)
    >>> field = simulate_radio_field((128, 128), seed=0, population=population)
    >>> len(field.truth)
    12
    """

    n_sources: int = None
    source_density: float = None
    flux_min_snr: float = 3.0
    flux_max_snr: float = 1e4
    powerlaw_index: float = 2.5
    extended_fraction: float = 0.15
    double_fraction: float = 0.05
    fri_fraction: float = 0.0
    frii_fraction: float = 0.0
    extended_size: tuple = (1.2, 5.0)

    def __post_init__(self):
        flux_min_snr = _positive_number("flux_min_snr", self.flux_min_snr)
        flux_max_snr = _positive_number("flux_max_snr", self.flux_max_snr)
        if flux_max_snr <= flux_min_snr:
            raise ValueError(f"flux_max_snr must exceed flux_min_snr ({flux_min_snr}), got {flux_max_snr!r}")
        index = _as_quantity("powerlaw_index", self.powerlaw_index, u.dimensionless_unscaled, "dimensionless")
        if index <= 1.0:
            raise ValueError(f"powerlaw_index must be > 1 (2.5 is Euclidean), got {index!r}")
        extended = _fraction("extended_fraction", self.extended_fraction)
        double = _fraction("double_fraction", self.double_fraction)
        if extended + double > 1.0:
            raise ValueError(f"extended_fraction + double_fraction must be <= 1, got {extended} + {double}")
        fri, frii = _fraction("fri_fraction", self.fri_fraction), _fraction("frii_fraction", self.frii_fraction)
        if extended + double + fri + frii > 1.0:
            raise ValueError("extended_fraction + double_fraction + fri_fraction + frii_fraction must be <= 1, "
                             f"got {extended} + {double} + {fri} + {frii}")
        _set(self, flux_min_snr=flux_min_snr, flux_max_snr=flux_max_snr, powerlaw_index=index,
             extended_fraction=extended, double_fraction=double, fri_fraction=fri, frii_fraction=frii,
             extended_size=_check_size_range(self.extended_size))
        self._check_count()

    def _check_count(self):
        n_sources, density = self.n_sources, self.source_density
        if n_sources is not None and density is not None:
            raise ValueError("give n_sources or source_density, not both")
        if n_sources is not None:
            if not _is_int(n_sources) or n_sources < 0:
                raise ValueError(f"n_sources must be a non-negative integer, got {n_sources!r}")
            _set(self, n_sources=int(n_sources))
        elif density is not None:
            value = _as_quantity("source_density", density, u.deg ** -2, "inverse solid angle (e.g. 1/deg2)")
            if value < 0:
                raise ValueError(f"source_density must be >= 0, got {density!r}")
            _set(self, source_density=value)


@dataclasses.dataclass(frozen=True)
class RadioBeam:
    """The synthesised (restoring) beam of a simulated field.

    Parameters
    ----------
    fwhm : `~astropy.units.Quantity`, float or pair, optional
        Beam FWHM (float: arcsec); a pair gives ``(major, minor)``. Stored as
        the pair ``(major, minor)`` in arcsec. The default, 6 arcsec, is a
        4-pixel beam with the default 1.5 arcsec pixels.
    pa : `~astropy.units.Quantity` or float, optional
        Position angle of the major axis, east of north (float: degrees).

    Raises
    ------
    ValueError
        For a non-positive FWHM or a minor axis larger than the major axis.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.datasets import RadioBeam
    >>> RadioBeam(fwhm=(8 * u.arcsec, 5 * u.arcsec), pa=30 * u.deg)
    RadioBeam(fwhm=(8.0, 5.0), pa=30.0)
    """

    fwhm: float = _DEFAULT_BEAM_FWHM
    pa: float = 0.0

    def __post_init__(self):
        fwhm = self.fwhm
        if isinstance(fwhm, (tuple, list)):
            if len(fwhm) != 2:
                raise ValueError(f"beam_fwhm must be a number or a (major, minor) pair, got {fwhm!r}")
            major = _positive("beam_fwhm major", fwhm[0], u.arcsec, "angle")
            minor = _positive("beam_fwhm minor", fwhm[1], u.arcsec, "angle")
            if minor > major:
                raise ValueError(f"beam_fwhm minor must not exceed major, got {fwhm!r}")
        else:
            major = minor = _positive("beam_fwhm", fwhm, u.arcsec, "angle")
        _set(self, fwhm=(major, minor), pa=_as_quantity("beam_pa", self.pa, u.deg, "angle"))

    @property
    def major(self):
        """Major axis FWHM in arcsec (float)."""
        return self.fwhm[0]

    @property
    def minor(self):
        """Minor axis FWHM in arcsec (float)."""
        return self.fwhm[1]


@dataclasses.dataclass(frozen=True)
class ImageGrid:
    """The pixel grid and celestial WCS of a simulated field.

    Parameters
    ----------
    pixel_scale : `~astropy.units.Quantity` or float, optional
        Pixel size (float: arcsec). Stored as a float in arcsec.
    center : `~astropy.coordinates.SkyCoord` or (ra, dec), optional
        Sky position of the image centre (degrees for plain numbers). Stored
        as ICRS ``(ra, dec)`` in degrees, RA in [0, 360).
    projection : {'SIN', 'TAN'}, optional
        Celestial projection of the WCS.

    Raises
    ------
    ValueError
        For a non-positive pixel scale, a Dec outside [-90, 90] or an unknown
        projection.

    Examples
    --------
    >>> from astropy.coordinates import SkyCoord
    >>> from astrofmx.datasets import ImageGrid
    >>> ImageGrid(pixel_scale=2.0, center=SkyCoord(-10.0, 30.0, unit="deg"), projection="TAN").center
    (350.0, 30.0)
    """

    pixel_scale: float = _DEFAULT_PIXEL_SCALE
    center: tuple = (150.0, 2.2)
    projection: str = "SIN"

    def __post_init__(self):
        pixel_scale = _positive("pixel_scale", self.pixel_scale, u.arcsec, "angle")
        if self.projection not in ("SIN", "TAN"):
            raise ValueError(f"projection must be 'SIN' or 'TAN', got {self.projection!r}")
        _set(self, pixel_scale=pixel_scale, center=_check_center(self.center))


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Image noise: its rms and, optionally, the primary beam that the image is corrected for.

    The noise is white noise convolved with the beam and rescaled to ``rms``.
    With ``primary_beam_fwhm`` it is divided by a Gaussian primary beam
    response ``PB(r) = exp(-4 ln 2 r**2 / primary_beam_fwhm**2)``, as in a
    primary-beam-corrected image, so ``rms`` is the noise at the pointing
    centre.

    Parameters
    ----------
    rms : `~astropy.units.Quantity` or float, optional
        Noise rms (float: Jy/beam); default 20 microJy/beam. Stored as a
        float in Jy/beam.
    primary_beam_fwhm : `~astropy.units.Quantity`, float or None, optional
        FWHM of the primary beam (float: arcsec); None gives uniform noise.
    primary_beam_center : (x, y), `~astropy.coordinates.SkyCoord` or None, optional
        Pointing centre: 0-based pixel coordinates or a sky position (placed
        through the WCS when the field is made). None: the image centre.
    pb_cutoff : float or None, optional
        Blank (NaN) the pixels where the primary beam response is below this
        value, in (0, 1). Sources centred there leave the truth catalog.

    Raises
    ------
    ValueError
        For a non-positive rms or primary beam FWHM, a ``pb_cutoff`` outside
        (0, 1), or ``pb_cutoff``/``primary_beam_center`` without
        ``primary_beam_fwhm``.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.datasets import NoiseModel
    >>> NoiseModel(rms=50 * u.uJy / u.beam, primary_beam_fwhm=1 * u.deg, pb_cutoff=0.2).primary_beam_fwhm
    3600.0
    """

    rms: float = _DEFAULT_RMS
    primary_beam_fwhm: float = None
    primary_beam_center: tuple = None
    pb_cutoff: float = None

    def __post_init__(self):
        rms = _positive("rms", self.rms, _JY_BEAM, "flux density per beam (e.g. Jy/beam)")
        fwhm, cutoff, center = self.primary_beam_fwhm, self.pb_cutoff, self.primary_beam_center
        if fwhm is not None:
            fwhm = _positive("primary_beam_fwhm", fwhm, u.arcsec, "angle")
        elif cutoff is not None or center is not None:
            raise ValueError("pb_cutoff and primary_beam_center need primary_beam_fwhm (the primary beam FWHM, "
                             f"e.g. 1 * u.deg), got pb_cutoff={cutoff!r}, primary_beam_center={center!r}")
        if cutoff is not None:
            cutoff = _fraction("pb_cutoff", cutoff)
            if not 0.0 < cutoff < 1.0:
                raise ValueError(f"pb_cutoff must be in (0, 1) or None, got {cutoff!r}")
        if center is not None and not isinstance(center, SkyCoord):
            center = _check_pixel_pair("primary_beam_center", center)
        _set(self, rms=rms, primary_beam_fwhm=fwhm, pb_cutoff=cutoff, primary_beam_center=center)


@dataclasses.dataclass(frozen=True)
class ArtefactModel:
    """Imaging artefacts (rings, radial stripes or sidelobes) around the brightest sources.

    Parameters
    ----------
    kind : {None, 'rings', 'stripes', 'sidelobes'}, optional
        None adds no artefacts. ``'sidelobes'`` adds a deconvolution residual:
        the dirty beam of a random sparse interferometer (random antennas,
        earth-rotation tracks) with its main lobe tapered away, so rings and
        spokes of both signs surround the source, scaled to its peak. One
        pattern per field, as all sources of an image share one dirty beam.
    amplitude : float, optional
        Artefact amplitude as a fraction of the source peak, in [0, 1].
    min_snr : float, optional
        Every source with ``peak_flux >= min_snr * rms`` gets artefacts (or
        the brightest source, if none is that bright).

    Raises
    ------
    ValueError
        For an unknown ``kind``, an amplitude outside [0, 1] or a
        non-positive ``min_snr``.

    Examples
    --------
    >>> from astrofmx.datasets import ArtefactModel, simulate_radio_field
    >>> field = simulate_radio_field((128, 128), seed=0, artefacts=ArtefactModel("stripes", min_snr=50))
    >>> bool(field.truth["has_artefact"].any())
    True
    """

    kind: str = None
    amplitude: float = 0.02
    min_snr: float = 100.0

    def __post_init__(self):
        if self.kind not in (None, "rings", "stripes", "sidelobes"):
            raise ValueError(f"artefacts must be None, 'rings', 'stripes' or 'sidelobes', got {self.kind!r}")
        _set(self, amplitude=_fraction("artefact_amplitude", self.amplitude),
             min_snr=_positive_number("artefact_min_snr", self.min_snr))


# ----------------------------------------------------------------------------------------------
# flat keywords -> groups
# ----------------------------------------------------------------------------------------------

#: Settings groups in the order their values are checked: argument name -> class.
_GROUPS = {"grid": ImageGrid, "beam": RadioBeam, "noise": NoiseModel, "population": SourcePopulation,
           "artefacts": ArtefactModel}

#: Flat keyword of `simulate_radio_field` -> (group argument, field).
_KEYWORDS = {
    "pixel_scale": ("grid", "pixel_scale"),
    "wcs_center": ("grid", "center"),
    "projection": ("grid", "projection"),
    "beam_fwhm": ("beam", "fwhm"),
    "beam_pa": ("beam", "pa"),
    "rms": ("noise", "rms"),
    "primary_beam_fwhm": ("noise", "primary_beam_fwhm"),
    "primary_beam_center": ("noise", "primary_beam_center"),
    "pb_cutoff": ("noise", "pb_cutoff"),
    **{name: ("population", name) for name in ("n_sources", "source_density", "flux_min_snr", "flux_max_snr",
                                               "powerlaw_index", "extended_fraction", "double_fraction",
                                               "fri_fraction", "frii_fraction", "extended_size")},
    "artefact_amplitude": ("artefacts", "amplitude"),
    "artefact_min_snr": ("artefacts", "min_snr"),
}


def _resolve_settings(groups, keywords):
    """The five settings groups from the group arguments and the flat keywords.

    ``groups`` maps each argument of `_GROUPS` to an instance or None, except
    ``artefacts``, which may also be the artefact kind (None, 'rings',
    'stripes'), its flat form. Returns a dict argument -> instance.
    """
    unknown = [key for key in keywords if key not in _KEYWORDS]
    if unknown:
        raise TypeError(f"simulate_radio_field() got an unexpected keyword argument {unknown[0]!r}")
    fields = {name: {} for name in _GROUPS}
    for key, value in keywords.items():
        group, field = _KEYWORDS[key]
        fields[group][field] = value
    groups = dict(groups)
    if not isinstance(groups["artefacts"], ArtefactModel):  # the flat form: the kind of artefact
        fields["artefacts"]["kind"] = groups.pop("artefacts")
        groups["artefacts"] = None
    settings = {}
    for name, cls in _GROUPS.items():
        given = groups[name]
        if given is None:
            settings[name] = cls(**fields[name])
            continue
        if not isinstance(given, cls):
            raise TypeError(f"{name} must be a {cls.__name__} or None, got {given!r}")
        flat = sorted(key for key, (group, _) in _KEYWORDS.items() if group == name and key in keywords)
        if flat:
            raise TypeError(f"give {', '.join(flat)} inside {name}={cls.__name__}(...) or as keywords, not both")
        settings[name] = given
    return settings
