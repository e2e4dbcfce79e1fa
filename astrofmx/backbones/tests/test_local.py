"""Backbones saved on disk: the shipped astrofmx-radio offline, save_backbone, local registration by name."""

import json

import numpy as np
import pytest
import torch

from astrofmx.backbones import (SHIPPED_MODELS_DIR, embed, find_local_backbone, get_backbone, get_backbone_spec,
                                list_backbones, register_local_backbone, save_backbone, weights_cached)


@pytest.fixture
def offline_empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    return tmp_path / "empty-cache"


def test_shipped_radio_backbone_offline(offline_empty_cache):
    folder = SHIPPED_MODELS_DIR / "astrofmx-radio"
    size = (folder / "model.safetensors").stat().st_size
    assert size <= 25 * 2 ** 20
    meta = json.loads((folder / "metadata.json").read_text())
    assert {"command", "training_data", "seconds", "trained_on"} <= set(meta)
    assert "astrofmx-radio" in list_backbones()
    assert weights_cached("astrofmx-radio") is True
    spec = get_backbone_spec("astrofmx-radio")
    assert spec.weights_source.startswith("local:") and spec.feature_dim == 256
    net = get_backbone("astrofmx-radio", device="cpu")
    fresh = get_backbone("astrofmx-radio", weights=None, device="cpu")
    trained = dict(net.state_dict())
    assert any(not torch.equal(v, trained[k]) for k, v in fresh.state_dict().items() if v.dtype.is_floating_point)
    images = np.random.default_rng(0).normal(size=(3, 80, 80)).astype(np.float32)
    feats = embed(images, backbone="astrofmx-radio", normalizer="radio", progress_bar=False, precision="fp32")
    assert feats.shape == (3, 256) and np.isfinite(feats).all()
    assert not offline_empty_cache.exists() or not any((offline_empty_cache / "weights").glob("*"))


def test_save_register_and_cache_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1))
    folder = save_backbone(net, tmp_path / "saved", name="my-net", base="resnet18",
                           arch_overrides={"layers": (1, 1, 1, 1)}, metadata={"note": "test"})
    assert find_local_backbone("my-net") is None  # not registered yet
    with pytest.raises(ValueError, match="unknown backbone"):
        get_backbone("my-net")
    assert register_local_backbone(folder) == "my-net"
    with pytest.raises(ValueError, match="already registered"):
        register_local_backbone(folder)
    loaded = get_backbone("my-net", device="cpu")
    x = torch.randn(2, 3, 64, 64)
    net.eval()
    assert torch.allclose(loaded(x), net(x), atol=1e-6)
    # its spec (what `astrofmx backbones` lists) comes from the saved entry, without building a model
    from astrofmx.backbones import get_backbone_spec
    from astrofmx.backbones._local import read_entry

    assert "geometry" in read_entry(folder) and get_backbone_spec("my-net") == loaded.spec
    # a backbone trained here (in the cache) takes precedence over the registered folder
    other = get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1))
    cached = save_backbone(other, name="my-net", base="resnet18", arch_overrides={"layers": (1, 1, 1, 1)})
    assert cached.parent.name == "my-net" and find_local_backbone("my-net") == cached
    assert torch.allclose(get_backbone("my-net", device="cpu")(x), other.eval()(x), atol=1e-6)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_backbone(net, folder, name="my-net", base="resnet18", arch_overrides={"layers": (1, 1, 1, 1)})
    with pytest.raises(ValueError, match="built-in"):
        save_backbone(net, tmp_path / "x", name="resnet18", base="resnet18")


def test_not_a_backbone_folder(tmp_path):
    with pytest.raises(ValueError, match="not a saved backbone folder"):
        register_local_backbone(tmp_path)
