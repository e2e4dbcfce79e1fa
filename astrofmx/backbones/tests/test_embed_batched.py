"""embed's batched preparation gives exactly what `to_model_input` gives image by image."""

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.nddata import NDData

from astrofmx.backbones import get_backbone_spec
from astrofmx.backbones._embed_inputs import _preprocess_chunk
from astrofmx.io import load_image
from astrofmx.preprocess import to_model_input


@pytest.fixture
def fits_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):  # float cutouts, one with NaNs and a blank-valued pixel
        data = rng.normal(size=(40, 40)).astype(np.float32 if i % 2 else np.float64)
        if i == 1:
            data[3:6, 7:9] = np.nan
            data[0, 0] = np.finfo(np.float32).max
        paths.append(tmp_path / f"float_{i}.fits")
        fits.writeto(paths[-1], data)
    scaled = fits.PrimaryHDU((rng.normal(size=(40, 40)) * 100).astype(np.int16))
    scaled.header["BSCALE"], scaled.header["BZERO"], scaled.header["BLANK"] = 0.01, 3.0, -32768
    scaled.data[5, 5] = -32768
    paths.append(tmp_path / "scaled.fits")
    scaled.writeto(paths[-1])
    cube = tmp_path / "cube.fits"  # degenerate axes and an empty primary HDU: load_image's own path
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(size=(1, 40, 40)).astype(np.float32))]).writeto(cube)
    paths.append(cube)
    return paths


@pytest.mark.parametrize("name", ["resnet18", "msn"])
def test_batched_preprocessing_is_exact(fits_files, name):
    spec = get_backbone_spec(name)
    rng = np.random.default_rng(1)
    items = list(fits_files) + [rng.normal(size=(24, 30)).astype(np.float32), NDData(rng.normal(size=(40, 40))),
                                torch.zeros(3, 8, 8), rng.normal(size=(3, 20, 20)).astype(np.float32)]
    got = list(_preprocess_chunk(items, spec, "radio"))
    for item, tensor in zip(items, got):
        if isinstance(item, torch.Tensor):
            ref = item
        else:
            ref = to_model_input(load_image(item) if not isinstance(item, (np.ndarray, NDData)) else item,
                                 normalizer="radio", size=spec.input_size, mean=spec.mean, std=spec.std,
                                 channels=3)
        assert tensor.shape == ref.shape and tensor.dtype == torch.float32
        assert torch.equal(tensor, ref)


@pytest.mark.parametrize("channels_last", [False, True])
def test_one_shape_chunk_is_one_batch_tensor(fits_files, channels_last):
    """Cutouts of one shape come out as one (N, 3, S, S) batch, channels-last for a CNN, with the values of
    `to_model_input` image by image."""
    spec = get_backbone_spec("resnet18")
    items = [p for p in fits_files if "float" in p.name]
    batch = _preprocess_chunk(items, spec, "radio", channels_last=channels_last)
    assert isinstance(batch, torch.Tensor) and batch.shape == (len(items), 3, 224, 224)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    assert batch.is_contiguous(memory_format=memory_format)
    for item, tensor in zip(items, batch):
        ref = to_model_input(load_image(item), normalizer="radio", size=spec.input_size, mean=spec.mean,
                             std=spec.std, channels=3)
        assert torch.equal(tensor, ref)
