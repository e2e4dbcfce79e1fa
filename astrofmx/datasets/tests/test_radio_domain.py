"""The widened radio training domain: elongated beams, FR I/II sources, sidelobes, diffuse emission, random fields."""

import time

import astropy.units as u
import numpy as np
import pytest
from photutils.morphology import data_properties

from astrofmx.datasets import (ArtefactModel, DiffuseEmission, SourcePopulation, random_radio_field,
                               simulate_radio_field)

PIX = 1.5  # arcsec, the default grid

BRIGHT_POINT = dict(flux_min_snr=5000, flux_max_snr=5001, extended_fraction=0.0, double_fraction=0.0)


def _orientation_and_ratio(image, level=0.02):
    image = np.where(image > level * image.max(), image, 0.0)  # the profile, not the noise around it
    props = data_properties(image)
    ratio = props.semimajor_axis.value / props.semiminor_axis.value
    return float(props.orientation.to_value(u.deg)) % 180.0, float(ratio)


@pytest.mark.parametrize("pa", [0.0, 30.0, 125.0])
def test_elongated_beam_shape_and_noise_follow_the_asked_beam(pa):
    major, minor = 9.0, 3.0  # pixels: a 3:1 beam
    beam = dict(beam_fwhm=(major * PIX * u.arcsec, minor * PIX * u.arcsec), beam_pa=pa * u.deg)
    theta = (pa + 90.0) % 180.0  # ccw from +x on a north-up, east-left image
    field = simulate_radio_field((160, 160), seed=2, n_sources=1, **BRIGHT_POINT, **beam)
    row = field.truth[0]
    x, y = int(round(row["x_centroid"])), int(round(row["y_centroid"]))
    data = np.pad(field.data, 20)[y:y + 41, x:x + 41]
    orientation, ratio = _orientation_and_ratio(data)
    assert abs((orientation - theta + 90) % 180 - 90) < 2.0
    assert ratio == pytest.approx(3.0, rel=0.08)
    # the noise is correlated on the same elliptical beam: its autocorrelation has the beam's shape
    noise = simulate_radio_field((256, 256), seed=3, n_sources=0, **beam).data
    power = np.abs(np.fft.rfft2(noise)) ** 2
    acf = np.fft.fftshift(np.fft.irfft2(power, s=noise.shape))[128 - 20:128 + 21, 128 - 20:128 + 21]
    orientation, ratio = _orientation_and_ratio(acf, 0.2)  # the core: a finite sample's ACF is noisy
    assert abs((orientation - theta + 90) % 180 - 90) < 3.0
    assert ratio == pytest.approx(3.0, rel=0.15)


@pytest.mark.parametrize("kind", ["fri_fraction", "frii_fraction"])
def test_radio_galaxies_have_many_components_inside_one_box(kind):
    population = SourcePopulation(n_sources=1, flux_min_snr=3000, flux_max_snr=3001, extended_fraction=0.0,
                                  double_fraction=0.0, **{kind: 1.0})
    for seed in range(4):
        field = simulate_radio_field((384, 384), seed=seed, population=population, wcs_center=(10.0, -30.0))
        (row,) = field.truth
        assert row["n_components"] >= 3
        assert row["morphology"] == ("extended" if kind == "fri_fraction" else "double")
        rms = field.header["SIMRMS"]
        iy, ix = np.nonzero(field.data > 8 * rms)  # the visible source, all components
        assert ix.size > 20
        assert ix.min() >= row["bbox_xmin"] and ix.max() <= row["bbox_xmax"]
        assert iy.min() >= row["bbox_ymin"] and iy.max() <= row["bbox_ymax"]
        assert row["major"] > row["minor"]


def test_extended_sizes_follow_extended_size():
    small = simulate_radio_field((512, 512), seed=4, n_sources=60, extended_fraction=1.0, double_fraction=0.0,
                                 extended_size=(1.0, 1.5))
    large = simulate_radio_field((512, 512), seed=4, n_sources=60, extended_fraction=1.0, double_fraction=0.0,
                                 extended_size=(6.0, 10.0))
    assert np.median(large.truth["major"]) > 3 * np.median(small.truth["major"])
    assert large.header["SIMEXTS1"] == 10.0 and "SIMEXTS0" not in simulate_radio_field((64, 64), seed=0).header


