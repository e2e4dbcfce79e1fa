import dataclasses

import pytest
import timm
import torch
import torchvision

from astrofmx.backbones import (
    Backbone,
    BackboneSpec,
    ResNetBackbone,
    ViTBackbone,
    get_backbone,
    get_backbone_spec,
    list_backbones,
    register_backbone,
)

from .helpers import TINY_VIT, images

BUILTINS = ["dino", "dinov2", "mae", "msn", "resnet18", "resnet50"]


def test_list_backbones():
    names = list_backbones()
    assert set(BUILTINS) <= set(names)
    assert names == sorted(names)
    assert list_backbones("resnet*") == ["resnet18", "resnet50"]
    assert list_backbones("dino*") == ["dino", "dinov2"]
    assert list_backbones("nothing*") == []
    with pytest.raises(TypeError, match="pattern must be a string"):
        list_backbones(3)


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_builds_offline_and_matches_spec(name):
    """Every built-in entry builds at full size with weights=None, and its outputs match its spec."""
    backbone = get_backbone(name, weights=None, device="cpu")
    spec = backbone.spec
    assert isinstance(backbone, Backbone)
    assert not backbone.training
    assert spec == get_backbone_spec(name)
    x = images(1, spec.input_size)
    with torch.inference_mode():
        pooled = backbone(x)
        maps = backbone.forward_feature_maps(x)
    assert pooled.shape == (1, spec.feature_dim)
    assert list(maps) == list(spec.feature_strides) == list(spec.feature_channels)
    for key, fmap in maps.items():
        stride = spec.feature_strides[key]
        assert fmap.shape == (1, spec.feature_channels[key], -(-224 // stride), -(-224 // stride))
    assert backbone.out_channels == list(spec.feature_channels.values())[-1]
    assert spec.weights_source and spec.license != "unknown" and spec.paper
    assert spec.mean == (0.485, 0.456, 0.406) and spec.std == (0.229, 0.224, 0.225)


def test_builtin_spec_details():
    msn, dino, dinov2, mae = (get_backbone_spec(n) for n in ("msn", "dino", "dinov2", "mae"))
    assert msn.weights_source == "hf-hub:facebook/vit-msn-base"
    assert (msn.patch_size, dino.patch_size, dinov2.patch_size, mae.patch_size) == (16, 16, 14, 16)
    assert dinov2.input_size == 224  # usable at 224 px (position embedding interpolated)
    assert dino.weights_source == "timm:vit_base_patch16_224.dino"
    assert dinov2.weights_source == "timm:vit_base_patch14_dinov2.lvd142m"
    assert mae.weights_source == "timm:vit_base_patch16_224.mae"
    # licences as timm records them; MAE weights are non-commercial
    assert mae.license == timm.models.get_pretrained_cfg("vit_base_patch16_224.mae").license == "cc-by-nc-4.0"
    assert dino.license == "apache-2.0"
    r50, r18 = get_backbone_spec("resnet50"), get_backbone_spec("resnet18")
    assert r50.weights_source == "torchvision:ResNet50_Weights.IMAGENET1K_V2"
    assert r18.weights_source == "torchvision:ResNet18_Weights.IMAGENET1K_V1"
    # torchvision puts the first 8 hex digits of each file's sha256 in the file name
    assert r50.weights_filename == torchvision.models.ResNet50_Weights.IMAGENET1K_V2.url.rsplit("/", 1)[1]
    assert r50.weights_filename.endswith(f"-{r50.sha256}.pth") and len(r50.sha256) == 8
    assert r18.feature_channels == {"c2": 64, "c3": 128, "c4": 256, "c5": 512}
    assert r50.feature_dim == 2048
    assert msn.sha256 is None  # no published checksum we could verify


@pytest.mark.parametrize("name", ["msn", "dino", "dinov2", "mae"])
def test_vit_arch_overrides(name):
    vit = get_backbone(name, weights=None, **TINY_VIT)
    assert isinstance(vit, ViTBackbone)
    patch = get_backbone_spec(name).patch_size
    assert vit.spec.feature_dim == 64 and vit.spec.input_size == 64 and vit.spec.feature_channels == {"last": 64}
    assert vit.spec.feature_strides == {"last": patch}
    assert len(vit.model.blocks) == 2


@pytest.mark.parametrize("size", [64, 96, 100])
def test_vit_any_input_size(size):
    """Detection tiles need non-native sizes: maps cover the input in whole (padded) patches."""
    for name, patch in (("msn", 16), ("dinov2", 14)):
        vit = get_backbone(name, weights=None, **TINY_VIT)
        x = images(2, size)
        fmap = vit.forward_feature_maps(x)["last"]
        n = -(-size // patch)
        assert fmap.shape == (2, 64, n, n)
        tokens = vit.forward_tokens(x)
        assert tokens.shape == (2, 1 + n * n, 64)
        # the map is the patch tokens, row-major; cls pooling is token 0, mean pooling their average
        torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), tokens[:, 1:])
        torch.testing.assert_close(vit(x, pooling="cls"), tokens[:, 0])
        torch.testing.assert_close(vit(x, pooling="mean"), tokens[:, 1:].mean(1))


def test_vit_default_pooling():
    vit = get_backbone("msn", weights=None, pooling="mean", **TINY_VIT)
    x = images(2)
    torch.testing.assert_close(vit(x), vit(x, pooling="mean"))
    assert not torch.allclose(vit(x), vit(x, pooling="cls"))


def test_small_resnet():
    net = get_backbone("resnet50", weights=None, device="cpu", layers=(1, 1, 1, 1))
    assert isinstance(net, ResNetBackbone)
    maps = net.forward_feature_maps(images(1, 64))
    assert {k: tuple(v.shape[1:]) for k, v in maps.items()} == {
        "c2": (256, 16, 16), "c3": (512, 8, 8), "c4": (1024, 4, 4), "c5": (2048, 2, 2)}
    torch.testing.assert_close(net(images(1, 64)), maps["c5"].mean((2, 3)))


def test_timm_any_model():
    cnn = get_backbone("timm:resnet18", weights=None, device="cpu")
    assert cnn.spec.arch == "timm" and cnn.spec.feature_dim == 512
    assert cnn(images(2)).shape == (2, 512)
    maps = cnn.forward_feature_maps(images(1))
    assert [tuple(m.shape[1:]) for m in maps.values()][-1] == (512, 2, 2)
    assert list(cnn.spec.feature_strides.values())[-1] == 32
    vit = get_backbone("timm:vit_small_patch16_224", weights=None, device="cpu", depth=1, img_size=64)
    assert isinstance(vit, ViTBackbone) and vit.spec.feature_dim == 384 and vit.spec.arch == "vit"
    assert vit.forward_feature_maps(images(1, 80))["last"].shape == (1, 384, 5, 5)
    assert get_backbone_spec("timm:convnext_atto").feature_dim == 320


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown backbone 'vit-msn'"):
        get_backbone("vit-msn", weights=None)
    with pytest.raises(ValueError, match="timm has no model 'not_a_model'"):
        get_backbone("timm:not_a_model", weights=None)
    with pytest.raises(TypeError, match="backbone name must be a string"):
        get_backbone(3)
    with pytest.raises(ValueError, match="pooling must be one of"):
        get_backbone("msn", weights=None, pooling="max", **TINY_VIT)
    with pytest.raises(TypeError, match="weights must be 'pretrained', None or a path"):
        get_backbone("msn", weights=3, **TINY_VIT)
    with pytest.raises(ValueError, match="need weights=None"):
        get_backbone("msn", depth=2)
    with pytest.raises(TypeError, match="does not take the architecture option.*'width'"):
        get_backbone("msn", weights=None, width=3)
    with pytest.raises(ValueError, match="num_heads must be a positive divisor of embed_dim=64"):
        get_backbone("msn", weights=None, depth=1, embed_dim=64, num_heads=3)
    with pytest.raises(ValueError, match="needs num_heads="):
        get_backbone("msn", weights=None, depth=1, embed_dim=64)
    with pytest.raises(ValueError, match="layers must be 4 positive integers"):
        get_backbone("resnet18", weights=None, layers=(1, 1))
    with pytest.raises(TypeError, match="invalid architecture option"):
        get_backbone("resnet18", weights=None, colour=True)
    vit = get_backbone("msn", weights=None, **TINY_VIT)
    with pytest.raises(ValueError, match=r"must have shape \(N, 3, H, W\), got \(3, 64, 64\)"):
        vit(images(1)[0])
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        vit([1, 2])
    with pytest.raises(ValueError, match="pooling must be one of"):
        vit(images(1), pooling="max")


def test_register_backbone():
    spec = dataclasses.replace(get_backbone_spec("msn"), name="test-register-vit", weights_source="")

    def builder(**overrides):
        return get_backbone("msn", weights=None, **{**TINY_VIT, **overrides})

    register_backbone(spec, builder)
    assert "test-register-vit" in list_backbones("test-*")
    backbone = get_backbone("test-register-vit", weights=None, device="cpu", pooling="mean")
    assert backbone.spec is spec and backbone.pooling == "mean"
    assert get_backbone_spec("test-register-vit") is spec
    with pytest.raises(ValueError, match="'test-register-vit' is already registered"):
        register_backbone(spec, builder)
    register_backbone(spec, builder, overwrite=True)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("msn", builder)
    with pytest.raises(ValueError, match="not start with 'timm:'"):
        register_backbone("timm:mine", builder)
    with pytest.raises(TypeError, match="builder must be callable"):
        register_backbone("test-register-other", 3)
    with pytest.raises(TypeError, match="spec_or_name must be a BackboneSpec or a str"):
        register_backbone(3, builder)
    with pytest.raises(ValueError, match="has no pretrained weights source"):
        get_backbone("test-register-vit")
    register_backbone("test-register-bad", lambda: torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="returned Linear, not a Backbone"):
        get_backbone("test-register-bad", weights=None)


def test_spec_is_frozen():
    spec = get_backbone_spec("resnet18")
    assert isinstance(spec, BackboneSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "x"


def test_device_handling():
    vit = get_backbone("msn", weights=None, **{**TINY_VIT, "device": "cpu"})
    assert next(vit.parameters()).device.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            get_backbone("msn", weights=None, **{**TINY_VIT, "device": "cuda"})
    with pytest.raises(ValueError, match="device must be None"):
        get_backbone("msn", weights=None, **{**TINY_VIT, "device": "gpu0"})


@pytest.mark.gpu
def test_backbone_on_gpu():
    vit = get_backbone("msn", weights=None, **{**TINY_VIT, "device": "cuda"})
    x = images(2)
    out = vit(x.cuda())
    assert out.device.type == "cuda"
    torch.testing.assert_close(out.cpu(), vit.cpu()(x), atol=1e-4, rtol=1e-3)
