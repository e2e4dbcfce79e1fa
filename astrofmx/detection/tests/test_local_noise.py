"""The peak S/N of radio detections is judged against the rms around them (sidelobes, residuals), not only
against the smoothed background mesh."""

import astropy.units as u
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from astrofmx.datasets import simulate_radio_field
from astrofmx.detection import detect_sources

BEAM_PIX = 4.0
RMS = 1e-4  # Jy/beam
PATCH = (slice(64, 160), slice(64, 160))  # 24 x 24 beams of extra beam-correlated noise: a sidelobe patch
PATCH_RMS = 1.6  # total rms in the patch, in units of RMS


def _gaussian(shape, y, x, peak):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    s = BEAM_PIX / 2.3548
    return peak * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))


@pytest.fixture(scope="module")
def sidelobe_field():
    """Noise of RMS with one patch at PATCH_RMS x RMS; sources of peak 9 and 7 (in the patch) or 6 (outside) RMS."""
    field = simulate_radio_field((384, 384), seed=11, n_sources=0, pixel_scale=1.5 * u.arcsec,
                                 beam_fwhm=BEAM_PIX * 1.5 * u.arcsec, rms=RMS * u.Jy / u.beam)
    data = np.array(field.data, dtype=np.float32)
    rng = np.random.default_rng(3)
    extra = gaussian_filter(rng.normal(size=data.shape), BEAM_PIX / 2.3548)
    extra *= RMS * np.sqrt(PATCH_RMS ** 2 - 1) / extra[PATCH].std()
    data[PATCH] += extra[PATCH].astype(np.float32)
    sources = {"bright_in_patch": (100, 100, 9), "faint_in_patch": (130, 128, 7), "bright_outside": (280, 290, 9),
               "faint_outside": (300, 100, 6)}
    for y, x, snr in sources.values():
        data += _gaussian(data.shape, y, x, snr * RMS).astype(np.float32)
    hdu = field.to_hdu()
    hdu.data = data
    return hdu, sources


def _nearest(cat, y, x):
    d = np.hypot(np.asarray(cat["x_centroid"].value) - x, np.asarray(cat["y_centroid"].value) - y)
    return int(np.argmin(d)) if len(d) and d.min() < 2 else None


def test_peaks_on_raised_noise_are_judged_against_it(sidelobe_field):
    hdu, sources = sidelobe_field
    every = detect_sources(hdu, min_snr=0, progress_bar=False)  # mesh S/N only, nothing cut
    cat = detect_sources(hdu, progress_bar=False)  # the default min_snr 5
    assert "local_noise" in cat.meta and "local_noise" not in every.meta
    found = {k: _nearest(cat, y, x) for k, (y, x, _) in sources.items()}
    mesh = {k: _nearest(every, y, x) for k, (y, x, _) in sources.items()}
    assert None not in mesh.values(), mesh  # the detector finds all four
    # the mesh smooths the patch away: its S/N of the faint source in the patch passes the threshold
    assert every["peak_snr"][mesh["faint_in_patch"]] > 5
    assert found["faint_in_patch"] is None  # 7 / 1.5 sigma of the patch around it: below 5
    assert found["faint_outside"] is not None
    assert found["bright_in_patch"] is not None and found["bright_outside"] is not None
    snr = {k: (float(cat["peak_snr"][found[k]]), float(every["peak_snr"][mesh[k]]))
           for k in ("bright_in_patch", "bright_outside")}
    # against the patch's rms (the box about it is 90% patch; the peak pixel adds its own noise)
    assert abs(snr["bright_in_patch"][0] - 9 / PATCH_RMS) < 1.0, snr
    assert snr["bright_in_patch"][0] < 0.85 * snr["bright_in_patch"][1], snr
    assert 0.9 * snr["bright_outside"][1] < snr["bright_outside"][0] <= snr["bright_outside"][1], snr  # clean


def test_optical_images_keep_the_mesh_noise(sidelobe_field):
    """Crowded stellar fields raise a box's rms with real sources: optical/IR detections keep the mesh S/N."""
    hdu, sources = sidelobe_field
    cat = detect_sources(hdu, kind="optical", progress_bar=False)
    assert "local_noise" not in cat.meta
    assert _nearest(cat, *sources["faint_in_patch"][:2]) is not None
