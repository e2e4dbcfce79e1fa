"""Settings of the optical/IR-field simulator, grouped by what they describe.

Each group is a frozen dataclass that checks its values when it is made.
Lengths are in pixels, brightnesses in ADU (the image unit) or in units of
the background noise ``sigma`` (the sky's Poisson noise and the read noise
together), as each field says.
"""

import dataclasses

import astropy.units as u

from .._radio._checks import _as_quantity, _fraction, _is_int, _positive, _positive_number

__all__ = ["OpticalPSF", "StarPopulation", "GalaxyPopulation", "SkyBackground", "OpticalDetector"]


def _set(obj, **values):
    for name, value in values.items():
        object.__setattr__(obj, name, value)


def _range(name, value, low=0.0, high=float("inf")):
    """A ``(min, max)`` pair of floats with ``low <= min <= max <= high``."""
    try:
        vmin, vmax = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a (min, max) pair of numbers, got {value!r}") from exc
    if not low <= vmin <= vmax <= high:
        raise ValueError(f"{name} must be a (min, max) pair with {low} <= min <= max <= {high}, got {value!r}")
    return vmin, vmax


def _count(name, value):
    if value is None:
        return None
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _density(name, value):
    if value is None:
        return None
    value = _as_quantity(name, value, u.arcmin ** -2, "inverse solid angle (e.g. 1/arcmin2)")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _check_population(population, count_name):
    """Checks shared by the star and galaxy populations; returns ``(snr_min, snr_max, powerlaw_index)``."""
    if getattr(population, count_name) is not None and population.density is not None:
        raise ValueError(f"give {count_name} or density, not both")
    snr_min = _positive_number("snr_min", population.snr_min)
    snr_max = _positive_number("snr_max", population.snr_max)
    if snr_max <= snr_min:
        raise ValueError(f"snr_max must exceed snr_min ({snr_min}), got {snr_max!r}")
    index = _positive_number("powerlaw_index", population.powerlaw_index)
    if index <= 1.0:
        raise ValueError(f"powerlaw_index must be > 1, got {index!r}")
    return snr_min, snr_max, index


@dataclasses.dataclass(frozen=True)
class OpticalPSF:
    """A Moffat point-spread function with wings, slight ellipticity and optional diffraction spikes.

    ``I(r) = I0 * (1 + (r / alpha)**2)**-beta``, with ``fwhm = 2 alpha
    sqrt(2**(1/beta) - 1)`` the geometric mean of the major and minor FWHM
    and ``1 - ellipticity`` their ratio.

    Parameters
    ----------
    fwhm : float, optional
        FWHM in pixels (geometric mean of the axes), > 0.
    beta : float, optional
        Moffat index, > 1 (smaller: stronger wings; 2.5-4.5 is typical seeing).
    ellipticity : float, optional
        ``1 - minor / major``, in [0, 0.9].
    theta : float, optional
        Angle of the major axis, degrees counter-clockwise from +x.
    spikes : bool, optional
        Add four diffraction spikes to bright stars (peak above
        ``spike_min_snr`` sigma).
    spike_angle : float, optional
        Angle of the first spike, degrees counter-clockwise from +x.
    spike_strength : float, optional
        Spike brightness next to the core as a fraction of the star's peak.
    spike_min_snr : float, optional
        Stars with a peak above this many sigma get spikes.

    Raises
    ------
    ValueError
        For a non-positive FWHM, ``beta <= 1`` or an ellipticity outside [0, 0.9].

    Examples
    --------
    >>> from astrofmx.datasets import OpticalPSF
    >>> psf = OpticalPSF(fwhm=4.0, beta=2.5)
    >>> round(psf.alpha, 3)
    3.538
    """

    fwhm: float = 3.0
    beta: float = 3.0
    ellipticity: float = 0.05
    theta: float = 0.0
    spikes: bool = True
    spike_angle: float = 45.0
    spike_strength: float = 0.02
    spike_min_snr: float = 300.0

    def __post_init__(self):
        fwhm = _positive("psf fwhm", self.fwhm, u.pix, "pixels")
        beta = _positive_number("psf beta", self.beta)
        if beta <= 1.0:
            raise ValueError(f"psf beta must be > 1 (the Moffat profile's flux diverges otherwise), got {beta!r}")
        ellipticity = _fraction("psf ellipticity", self.ellipticity)
        if ellipticity > 0.9:
            raise ValueError(f"psf ellipticity must be in [0, 0.9], got {ellipticity!r}")
        _set(self, fwhm=fwhm, beta=beta, ellipticity=ellipticity, spikes=bool(self.spikes),
             theta=_as_quantity("psf theta", self.theta, u.deg, "angle"),
             spike_angle=_as_quantity("spike_angle", self.spike_angle, u.deg, "angle"),
             spike_strength=_fraction("spike_strength", self.spike_strength),
             spike_min_snr=_positive_number("spike_min_snr", self.spike_min_snr))

    @property
    def alpha(self):
        """Moffat core radius in pixels (geometric mean of the axes)."""
        return self.fwhm / (2.0 * (2.0 ** (1.0 / self.beta) - 1.0) ** 0.5)