def test_sidelobes_are_signed_scaled_to_the_peak_and_unlabelled():
    kw = dict(n_sources=1, **BRIGHT_POINT)
    plain = simulate_radio_field((256, 256), seed=5, **kw)
    lobed = simulate_radio_field((256, 256), seed=5, artefacts=ArtefactModel("sidelobes", amplitude=0.03), **kw)
    residual = lobed.data - plain.data
    peak = plain.truth["peak_flux"][0].value
    assert np.abs(residual).max() == pytest.approx(0.03 * peak, rel=1e-3)
    assert residual.min() < -0.005 * peak and residual.max() > 0.005 * peak  # rings/spokes of both signs
    assert len(lobed.truth) == 1 and bool(lobed.truth["has_artefact"][0])
    np.testing.assert_array_equal(lobed.truth["x_centroid"], plain.truth["x_centroid"])


def test_diffuse_emission_raises_the_background_but_adds_no_truth():
    plain = simulate_radio_field((256, 256), seed=6, n_sources=8)
    diffuse = simulate_radio_field((256, 256), seed=6, n_sources=8, diffuse=DiffuseEmission(amplitude=6.0))
    assert len(diffuse.truth) == len(plain.truth)
    for name in ("x_centroid", "y_centroid", "flux", "peak_flux", "bbox_xmin", "bbox_ymax"):
        np.testing.assert_array_equal(np.asarray(diffuse.truth[name]), np.asarray(plain.truth[name]))
    extra = diffuse.data - plain.data
    rms = plain.header["SIMRMS"]
    assert extra.min() > -1e-3 * rms  # emission only adds
    assert extra.max() == pytest.approx(6.0 * rms, rel=1e-3)
    assert 0.05 < np.mean(extra > 0.1 * rms) < 0.8  # patchy, not everywhere
    assert diffuse.header["SIMDIFA"] == 6.0 and "SIMDIFA" not in plain.header


def test_new_options_off_give_the_default_field():
    default = simulate_radio_field((128, 128), seed=9)
    explicit = simulate_radio_field((128, 128), seed=9, fri_fraction=0.0, frii_fraction=0.0,
                                    extended_size=(1.2, 5.0), diffuse=None)
    np.testing.assert_array_equal(default.data, explicit.data)
    assert default.header.tostring().split("HISTORY")[0] == explicit.header.tostring().split("HISTORY")[0]


def test_random_radio_field_is_deterministic_and_spans_the_domain():
    a, b = random_radio_field((96, 96), seed=11), random_radio_field((96, 96), seed=11)
    np.testing.assert_array_equal(a.data, b.data)
    beams, artefacts, diffuse = [], set(), set()
    for seed in range(40):
        field = random_radio_field((64, 64), seed=seed, return_truth=False)
        h = field.header
        major, minor = h["BMAJ"] * 3600 / PIX, h["BMIN"] * 3600 / PIX
        assert 2.0 <= minor <= major <= 12.0 + 1e-9 and major / minor <= 3.0 + 1e-9
        beams.append((major, major / minor, h["BPA"]))
        artefacts.add(h["SIMARTEF"])
        diffuse.add("SIMDIFA" in h)
    beams = np.array(beams)
    assert beams[:, 0].max() > 8 and beams[:, 0].min() < 4 and beams[:, 1].max() > 2.0
    assert np.ptp(beams[:, 2]) > 120
    assert artefacts == {"None", "rings", "stripes", "sidelobes"} and diffuse == {True, False}


def test_random_radio_field_is_fast():
    random_radio_field((256, 256), seed=0)
    start = time.perf_counter()
    for seed in range(5):
        random_radio_field((256, 256), seed=seed)
    assert (time.perf_counter() - start) / 5 < 0.5  # about 0.1 s on one core


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(fri_fraction=0.6, frii_fraction=0.5), ValueError, "fri_fraction"),
    (dict(extended_size=(3.0, 1.0)), ValueError, "extended_size"),
    (dict(extended_size="big"), TypeError, "extended_size"),
    (dict(diffuse="yes"), TypeError, "diffuse must be"),
    (dict(diffuse=DiffuseEmission), TypeError, "diffuse must be"),
])
def test_widened_options_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_radio_field((32, 32), seed=0, **kwargs)


def test_diffuse_settings_are_checked():
    with pytest.raises(ValueError, match="diffuse coverage"):
        DiffuseEmission(coverage=2.0)
    with pytest.raises(TypeError, match="int seed"):
        random_radio_field((32, 32), seed=np.random.default_rng(0))
