"""Safe reading of checkpoints: safetensors or ``torch.load(weights_only=True)``, never pickle code execution.

Nothing here ever executes code stored in a checkpoint: safetensors files are
read with `safetensors.torch.load_file`, everything else with
``torch.load(weights_only=True)``, whose restricted unpickler only rebuilds
tensors and plain containers. A file that needs more raises
`~astrofmx.utils.UnsafeCheckpointError`.
"""

import argparse
import contextlib
import json
import logging
import pickle
import warnings
from pathlib import Path

from astrofmx.utils import UnsafeCheckpointError, WeightsNotFoundError

__all__ = ["extract_state_dict", "load_weights"]

logger = logging.getLogger(__name__)

#: File names searched for, in order, when ``weights`` is a directory.
WEIGHT_FILE_NAMES = ("model.safetensors", "pytorch_model.bin", "model.pth", "checkpoint.pth", "model.pt")

#: Keys under which research checkpoints keep the backbone, in the order they are tried:
#: MSN (target encoder), DINO (teacher), MAE / DeiT (model), Lightning and others.
CHECKPOINT_KEYS = ("target_encoder", "teacher", "model", "state_dict", "model_state_dict", "module",
                   "encoder", "student")

# non-tensor objects that research checkpoints store next to the weights and that are safe to rebuild
_SAFE_GLOBALS = [argparse.Namespace]