@dataclasses.dataclass(frozen=True)
class StarPopulation:
    """How many stars a field holds and how bright they are.

    Fluxes follow ``dN/dF ~ F**-powerlaw_index`` between the fluxes of stars
    whose peak is ``snr_min`` and ``snr_max`` times the background noise.

    Parameters
    ----------
    n_stars : int, optional
        Exact number of stars; otherwise Poisson from ``density``.
    density : `~astropy.units.Quantity` or float, optional
        Mean stars per square arcminute (float: arcmin**-2). Default 10, or
        300 with ``crowded=True``.
    crowded : bool, optional
        A crowded stellar field (cluster, Galactic plane) by default density.
    snr_min, snr_max : float, optional
        Peak signal-to-noise range; stars above the saturation level are
        clipped there and bleed along their columns.
    powerlaw_index : float, optional
        Slope of the differential counts, > 1.

    Raises
    ------
    ValueError
        For both ``n_stars`` and ``density``, negative values or ``snr_max <= snr_min``.

    Examples
    --------
    >>> from astrofmx.datasets import StarPopulation, simulate_optical_field
    >>> field = simulate_optical_field((128, 128), seed=0, stars=StarPopulation(n_stars=7), n_galaxies=0)
    >>> int((field.truth["kind"] == "star").sum())
    7
    """

    n_stars: int = None
    density: float = None
    crowded: bool = False
    snr_min: float = 3.0
    snr_max: float = 1e5
    powerlaw_index: float = 1.8

    def __post_init__(self):
        snr_min, snr_max, index = _check_population(self, "n_stars")
        _set(self, n_stars=_count("n_stars", self.n_stars), density=_density("density", self.density),
             crowded=bool(self.crowded), snr_min=snr_min, snr_max=snr_max, powerlaw_index=index)


@dataclasses.dataclass(frozen=True)
class GalaxyPopulation:
    """How many galaxies a field holds, how bright and of which sizes and shapes (Sérsic profiles).

    Fluxes are given as the peak signal-to-noise a point source of the same
    flux would have, so a large galaxy of ``snr_min`` is fainter per pixel.

    Parameters
    ----------
    n_galaxies : int, optional
        Exact number of galaxies; otherwise Poisson from ``density``.
    density : `~astropy.units.Quantity` or float, optional
        Mean galaxies per square arcminute (float: arcmin**-2); default 10.
    snr_min, snr_max : float, optional
        Flux range as point-source peak signal-to-noise.
    powerlaw_index : float, optional
        Slope of the differential counts, > 1.
    r_eff : (float, float), optional
        Half-light radius range in pixels (log-uniform).
    sersic_n : (float, float), optional
        Sérsic index range (0.5: Gaussian-like, 1: disc, 4: de Vaucouleurs).
    axis_ratio : (float, float), optional
        Minor-to-major axis ratio range, in (0, 1].
    blend_fraction : float, optional
        Fraction of galaxies that get a close companion (a blend of two
        galaxies, two truth rows).

    Raises
    ------
    ValueError
        For both ``n_galaxies`` and ``density`` or values out of range.

    Examples
    --------
    >>> from astrofmx.datasets import GalaxyPopulation
    >>> GalaxyPopulation(n_galaxies=3, sersic_n=(1, 1)).sersic_n
    (1.0, 1.0)
    """

    n_galaxies: int = None
    density: float = None
    snr_min: float = 10.0
    snr_max: float = 3e4
    powerlaw_index: float = 2.0
    r_eff: tuple = (1.0, 20.0)
    sersic_n: tuple = (0.5, 4.0)
    axis_ratio: tuple = (0.2, 1.0)
    blend_fraction: float = 0.1

    def __post_init__(self):
        snr_min, snr_max, index = _check_population(self, "n_galaxies")
        r_eff = _range("r_eff", self.r_eff, 1e-3)
        axis_ratio = _range("axis_ratio", self.axis_ratio, 0.05, 1.0)
        _set(self, n_galaxies=_count("n_galaxies", self.n_galaxies), density=_density("density", self.density),
             snr_min=snr_min, snr_max=snr_max, powerlaw_index=index, r_eff=r_eff,
             sersic_n=_range("sersic_n", self.sersic_n, 0.2, 8.0), axis_ratio=axis_ratio,
             blend_fraction=_fraction("blend_fraction", self.blend_fraction))


