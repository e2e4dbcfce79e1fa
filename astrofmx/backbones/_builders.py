"""Builders of the built-in backbone entries: specs written out, models built with timm and torchvision.

The specs of the built-in entries are static data (checked against timm and
torchvision by the tests), so that listing backbones or checking their cache
imports neither library.
"""

import dataclasses

from ._spec import BackboneSpec

__all__ = []

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vit_spec(name, model_name, patch, source, license, paper, filename=None, sha256=None):
    return BackboneSpec(name=name, arch="vit", model_name=model_name, patch_size=patch, input_size=224,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, feature_dim=768,
                        feature_strides={"last": patch}, feature_channels={"last": 768},
                        weights_source=source, weights_filename=filename, license=license, sha256=sha256,
                        paper=paper)


def _resnet_spec(name, enum_path, filename, channels, license, paper):
    """torchvision names its files ``<arch>-<first 8 hex digits of the sha256>.pth``."""
    prefix = filename.rsplit("-", 1)[-1].split(".")[0]
    return BackboneSpec(name=name, arch="resnet", model_name=name, patch_size=32, input_size=224,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, feature_dim=channels[-1],
                        feature_strides={"c2": 4, "c3": 8, "c4": 16, "c5": 32},
                        feature_channels=dict(zip(("c2", "c3", "c4", "c5"), channels)),
                        weights_source=f"torchvision:{enum_path}", weights_filename=filename, license=license,
                        sha256=prefix, paper=paper)


def _check_overrides(overrides, allowed, name):
    bad = sorted(set(overrides) - set(allowed)) if allowed is not None else []
    if bad:
        raise TypeError(f"backbone {name!r} does not take the architecture option(s) {bad}; "
                        f"it takes {sorted(allowed)}")


_VIT_OPTIONS = ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias",
                "init_values", "reg_tokens", "class_token", "drop_path_rate", "in_chans")


def _build_vit(spec, *, init=True, pooling="cls", **overrides):
    import timm

    from ._vit import ViTBackbone

    _check_overrides(overrides, _VIT_OPTIONS, spec.name)
    dim = overrides.get("embed_dim", spec.feature_dim)
    heads = overrides.get("num_heads", 12 if "num_heads" not in overrides and dim == 768 else None)
    if heads is None:
        raise ValueError(f"embed_dim={dim} needs num_heads= (a divisor of embed_dim) for backbone {spec.name!r}")
    if not isinstance(heads, int) or heads <= 0 or dim % heads:
        raise ValueError(f"num_heads must be a positive divisor of embed_dim={dim}, got {heads!r}")
    kwargs = dict(num_classes=0, dynamic_img_size=True, dynamic_img_pad=True)
    if not init:
        kwargs["weight_init"] = "skip"
    kwargs.update(overrides)
    model = timm.create_model(spec.model_name, pretrained=False, **kwargs)
    if overrides:
        patch = model.patch_embed.patch_size[0]
        img = overrides.get("img_size", spec.input_size)
        spec = dataclasses.replace(spec, feature_dim=model.num_features, patch_size=patch,
                                   input_size=img if isinstance(img, int) else img[0],
                                   feature_strides={"last": patch}, feature_channels={"last": model.num_features})
    return ViTBackbone(model, spec, pooling=pooling)


_RESNET_BLOCKS = {"resnet18": "BasicBlock", "resnet34": "BasicBlock", "resnet50": "Bottleneck",
                  "resnet101": "Bottleneck", "resnet152": "Bottleneck"}


def _build_resnet(spec, *, init=True, pooling="cls", **overrides):
    import torchvision.models as tvm
    import torchvision.models.resnet as tvr

    from ._cnn import ResNetBackbone

    layers = overrides.pop("layers", None)
    if layers is not None:
        layers = list(layers)
        if len(layers) != 4 or not all(isinstance(n, int) and n >= 1 for n in layers):
            raise ValueError(f"layers must be 4 positive integers (blocks per stage), got {layers!r}")
        block = getattr(tvr, _RESNET_BLOCKS[spec.model_name])
        try:
            model = tvr.ResNet(block, layers, **overrides)
        except TypeError as exc:
            raise TypeError(f"invalid architecture option for backbone {spec.name!r}: {exc}") from exc
    else:
        try:
            model = getattr(tvm, spec.model_name)(weights=None, **overrides)
        except TypeError as exc:
            raise TypeError(f"invalid architecture option for backbone {spec.name!r}: {exc}") from exc
    return ResNetBackbone(model, spec, pooling=pooling)


