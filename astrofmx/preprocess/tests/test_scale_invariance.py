"""Intensity-scale invariance and termination of the background mesh and the normalizers (issues 12, 16)."""

import logging

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from astrofmx.io import FLT_MAX, load_image
from astrofmx.preprocess import PixelScale, estimate_background_mesh, get_preset, list_presets
from astrofmx.tests.helpers import finishes

from .conftest import make_field

#: a log-uniform factor between 1e-30 and 1e30
FACTORS = st.floats(-30.0, 30.0).map(lambda e: 10.0 ** e)


@pytest.fixture(scope="module")
def field():
    data, _ = make_field(np.random.default_rng(7), (128, 128), noise=2e-5, background=1e-6, peak=(2e-4, 2e-3))
    return data


def test_pixel_scale_is_a_power_of_two_near_the_noise(field):
    for c in (1e-30, 1e-22, 1.0, 1e20, 1e30):
        scale = PixelScale.from_data(field.astype(np.float64) * c)
        mantissa, _ = np.frexp(scale.factor)
        assert mantissa == 0.5 and scale.offset == 0
        assert 0.5 < 2e-5 * c / scale.factor < 2.0


def test_pixel_scale_offsets_integers_near_2_62():
    data = np.int64(2**62) + np.arange(256, dtype=np.int64).reshape(16, 16)
    scale = PixelScale.from_data(data)
    assert scale.offset == 2**62 + 128 and isinstance(scale.offset, int)
    np.testing.assert_array_equal(scale.apply(data) * scale.factor, np.arange(256).reshape(16, 16) - 128)
    assert PixelScale.from_data(np.full((4, 4), np.nan)).is_identity


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(c=FACTORS)
@example(c=1e-22)
@example(c=1e20)
@example(c=1e-30)
@example(c=1e30)
def test_normalizers_are_scale_invariant(field, c):
    scaled = (field.astype(np.float64) * c).astype(np.float32)
    for name in list_presets():
        ref, out = get_preset(name)(field), get_preset(name)(scaled)
        np.testing.assert_allclose(out, ref, atol=2e-5, err_msg=f"preset {name}, factor {c:g}")
    ref, out = estimate_background_mesh(field, box_size=32), estimate_background_mesh(scaled, box_size=32)
    np.testing.assert_allclose(out.noise / c, ref.noise, rtol=1e-4)
    np.testing.assert_allclose(out.background / c, ref.background, rtol=1e-4, atol=1e-4 * 2e-5)


def test_power_of_two_scaling_is_bit_identical(field):
    for name in list_presets():
        ref = get_preset(name)(field)
        for k in (-100, -7, 3, 90):
            np.testing.assert_array_equal(get_preset(name)(field * np.float32(2.0 ** k)), ref)


@pytest.mark.parametrize("value", [3e38, -3e38, FLT_MAX * 0.999, 1e-38, 0.0, 5.0, 1e30])
def test_constant_images_finish(value):
    image = np.full((128, 128), value, np.float32)
    mesh = finishes(estimate_background_mesh, image)
    assert np.isfinite(mesh.scaled_background).all() and (mesh.scaled_noise > 0).all()
    for name in ("radio", "radio-local", "radio-snr"):
        out = finishes(get_preset(name), image)
        assert np.isfinite(out).all()


def test_mesh_with_huge_values_finishes():
    rng = np.random.default_rng(0)
    image = (3e38 + rng.normal(0, 1e36, (128, 128))).clip(-FLT_MAX, 3.3e38).astype(np.float32)
    mesh = finishes(estimate_background_mesh, image, box_size=32)
    assert np.isfinite(mesh.noise).all() and float(np.median(mesh.noise)) == pytest.approx(1e36, rel=0.2)


def test_fill_missing_is_bounded():
    from astrofmx.preprocess._background import _fill_missing

    grid = np.full((50, 70), np.nan)
    assert np.isnan(finishes(_fill_missing, grid)).all()  # nothing to grow from: returned as it is
    grid[3, 4] = 2.0
    assert (finishes(_fill_missing, grid) == 2.0).all()


@pytest.mark.parametrize("fraction", [0.5, 0.7, 0.9])
def test_flt_max_blanks_are_blank(field, fraction, caplog):
    blank = np.zeros(field.shape, dtype=bool)
    blank[:, : int(fraction * field.shape[1])] = True
    with_nan, with_max = field.copy(), field.copy()
    with_nan[blank], with_max[blank] = np.nan, FLT_MAX
    for name in ("radio", "radio-local"):
        np.testing.assert_array_equal(finishes(get_preset(name), with_max), get_preset(name)(with_nan))
    mesh_max, mesh_nan = estimate_background_mesh(with_max, box_size=32), estimate_background_mesh(with_nan, box_size=32)
    np.testing.assert_array_equal(mesh_max.noise, mesh_nan.noise)
    with caplog.at_level(logging.WARNING, logger="astrofmx.io"):
        image = load_image(with_max)
    assert image.mask[blank].all() and "FLT_MAX" in caplog.text


def test_int64_near_2_62_keeps_its_structure(field):
    ints = np.round((field - field.min()) / (field.max() - field.min()) * 255).astype(np.int64)
    data = np.int64(2**62) + ints
    image = load_image(data)
    assert image.data.dtype == np.int64  # float32 would make every pixel 2**62
    for name in ("radio", "radio-local", "minmax"):
        out, ref = finishes(get_preset(name), image.data), get_preset(name)(ints)
        assert out.std() > 0.01
        np.testing.assert_allclose(out, ref, atol=1e-5)


def test_float64_pixel_beyond_float32_is_scaled_not_lost(field, caplog):
    data = field.astype(np.float64) * 1e44  # the sources lie beyond float32 before scaling
    image = load_image(data)
    assert image.data.dtype == np.float64 and not image.mask.any()
    np.testing.assert_allclose(get_preset("radio-local")(image.data), get_preset("radio-local")(field), atol=2e-5)
    one = field.astype(np.float64)
    one[5, 5] = 1e39  # 5e43 times the noise: cannot be held in float32 even after scaling
    with caplog.at_level(logging.WARNING, logger="astrofmx.preprocess"):
        out = finishes(get_preset("radio-local"), one)
    assert np.isfinite(out).all() and "1e+39" in caplog.text and "masked" in caplog.text
