"""Backbones saved on disk: trained here (`astrofmx.pretrain`) or shipped with the package, loaded by name.

A saved backbone is a folder holding

- ``model.safetensors``: the backbone's weights;
- ``backbone.json``: the registry entry it was built from (``base``, a
  registered backbone such as ``"resnet18"``, its architecture options, the
  input size and normalization);
- optionally ``metadata.json``: how it was trained (command, data, time).

`get_backbone` finds a name that is not a built-in entry, in order,

1. in the newest folder trained here, ``<cache>/backbones/local/<name>/<time>/``
   (`save_backbone` with ``register=True`` writes one; `astrofmx.pretrain`
   does it for each backbone it trains);
2. in a folder registered with `register_local_backbone`;
3. among the backbones shipped in the package, ``astrofmx/data/models/<name>/``
   (``"astrofmx-radio"``), which need no download and work offline.

``<cache>`` is `astrofmx.utils.get_cache_dir` (``ASTROFMX_CACHE`` or
``~/.cache/astrofmx``). Nothing is unpickled: the files are JSON and safetensors.
"""

import dataclasses
import datetime
import json
import logging
import re
from pathlib import Path

from astrofmx.utils import get_cache_dir

__all__ = ["SHIPPED_MODELS_DIR", "save_backbone", "register_local_backbone", "find_local_backbone",
           "list_local_backbones"]

logger = logging.getLogger(__name__)

#: Folder of the models that ship with the package (``<name>/backbone.json`` marks a backbone).
SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[1] / "data" / "models"

_ENTRY_FILE = "backbone.json"
_WEIGHTS_FILE = "model.safetensors"
_FOLDERS = {}  # name -> folder registered with register_local_backbone


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _is_backbone_dir(path):
    path = Path(path)
    return (path / _ENTRY_FILE).is_file() and (path / _WEIGHTS_FILE).is_file()


def _local_root(name, cache_dir=None):
    return get_cache_dir(cache_dir) / "backbones" / "local" / _safe(name)


def _newest_local(name, cache_dir=None):
    root = _local_root(name, cache_dir)
    if not root.is_dir():
        return None
    found = sorted(p for p in root.iterdir() if _is_backbone_dir(p))
    return found[-1] if found else None


