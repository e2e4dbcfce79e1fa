import numpy as np
import pytest
from astropy.stats import mad_std
from astropy.visualization import (AsinhStretch, LinearStretch, LogStretch, ManualInterval, MinMaxInterval,
                                   PercentileInterval, SqrtStretch)

from astrofmx.io import load_image
from astrofmx.preprocess import (PRESETS, Normalizer, PerChannelNormalizer, estimate_background_mesh, get_preset,
                                 list_presets, resolve_normalizer)

from .conftest import make_field


def _global_background(data):
    """The sigma-clipped median and MAD noise a 'global' normalizer fits."""
    fitted = Normalizer(background="global").fit(data)
    return fitted.background, fitted.noise


def test_background_global_and_local(rng):
    data, _ = make_field(rng, (200, 200), n_sources=20, noise=2.0, background=7.0)
    background, noise = _global_background(data)
    assert background == pytest.approx(7.0, abs=0.1)
    assert noise == pytest.approx(2.0, rel=0.05)
    # a gradient background is followed by the mesh
    yy, xx = np.mgrid[:200, :200]
    grad = data + 0.05 * xx
    local_bkg, local_noise = estimate_background_mesh(grad, box_size=25).maps()
    assert local_bkg.shape == (200, 200)
    np.testing.assert_allclose(local_bkg[100, 20:180:40], 7.0 + 0.05 * np.arange(20, 180, 40), atol=0.6)
    np.testing.assert_allclose(np.median(local_noise), 2.0, rtol=0.1)
    with pytest.raises(ValueError, match="every pixel is NaN, infinite or masked"):
        _global_background(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="every pixel is NaN, infinite or masked"):
        estimate_background_mesh(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="sigma must be positive, got -1"):
        Normalizer(background="global", sigma=-1)
    with pytest.raises(ValueError, match="sigma must be positive, got -1"):
        estimate_background_mesh(data, sigma=-1)
    with pytest.raises(ValueError, match="data must be 2-D"):
        estimate_background_mesh(data[None])


def test_normalizer_range_determinism_and_input_untouched(rng):
    data, _ = make_field(rng)
    data[:5, :5] = np.nan
    before = data.copy()
    for name in list_presets():
        norm = get_preset(name)
        out = norm(data)
        assert out.dtype == np.float32 and out.shape == data.shape
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
        assert out.std() > 0
        np.testing.assert_array_equal(out, get_preset(name)(data))
        np.testing.assert_array_equal(data, before)


def test_repr_shows_parameters_and_is_stable():
    norm = Normalizer(interval=PercentileInterval(99.0), stretch=SqrtStretch() + LogStretch(500),
                      background="local", box_size=32, threshold=2.5)
    text = repr(norm)
    assert "0x" not in text
    for part in ("PercentileInterval(percentile=99.0)", "SqrtStretch() + LogStretch(a=500)",
                 "background='local'", "box_size=32", "threshold=2.5"):
        assert part in text
    assert repr(get_preset("radio")) == repr(get_preset("radio"))
    assert repr(get_preset("radio")).startswith("Normalizer(name='radio', ")


def test_threshold_zeroing_matches_rgz_rule(rng):
    data, pos = make_field(rng)
    out = get_preset("radio-snr")(data)
    # independent computation: sigma-clipped median and MAD std, zero below 3 sigma, min-max of the rest
    med, sig = np.median(data), mad_std(data)
    snr = (data - med) / sig
    below = snr < 3.0
    assert np.mean((out == 0) == below) > 0.995
    x, y = np.round(pos[0]).astype(int)
    assert out[y, x] > 0.05
    bright = ~below
    expected = np.where(below, 0.0, snr) / snr.max()
    np.testing.assert_allclose(out[bright], expected[bright], atol=0.01)


def test_snr_scaling_with_manual_interval(rng):
    data, _ = make_field(rng, noise=2.0, background=10.0)
    norm = Normalizer(background="global", snr=True, interval=ManualInterval(0.0, 20.0))
    background, noise = _global_background(data)
    expected = np.clip((data - background) / noise / 20.0, 0, 1)
    np.testing.assert_allclose(norm(data), expected, atol=1e-5)


def test_fill_policies(rng):
    data = rng.normal(100.0, 1.0, (40, 40)).astype(np.float32)
    data[10:20, 10:20] = np.nan
    mask = np.zeros(data.shape, bool)
    mask[0, 0] = True
    base = dict(interval=ManualInterval(90.0, 110.0), stretch=LinearStretch())
    assert np.all(Normalizer(**base, fill="zero")(data)[10:20, 10:20] == 0)
    bkg = Normalizer(**base, fill="background")(data, mask)
    background, _ = _global_background(data)
    assert bkg[15, 15] == pytest.approx((background - 90.0) / 20.0, abs=1e-4)
    assert bkg[0, 0] == bkg[15, 15]
    assert np.all(Normalizer(**base, fill=0.25)(data, mask)[mask] == 0.25)