def timm_spec_and_model(name, *, init=True, overrides=None, meta=False):
    import timm
    import torch
    from timm.models.vision_transformer import VisionTransformer

    model_name = name[len("timm:"):]
    if not model_name or not timm.is_model(model_name.split(".")[0]):
        raise ValueError(f"timm has no model {model_name!r} (see timm.list_models()); got backbone name {name!r}")
    cfg = timm.models.get_pretrained_cfg(model_name) if "." in model_name else None
    if cfg is None:
        try:
            cfg = timm.models.get_pretrained_cfg(timm.models.get_arch_name(model_name)) or None
        except Exception:  # pragma: no cover
            cfg = None
    kwargs = dict(num_classes=0, **(overrides or {}))
    if not init:
        kwargs.setdefault("weight_init", "skip")

    def create(**extra):
        if meta:
            with torch.device("meta"):
                return timm.create_model(model_name, pretrained=False, **kwargs, **extra)
        return timm.create_model(model_name, pretrained=False, **kwargs, **extra)

    try:
        model = create(dynamic_img_size=True, dynamic_img_pad=True)
    except TypeError:
        kwargs.pop("weight_init", None)
        model = create()
    size = (cfg.input_size[-1] if cfg is not None else 224)
    if overrides and "img_size" in overrides:
        size = overrides["img_size"]
    tag_source = ""
    if cfg is not None and (cfg.hf_hub_id or cfg.url):
        arch = timm.models.get_arch_name(model_name)
        tag_source = f"timm:{arch}.{cfg.tag}" if cfg.tag else f"timm:{arch}"
    common = dict(name=name, model_name=model_name, input_size=int(size),
                  mean=tuple(cfg.mean) if cfg is not None else IMAGENET_MEAN,
                  std=tuple(cfg.std) if cfg is not None else IMAGENET_STD,
                  feature_dim=int(model.num_features), weights_source=tag_source,
                  license=(cfg.license or "unknown") if cfg is not None else "unknown",
                  paper=(cfg.paper_name or "") if cfg is not None else "")
    if isinstance(model, VisionTransformer):
        patch = model.patch_embed.patch_size[0]
        spec = BackboneSpec(arch="vit", patch_size=patch, feature_strides={"last": patch},
                            feature_channels={"last": int(model.num_features)}, **common)
    else:
        info = list(model.feature_info) if hasattr(model, "feature_info") else []
        strides = {f"stage{i}": int(f["reduction"]) for i, f in enumerate(info)}
        channels = {f"stage{i}": int(f["num_chs"]) for i, f in enumerate(info)}
        spec = BackboneSpec(arch="timm", patch_size=max(strides.values()) if strides else 32,
                            feature_strides=strides, feature_channels=channels, **common)
    return spec, model


def build_timm(name, *, init=True, pooling="cls", **overrides):
    from timm.models.vision_transformer import VisionTransformer

    from ._cnn import TimmBackbone
    from ._vit import ViTBackbone

    try:
        spec, model = timm_spec_and_model(name, init=init, overrides=overrides)
    except TypeError as exc:
        raise TypeError(f"invalid architecture option for backbone {name!r}: {exc}") from exc
    cls = ViTBackbone if isinstance(model, VisionTransformer) else TimmBackbone
    return cls(model, spec, pooling=pooling)


def builtin_entries():
    """``[(spec, builder)]`` of the built-in entries (licences as timm and torchvision list them)."""
    vits = [
        _vit_spec("msn", "vit_base_patch16_224", 16, "hf-hub:facebook/vit-msn-base",
                  "apache-2.0 (Hugging Face model card of facebook/vit-msn-base; the original "
                  "facebookresearch/msn release is CC-BY-NC-4.0)",
                  "Assran et al. 2022, Masked Siamese Networks for Label-Efficient Learning, arXiv:2204.07141",
                  filename="pytorch_model.bin"),
        _vit_spec("dino", "vit_base_patch16_224", 16, "timm:vit_base_patch16_224.dino", "apache-2.0",
                  "Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers, arXiv:2104.14294",
                  filename="model.safetensors"),
        _vit_spec("dinov2", "vit_base_patch14_dinov2", 14, "timm:vit_base_patch14_dinov2.lvd142m", "apache-2.0",
                  "Oquab et al. 2023, DINOv2: Learning Robust Visual Features without Supervision, arXiv:2304.07193",
                  filename="model.safetensors"),
        _vit_spec("mae", "vit_base_patch16_224", 16, "timm:vit_base_patch16_224.mae", "cc-by-nc-4.0",
                  "He et al. 2021, Masked Autoencoders Are Scalable Vision Learners, arXiv:2111.06377",
                  filename="model.safetensors"),
    ]
    tv_license = "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms restrict use to research"
    resnets = [
        _resnet_spec("resnet50", "ResNet50_Weights.IMAGENET1K_V2", "resnet50-11ad3fa6.pth", (256, 512, 1024, 2048),
                     tv_license, "He et al. 2016, Deep Residual Learning; torchvision improved training recipe "
                     "(IMAGENET1K_V2)"),
        _resnet_spec("resnet18", "ResNet18_Weights.IMAGENET1K_V1", "resnet18-f37072fd.pth", (64, 128, 256, 512),
                     tv_license, "He et al. 2016, Deep Residual Learning (IMAGENET1K_V1)"),
    ]
    return [(spec, _build_vit) for spec in vits] + [(spec, _build_resnet) for spec in resnets]