def _is_tensor_dict(obj):
    import torch

    return isinstance(obj, dict) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def read_checkpoint(path):
    """Read a checkpoint without executing any code stored in it.

    Parameters
    ----------
    path : str or path-like
        A ``.safetensors`` file, or a file written by `torch.save` (``.pth``,
        ``.pt``, ``.bin``, ...).

    Returns
    -------
    obj : dict
        The stored object: a state dict, or a research checkpoint holding one
        (see `extract_state_dict`).

    Raises
    ------
    UnsafeCheckpointError
        If rebuilding the file would need arbitrary Python objects (a pickle
        that could run code).
    OSError
        If the file is missing, truncated or not a checkpoint.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from astrofmx.backbones._checkpoint import read_checkpoint
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pth"
    >>> torch.save({"w": torch.ones(2)}, path)
    >>> read_checkpoint(path)
    {'w': tensor([1., 1.])}
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {str(path)!r} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(16)
    size = path.stat().st_size
    if path.suffix == ".safetensors" or (head[8:9] == b"{" and not head.startswith(b"PK")):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            if path.suffix == ".safetensors":
                raise OSError(f"cannot read safetensors file {str(path)!r} ({size:,} bytes): it is truncated, "
                              f"half-written or not safetensors ({exc}); download, copy or save it again") from None
    try:
        allow = getattr(torch.serialization, "safe_globals", None)
        with (allow(_SAFE_GLOBALS) if allow else contextlib.nullcontext()), warnings.catch_warnings():
            # plain pickle files (protocol > 2) make torch warn; the restricted unpickler still guards them
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "Weights only load failed" in msg or "Unsupported global" in msg or "Unsupported operand" in msg:
            raise UnsafeCheckpointError(
                f"refusing to load {str(path)!r}: it is a pickle that would execute or import arbitrary Python "
                f"objects, and astrofmx only loads tensors (safetensors or torch.load(weights_only=True)). If you "
                f"trust the file, convert it yourself to safetensors. Details: {msg.splitlines()[0]}") from exc
        raise OSError(f"cannot read checkpoint {str(path)!r} (truncated or corrupted?): {exc}") from exc
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError) as exc:
        if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):
            # torch.save writes a zip archive (PK..); its legacy format is a pickle (protocol byte 0x80)
            raise OSError(f"{str(path)!r} is not a checkpoint: it is neither a torch.save file (zip archive or "
                          f"pickle) nor safetensors (it starts with {head[:12]!r}, {size:,} bytes); give the weight "
                          "file itself (.safetensors, .pth, .pt, .bin), or download it again") from None
        raise OSError(f"cannot read checkpoint {str(path)!r} ({size:,} bytes): it is truncated or corrupted "
                      f"({type(exc).__name__}: {exc}); download, copy or save it again") from None


def _strip_prefix(sd, prefix):
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def extract_state_dict(obj, *, checkpoint_key=None):
    """Find the backbone's flat state dict inside a checkpoint.

    Research checkpoints nest the weights: MSN under ``target_encoder`` (with
    DistributedDataParallel ``module.`` prefixes), DINO under ``teacher`` and
    ``student`` (with ``backbone.`` and ``head.`` parts), MAE under
    ``model``. Without ``checkpoint_key`` the keys in `CHECKPOINT_KEYS` are
    tried in order; the ``module.``, ``_orig_mod.`` (torch.compile) and
    ``backbone.`` prefixes are removed.

    Parameters
    ----------
    obj : dict
        What `read_checkpoint` returned.
    checkpoint_key : str, optional
        Take the state dict from this key (e.g. ``"student"`` for a DINO
        checkpoint's student network).

    Returns
    -------
    state_dict : dict of str to `torch.Tensor`

    Raises
    ------
    ValueError
        If ``checkpoint_key`` is absent or no state dict is found; the
        message lists the keys present.

    Examples
    --------
    >>> import torch
    >>> from astrofmx.backbones import extract_state_dict
    >>> ckpt = {"target_encoder": {"module.cls_token": torch.zeros(1)}, "epoch": 3}
    >>> list(extract_state_dict(ckpt))
    ['cls_token']
    """
    if not isinstance(obj, dict):
        raise ValueError(f"a checkpoint must hold a dict, got {type(obj).__name__}")
    if checkpoint_key is not None:
        if checkpoint_key not in obj:
            raise ValueError(f"checkpoint_key {checkpoint_key!r} is not in the checkpoint; it holds {sorted(map(str, obj))}")
        obj = obj[checkpoint_key]
    for _ in range(4):
        if _is_tensor_dict(obj):
            break
        for key in CHECKPOINT_KEYS:
            if isinstance(obj, dict) and isinstance(obj.get(key), dict):
                logger.debug("taking the state dict from checkpoint key %r", key)
                obj = obj[key]
                break
        else:
            break
    import torch

    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)} if isinstance(obj, dict) else {}
    if not sd:
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"no state dict of tensors found in the checkpoint (top-level keys {keys}); "
                         f"pass checkpoint_key= to choose one")
    for prefix in ("module.", "_orig_mod.", "module."):
        sd = _strip_prefix(sd, prefix)
    if any(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    return sd


def read_hf_config(directory):
    """The ``config.json`` of a Hugging Face model folder, or None."""
    path = Path(directory) / "config.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{str(path)!r} is corrupted: not valid JSON ({exc}); restore the model folder's "
                             "config.json (download the model again) or pass the weight file itself") from None
    return None


def find_weight_file(directory):
    """The weight file inside a model folder (``model.safetensors``, ``pytorch_model.bin``, ...)."""
    directory = Path(directory)
    for name in WEIGHT_FILE_NAMES:
        if (directory / name).is_file():
            return directory / name
    found = sorted(p for ext in ("*.safetensors", "*.pth", "*.pt", "*.bin") for p in directory.glob(ext))
    if len(found) == 1:
        return found[0]
    if not found:
        raise WeightsNotFoundError(f"no weight file ({', '.join(WEIGHT_FILE_NAMES)}, *.safetensors, *.pth) in "
                                   f"folder {str(directory)!r}")
    raise ValueError(f"folder {str(directory)!r} holds several weight files {[p.name for p in found]}; "
                     f"pass the file itself as weights=")


def _own_prefix_removed(backbone, state_dict):
    """``state_dict`` without the ``model.`` prefix of a `Backbone`'s own ``state_dict()`` (the wrapper keeps
    the network as ``.model``), so that ``torch.save(backbone.state_dict(), f)`` reloads with ``weights=f``."""
    model = getattr(backbone, "model", None)
    if model is None or not state_dict or not all(k.startswith("model.") for k in state_dict):
        return state_dict
    if any(k.startswith("model.") for k in model.state_dict()):  # the network's own keys carry the prefix
        return state_dict
    logger.debug("removing the 'model.' prefix of a Backbone.state_dict()")
    return {k[len("model."):]: v for k, v in state_dict.items()}


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

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from safetensors.torch import save_file
    >>> from astrofmx.backbones import get_backbone, load_weights
    >>> source = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.safetensors"
    >>> save_file(source.model.state_dict(), str(path))
    >>> target = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> load_weights(target, path).name
    'model.safetensors'
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
    state_dict = _own_prefix_removed(backbone, extract_state_dict(read_checkpoint(path), checkpoint_key=checkpoint_key))
    backbone.load_state_dict_converted(state_dict, config=config)
    logger.info("loaded weights for %r from %s", backbone.spec.name, path)
    return path
