import gc
import tracemalloc

import numpy as np
import pytest
from astropy.io import fits

from astrofmx.io import load_image
from astrofmx.preprocess import BackgroundMesh, FittedNormalizer, estimate_background_mesh, get_preset, list_presets
from astrofmx.preprocess import _sampling
from astrofmx.preprocess._sampling import _sample_pixels as sample_pixels

from .conftest import make_field


def _pb_noise_field(rng, shape=(384, 384), fwhm=300.0):
    """Noise rising towards the edge as 1/PB (a primary-beam-corrected map), background 3, NaN beyond PB 0.2."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r2 = (yy - shape[0] / 2) ** 2 + (xx - shape[1] / 2) ** 2
    pb = np.exp(-4 * np.log(2) * r2 / fwhm**2)
    data = 3.0 + rng.normal(0.0, 1.0, shape) / pb
    data[pb < 0.2] = np.nan
    return data.astype(np.float32), pb


def test_mesh_follows_noise_rising_towards_blank_edges(rng):
    data, pb = _pb_noise_field(rng)
    mesh = estimate_background_mesh(data, box_size=32)
    assert isinstance(mesh, BackgroundMesh) and mesh.background.shape == (12, 12)
    bkg, noise = mesh.maps()
    assert bkg.shape == noise.shape == data.shape and np.isfinite(noise).all()
    centre, edge = pb > 0.9, (pb > 0.3) & (pb < 0.4)
    np.testing.assert_allclose(np.median(bkg[centre]), 3.0, atol=0.1)
    np.testing.assert_allclose(np.median(noise[centre]), np.median(1 / pb[centre]), rtol=0.1)
    # the noise measured near the blank edge is ~3x the centre's, as 1/PB says
    assert np.median(noise[edge]) / np.median(noise[centre]) == pytest.approx(
        np.median(1 / pb[edge]) / np.median(1 / pb[centre]), rel=0.2)
    # boxes that are all NaN (corners) take their neighbours' values
    assert np.isfinite(mesh.background).all() and (mesh.noise > 0).all()
    # a window, points and the full maps agree
    b, n = mesh.window(100, 140, 50, 90)
    np.testing.assert_allclose(b, bkg[100:140, 50:90], rtol=1e-6)
    pb_, pn = mesh.at([120.0, 7.0], [60.0, 300.0])
    np.testing.assert_allclose(pn, [noise[120, 60], noise[7, 300]], rtol=1e-5)


def test_mesh_ignores_a_bright_source_and_follows_a_gradient(rng):
    data, _ = make_field(rng, (256, 256), n_sources=30, noise=2.0, background=7.0)
    data += 0.02 * np.arange(256)[None, :]
    bkg, noise = estimate_background_mesh(data, box_size=32).maps()
    np.testing.assert_allclose(bkg[128, 16:240:32], 7.0 + 0.02 * np.arange(16, 240, 32), atol=0.4)
    np.testing.assert_allclose(np.median(noise), 2.0, rtol=0.1)


def test_mesh_and_sample_stream_from_memmap(tmp_path, rng):
    data, _ = _pb_noise_field(rng, (300, 260))
    path = tmp_path / "pb.fits"
    fits.PrimaryHDU(data).writeto(path)
    lazy = load_image(path, memmap=True)
    assert isinstance(lazy.data, np.memmap) and lazy.data.dtype.byteorder == ">"
    a = estimate_background_mesh(lazy.data, box_size=(40, 30))
    b = estimate_background_mesh(data, box_size=(40, 30))
    np.testing.assert_array_equal(a.background, b.background)
    np.testing.assert_array_equal(a.noise, b.noise)
    np.testing.assert_array_equal(sample_pixels(lazy.data), data[np.isfinite(data)])


def test_sample_pixels_is_a_regular_sample_above_the_limit(rng):
    data = rng.normal(size=(300, 400)).astype(np.float32)
    values, y, x = sample_pixels(data, max_samples=3000, return_coords=True)
    step = int(np.ceil(np.sqrt(data.size / 3000)))
    assert values.size == len(range(0, 300, step)) * len(range(0, 400, step))
    np.testing.assert_array_equal(values, data[y, x])
    assert set(np.unique(y) % step) == {0} and set(np.unique(x) % step) == {0}
    mask = np.zeros(data.shape, bool)
    mask[:, :200] = True
    assert (sample_pixels(data, mask, max_samples=3000, return_coords=True)[2] >= 200).all()


@pytest.mark.parametrize("name", list_presets())
def test_fitted_normalizer_windows_equal_the_whole_image(name, rng):
    data, _ = _pb_noise_field(rng, (200, 230))
    data[50:60, 70:90] += 400.0
    whole = get_preset(name)(data)
    fitted = get_preset(name).fit(data)
    assert isinstance(fitted, FittedNormalizer)
    for y0, x0, h, w in ((0, 0, 64, 64), (37, 101, 64, 64), (150, 190, 50, 40)):
        tile = fitted(data[y0:y0 + h, x0:x0 + w], origin=(y0, x0))
        np.testing.assert_allclose(tile, whole[y0:y0 + h, x0:x0 + w], atol=2e-6, err_msg=name)


def test_radio_local_gives_every_image_the_same_noise_level(rng):
    """Units, depth and the brightest source do not change the normalized noise (unlike percentile limits)."""
    levels = {}
    for scale, bright in ((1e-5, 1e3), (1e-2, 1e6)):
        data = (scale * rng.normal(size=(256, 256))).astype(np.float32)
        data[150:170, 150:170] += scale * bright  # 0.6% of the pixels: it sets the 99.95th percentile
        for name in ("radio-local", "radio"):
            out = get_preset(name)(data)
            levels[(name, scale)] = float(np.std(out[:80, :80]))
    assert levels[("radio-local", 1e-5)] == pytest.approx(levels[("radio-local", 1e-2)], rel=0.05)
    assert abs(levels[("radio", 1e-5)] / levels[("radio", 1e-2)] - 1) > 0.2  # control: the old preset varies


def test_fit_on_a_large_memmap_reads_strips_and_samples(tmp_path, rng, monkeypatch):
    """Above the exact limit, statistics come from a sample, with Python memory far below the image size."""
    monkeypatch.setattr(_sampling, "_STRIP_BYTES", 2**20)  # strips of 128 rows
    data = rng.normal(0.0, 1.0, (2048, 2048)).astype(np.float32)
    data[::97, ::89] += 500.0
    path = tmp_path / "big.fits"
    fits.PrimaryHDU(data).writeto(path)
    exact = get_preset("radio").fit(data, max_samples=data.size)
    image = load_image(path, memmap=True)
    for name in ("radio", "radio-local"):
        gc.collect()
        tracemalloc.start()
        try:
            fitted = get_preset(name).fit(image.data, max_samples=2**16)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < data.nbytes / 4, (name, peak)
    fitted = get_preset("radio").fit(image.data, max_samples=2**16)
    assert fitted.background == pytest.approx(exact.background, abs=0.02)
    assert fitted.noise == pytest.approx(exact.noise, rel=0.02)
    assert fitted.vmin == pytest.approx(exact.vmin, rel=0.05)


def test_background_bad_input(rng):
    data = rng.normal(size=(64, 64))
    with pytest.raises(ValueError, match=r"box_size must be a positive integer or a pair of them, got 0"):
        estimate_background_mesh(data, box_size=0)
    with pytest.raises(ValueError, match=r"data must be 2-D, got shape \(2, 64, 64\)"):
        estimate_background_mesh(np.stack([data, data]))
    with pytest.raises(ValueError, match="mask shape"):
        estimate_background_mesh(data, np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="every pixel is NaN, infinite or masked"):
        estimate_background_mesh(np.full((40, 40), np.nan), box_size=8)
    with pytest.raises(ValueError, match="filter_size must be a positive integer, got 0"):
        estimate_background_mesh(data, filter_size=0)
    with pytest.raises(ValueError, match="max_samples must be a positive integer, got -1"):
        sample_pixels(data, max_samples=-1)
    with pytest.raises(ValueError, match="every pixel is NaN, infinite or masked"):
        get_preset("radio").fit(np.full((40, 40), np.nan))
    with pytest.raises(ValueError, match=r"data must be a 2-D window of the fitted image, got shape \(4,\)"):
        get_preset("radio").fit(data)(np.zeros(4))
