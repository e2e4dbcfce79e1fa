"""Imaging artefacts (rings, radial stripes, dirty-beam sidelobes) around the brightest simulated sources (private)."""

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


def _sidelobe_pattern(beam_fwhm_px, rng):
    """A deconvolution residual: a random sparse array's dirty beam with its main lobe tapered away.

    Antennas are scattered at random, their baselines rotate with the Earth
    over a random hour-angle range and are foreshortened by a random
    declination factor; the gridded uv coverage, Fourier transformed, gives
    the dirty beam, scaled so that its main lobe is about the restoring
    beam. Returns a square float32 stamp (odd side, centred) with
    ``max |pattern| = 1``.
    """
    size = int(min(max(24.0 * beam_fwhm_px, 96), 256)) | 1
    n_ant = int(rng.integers(4, 16))
    ant = rng.normal(size=(n_ant, 2)) * rng.uniform(0.5, 1.5, size=(n_ant, 1))
    i, j = np.triu_indices(n_ant, 1)
    base = ant[i] - ant[j]
    hours = np.linspace(-1.0, 1.0, int(rng.integers(1, 12))) * rng.uniform(0.05, 1.2)
    u = base[:, :1] * np.cos(hours) - base[:, 1:] * np.sin(hours)
    v = (base[:, :1] * np.sin(hours) + base[:, 1:] * np.cos(hours)) * rng.uniform(0.3, 1.0)
    scale = 0.6 / beam_fwhm_px / max(float(np.hypot(u, v).max()), 1e-9)  # cycles per pixel
    grid = np.zeros((size, size), dtype=np.float64)
    iu = np.rint(u.ravel() * scale * size).astype(int) % size
    iv = np.rint(v.ravel() * scale * size).astype(int) % size
    np.add.at(grid, (iv, iu), 1.0)
    np.add.at(grid, ((-iv) % size, (-iu) % size), 1.0)
    dirty = np.fft.fftshift(np.fft.ifft2(grid).real)
    dirty /= dirty.max()
    r = np.hypot(*np.meshgrid(np.arange(size) - size // 2, np.arange(size) - size // 2))
    residual = dirty * (1.0 - np.exp(-(r / beam_fwhm_px) ** 2)) * np.exp(-(r / (0.2 * size)) ** 2)
    return (residual / max(float(np.abs(residual).max()), 1e-30)).astype(np.float32)


def _add_pattern(image, x, y, pattern, scale):
    """Add ``scale * pattern`` centred on the pixel nearest ``(x, y)``, clipped to the image."""
    ny, nx = image.shape
    half = pattern.shape[0] // 2
    cx, cy = int(round(x)), int(round(y))
    x0, x1, y0, y1 = max(cx - half, 0), min(cx + half + 1, nx), max(cy - half, 0), min(cy + half + 1, ny)
    if x0 < x1 and y0 < y1:
        image[y0:y1, x0:x1] += scale * pattern[y0 - cy + half:y1 - cy + half, x0 - cx + half:x1 - cx + half]


def _add_artefacts(image, xs, ys, peaks, artefacts, rms, beam_fwhm_px, rng):
    """Add ``artefacts`` (an `ArtefactModel`) around the bright sources; return which sources got them."""
    has_artefact = np.zeros(len(peaks), dtype=bool)
    if artefacts.kind is None or not len(peaks):
        return has_artefact
    peaks = np.asarray(peaks)
    bright = np.flatnonzero(peaks / rms >= artefacts.min_snr)
    if bright.size == 0:
        bright = np.array([int(np.argmax(peaks))])
    if artefacts.kind == "sidelobes":
        pattern = _sidelobe_pattern(beam_fwhm_px, rng)
        for i in bright:
            _add_pattern(image, xs[i], ys[i], pattern, np.float32(artefacts.amplitude * peaks[i]))
        has_artefact[bright] = True
        return has_artefact
    for i in bright:
        _render_artefact(image, xs[i], ys[i], peaks[i], artefacts.amplitude, artefacts.kind, beam_fwhm_px, rng)
    has_artefact[bright] = True
    return has_artefact
