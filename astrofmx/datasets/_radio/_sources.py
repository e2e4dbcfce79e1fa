"""Drawing and rendering the simulated radio sources (private).

All geometry is in pixels, with theta counter-clockwise from +x. Each
Gaussian component is rendered on a local stamp, so the cost grows with the
number of sources, not with their product with the image size.
"""

import math

import numpy as np

from ._geometry import _FWHM_TO_SIGMA, _cov
from ._radiogalaxies import _fri_components, _frii_components, _multi_shape

__all__ = ["RADIO_MORPHOLOGIES"]

#: Morphology classes of simulated radio sources; detector labels are 1 + the index here.
RADIO_MORPHOLOGIES = ("compact", "extended", "double")
# source kinds drawn by the simulator -> index into RADIO_MORPHOLOGIES (FR I: extended, FR II: double)
_KIND_MORPHOLOGY = (0, 1, 2, 1, 2)

_STAMP_NSIGMA = 6.0  # a component is rendered out to this many sigma (exp(-18) of its peak)
_DEFAULT_DENSITY = 4000.0  # sources per square degree above flux_min_snr * rms


# ----------------------------------------------------------------------------------------------
# Gaussian geometry
# ----------------------------------------------------------------------------------------------

def _cov_to_shape(cov):
    """FWHM major, FWHM minor (pixels) and theta (rad, ccw from +x, in [0, pi))."""
    evals, evecs = np.linalg.eigh(cov)
    minor, major = np.sqrt(np.maximum(evals, 0.0)) / _FWHM_TO_SIGMA
    theta = math.atan2(evecs[1, 1], evecs[0, 1]) % math.pi
    return float(major), float(minor), float(theta)


class _BeamPixels:
    """The restoring beam on the pixel grid: covariance, sqrt(det), geometric-mean FWHM."""

    def __init__(self, beam, pixel_scale):
        bmaj_px, bmin_px = beam.major / pixel_scale, beam.minor / pixel_scale
        # theta (ccw from +x) = PA (east of north) + 90 deg for a north-up, east-left image
        self.cov = _cov(bmaj_px, bmin_px, math.radians(beam.pa + 90.0))
        self.det_sqrt = math.sqrt(np.linalg.det(self.cov))
        self.mean_px = math.sqrt(bmaj_px * bmin_px)


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


# ----------------------------------------------------------------------------------------------
# the population
# ----------------------------------------------------------------------------------------------

def _powerlaw(rng, n, smin, smax, index):
    """Draw from dN/dS ~ S^-index between smin and smax (inverse CDF)."""
    uni = rng.uniform(size=n)
    if abs(index - 1.0) < 1e-9:
        return smin * (smax / smin) ** uni
    a = 1.0 - index
    return (smin ** a + uni * (smax ** a - smin ** a)) ** (1.0 / a)


def _source_count(population, shape, pixel_scale, rng):
    """``n_sources``, or a Poisson draw from the source density over the field area."""
    if population.n_sources is not None:
        return population.n_sources
    ny, nx = shape
    area_deg2 = (nx * pixel_scale / 3600.0) * (ny * pixel_scale / 3600.0)
    density = _DEFAULT_DENSITY if population.source_density is None else population.source_density
    return int(rng.poisson(density * area_deg2))


def _draw_population(rng, n, shape, population, rms):
    """Positions, integrated flux densities and morphology indices (all draws in a fixed order)."""
    ny, nx = shape
    xs = rng.uniform(-0.5, nx - 0.5, size=n)
    ys = rng.uniform(-0.5, ny - 0.5, size=n)
    fluxes = _powerlaw(rng, n, population.flux_min_snr * rms, population.flux_max_snr * rms,
                       population.powerlaw_index)
    extended, double = population.extended_fraction, population.double_fraction
    fri, frii = population.fri_fraction, population.frii_fraction
    if not n:
        kinds = np.zeros(0, int)
    elif fri == 0.0 and frii == 0.0:  # the original draw, so that default fields stay the same
        kinds = rng.choice(3, size=n, p=[1.0 - extended - double, extended, double])
    else:
        p = np.array([max(1.0 - extended - double - fri - frii, 0.0), extended, double, fri, frii])
        kinds = rng.choice(5, size=n, p=p / p.sum())
    return xs, ys, fluxes, kinds