def test_per_channel_and_joint_limits(rng):
    a = rng.uniform(0.0, 1.0, (30, 30)).astype(np.float32)
    a[0, 0], a[0, 1] = 0.0, 1.0
    stack = np.stack([a, 2 * a, 4 * a])
    per = Normalizer(interval=MinMaxInterval())(stack)
    np.testing.assert_allclose(per[0], per[2], atol=1e-6)
    joint = Normalizer(interval=MinMaxInterval(), per_channel=False)(stack)
    np.testing.assert_allclose(joint[1], 2 * joint[0], atol=1e-6)
    np.testing.assert_allclose(joint[2], 1.0 * (stack[2] / 4.0), atol=1e-6)
    # a 2-D mask applies to every channel
    mask = np.zeros((30, 30), bool)
    mask[5, 5] = True
    assert np.all(Normalizer()(stack, mask)[:, 5, 5] == 0)


def test_per_channel_normalizer(rng):
    stack = rng.normal(size=(2, 20, 20)).astype(np.float32)
    norm = PerChannelNormalizer(["radio-snr", Normalizer(interval=MinMaxInterval())])
    out = norm(stack)
    np.testing.assert_array_equal(out[0], get_preset("radio-snr")(stack[0]))
    np.testing.assert_array_equal(out[1], Normalizer()(stack[1]))
    assert "radio-snr" in repr(norm)
    with pytest.raises(ValueError, match=r"C = 2 channels, got shape \(3, 20, 20\)"):
        norm(np.zeros((3, 20, 20)))


def test_presets_on_real_images(shared_data):
    radio = ["radio/aegean/1904-66_SIN.fits", "radio/astroquery-first/image.fits",
             "radio/astroquery-magpis/image.fits", "radio/rgz-atlas/S311.fits",
             "radio/pybdsf/tbdsf_process_image.in_fits.pybdsf.ch0_I.fits",
             "radio/mirabest/FITS/100_010.451-009.284_0.0529_0080.60.fits"]
    optical = ["optical/astropy-data/HorseHead.fits", "optical/astropy-data/reprojected_sdss_g.fits.bz2",
               "optical/astropy-wheel/m13.fits", "optical/astropy-data/gc_2mass_k.fits",
               "optical/galsim/147246.0_150.416558_1.998697_masknoise.fits"]
    for rel, presets in [(p, ("radio", "radio-snr")) for p in radio] + [(p, ("optical",)) for p in optical]:
        image = load_image(shared_data / rel)
        for name in presets:
            out = get_preset(name)(image.data, image.mask)
            assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0, (rel, name)
            assert out[~image.mask].std() > 0.005, (rel, name)
    # radio-snr on the Aegean map: blank pixels are 0, the brightest source is 1
    image = load_image(shared_data / "radio/aegean/1904-66_SIN.fits")
    out = get_preset("radio-snr")(image.data, image.mask)
    assert np.all(out[image.mask] == 0)
    assert out.flat[np.nanargmax(image.data)] == 1.0


def test_normalizer_errors():
    with pytest.raises(ValueError, match="background must be None, 'global' or 'local', got 'median'"):
        Normalizer(background="median")
    with pytest.raises(ValueError, match="fill must be 'zero', 'background' or a number in"):
        Normalizer(fill="nearest")
    with pytest.raises(ValueError, match="fill must be"):
        Normalizer(fill=2.0)
    with pytest.raises(TypeError, match="interval must be an astropy.visualization BaseInterval"):
        Normalizer(interval=AsinhStretch())
    with pytest.raises(TypeError, match="stretch must be an astropy.visualization BaseStretch"):
        Normalizer(stretch="asinh")
    with pytest.raises(ValueError, match="draws random samples"):
        Normalizer(interval=PercentileInterval(99.0, n_samples=1000))
    with pytest.raises(ValueError, match="unknown normalization preset 'xray'; choose one of"):
        get_preset("xray")
    with pytest.raises(ValueError, match=r"data must be 2-D \(H, W\) or 3-D"):
        Normalizer()(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match="every pixel is NaN, infinite or masked"):
        Normalizer()(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="channel 1 has no valid pixel"):
        Normalizer()(np.stack([np.ones((4, 4)), np.full((4, 4), np.inf)]))
    with pytest.raises(TypeError, match="normalizer must be a preset name"):
        resolve_normalizer(3)
    with pytest.raises(ValueError, match="normalizer=None needs data already in"):
        resolve_normalizer(None)(np.array([[0.0, 2.0]]))


def test_presets_are_read_only_copies():
    norm = get_preset("optical")
    assert norm is not PRESETS["optical"] and norm.interval is not PRESETS["optical"].interval
    with pytest.raises(TypeError):
        PRESETS["mine"] = norm
    assert norm.replace(threshold=4.0).threshold == 4.0 and norm.threshold is None
    assert type(norm.to_image_normalize(np.arange(10.0)[None]).stretch).__name__ == "AsinhStretch"
