import numpy as np
import pytest
import torch
from astropy.nddata import NDData

from astrofmx.io import load_image
from astrofmx.preprocess import IMAGENET_MEAN, IMAGENET_STD, get_preset, to_model_batch, to_model_input


def test_bundled_image_to_tensor(bundled_radio_image):
    image = load_image(bundled_radio_image)
    x = to_model_input(image, normalizer="radio", size=224)
    assert x.dtype == torch.float32 and tuple(x.shape) == (3, 224, 224) and x.is_contiguous()
    raw = to_model_input(image, normalizer="radio", size=224, mean=None, std=None)
    assert torch.equal(raw[0], raw[1]) and torch.equal(raw[1], raw[2])
    assert 0 <= float(raw.min()) and float(raw.max()) <= 1
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    torch.testing.assert_close(x, (raw - mean) / std)
    # without resizing the values are the normalizer's, blanks filled
    plain = to_model_input(image, normalizer="radio-snr", mean=None, std=None, channels=1)
    np.testing.assert_array_equal(plain[0].numpy(), get_preset("radio-snr")(image.data, image.mask))


def test_upscale_mapping_and_inputs(rng):
    data = rng.random((40, 30)).astype(np.float32)
    x, mapping = to_model_input(data, normalizer=None, upscale=2, mean=None, std=None, return_mapping=True)
    assert tuple(x.shape) == (3, 80, 60) and mapping.scale_x == 2.0
    t = to_model_input(torch.from_numpy(data), normalizer=None, channels=None, mean=None, std=None)
    np.testing.assert_array_equal(t[0].numpy(), data)
    mask = np.zeros(data.shape, bool)
    mask[3, 4] = True
    masked = to_model_input(NDData(data, mask=mask), normalizer="minmax", channels=1, mean=0.5, std=0.5)
    assert float(masked[0, 3, 4]) == pytest.approx(-1.0)
    three = to_model_input(rng.random((3, 16, 16)), normalizer="minmax", size=8)
    assert tuple(three.shape) == (3, 8, 8)


def test_batch(rng):
    batch = to_model_batch([rng.random((20, 20)), rng.random((3, 30, 40))], normalizer="minmax", size=16)
    assert tuple(batch.shape) == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="different shapes after preprocessing"):
        to_model_batch([rng.random((20, 20)), rng.random((30, 30))], normalizer="minmax")


def test_model_input_errors(rng):
    img = rng.random((20, 20))
    with pytest.raises(ValueError, match="normalizer=None needs data already in"):
        to_model_input(img * 10, normalizer=None)
    with pytest.raises(ValueError, match=r"looks channels-last \(H, W, C\)"):
        to_model_input(rng.random((32, 32, 3)))
    with pytest.raises(ValueError, match="the image has 2 channels but channels=3"):
        to_model_input(rng.random((2, 8, 8)), normalizer="minmax")
    with pytest.raises(ValueError, match="give at most one of size= and upscale="):
        to_model_input(img, size=8, upscale=2)
    with pytest.raises(ValueError, match="mean must have 1 or 3 values"):
        to_model_input(img, mean=(0.1, 0.2))
    with pytest.raises(ValueError, match="std must be positive"):
        to_model_input(img, std=0.0)
    with pytest.raises(ValueError, match="the normalizer must return finite values in"):
        to_model_input(img, normalizer=lambda d, m=None: d * 5)
    with pytest.raises(TypeError, match="image must be a 2-D or"):
        to_model_input([[1.0]])
    with pytest.raises(ValueError, match="return_mapping is not supported"):
        to_model_batch([img], return_mapping=True)