def _double_components(x, y, s, beam, rng):
    """Two resolved lobes, sometimes a faint core and a faint bridge; also (separation, axis)."""
    beam_cov, beam_mean_px = beam.cov, beam.mean_px
    sep = beam_mean_px * math.exp(rng.uniform(math.log(2.5), math.log(12.0)))
    axis = rng.uniform(0, math.pi)
    f_core = 0.05 if rng.uniform() < 0.5 else 0.0
    f_bridge = 0.10 if rng.uniform() < 0.3 else 0.0
    f1 = rng.uniform(0.35, 0.65) * (1.0 - f_core - f_bridge)
    f2 = 1.0 - f_core - f_bridge - f1
    ux, uy = math.cos(axis), math.sin(axis)
    comps = []
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
    return comps, (sep, axis)


def _components(x, y, s, kind, beam, rng, extended_size=(1.2, 5.0)):
    """Components ``(x, y, observed covariance, integrated flux)`` of one source, and the extent.

    The extent is None (single Gaussian), ``(separation, axis)`` for a double
    or ``("multi", axis)`` for an FR I/FR II radio galaxy.
    """
    if kind == 0:
        return [(x, y, beam.cov, s)], None
    if kind in (3, 4):
        comps, axis = (_fri_components if kind == 3 else _frii_components)(x, y, s, beam, rng)
        return comps, ("multi", axis)
    if kind == 1:
        major = beam.mean_px * math.exp(rng.uniform(math.log(extended_size[0]), math.log(extended_size[1])))
        minor = major * rng.uniform(0.3, 1.0)
        return [(x, y, _cov(major, minor, rng.uniform(0, math.pi)) + beam.cov, s)], None
    return _double_components(x, y, s, beam, rng)


def _render_components(image, comps, beam, box_nsigma):
    """Add the components to ``image``; return the noise-free peak and the (unclipped) box."""
    ny, nx = image.shape
    xmin = ymin = np.inf
    xmax = ymax = -np.inf
    # peak of a blend: render the source alone on a small stamp first
    peak = _blend_peak(comps, beam.det_sqrt) if len(comps) > 1 else None
    for cx, cy, cov, cflux in comps:
        cpeak = cflux * beam.det_sqrt / math.sqrt(np.linalg.det(cov))
        sx, sy = _render_gaussian(image, cx, cy, cov, cpeak)
        xmin, xmax = min(xmin, cx - box_nsigma * sx), max(xmax, cx + box_nsigma * sx)
        ymin, ymax = min(ymin, cy - box_nsigma * sy), max(ymax, cy + box_nsigma * sy)
        if peak is None:
            peak = _sampled_peak(cx, cy, cov, cpeak, nx, ny)
    return peak, (xmin, ymin, xmax, ymax)


def _source_shape(comps, extent):
    """FWHM major, minor (pixels) and theta (rad) of the beam-convolved source; doubles end to end."""
    if extent is None:
        return _cov_to_shape(comps[0][2])
    if extent[0] == "multi":
        return _multi_shape(comps, extent[1])
    sep, axis = extent
    lobe_major = max(_cov_to_shape(c[2])[0] for c in comps[:2])
    lobe_minor = max(_cov_to_shape(c[2])[1] for c in comps[:2])
    return sep + lobe_major, lobe_minor, axis


def _render_sources(image, xs, ys, fluxes, kinds, beam, box_nsigma, pixel_scale, rng, extended_size=(1.2, 5.0)):
    """Draw the shape of each source and render it; return one truth row (a tuple) per source."""
    ny, nx = image.shape
    rows = []
    for x, y, s, kind in zip(xs, ys, fluxes, kinds):
        kind = int(kind)
        comps, extent = _components(x, y, s, kind, beam, rng, extended_size)
        peak, (xmin, ymin, xmax, ymax) = _render_components(image, comps, beam, box_nsigma)
        major, minor, theta = _source_shape(comps, extent)
        rows.append((x, y, s, peak, major * pixel_scale, minor * pixel_scale, math.degrees(theta),
                     RADIO_MORPHOLOGIES[_KIND_MORPHOLOGY[kind]], len(comps),
                     max(xmin, -0.5), max(ymin, -0.5), min(xmax, nx - 0.5), min(ymax, ny - 0.5)))
    return rows
