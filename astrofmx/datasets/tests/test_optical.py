"""The optical/IR field simulator: PSF, stars, saturation, galaxies, sky, noise, truth and the random domain."""

import time

import numpy as np
import pytest
from astropy.modeling import fitting, models
from astropy.wcs import WCS

from astrofmx.datasets import (OPTICAL_KINDS, GalaxyPopulation, OpticalDetector, OpticalPSF, SimulatedOpticalField,
                               SkyBackground, StarPopulation, random_optical_field, read_simulated_field,
                               simulate_optical_field, truth_boxes_in_window)

CLEAN = OpticalDetector(hot_pixel_fraction=0.0, cosmic_ray_rate=0.0)


def _isolated(truth, distance):
    x, y = np.asarray(truth["x_centroid"]), np.asarray(truth["y_centroid"])
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1) > distance


def test_header_and_truth_columns():
    field = simulate_optical_field((128, 96), seed=0, n_stars=10, n_galaxies=5)
    h = field.header
    assert isinstance(field, SimulatedOpticalField) and field.data.shape == (128, 96)
    assert (h["CTYPE1"], h["CTYPE2"], h["BUNIT"]) == ("RA---TAN", "DEC--TAN", "adu")
    assert h["TELESCOP"] == "SIMULATED-OPTICAL" and h["INSTRUME"] == "ASTROFMX-CCD"
    assert h["PSF_FWHM"] == pytest.approx(3.0 * 0.4) and h["SEEING"] == h["PSF_FWHM"]
    assert field.psf_fwhm.to_value("arcsec") == pytest.approx(1.2)
    t = field.truth
    assert set(t["kind"]) <= set(OPTICAL_KINDS) and len(t) >= 15
    for name in ("x_centroid", "y_centroid", "sky_centroid", "flux", "mag", "peak_flux", "snr", "saturated",
                 "bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax"):
        assert name in t.colnames
    x, y = WCS(h).world_to_pixel(t["sky_centroid"])
    np.testing.assert_allclose(x, t["x_centroid"], atol=1e-6)
    np.testing.assert_allclose(y, t["y_centroid"], atol=1e-6)
    assert np.all(t["bbox_xmin"] <= t["x_centroid"]) and np.all(t["x_centroid"] <= t["bbox_xmax"])
    np.testing.assert_allclose(t["snr"], t["peak_flux"].value / h["SIMSIGMA"])


def test_same_seed_same_field_and_roundtrip(tmp_path):
    a = simulate_optical_field((96, 96), seed=4)
    b = simulate_optical_field((96, 96), seed=4)
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, simulate_optical_field((96, 96), seed=5).data)
    a.write(tmp_path / "f.fits")
    back = read_simulated_field(tmp_path / "f.fits")
    assert isinstance(back, SimulatedOpticalField)
    np.testing.assert_array_equal(back.data, a.data)
    np.testing.assert_allclose(back.truth["x_centroid"], a.truth["x_centroid"])
    assert list(back.truth["kind"]) == list(a.truth["kind"])


def test_truth_positions_lie_on_the_star_peaks():
    field = simulate_optical_field((256, 256), seed=1, stars=StarPopulation(n_stars=25, snr_min=30, snr_max=300),
                                   n_galaxies=0, detector=CLEAN, psf=OpticalPSF(spikes=False))
    t = field.truth[_isolated(field.truth, 12)]
    assert len(t) > 10
    image = np.pad(field.data, 4, constant_values=-np.inf)
    for row in t:
        x, y = int(round(row["x_centroid"])), int(round(row["y_centroid"]))
        cut = image[y:y + 9, x:x + 9]
        py, px = np.unravel_index(np.argmax(cut), cut.shape)
        assert abs(px - 4) <= 1 and abs(py - 4) <= 1


@pytest.mark.parametrize("fwhm, beta", [(2.0, 2.5), (4.0, 3.5), (7.0, 4.5)])
def test_moffat_fwhm_measured_on_an_isolated_star(fwhm, beta):
    psf = OpticalPSF(fwhm=fwhm, beta=beta, ellipticity=0.0, spikes=False)
    field = simulate_optical_field((160, 160), seed=3, psf=psf, stars=StarPopulation(n_stars=1, snr_min=2000,
                                   snr_max=2001), n_galaxies=0, detector=CLEAN)
    row = field.truth[0]
    assert 50 < row["x_centroid"] < 110 and 50 < row["y_centroid"] < 110  # the wings inside the image
    y, x = np.mgrid[:160, :160]
    init = models.Moffat2D(amplitude=row["peak_flux"].value, x_0=row["x_centroid"], y_0=row["y_centroid"],
                           gamma=fwhm, alpha=3.0) + models.Const2D(field.header["SIMSKY"])
    fit = fitting.TRFLSQFitter()(init, x, y, field.data)
    assert fit[0].fwhm == pytest.approx(fwhm, rel=0.03)
    assert fit[0].alpha.value == pytest.approx(beta, rel=0.1)
    assert float(row["flux"].value) == pytest.approx(float((field.data - field.header["SIMSKY"]).sum()), rel=0.03)


