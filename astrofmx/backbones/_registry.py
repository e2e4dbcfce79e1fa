"""The backbone registry: named foundation models, their specs and how to build and load them."""

import fnmatch
import logging
from pathlib import Path

from astrofmx.utils import resolve_device

from ._spec import BackboneSpec
from ._builders import build_timm, builtin_entries, timm_spec_and_model
from ._checkpoint import load_weights
from ._local import find_local_backbone, list_local_backbones, local_entry
from ._pretrained import _file_names, load_pretrained, prepare_pretrained, weights_cache_dir

__all__ = ["weights_cached", "list_backbones", "get_backbone", "get_backbone_spec", "register_backbone"]

logger = logging.getLogger(__name__)

# name -> (spec, builder(spec, *, init, **arch_overrides) -> Backbone)
_REGISTRY = {}


def _register_builtins():
    for spec, builder in builtin_entries():
        _REGISTRY[spec.name] = (spec, builder)


def _ensure_builtins():
    if not _REGISTRY:
        _register_builtins()


def list_backbones(pattern=None):
    """Names of the registered backbones, sorted, optionally filtered with a shell-style pattern.

    Any timm model is also available as ``"timm:<name>"`` (not listed here;
    see `timm.list_models`). The list includes the backbones saved on disk
    (`~astrofmx.backbones.list_local_backbones`): shipped with the package
    (``"astrofmx-radio"``) or trained here with `astrofmx.pretrain`.

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
    >>> list_backbones()  # doctest: +SKIP
    ['astrofmx-radio', 'dino', 'dinov2', 'mae', 'msn', 'resnet18', 'resnet50']
    >>> {"astrofmx-radio", "dino", "msn", "resnet18"} <= set(list_backbones())
    True
    >>> list_backbones("resnet*")
    ['resnet18', 'resnet50']
    """
    _ensure_builtins()
    if pattern is not None and not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string or None, got {pattern!r}")
    names = sorted(set(_REGISTRY) | set(list_local_backbones()))
    return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]


def _lookup(name):
    _ensure_builtins()
    if not isinstance(name, str):
        raise TypeError(f"backbone name must be a string, got {name!r}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    if name.startswith("timm:"):
        return None, None
    folder = find_local_backbone(name)
    if folder is not None:
        return local_entry(name, folder, get_backbone)
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
        spec, _ = timm_spec_and_model(name, meta=True)
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
        from ._base import Backbone

        backbone = builder(**overrides)
        if not isinstance(backbone, Backbone):
            raise TypeError(f"the builder of backbone {name!r} returned {type(backbone).__name__}, not a Backbone")
        if spec_ is not None and not overrides:
            backbone.spec = spec_
        if hasattr(backbone, "pooling"):
            backbone.pooling = pooling
        return backbone

    _REGISTRY[name] = (spec, wrapped)


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
    if weights == "pretrained" and spec is not None and spec.weights_source.startswith("local:"):
        weights, is_path = Path(spec.weights_source[len("local:"):]) / spec.weights_filename, True
    init = weights is None
    path = None
    if weights == "pretrained" and spec is not None:  # find the file first: fail fast when it is missing
        path = prepare_pretrained(spec, cache_dir=cache_dir, progress_bar=progress_bar)
    if builder is None:
        backbone = build_timm(name, init=init, pooling=pooling, **arch_overrides)
    else:
        backbone = builder(spec, init=init, pooling=pooling, **arch_overrides)
    if weights == "pretrained":
        spec = spec if spec is not None else backbone.spec
        if path is None and not spec.weights_source.startswith("torchvision:"):
            path = prepare_pretrained(spec, cache_dir=cache_dir, progress_bar=progress_bar)
        load_pretrained(backbone, spec, path, cache_dir=cache_dir, progress_bar=progress_bar,
                        checkpoint_key=checkpoint_key)
    elif weights is not None:
        load_weights(backbone, weights, checkpoint_key=checkpoint_key)
    backbone.eval()
    return backbone.to(resolve_device(device))


def weights_cached(name, cache_dir=None):
    """Whether the pretrained weights of backbone ``name`` are in the local cache.

    Looks for the weight file in `weights_cache_dir`; builds no model (and,
    for the built-in entries, imports neither timm nor torchvision).

    Parameters
    ----------
    name : str
        Registry name or ``"timm:<name>"``.
    cache_dir : path-like, optional
        Cache root; default from `~astrofmx.utils.get_cache_dir`.

    Returns
    -------
    cached : bool or None
        None when the backbone has no pretrained weights source.

    Examples
    --------
    >>> from astrofmx.backbones import weights_cached
    >>> weights_cached("resnet18", "/tmp/astrofmx-doctest-empty-cache")
    False
    """
    spec = get_backbone_spec(name)
    if spec.weights_source.startswith("local:"):  # saved on disk: shipped or trained here
        return (Path(spec.weights_source[len("local:"):]) / spec.weights_filename).is_file()
    names = _file_names(spec)
    if names is None:
        return None
    folder = weights_cache_dir(name, cache_dir)
    return any((folder / fname).is_file() for fname in names)
