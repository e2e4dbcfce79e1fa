"""Frozen training from cached backbone features gives the training it replaces, faster."""

import numpy as np
import pytest
import torch

from astrofmx.detection import TrainingOptions, train_detector
from astrofmx.detection._train_cache import _apply, _canonical, _variants

from .conftest import SMALL_HEADS, TINY_VIT, simulated_field

VIT = dict(backbone="msn", backbone_kwargs=dict(TINY_VIT), weights=None, tile_size=64, **SMALL_HEADS)


@pytest.fixture(scope="module")
def field():
    return simulated_field((128, 128), seed=21, n_sources=25)


def test_symmetries_match_the_augmentation():
    """Every flip/rotation draw of the augmentation is one of the cached symmetries, image and boxes alike."""
    from torchvision.transforms.v2 import functional as F

    from astrofmx.detection._train_data import _augment

    img = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[1.0, 2.0, 5.0, 9.0]])
    assert len(_variants(("flip", "rot90"))) == 8 and _variants(("blur",)) == [(0, 0)]
    assert len(_variants(("flip",))) == 4
    for h in (0, 1):
        for v in (0, 1):
            for k in range(4):
                im, bx = img, boxes
                im = F.horizontal_flip(im) if h else im
                im = F.vertical_flip(im) if v else im
                for _ in range(k):
                    im = F.rotate(im, -90.0)
                got, gbx = _apply(img, boxes, _canonical(h, v, k))
                assert torch.equal(got, im)
    # the boxes move with the image: a random augmentation (flips and turns only) equals its symmetry
    gen = torch.Generator().manual_seed(5)
    for _ in range(10):
        state = gen.get_state()
        out, bx = _augment(img, boxes, ("flip", "rot90"), gen)
        gen2 = torch.Generator()
        gen2.set_state(state)
        r = torch.rand(8, generator=gen2).tolist()
        var = _canonical(int(r[0] < 0.5), int(r[1] < 0.5), int(r[2] * 4) % 4)
        got, gbx = _apply(img, boxes, var)
        assert torch.equal(out, got.clamp(0, 1)) and torch.equal(bx, gbx)


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_cached_training_equals_uncached(field, tmp_path, where):
    """With geometric augmentations only, cached and uncached frozen training take the same steps."""
    common = dict(mode="frozen", epochs=2, steps_per_epoch=2, batch_size=2, learning_rate=1e-3, precision="fp32",
                  progress_bar=False, register=False, augmentations=("flip", "rot90"), val_fraction=0.25, **VIT)
    image, truth = field.to_nddata(), field.truth
    plain = train_detector(image, truth, feature_cache=None, **common)
    cached = train_detector(image, truth, feature_cache=where, feature_cache_dir=tmp_path, **common)
    for a, b in zip(plain.history, cached.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["val_map_50"] == pytest.approx(b["val_map_50"], abs=1e-6)
    for (name, p), q in zip(plain.model.state_dict().items(), cached.model.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-3, atol=1e-5, msg=name)
    assert list(tmp_path.iterdir()) == []  # the memory-mapped cache is removed


def test_cache_skips_photometric_augmentations(field, caplog):
    common = dict(mode="frozen", epochs=1, steps_per_epoch=1, batch_size=2, precision="fp32", progress_bar=False,
                  register=False, **VIT)
    with caplog.at_level("INFO", logger="astrofmx.detection"):
        det = train_detector(field.to_nddata(), field.truth, **common)
    assert np.isfinite(det.history[0]["loss"])
    assert "photometric augmentations" in caplog.text and "cached the frozen backbone" in caplog.text
    with pytest.raises(ValueError, match="feature_cache must be"):
        TrainingOptions(feature_cache="gpu")