def test_psf_ellipticity_and_angle():
    psf = OpticalPSF(fwhm=5.0, ellipticity=0.3, theta=30.0, spikes=False)
    field = simulate_optical_field((96, 96), seed=3, psf=psf, stars=StarPopulation(n_stars=1, snr_min=3000,
                                   snr_max=3001), n_galaxies=0, detector=CLEAN)
    from photutils.morphology import data_properties
    data = field.data - field.header["SIMSKY"]
    props = data_properties(np.where(data > 0.05 * data.max(), data, 0.0))
    assert float(props.orientation.value) % 180 == pytest.approx(30.0, abs=2.0)
    assert float(props.semiminor_axis / props.semimajor_axis) == pytest.approx(0.7, abs=0.05)


def test_saturated_star_is_clipped_bleeds_along_its_column_and_has_spikes():
    detector = OpticalDetector(saturation=20000.0, hot_pixel_fraction=0.0, cosmic_ray_rate=0.0)
    field = simulate_optical_field((256, 256), seed=4, stars=StarPopulation(n_stars=1, snr_min=5e4, snr_max=5.1e4),
                                   n_galaxies=0, detector=detector, psf=OpticalPSF(spike_angle=45.0))
    (row,) = field.truth
    assert bool(row["saturated"])
    x, y = int(round(row["x_centroid"])), int(round(row["y_centroid"]))
    assert field.data[y, x] == 20000.0 and field.data.max() == 20000.0
    column = np.flatnonzero(field.data[:, x] == 20000.0)
    line = np.flatnonzero(field.data[y, :] == 20000.0)
    assert column.size > 2 * line.size  # the bleed trail runs along the column
    assert row["bbox_ymin"] <= column.min() and column.max() <= row["bbox_ymax"]
    sky, sigma = field.header["SIMSKY"], field.header["SIMSIGMA"]
    dx, dy = (15 if x < 128 else -15), (15 if y < 128 else -15)  # toward the image centre
    on = field.data[y + dy - 1:y + dy + 2, x + dx - 1:x + dx + 2].mean() - sky  # on the 45-degree spike
    ox = x + int(round(1.414 * dx))
    off = field.data[y - 1:y + 2, ox - 1:ox + 2].mean() - sky  # off it, as far from the star
    assert on > 5 * sigma and on > 3 * off


def test_poisson_and_read_noise_variance():
    for gain, level in ((2.0, 1000.0), (0.5, 200.0)):
        detector = OpticalDetector(gain=gain, read_noise=0.0, hot_pixel_fraction=0.0, cosmic_ray_rate=0.0)
        field = simulate_optical_field((256, 256), seed=5, n_stars=0, n_galaxies=0, detector=detector,
                                       sky=SkyBackground(level=level, gradient=0.0))
        assert field.data.mean() == pytest.approx(level, rel=1e-3)
        assert field.data.var() == pytest.approx(level / gain, rel=0.03)
    detector = OpticalDetector(gain=1.0, read_noise=10.0, hot_pixel_fraction=0.0, cosmic_ray_rate=0.0)
    field = simulate_optical_field((256, 256), seed=5, n_stars=0, n_galaxies=0, detector=detector,
                                   sky=SkyBackground(level=100.0, gradient=0.0))
    assert field.data.var() == pytest.approx(100.0 + 100.0, rel=0.03)
    assert field.header["SIMSIGMA"] == pytest.approx(np.sqrt(200.0))


def test_nebulosity_and_gradient_raise_the_background_but_add_no_truth():
    kw = dict(seed=6, n_stars=10, n_galaxies=10)
    plain = simulate_optical_field((192, 192), sky=SkyBackground(gradient=0.0), **kw)
    nebula = simulate_optical_field((192, 192), sky=SkyBackground(gradient=0.3, nebulosity=30.0), **kw)
    assert len(nebula.truth) == len(plain.truth)
    np.testing.assert_array_equal(nebula.truth["x_centroid"], plain.truth["x_centroid"])
    np.testing.assert_array_equal(nebula.truth["bbox_xmax"], plain.truth["bbox_xmax"])
    sigma = plain.header["SIMSIGMA"]
    extra = nebula.data.astype(float) - plain.data
    assert extra.max() > 20 * sigma
    rows = nebula.data.mean(axis=0), nebula.data.mean(axis=1)
    assert max(np.ptp(r) for r in rows) > 0.1 * plain.header["SIMSKY"]  # the gradient


def test_hot_pixels_and_cosmic_rays_are_sharp_unlabelled_negatives():
    detector = OpticalDetector(hot_pixel_fraction=1e-3, cosmic_ray_rate=2e-4)
    field = simulate_optical_field((256, 256), seed=7, n_stars=0, n_galaxies=0, detector=detector)
    assert len(field.truth) == 0 and field.header["SIMNHOT"] > 20 and field.header["SIMNCR"] > 3
    sigma = field.header["SIMSIGMA"]
    hot = np.argwhere(field.data - field.header["SIMSKY"] > 8 * sigma)
    assert len(hot) > 40
    clean = simulate_optical_field((256, 256), seed=7, n_stars=0, n_galaxies=0, detector=CLEAN)
    assert (clean.data - clean.header["SIMSKY"]).max() < 6 * sigma


