"""The backbone registry: named foundation models, their specs and how to build and load them."""

import dataclasses
import fnmatch
import logging
from pathlib import Path

from astrofmx.utils import WeightsNotFoundError, resolve_device

from ._base import Backbone, BackboneSpec
from ._weights import extract_state_dict, find_weight_file, read_checkpoint, read_hf_config, resolve_pretrained_file

__all__ = ["list_backbones", "get_backbone", "get_backbone_spec", "register_backbone", "load_weights"]

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# name -> (spec, builder(spec, *, init, **arch_overrides) -> Backbone)
_REGISTRY = {}


def _vit_spec(name, model_name, patch, source, license, paper, filename=None, sha256=None):
    return BackboneSpec(name=name, arch="vit", model_name=model_name, patch_size=patch, input_size=224,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, feature_dim=768,
                        feature_strides={"last": patch}, feature_channels={"last": 768},
                        weights_source=source, weights_filename=filename, license=license, sha256=sha256,
                        paper=paper)


def _resnet_spec(name, enum_path, channels, license, paper):
    from ._weights import _torchvision_url

    url = _torchvision_url(enum_path)
    fname = url.rsplit("/", 1)[-1]
    prefix = fname.rsplit("-", 1)[-1].split(".")[0]  # torchvision: first 8 hex digits of the sha256
    return BackboneSpec(name=name, arch="resnet", model_name=name, patch_size=32, input_size=224,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, feature_dim=channels[-1],
                        feature_strides={"c2": 4, "c3": 8, "c4": 16, "c5": 32},
                        feature_channels=dict(zip(("c2", "c3", "c4", "c5"), channels)),
                        weights_source=f"torchvision:{enum_path}", weights_filename=fname, license=license,
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


def _timm_spec_and_model(name, *, init=True, overrides=None, meta=False):
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


def _build_timm(name, *, init=True, pooling="cls", **overrides):
    from timm.models.vision_transformer import VisionTransformer

    from ._cnn import TimmBackbone
    from ._vit import ViTBackbone

    try:
        spec, model = _timm_spec_and_model(name, init=init, overrides=overrides)
    except TypeError as exc:
        raise TypeError(f"invalid architecture option for backbone {name!r}: {exc}") from exc
    cls = ViTBackbone if isinstance(model, VisionTransformer) else TimmBackbone
    return cls(model, spec, pooling=pooling)


def _register_builtins():
    import timm

    def lic(tag):
        return timm.models.get_pretrained_cfg(tag).license

    entries = [
        _vit_spec("msn", "vit_base_patch16_224", 16, "hf-hub:facebook/vit-msn-base",
                  "apache-2.0 (Hugging Face model card of facebook/vit-msn-base; the original "
                  "facebookresearch/msn release is CC-BY-NC-4.0)",
                  "Assran et al. 2022, Masked Siamese Networks for Label-Efficient Learning, arXiv:2204.07141",
                  filename="pytorch_model.bin"),
        _vit_spec("dino", "vit_base_patch16_224", 16, "timm:vit_base_patch16_224.dino",
                  lic("vit_base_patch16_224.dino"),
                  "Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers, arXiv:2104.14294",
                  filename="model.safetensors"),
        _vit_spec("dinov2", "vit_base_patch14_dinov2", 14, "timm:vit_base_patch14_dinov2.lvd142m",
                  lic("vit_base_patch14_dinov2.lvd142m"),
                  "Oquab et al. 2023, DINOv2: Learning Robust Visual Features without Supervision, arXiv:2304.07193",
                  filename="model.safetensors"),
        _vit_spec("mae", "vit_base_patch16_224", 16, "timm:vit_base_patch16_224.mae",
                  lic("vit_base_patch16_224.mae"),
                  "He et al. 2021, Masked Autoencoders Are Scalable Vision Learners, arXiv:2111.06377",
                  filename="model.safetensors"),
    ]
    for spec in entries:
        _REGISTRY[spec.name] = (spec, _build_vit)
    tv_license = "BSD-3-Clause (torchvision); trained on ImageNet-1k, whose terms restrict use to research"
    _REGISTRY["resnet50"] = (_resnet_spec("resnet50", "ResNet50_Weights.IMAGENET1K_V2", (256, 512, 1024, 2048),
                                          tv_license, "He et al. 2016, Deep Residual Learning; torchvision "
                                          "improved training recipe (IMAGENET1K_V2)"), _build_resnet)
    _REGISTRY["resnet18"] = (_resnet_spec("resnet18", "ResNet18_Weights.IMAGENET1K_V1", (64, 128, 256, 512),
                                          tv_license, "He et al. 2016, Deep Residual Learning (IMAGENET1K_V1)"),
                             _build_resnet)


def _ensure_builtins():
    if not _REGISTRY:
        _register_builtins()


def list_backbones(pattern=None):
    """Names of the registered backbones, sorted, optionally filtered with a shell-style pattern.

    Any timm model is also available as ``"timm:<name>"`` (not listed here;
    see `timm.list_models`).

    Parameters
    ----------
    pattern : str, optional
        `fnmatch` pattern, e.g. ``"resnet*"``.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from astrofmx.backbones import list_backbones
    >>> list_backbones()
    ['dino', 'dinov2', 'mae', 'msn', 'resnet18', 'resnet50']
    >>> list_backbones("resnet*")
    ['resnet18', 'resnet50']
    """
    _ensure_builtins()
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string or None, got {pattern!r}")
    names = sorted(_REGISTRY)
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def _lookup(name):
    _ensure_builtins()
    if not isinstance(name, str):
        raise TypeError(f"backbone name must be a string, got {name!r}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith("timm:"):
        return None, None
    raise ValueError(f"unknown backbone {name!r}; registered: {list_backbones()} or 'timm:<model name>'")


def get_backbone_spec(name):
    """The `~astrofmx.backbones.BackboneSpec` of a registered backbone (or ``"timm:<name>"``).

    Examples
    --------
    >>> from astrofmx.backbones import get_backbone_spec
    >>> spec = get_backbone_spec("dinov2")
    >>> spec.patch_size, spec.feature_dim, spec.license
    (14, 768, 'apache-2.0')
    >>> get_backbone_spec("mae").license
    'cc-by-nc-4.0'
    """
    spec, builder = _lookup(name)
    if builder is None:
        spec, _ = _timm_spec_and_model(name, meta=True)
    elif spec is None:  # registered by name only: the backbones carry their spec
        spec = builder(None, init=True).spec
    return spec


def register_backbone(spec_or_name, builder, *, overwrite=False):
    """Add a backbone to the registry.

    Parameters
    ----------
    spec_or_name : `~astrofmx.backbones.BackboneSpec` or str
        The entry's spec (its ``name`` is the registry key), or just a name,
        in which case the builder's backbones carry their own ``spec``.
    builder : callable
        ``builder(**arch_overrides) -> Backbone`` returning a randomly
        initialised backbone; weights are loaded by `get_backbone`.
    overwrite : bool, optional
        Replace an existing entry of the same name.

    Raises
    ------
    ValueError
        If the name is already registered and ``overwrite`` is False, or is a
        reserved ``timm:`` name.
    TypeError
        If ``builder`` is not callable or the spec is neither a spec nor a str.

    Examples
    --------
    >>> import dataclasses
    >>> from astrofmx.backbones import get_backbone, get_backbone_spec, list_backbones, register_backbone
    >>> spec = dataclasses.replace(get_backbone_spec("msn"), name="my-tiny-vit", weights_source="")
    >>> register_backbone(spec, lambda **kw: get_backbone("msn", weights=None, depth=1, embed_dim=32,
    ...                                                    num_heads=2, img_size=32, **kw))
    >>> "my-tiny-vit" in list_backbones()
    True
    >>> register_backbone(spec, print)
    Traceback (most recent call last):
    ...
    ValueError: backbone 'my-tiny-vit' is already registered; pass overwrite=True to replace it
    """
    _ensure_builtins()
    if isinstance(spec_or_name, BackboneSpec):
        spec, name = spec_or_name, spec_or_name.name
    elif isinstance(spec_or_name, str):
        spec, name = None, spec_or_name
    else:
        raise TypeError(f"spec_or_name must be a BackboneSpec or a str, got {spec_or_name!r}")
    if not callable(builder):
        raise TypeError(f"builder must be callable, got {builder!r}")
    if not name or name.startswith("timm:"):
        raise ValueError(f"backbone name must be non-empty and not start with 'timm:', got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered; pass overwrite=True to replace it")

    def wrapped(spec_, *, init=True, pooling="cls", **overrides):
        backbone = builder(**overrides)
        if not isinstance(backbone, Backbone):
            raise TypeError(f"the builder of backbone {name!r} returned {type(backbone).__name__}, not a Backbone")
        if spec_ is not None and not overrides:
            backbone.spec = spec_
        if hasattr(backbone, "pooling"):
            backbone.pooling = pooling
        return backbone

    _REGISTRY[name] = (spec, wrapped)


def load_weights(backbone, weights, *, checkpoint_key=None):
    """Load a local weight file or model folder into ``backbone``, safely.

    Understands timm and Hugging Face safetensors, torchvision ``.pth`` state
    dicts, research checkpoints (MSN ``target_encoder``, DINO
    ``teacher``/``student``, MAE ``model``) and Hugging Face transformers
    folders (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).

    Parameters
    ----------
    backbone : `~astrofmx.backbones.Backbone`
    weights : path-like
        File or folder.
    checkpoint_key : str, optional
        Key of the state dict inside a research checkpoint (default: try
        ``target_encoder``, ``teacher``, ``model``, ... in that order).

    Returns
    -------
    path : `pathlib.Path`
        The file that was read.

    Raises
    ------
    WeightsNotFoundError
        If the path does not exist.
    UnsafeCheckpointError
        If the file is a pickle that would execute code.
    ValueError
        If the weights do not fit the architecture.
    """
    path = Path(weights).expanduser()
    config = None
    if path.is_dir():
        config = read_hf_config(path)
        path = find_weight_file(path)
    elif path.is_file():
        if path.name in ("model.safetensors", "pytorch_model.bin"):
            config = read_hf_config(path.parent)
    else:
        raise WeightsNotFoundError(f"weights {str(path)!r} do not exist; pass an existing file or folder, "
                                   f"'pretrained' or None")
    state_dict = extract_state_dict(read_checkpoint(path), checkpoint_key=checkpoint_key)
    backbone.load_state_dict_converted(state_dict, config=config)
    logger.info("loaded weights for %r from %s", backbone.spec.name, path)
    return path


def get_backbone(name, *, weights="pretrained", device=None, cache_dir=None, pooling="cls", progress_bar=True,
                 checkpoint_key=None, **arch_overrides):
    """Build a registered backbone and load its weights.

    Parameters
    ----------
    name : str
        A name from `list_backbones` (``"msn"``, ``"dino"``, ``"dinov2"``,
        ``"mae"``, ``"resnet50"``, ``"resnet18"``, ...) or ``"timm:<model>"``
        for any timm model.
    weights : {'pretrained', None} or path-like, optional
        ``"pretrained"``: the published weights, from the cache or downloaded
        with the hub's client into it (see `resolve_pretrained_file`).
        ``None``: random initialisation (no file needed; fast, for tests).
        A path: a local weight file or model folder in any format
        `load_weights` reads.
    device : None, str or `torch.device`, optional
        Where to put the model; None picks CUDA when available.
    cache_dir : path-like, optional
        Cache root (default ``ASTROFMX_CACHE`` or ``~/.cache/astrofmx``).
    pooling : {'cls', 'mean'}, optional
        Default pooling of ``backbone(x)``: class token or mean patch token
        (CNNs always use global average pooling).
    progress_bar : bool, optional
        Show a progress bar while downloading.
    checkpoint_key : str, optional
        Key of the state dict inside a research checkpoint file.
    **arch_overrides
        Architecture options, to build small variants (tests, prototyping).
        ViT entries take ``img_size, patch_size, embed_dim, depth, num_heads,
        mlp_ratio, ...``; ResNet entries take torchvision's ResNet options and
        ``layers=(n2, n3, n4, n5)``; ``timm:`` entries take the timm model's
        options. Not allowed with ``weights="pretrained"`` (the published
        weights have the published architecture).

    Returns
    -------
    backbone : `~astrofmx.backbones.Backbone`
        In eval mode, on ``device``.

    Raises
    ------
    ValueError
        Unknown name, bad pooling, or weights that do not fit.
    WeightsNotFoundError
        Pretrained weights are missing and cannot be downloaded (offline);
        the message names the file to download and where to put it.
    WeightsChecksumError, UnsafeCheckpointError
        See `resolve_pretrained_file` and `load_weights`.

    Examples
    --------
    A tiny randomly initialised ViT, as the tests use:

    >>> import torch
    >>> from astrofmx.backbones import get_backbone
    >>> vit = get_backbone("dino", weights=None, device="cpu", depth=2, embed_dim=64, num_heads=2, img_size=64)
    >>> vit(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 64])
    >>> vit.spec.feature_strides, vit.out_channels
    ({'last': 16}, 64)
    """
    from ._vit import check_pooling

    check_pooling(pooling)
    spec, builder = _lookup(name)
    is_path = isinstance(weights, (str, Path)) and weights != "pretrained"
    if hasattr(weights, "__fspath__"):
        is_path = True
    if not (weights is None or weights == "pretrained" or is_path):
        raise TypeError(f"weights must be 'pretrained', None or a path, got {weights!r}")
    if weights == "pretrained" and arch_overrides:
        raise ValueError(f"architecture options {sorted(arch_overrides)} change the published architecture, so "
                         f"they need weights=None or weights=<a file for that architecture>")
    init = weights is None
    path = None
    if weights == "pretrained" and spec is not None:  # find the file first: fail fast when it is missing
        path = resolve_pretrained_file(spec, cache_dir=cache_dir, progress_bar=progress_bar)
    if builder is None:
        backbone = _build_timm(name, init=init, pooling=pooling, **arch_overrides)
    else:
        backbone = builder(spec, init=init, pooling=pooling, **arch_overrides)
    spec = backbone.spec
    if weights == "pretrained":
        if path is None:
            path = resolve_pretrained_file(spec, cache_dir=cache_dir, progress_bar=progress_bar)
        load_weights(backbone, path, checkpoint_key=checkpoint_key)
    elif weights is not None:
        load_weights(backbone, weights, checkpoint_key=checkpoint_key)
    backbone.eval()
    return backbone.to(resolve_device(device))