def find_local_backbone(name, *, cache_dir=None):
    """The folder that backbone ``name`` is loaded from, or None if it is not saved anywhere.

    Looks in the cache (the newest backbone trained here), then the folders
    registered with `register_local_backbone`, then the shipped models.

    Examples
    --------
    >>> from astrofmx.backbones import find_local_backbone
    >>> find_local_backbone("astrofmx-radio", cache_dir="/tmp/astrofmx-doctest-empty-cache").name
    'astrofmx-radio'
    >>> find_local_backbone("no-such-backbone", cache_dir="/tmp/astrofmx-doctest-empty-cache") is None
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"backbone name must be a non-empty string, got {name!r}")
    local = _newest_local(name, cache_dir)
    if local is not None:
        return local
    if name in _FOLDERS:
        return _FOLDERS[name]
    shipped = SHIPPED_MODELS_DIR / _safe(name)
    return shipped if _is_backbone_dir(shipped) else None


def list_local_backbones(*, cache_dir=None):
    """Names of the backbones saved on disk: trained here, registered by folder, or shipped (sorted).

    Examples
    --------
    >>> from astrofmx.backbones import list_local_backbones
    >>> "astrofmx-radio" in list_local_backbones(cache_dir="/tmp/astrofmx-doctest-empty-cache")
    True
    """
    names = set(_FOLDERS)
    names.update(p.name for p in SHIPPED_MODELS_DIR.iterdir() if _is_backbone_dir(p)) \
        if SHIPPED_MODELS_DIR.is_dir() else None
    root = get_cache_dir(cache_dir) / "backbones" / "local"
    if root.is_dir():
        for folder in root.iterdir():
            newest = _newest_local(folder.name, cache_dir)
            if newest is not None:
                names.add(json.loads((newest / _ENTRY_FILE).read_text())["name"])
    return sorted(names)


def read_entry(folder):
    """The ``backbone.json`` of a saved backbone folder, checked."""
    folder = Path(folder)
    if not _is_backbone_dir(folder):
        raise ValueError(f"{str(folder)!r} is not a saved backbone folder ({_ENTRY_FILE} and {_WEIGHTS_FILE}, as "
                         f"written by save_backbone)")
    entry = json.loads((folder / _ENTRY_FILE).read_text())
    missing = [k for k in ("name", "base", "arch_overrides", "input_size", "mean", "std") if k not in entry]
    if missing:
        raise ValueError(f"{str(folder / _ENTRY_FILE)!r} lacks the keys {missing}")
    return entry


def register_local_backbone(folder, *, name=None, overwrite=False):
    """Make a saved backbone folder loadable by name (``get_backbone(name)``, ``embed(..., backbone=name)``).

    Parameters
    ----------
    folder : path-like
        A folder written by `save_backbone`.
    name : str, optional
        Name to register it under (default: the name stored in the folder).
    overwrite : bool, optional
        Replace an earlier registration of the same name.

    Returns
    -------
    name : str

    Examples
    --------
    >>> from astrofmx.backbones import SHIPPED_MODELS_DIR, get_backbone, register_local_backbone
    >>> register_local_backbone(SHIPPED_MODELS_DIR / "astrofmx-radio", name="my-radio-copy")
    'my-radio-copy'
    >>> get_backbone("my-radio-copy", device="cpu").spec.input_size
    64
    """
    entry = read_entry(folder)
    name = entry["name"] if name is None else name
    if name in _FOLDERS and not overwrite:
        raise ValueError(f"backbone {name!r} is already registered from {str(_FOLDERS[name])!r}; pass "
                         f"overwrite=True to replace it")
    _FOLDERS[name] = Path(folder).resolve()
    return name


def save_backbone(backbone, folder=None, *, name, base, arch_overrides=None, metadata=None, register=False,
                  overwrite=False, cache_dir=None):
    """Save a backbone so that `get_backbone` loads it by name.

    Parameters
    ----------
    backbone : `~astrofmx.backbones.Backbone`
        The trained backbone.
    folder : path-like, optional
        Where to write it (must not exist unless ``overwrite``). Default: a
        new folder ``<cache>/backbones/local/<name>/<time>/``.
    name : str
        The name to load it by; must not be a built-in registry name.
    base : str
        The registered backbone it was built from (``"resnet18"``, ``"dino"``,
        ``"timm:<model>"``).
    arch_overrides : dict, optional
        The architecture options it was built with (``get_backbone(base,
        weights=None, **arch_overrides)`` rebuilds it).
    metadata : dict, optional
        Written to ``metadata.json`` (training command, data, time...).
    register : bool, optional
        Also save a copy in the cache as the newest backbone trained here of
        that name, which `get_backbone` then loads first.
    overwrite : bool, optional
        Replace an existing ``folder``.
    cache_dir : path-like, optional
        Cache root.

    Returns
    -------
    folder : `pathlib.Path`
        The folder written (the cache copy when ``folder`` is None).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.backbones import get_backbone, save_backbone
    >>> net = get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1))
    >>> out = save_backbone(net, pathlib.Path(tempfile.mkdtemp()) / "tiny", name="tiny-resnet", base="resnet18",
    ...                     arch_overrides={"layers": [1, 1, 1, 1]})
    >>> sorted(p.name for p in out.iterdir())
    ['backbone.json', 'metadata.json', 'model.safetensors']
    >>> get_backbone("resnet18", weights=out, device="cpu", layers=(1, 1, 1, 1)).spec.feature_dim
    512
    """
    from safetensors.torch import save_file

    from ._builders import builtin_entries

    if not isinstance(name, str) or not name or name.startswith("timm:"):
        raise ValueError(f"name must be a non-empty string not starting with 'timm:', got {name!r}")
    if name in {spec.name for spec, _ in builtin_entries()}:
        raise ValueError(f"{name!r} is a built-in backbone name; choose another name for the saved backbone")
    overrides = {k: list(v) if isinstance(v, tuple) else v for k, v in (arch_overrides or {}).items()}
    spec = backbone.spec
    entry = dict(format="astrofmx-backbone", version=1, name=name, base=base, arch_overrides=overrides,
                 input_size=int(spec.input_size), mean=list(spec.mean), std=list(spec.std),
                 feature_dim=int(spec.feature_dim), license=(metadata or {}).get("license", "unknown"),
                 paper=(metadata or {}).get("paper", ""), geometry=_geometry(spec))
    target = getattr(backbone, "model", backbone)
    state = {k: v.detach().to("cpu").contiguous() for k, v in target.state_dict().items()}
    folders = [] if folder is None else [Path(folder)]
    if register or folder is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        folders.append(_local_root(name, cache_dir) / stamp)
    for out in folders:
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise FileExistsError(f"{str(out)!r} exists and is not empty; pass overwrite=True to replace it")
        out.mkdir(parents=True, exist_ok=True)
        save_file(state, str(out / _WEIGHTS_FILE))
        (out / _ENTRY_FILE).write_text(json.dumps(entry, indent=1) + "\n")
        (out / "metadata.json").write_text(json.dumps(metadata or {}, indent=1, default=str) + "\n")
        logger.info("saved backbone %r in %s", name, out)
    return folders[0] if folder is not None else folders[-1]


def _geometry(spec):
    """What a spec needs beyond the entry's own fields, so that listing a saved backbone builds no model."""
    return dict(arch=spec.arch, model_name=spec.model_name, patch_size=int(spec.patch_size),
                feature_strides={k: int(v) for k, v in spec.feature_strides.items()},
                feature_channels={k: int(v) for k, v in spec.feature_channels.items()})


def _base_spec(entry, builder):
    """The base backbone's spec: from the entry's ``geometry`` (written by `save_backbone`) without building
    a model, else from a model built once (entries written before it had one)."""
    from ._spec import BackboneSpec

    if "geometry" not in entry:
        return builder(None).spec
    return BackboneSpec(name=entry["base"], input_size=int(entry["input_size"]), mean=tuple(entry["mean"]),
                        std=tuple(entry["std"]), feature_dim=int(entry["feature_dim"]), **entry["geometry"])


def local_entry(name, folder, get_backbone):
    """``(spec, builder)`` of a saved backbone, for the registry (``get_backbone`` builds its base entry)."""
    entry = read_entry(folder)

    def builder(spec_, *, init=True, pooling="cls", **overrides):
        kwargs = {**entry["arch_overrides"], **overrides}
        if "layers" in kwargs:
            kwargs["layers"] = tuple(kwargs["layers"])
        backbone = get_backbone(entry["base"], weights=None, device="cpu", pooling=pooling, **kwargs)
        if spec_ is not None:
            backbone.spec = dataclasses.replace(spec_, feature_dim=backbone.spec.feature_dim,
                                                feature_strides=backbone.spec.feature_strides,
                                                feature_channels=backbone.spec.feature_channels)
        return backbone

    spec = dataclasses.replace(_base_spec(entry, builder), name=name, input_size=int(entry["input_size"]),
                               mean=tuple(entry["mean"]), std=tuple(entry["std"]),
                               weights_source=f"local:{Path(folder).resolve()}", weights_filename=_WEIGHTS_FILE,
                               license=entry.get("license", "unknown"), paper=entry.get("paper", ""), sha256=None)
    return spec, builder