@dataclasses.dataclass(frozen=True)
class SkyBackground:
    """The sky: a level, a linear gradient and patchy nebulosity (none of it in the truth catalog).

    Parameters
    ----------
    level : float, optional
        Mean sky level in ADU per pixel, > 0.
    gradient : float, optional
        Linear gradient across the field, as a fraction of ``level``
        (end to end), in a random direction.
    nebulosity : float, optional
        Peak brightness of nebulosity (a smooth, patchy Gaussian random
        field) in units of the background noise; 0 for none.
    nebula_scale : float, optional
        Smallest nebular structure in pixels.
    nebula_coverage : float, optional
        Fraction of the area covered by nebulosity.

    Examples
    --------
    >>> from astrofmx.datasets import SkyBackground
    >>> SkyBackground(level=500, nebulosity=20).nebulosity
    20.0
    """

    level: float = 200.0
    gradient: float = 0.02
    nebulosity: float = 0.0
    nebula_scale: float = 25.0
    nebula_coverage: float = 0.4

    def __post_init__(self):
        gradient = _as_quantity("gradient", self.gradient, u.dimensionless_unscaled, "dimensionless")
        nebulosity = _as_quantity("nebulosity", self.nebulosity, u.dimensionless_unscaled, "dimensionless")
        if gradient < 0 or nebulosity < 0:
            raise ValueError(f"gradient and nebulosity must be >= 0, got {gradient!r}, {nebulosity!r}")
        _set(self, level=_positive("sky level", self.level, u.adu, "ADU"), gradient=gradient,
             nebulosity=nebulosity, nebula_scale=_positive_number("nebula_scale", self.nebula_scale),
             nebula_coverage=_fraction("nebula_coverage", self.nebula_coverage))


@dataclasses.dataclass(frozen=True)
class OpticalDetector:
    """The camera: gain, read noise, saturation with bleeding, hot pixels, cosmic rays and zero point.

    Parameters
    ----------
    gain : float, optional
        Electrons per ADU, > 0. The noise is Poisson in electrons.
    read_noise : float, optional
        Read noise in electrons (rms), >= 0.
    saturation : float, optional
        Saturation level in ADU: brighter pixels are clipped there, and the
        excess charge bleeds along the columns (``bleed``).
    bleed : bool, optional
        Bleed trails from saturated stars.
    hot_pixel_fraction : float, optional
        Fraction of pixels that are hot (10-1000 sigma above the background).
    cosmic_ray_rate : float, optional
        Mean cosmic-ray hits per pixel (each a sharp track of 1-20 pixels).
    zeropoint : float, optional
        Magnitude zero point: ``mag = zeropoint - 2.5 log10(flux / ADU)``.

    Examples
    --------
    >>> from astrofmx.datasets import OpticalDetector
    >>> round(OpticalDetector(gain=1.5, read_noise=4).noise_sigma(100.0), 2)  # on a sky of 100 ADU
    8.59
    """

    gain: float = 2.0
    read_noise: float = 5.0
    saturation: float = 60000.0
    bleed: bool = True
    hot_pixel_fraction: float = 2e-4
    cosmic_ray_rate: float = 5e-5
    zeropoint: float = 25.0

    def __post_init__(self):
        read_noise = _as_quantity("read_noise", self.read_noise, u.electron, "electrons")
        if read_noise < 0:
            raise ValueError(f"read_noise must be >= 0, got {read_noise!r}")
        _set(self, gain=_positive("gain", self.gain, u.electron / u.adu, "electron/ADU"), read_noise=read_noise,
             saturation=_positive("saturation", self.saturation, u.adu, "ADU"), bleed=bool(self.bleed),
             hot_pixel_fraction=_fraction("hot_pixel_fraction", self.hot_pixel_fraction),
             cosmic_ray_rate=_fraction("cosmic_ray_rate", self.cosmic_ray_rate),
             zeropoint=_as_quantity("zeropoint", self.zeropoint, u.dimensionless_unscaled, "magnitude"))

    def noise_sigma(self, level):
        """Background noise rms in ADU on a sky of ``level`` ADU: ``sqrt(level / gain + (read_noise / gain)**2)``."""
        return (level / self.gain + (self.read_noise / self.gain) ** 2) ** 0.5
