"""Imaging artefacts (rings, radial stripes) around the brightest simulated sources (private)."""

import numpy as np

__all__ = []


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


def _add_artefacts(image, xs, ys, peaks, artefacts, rms, beam_fwhm_px, rng):
    """Add ``artefacts`` (an `ArtefactModel`) around the bright sources; return which sources got them."""
    has_artefact = np.zeros(len(peaks), dtype=bool)
    if artefacts.kind is None or not len(peaks):
        return has_artefact
    peaks = np.asarray(peaks)
    bright = np.flatnonzero(peaks / rms >= artefacts.min_snr)
    if bright.size == 0:
        bright = np.array([int(np.argmax(peaks))])
    for i in bright:
        _render_artefact(image, xs[i], ys[i], peaks[i], artefacts.amplitude, artefacts.kind, beam_fwhm_px, rng)
    has_artefact[bright] = True
    return has_artefact