def test_galaxies_one_box_each_sizes_and_blends():
    population = GalaxyPopulation(n_galaxies=30, snr_min=500, snr_max=501, blend_fraction=0.0)
    field = simulate_optical_field((512, 512), seed=8, n_stars=0, galaxies=population, detector=CLEAN)
    t = field.truth
    assert len(t) == 30 and set(t["kind"]) == {"galaxy"}
    assert np.all((t["sersic_n"] >= 0.5) & (t["sersic_n"] <= 4.0))
    width = np.asarray(t["bbox_xmax"] - t["bbox_xmin"]) + np.asarray(t["bbox_ymax"] - t["bbox_ymin"])
    inside = (np.asarray(t["bbox_xmin"]) > 0) & (np.asarray(t["bbox_xmax"]) < 511)
    inside &= (np.asarray(t["bbox_ymin"]) > 0) & (np.asarray(t["bbox_ymax"]) < 511)
    assert inside.sum() > 10
    size = np.log(np.asarray(t["r_eff"].value))[inside]
    assert np.corrcoef(size, np.log(width[inside]))[0, 1] > 0.5  # larger galaxies (same flux), larger boxes
    blended = simulate_optical_field((384, 384), seed=8, n_stars=0, detector=CLEAN,
                                     galaxies=GalaxyPopulation(n_galaxies=20, blend_fraction=1.0))
    assert len(blended.truth) > 30  # a companion each (unless it falls off the image): two boxes per blend


def test_crowded_fields_and_counts():
    sparse = simulate_optical_field((256, 256), seed=9, n_galaxies=0)
    crowded = simulate_optical_field((256, 256), seed=9, n_galaxies=0, stars=StarPopulation(crowded=True))
    assert len(crowded.truth) > 10 * len(sparse.truth) > 0
    assert crowded.header["SIMCROWD"] is True


def test_truth_boxes_in_window_labels_stars_and_galaxies():
    field = simulate_optical_field((128, 128), seed=10, n_stars=10, n_galaxies=10)
    boxes, labels, index = truth_boxes_in_window(field.truth, 0, 0, 128, 128, return_index=True)
    expected = [1 + OPTICAL_KINDS.index(k) for k in np.asarray(field.truth["kind"])[index]]
    np.testing.assert_array_equal(labels, expected)
    assert set(labels) == {1, 2}


def test_random_optical_field_is_deterministic_and_spans_the_domain():
    a, b = random_optical_field((96, 96), seed=12), random_optical_field((96, 96), seed=12)
    np.testing.assert_array_equal(a.data, b.data)
    fwhm, beta, crowded, nebula = [], [], set(), set()
    for seed in range(30):
        h = random_optical_field((64, 64), seed=seed, return_truth=False).header
        fwhm.append(h["PSFFWPIX"])
        beta.append(h["PSFBETA"])
        crowded.add(h["SIMCROWD"])
        nebula.add(h["SIMNEBUL"] > 0)
        assert h["SATURATE"] > h["SIMSKY"] and h["SIMRAND"]
    assert 1.5 <= min(fwhm) < 2.5 and 6.0 < max(fwhm) <= 8.0
    assert 2.5 <= min(beta) and max(beta) <= 4.5
    assert crowded == {True, False} and nebula == {True, False}


def test_optical_fields_are_fast():
    for make in (lambda s: simulate_optical_field((256, 256), seed=s), lambda s: random_optical_field((256, 256), s)):
        make(0)
        start = time.perf_counter()
        for seed in range(5):
            make(seed)
        assert (time.perf_counter() - start) / 5 < 0.5  # 0.03-0.1 s on one core


@pytest.mark.parametrize("make, error, match", [
    (lambda: OpticalPSF(beta=1.0), ValueError, "beta must be > 1"),
    (lambda: OpticalPSF(ellipticity=0.95), ValueError, "ellipticity"),
    (lambda: StarPopulation(n_stars=3, density=10), ValueError, "not both"),
    (lambda: GalaxyPopulation(r_eff=(5, 1)), ValueError, "r_eff"),
    (lambda: OpticalDetector(gain=0), ValueError, "gain must be positive"),
    (lambda: SkyBackground(nebulosity=-1), ValueError, "nebulosity"),
    (lambda: simulate_optical_field((32, 32), seed=0, psf="moffat"), TypeError, "psf must be"),
    (lambda: simulate_optical_field((32, 32), seed=0, n_stars=2, stars=StarPopulation()), TypeError, "not both"),
    (lambda: random_optical_field((32, 32), seed=np.random.default_rng(0)), TypeError, "int seed"),
])
def test_bad_settings_are_reported(make, error, match):
    with pytest.raises(error, match=match):
        make()
