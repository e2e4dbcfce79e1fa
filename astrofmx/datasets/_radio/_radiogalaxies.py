"""Multi-component FR I- and FR II-like radio galaxies (private).

Each returns components ``(x, y, observed covariance, integrated flux)`` in
pixels, as `_sources._components` does, and the jet axis (rad, ccw from +x).
"""

import math

import numpy as np

from ._geometry import _FWHM_TO_SIGMA, _cov

__all__ = []

def _fri_components(x, y, s, beam, rng):
    """A bright core and one or two fading, widening, possibly bent jets of knots (edge-darkened)."""
    b = beam.mean_px
    half_length = 0.5 * b * math.exp(rng.uniform(math.log(3.0), math.log(15.0)))
    axis = rng.uniform(0, math.pi)
    bend = rng.uniform(-0.8, 0.8)
    f_core = rng.uniform(0.1, 0.4)
    sides = (+1, -1) if rng.uniform() < 0.8 else (+1,)
    n_knots = int(rng.integers(3, 7))
    share = rng.uniform(0.3, 0.7) if len(sides) == 2 else 1.0
    comps = [(x, y, beam.cov, s * f_core)]
    for sign, side_share in zip(sides, (share, 1.0 - share)):
        t = np.arange(1, n_knots + 1) / n_knots
        weights = np.exp(-2.0 * t)
        weights *= (1.0 - f_core) * side_share / weights.sum()
        for tk, wk in zip(t, weights):
            angle = axis + sign * bend * tk * tk  # both jets bend the same way (a wide-angle tail)
            d = tk * half_length
            px, py = x + sign * d * math.cos(angle), y + sign * d * math.sin(angle)
            width = b * (0.3 + 1.2 * tk)
            length = max(1.5 * half_length / n_knots, width)
            comps.append((px, py, _cov(length, width, angle) + beam.cov, s * wk))
    return comps, axis


def _frii_components(x, y, s, beam, rng):
    """A faint core, two edge-brightened lobes with compact hot spots, sometimes a faint jet."""
    b = beam.mean_px
    half_length = 0.5 * b * math.exp(rng.uniform(math.log(5.0), math.log(30.0)))
    axis = rng.uniform(0, math.pi)
    f_core = rng.uniform(0.01, 0.05) if rng.uniform() < 0.7 else 0.0
    f_jet = 0.03 if rng.uniform() < 0.3 else 0.0
    f_first = rng.uniform(0.35, 0.65) * (1.0 - f_core - f_jet)
    comps = [(x, y, beam.cov, s * f_core)] if f_core else []
    ux, uy = math.cos(axis), math.sin(axis)
    for sign, f_lobe in ((+1, f_first), (-1, 1.0 - f_core - f_jet - f_first)):
        end = half_length * rng.uniform(0.8, 1.0)
        f_hot = rng.uniform(0.3, 0.6)
        hot_size = b * rng.uniform(0.2, 0.6)
        comps.append((x + sign * ux * end, y + sign * uy * end, _cov(hot_size, hot_size, 0.0) + beam.cov,
                      s * f_lobe * f_hot))
        lobe_major = b * rng.uniform(1.5, 4.0)
        lobe_minor = lobe_major * rng.uniform(0.4, 1.0)
        centre = end - 0.4 * lobe_major
        lobe_theta = axis + rng.uniform(-0.4, 0.4) + math.pi / 2 * (rng.uniform() < 0.3)
        comps.append((x + sign * ux * centre, y + sign * uy * centre,
                      _cov(lobe_major, lobe_minor, lobe_theta) + beam.cov, s * f_lobe * (1.0 - f_hot)))
    if f_jet:
        comps.append((x + ux * half_length * 0.4, y + uy * half_length * 0.4,
                      _cov(0.8 * half_length, 0.4 * b, axis) + beam.cov, s * f_jet))
    return comps, axis


def _multi_shape(comps, axis):
    """FWHM extent along ``axis`` (end to end), FWHM across it (the widest component) and ``axis``."""
    u = np.array([math.cos(axis), math.sin(axis)])
    w = np.array([-u[1], u[0]])
    ends, widths = [], []
    for cx, cy, cov, _ in comps:
        along = math.sqrt(float(u @ cov @ u)) / _FWHM_TO_SIGMA
        ends += [cx * u[0] + cy * u[1] - along / 2, cx * u[0] + cy * u[1] + along / 2]
        widths.append(math.sqrt(float(w @ cov @ w)) / _FWHM_TO_SIGMA)
    major, minor = max(ends) - min(ends), max(widths)
    return max(major, minor), min(major, minor), axis % math.pi
