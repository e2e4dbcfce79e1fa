import numpy as np
import pytest
import torch
from astropy.nddata import NDData

from astrofmx.preprocess import PixelMapping, resample_image, upscale

from .conftest import make_wcs


def test_mapping_round_trip(rng):
    m = PixelMapping(224 / 64, 3.0, x0=17, y0=-4.5)
    x, y = rng.uniform(-10, 300, 50), rng.uniform(-10, 300, 50)
    xo, yo = m.to_original(*m.to_model(x, y))
    np.testing.assert_allclose(xo, x, atol=1e-9)
    np.testing.assert_allclose(yo, y, atol=1e-9)
    assert m.to_original(-0.5, -0.5) == pytest.approx((16.5, -5.0))  # image corners map onto corners


def test_mapping_matches_interpolation_geometry():
    """Bilinear resampling of a linear ramp is exact, so each output pixel samples f(to_original(x, y))."""
    yy, xx = np.mgrid[:30, :40].astype(np.float32)
    ramp = 3.0 * xx - 2.0 * yy + 5.0
    for kwargs in ({"factor": 2}, {"size": (75, 224)}, {"factor": (1.5, 2.5)}):
        out, m = resample_image(ramp, antialias=False, **kwargs)
        ym, xm = np.mgrid[: out.shape[0], : out.shape[1]]
        xo, yo = m.to_original(xm, ym)
        inside = (xo >= 0) & (xo <= 39) & (yo >= 0) & (yo <= 29)
        np.testing.assert_allclose(out[inside], (3.0 * xo - 2.0 * yo + 5.0)[inside], atol=1e-3)
        assert m.scale_x == out.shape[1] / 40 and m.scale_y == out.shape[0] / 30


def test_nearest_keeps_pixel_centres():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    out, m = upscale(img, 3, interpolation="nearest")
    ym, xm = np.mgrid[:9, :12]
    xo, yo = m.to_original(xm, ym)
    np.testing.assert_array_equal(out, img[np.round(yo).astype(int), np.round(xo).astype(int)])


def test_boxes_and_chaining():
    m = PixelMapping(2.0, 2.0, x0=100, y0=200)
    boxes = np.array([[-0.5, -0.5, 9.5, 19.5]])
    np.testing.assert_allclose(m.boxes_to_original(boxes), [[99.5, 199.5, 104.5, 209.5]])
    np.testing.assert_allclose(m.boxes_to_original(boxes + 0.5, convention="edge"), [[99.5, 199.5, 104.5, 209.5]])
    np.testing.assert_allclose(m.boxes_to_model(m.boxes_to_original(boxes)), boxes)
    up, tile = PixelMapping(3.5, 3.5), PixelMapping(1.0, 1.0, x0=448, y0=64)
    chained = up.then(tile)
    x, y = 123.4, 56.7
    assert chained.to_original(x, y) == pytest.approx(tile.to_original(*up.to_original(x, y)), abs=1e-9)
    with pytest.raises(ValueError, match="convention must be 'center' or 'edge'"):
        m.boxes_to_original(boxes, convention="corner")
    with pytest.raises(ValueError, match=r"boxes must have shape \(N, 4\)"):
        m.boxes_to_original(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="scale_x must be a positive number, got 0"):
        PixelMapping(0, 1)


def test_model_wcs_agrees_with_mapping(rng):
    wcs = make_wcs((50, 60))
    m = PixelMapping(224 / 60, 224 / 50, x0=3, y0=7)
    mw = m.model_wcs(wcs, shape=(224, 224))
    x, y = rng.uniform(0, 223, 20), rng.uniform(0, 223, 20)
    sky = m.to_sky(x, y, wcs)
    np.testing.assert_allclose(mw.world_to_pixel(sky), (x, y), atol=1e-6)
    assert mw.pixel_shape == (224, 224)


def test_resample_nddata_and_tensor(rng):
    data = rng.random((50, 60)).astype(np.float32)
    mask = np.zeros(data.shape, bool)
    mask[10, 10] = True
    out, m = resample_image(NDData(data, wcs=make_wcs(data.shape), mask=mask), factor=2)
    assert out.data.shape == (100, 120) and out.mask[20:22, 20:22].all() and out.mask.sum() < 20
    assert out.meta["pixel_mapping"] == m
    sky = out.wcs.pixel_to_world(41.5, 11.5)
    np.testing.assert_allclose(make_wcs(data.shape).world_to_pixel(sky), m.to_original(41.5, 11.5), atol=1e-6)
    t, m2 = resample_image(torch.from_numpy(data[None]), size=32)
    assert isinstance(t, torch.Tensor) and tuple(t.shape) == (1, 32, 32) and m2.scale_x == 32 / 60


def test_resample_errors():
    img = np.zeros((10, 10), np.float32)
    with pytest.raises(ValueError, match="give exactly one of factor= and size="):
        resample_image(img, factor=2, size=20)
    with pytest.raises(ValueError, match="factor must be positive, got -2"):
        upscale(img, -2)
    with pytest.raises(ValueError, match="interpolation must be one of"):
        upscale(img, 2, interpolation="lanczos")
    with pytest.raises(ValueError, match="size must be a positive int"):
        resample_image(img, size=0)
    with pytest.raises(ValueError, match=r"data must be 2-D \(H, W\) or 3-D"):
        upscale(np.zeros((1, 1, 4, 4)), 2)
