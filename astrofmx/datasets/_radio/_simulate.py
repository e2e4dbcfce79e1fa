"""Simulated radio continuum fields with a truth catalog, for training and testing source finders.

The simulator draws sources from a power-law flux distribution, renders each
one on a small local stamp (so that a 4k x 4k field takes seconds), adds
noise correlated on the beam scale and, optionally, imaging artefacts around
the brightest sources. Every random number comes from one
`numpy.random.Generator`, so a seed gives the same field on every machine.
"""

import logging

import astropy.units as u
import numpy as np

from .._fits_field import _stamp_header
from ._artefacts import _add_artefacts
from ._checks import _check_rng, _check_shape, _positive
from ._config import _resolve_settings
from ._diffuse import _add_diffuse, _check_diffuse
from ._field import SimulatedRadioField, _make_header
from ._noise import _add_noise, _primary_beam_center
from ._sources import _BeamPixels, _draw_population, _render_sources, _source_count
from ._truth import _make_truth

__all__ = ["simulate_radio_field"]

logger = logging.getLogger(__name__)


def simulate_radio_field(shape=(512, 512), *, seed=None, population=None, beam=None, grid=None, noise=None,
                         artefacts=None, diffuse=None, box_nsigma=3.0, return_truth=True, **keywords):
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

    Optionally (``fri_fraction``, ``frii_fraction``) some sources are
    multi-component FR I-like (core and jets, morphology ``"extended"``) or
    FR II-like (lobes with hot spots, morphology ``"double"``) radio
    galaxies, with one truth box around all their components.

    Noise is white noise convolved with the beam and rescaled to ``rms``, so
    it is correlated on the beam scale as in an interferometric image. With
    ``primary_beam_fwhm`` the image is primary-beam corrected, as
    MeerKAT/ASKAP/VLA images usually are: the noise (and only the noise;
    sources keep their true flux densities) is divided by a Gaussian primary
    beam response ``PB(r) = exp(-4 ln 2 r**2 / primary_beam_fwhm**2)``, so it
    rises from ``rms`` at the pointing centre toward the edges, and pixels
    where ``PB < pb_cutoff`` are blanked (NaN).
    Optionally, rings, radial stripes or dirty-beam sidelobes (``artefacts``)
    are added around the brightest sources, and unlabelled diffuse emission
    (``diffuse``). The beam may be elongated (e.g. 3:1) at any position
    angle; sources and noise then share the elliptical beam. For training
    over a wide domain, `random_radio_field` draws all these settings at
    random. Each source is rendered on a local stamp, so the cost
    grows with the number of sources, not with their product with the image
    size (a 4096 x 4096 field with ~12,000 sources takes a few seconds).

    The settings come in groups (`SourcePopulation`, `RadioBeam`,
    `ImageGrid`, `NoiseModel`, `ArtefactModel`), or as the flat keywords
    listed under Other Parameters; each flat keyword sets one field of its
    group. Both spellings give the same field for the same seed. A group and
    a flat keyword of the same group cannot be given together.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)`` of the image.
    seed : int, `numpy.random.Generator` or None, optional
        Random seed. The same seed gives the same field. With None a seed is
        drawn and written to the header (``SIMSEED``), so the field can be
        regenerated.
    population : `SourcePopulation`, optional
        Number, flux densities and morphologies of the sources (flat keywords
        ``n_sources``, ``source_density``, ``flux_min_snr``, ``flux_max_snr``,
        ``powerlaw_index``, ``extended_fraction``, ``double_fraction``).
    beam : `RadioBeam`, optional
        The restoring beam (``beam_fwhm``, ``beam_pa``).
    grid : `ImageGrid`, optional
        Pixel scale and WCS (``pixel_scale``, ``wcs_center``, ``projection``).
    noise : `NoiseModel`, optional
        Noise rms and primary beam (``rms``, ``primary_beam_fwhm``,
        ``primary_beam_center``, ``pb_cutoff``).
    artefacts : `ArtefactModel`, {None, 'rings', 'stripes', 'sidelobes'}, optional
        Imaging artefacts around every source with ``peak_flux >=
        artefact_min_snr * rms`` (or around the brightest source if none is
        that bright); a string is the artefact kind, with
        ``artefact_amplitude`` and ``artefact_min_snr`` as flat keywords.
    diffuse : `DiffuseEmission`, bool or None, optional
        Unlabelled smooth large-scale emission (True: `DiffuseEmission`
        defaults). It adds no truth rows, and the sources, noise and truth
        are those of the same seed without it.
    box_nsigma : float, optional
        Half-size of each truth box in Gaussian sigma of its (beam-convolved)
        components; the default 3 covers 99.7% of each component's extent.
    return_truth : bool, optional
        Build the truth catalog (``False`` leaves ``truth`` as None).

    Other Parameters
    ----------------
    pixel_scale : `~astropy.units.Quantity` or float, optional
        Pixel size (float: arcsec); default 1.5 arcsec.
    beam_fwhm : `~astropy.units.Quantity`, float or pair, optional
        Beam FWHM (float: arcsec); a pair gives ``(major, minor)``. The default
        (6 arcsec with 1.5 arcsec pixels) gives a 4-pixel beam, which suits
        detectors working on 16-pixel ViT patches after a 2x upscale.
    beam_pa : `~astropy.units.Quantity` or float, optional
        Beam position angle, east of north (float: degrees); default 0.
    rms : `~astropy.units.Quantity` or float, optional
        Noise rms (float: Jy/beam); default 20 microJy/beam.
    n_sources : int, optional
        Exact number of sources. Give this or ``source_density``, not both.
    source_density : `~astropy.units.Quantity` or float, optional
        Mean number of sources per square degree (float: deg**-2) above
        ``flux_min_snr * rms``; the number is then Poisson-distributed.
        Default (when neither is given): 4000 deg**-2 (~180 sources in the
        default 512 x 512 field).
    flux_min_snr, flux_max_snr : float, optional
        Flux density range as multiples of ``rms``; default 3 and 1e4.
    powerlaw_index : float, optional
        Slope of the differential source counts, > 1; default 2.5.
    extended_fraction, double_fraction : float, optional
        Fractions of resolved and double-lobed sources (each in [0, 1], sum
        <= 1); default 0.15 and 0.05.
    fri_fraction, frii_fraction : float, optional
        Fractions of FR I- and FR II-like multi-component radio galaxies;
        default 0. All four fractions sum to at most 1.
    extended_size : (float, float), optional
        Intrinsic FWHM range of extended sources in beams; default (1.2, 5).
    artefact_amplitude : float, optional
        Artefact amplitude as a fraction of the source peak; default 0.02.
    artefact_min_snr : float, optional
        Peak signal-to-noise above which a source gets artefacts; default 100.
    wcs_center : `~astropy.coordinates.SkyCoord` or (ra, dec), optional
        Sky position of the image centre (degrees for plain numbers); default
        (150, 2.2).
    projection : {'SIN', 'TAN'}, optional
        Celestial projection of the WCS; default 'SIN'.
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
    TypeError
        For an unknown keyword, a group of the wrong type, or a group given
        together with one of its flat keywords.

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

    The same field from the settings groups:

    >>> import numpy as np
    >>> from astrofmx.datasets import SourcePopulation
    >>> same = simulate_radio_field((128, 128), seed=0, population=SourcePopulation(n_sources=10))
    >>> bool(np.array_equal(same.data, field.data))
    True

    A primary-beam-corrected field: the noise grows toward the edges, which
    are blanked where the primary beam response drops below 0.3:

    >>> import astropy.units as u
    >>> pbc = simulate_radio_field((256, 256), seed=0, n_sources=0, primary_beam_fwhm=300 * u.arcsec,
    ...                            pb_cutoff=0.3)
    >>> centre, edge = np.nanstd(pbc.data[118:138, 118:138]), np.nanstd(pbc.data[:, :20])
    >>> bool(edge > 2 * centre), bool(np.isnan(pbc.data[0, 0])), pbc.header["SIMPBCUT"]
    (True, True, 0.3)
    """
    shape = _check_shape(shape)
    (rng, rng_artefacts, rng_noise, rng_diffuse), recorded_seed = _check_rng(seed, 4)
    settings = _resolve_settings(dict(population=population, beam=beam, grid=grid, noise=noise,
                                      artefacts=artefacts), keywords)
    diffuse = _check_diffuse(diffuse)
    box_nsigma = _positive("box_nsigma", box_nsigma, u.dimensionless_unscaled, "dimensionless")
    grid, noise = settings["grid"], settings["noise"]
    header = _make_header(shape, grid, settings["beam"])
    pb_center = None
    if noise.primary_beam_fwhm is not None:
        pb_center = _primary_beam_center(noise.primary_beam_center, header, shape)

    beam_px = _BeamPixels(settings["beam"], grid.pixel_scale)
    n = _source_count(settings["population"], shape, grid.pixel_scale, rng)
    xs, ys, fluxes, kinds = _draw_population(rng, n, shape, settings["population"], noise.rms)
    image = np.zeros(shape, dtype=np.float32)
    rows = _render_sources(image, xs, ys, fluxes, kinds, beam_px, box_nsigma, grid.pixel_scale, rng,
                           settings["population"].extended_size)
    has_artefact = _add_artefacts(image, xs, ys, [r[3] for r in rows], settings["artefacts"], noise.rms,
                                  beam_px.mean_px, rng_artefacts)
    if diffuse is not None:
        _add_diffuse(image, diffuse, noise.rms, beam_px.cov, beam_px.mean_px, rng_diffuse)
    pb_src = _add_noise(image, noise, pb_center, beam_px.cov, grid.pixel_scale, xs, ys, rng_noise)

    params = _simulation_parameters(recorded_seed, n, settings, box_nsigma, pb_center, diffuse)
    meta = _stamp_header(header, params, "simulate_radio_field")

    truth = None
    if return_truth:
        truth = _make_truth(rows, has_artefact, header, noise.rms, meta, params, pb_src)
        if noise.pb_cutoff is not None:
            truth = truth[np.asarray(truth["primary_beam"]) >= noise.pb_cutoff]
    logger.debug("simulated %d sources in a %dx%d field", n, shape[0], shape[1])
    return SimulatedRadioField(data=image, header=header, truth=truth)


def _simulation_parameters(seed, n, settings, box_nsigma, pb_center, diffuse=None):
    """The ``SIM*`` header keywords: name -> (value, comment)."""
    population, noise = settings["population"], settings["noise"]
    rms = noise.rms
    params = {
        "SIMSEED": (seed, "random seed (-1: a Generator was given)"),
        "SIMRMS": (rms, "[Jy/beam] target noise rms"),
        "SIMNSRC": (n, "number of simulated sources"),
        "SIMSMIN": (population.flux_min_snr * rms, "[Jy] minimum integrated flux density"),
        "SIMSMAX": (population.flux_max_snr * rms, "[Jy] maximum integrated flux density"),
        "SIMALPHA": (population.powerlaw_index, "differential counts dN/dS ~ S^-SIMALPHA"),
        "SIMEXTF": (population.extended_fraction, "fraction of extended sources"),
        "SIMDBLF": (population.double_fraction, "fraction of double-lobed sources"),
        "SIMARTEF": (str(settings["artefacts"].kind), "artefacts around bright sources"),
        "SIMBOXNS": (box_nsigma, "truth box half-size in component sigma"),
    }
    # the widened domain's keywords only where used, so that default headers stay as they were
    if population.fri_fraction or population.frii_fraction:
        params["SIMFRIF"] = (population.fri_fraction, "fraction of FR I-like radio galaxies")
        params["SIMFRIIF"] = (population.frii_fraction, "fraction of FR II-like radio galaxies")
    if population.extended_size != (1.2, 5.0):
        params["SIMEXTS0"] = (population.extended_size[0], "[beam] smallest extended source FWHM")
        params["SIMEXTS1"] = (population.extended_size[1], "[beam] largest extended source FWHM")
    if diffuse is not None:
        params["SIMDIFA"] = (diffuse.amplitude, "[rms] peak of unlabelled diffuse emission")
        params["SIMDIFS"] = (diffuse.scale, "[beam] smallest diffuse structure")
        params["SIMDIFC"] = (diffuse.coverage, "area fraction covered by diffuse emission")
    if noise.primary_beam_fwhm is not None:  # only then, so that uniform-noise headers stay as they were
        params["SIMPBFW"] = (noise.primary_beam_fwhm, "[arcsec] primary beam FWHM (noise divided by PB)")
        params["SIMPBX"] = (pb_center[0], "[pix] primary beam centre x (0-based)")
        params["SIMPBY"] = (pb_center[1], "[pix] primary beam centre y (0-based)")
        params["SIMPBCUT"] = (noise.pb_cutoff if noise.pb_cutoff is not None else 0.0, "blanked where PB < SIMPBCUT")
    return params
