"""Safe reading, verification and download of backbone weights.

Nothing here ever executes code stored in a checkpoint: safetensors files are
read with `safetensors.torch.load_file`, everything else with
``torch.load(weights_only=True)``, whose restricted unpickler only rebuilds
tensors and plain containers. A file that needs more raises
`~astrofmx.utils.UnsafeCheckpointError`.
"""

import argparse
import contextlib
import hashlib
import json
import logging
import os
import pickle
import re
import socket
import threading
import warnings
from pathlib import Path
from urllib.parse import urlparse

from astrofmx.utils import (
    UnsafeCheckpointError,
    WeightsChecksumError,
    WeightsNotFoundError,
    get_cache_dir,
)

__all__ = ["read_checkpoint", "extract_state_dict", "file_sha256", "verify_sha256", "is_offline",
           "resolve_pretrained_file", "weights_cache_dir"]

logger = logging.getLogger(__name__)

#: File names searched for, in order, when ``weights`` is a directory.
WEIGHT_FILE_NAMES = ("model.safetensors", "pytorch_model.bin", "model.pth", "checkpoint.pth", "model.pt")

#: Keys under which research checkpoints keep the backbone, in the order they are tried:
#: MSN (target encoder), DINO (teacher), MAE / DeiT (model), Lightning and others.
CHECKPOINT_KEYS = ("target_encoder", "teacher", "model", "state_dict", "model_state_dict", "module",
                   "encoder", "student")

# non-tensor objects that research checkpoints store next to the weights and that are safe to rebuild
_SAFE_GLOBALS = [argparse.Namespace]

_HEX = re.compile(r"^[0-9a-f]{8,64}$")


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
    >>> from astrofmx.backbones import read_checkpoint
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
    if path.suffix == ".safetensors" or (head[8:9] == b"{" and not head.startswith(b"PK")):
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:
            if path.suffix == ".safetensors":
                raise OSError(f"cannot read safetensors file {str(path)!r} (truncated or corrupted?): {exc}") from exc
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
    except (RuntimeError, EOFError, ValueError) as exc:
        raise OSError(f"cannot read checkpoint {str(path)!r} (truncated or corrupted?): {exc}") from exc


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


def file_sha256(path, *, chunk_size=1 << 20):
    """Hex sha256 digest of a file, read in chunks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.backbones import file_sha256
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> file_sha256(path)[:16]
    'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path, expected, *, remove=False):
    """Check ``path`` against a sha256 digest (or a leading prefix of one).

    torchvision publishes the first 8 hex digits of each file's sha256 in its
    file name; a prefix of at least 8 digits is accepted for that reason.

    Parameters
    ----------
    path : path-like
        File to check.
    expected : str or None
        Hex digest or prefix; None skips the check.
    remove : bool, optional
        Delete the file when it does not match (used for files in the cache,
        so that a corrupted download is never reused as good).

    Raises
    ------
    WeightsChecksumError
        If the digest differs.
    ValueError
        If ``expected`` is not a hex string of 8 to 64 digits.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.backbones import verify_sha256
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "empty"
    >>> _ = path.write_bytes(b"")
    >>> verify_sha256(path, "e3b0c442")
    """
    if expected is None:
        return
    expected = expected.lower()
    if not _HEX.match(expected):
        raise ValueError(f"sha256 must be a hex string of 8 to 64 digits, got {expected!r}")
    actual = file_sha256(path)
    if not actual.startswith(expected):
        note = ""
        if remove:
            Path(path).unlink(missing_ok=True)
            note = " The file was removed from the cache; run again to download it anew."
        raise WeightsChecksumError(f"weights file {str(path)!r} is corrupted or not the expected file: sha256 "
                                   f"{actual} does not match the known {expected}.{note}")


def is_offline():
    """Whether downloads are switched off (``HF_HUB_OFFLINE`` or ``ASTROFMX_OFFLINE`` set to 1/true/yes).

    Examples
    --------
    >>> from astrofmx.backbones import is_offline
    >>> isinstance(is_offline(), bool)
    True
    """
    for var in ("ASTROFMX_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return True
    return False


def _reachable(url, timeout=1.5):
    """Connect to the host of ``url`` in a daemon thread; give up after ``timeout`` s (covers slow DNS too)."""
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or (80 if parsed.scheme == "http" else 443)
    result = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.2)
    return bool(result and result[0])


def weights_cache_dir(name, cache_dir=None):
    """Folder where the pretrained weights of backbone ``name`` are kept.

    ``<cache>/weights/<name>``, with ``<cache>`` from
    `~astrofmx.utils.get_cache_dir` (``ASTROFMX_CACHE`` or
    ``~/.cache/astrofmx``). Copying the weight file here by hand makes
    ``weights="pretrained"`` work offline.

    Examples
    --------
    >>> from astrofmx.backbones import weights_cache_dir
    >>> weights_cache_dir("timm:resnet50", "/tmp/astrofmx-doctest-cache").name
    'timm-resnet50'
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    return get_cache_dir(cache_dir) / "weights" / safe


def _sources(spec):
    """Candidate downloads for a spec: list of (filename, kind, location, display_url)."""
    src = spec.weights_source
    if src.startswith("hf-hub:"):
        repo = src[len("hf-hub:"):]
        names = [spec.weights_filename] if spec.weights_filename else ["model.safetensors", "pytorch_model.bin"]
        if spec.weights_filename == "pytorch_model.bin":  # the repo may also hold a safetensors copy
            names.append("model.safetensors")
        return [(n, "hf", repo, f"https://huggingface.co/{repo}/resolve/main/{n}") for n in names]
    if src.startswith("timm:"):
        import timm

        cfg = timm.models.get_pretrained_cfg(src[len("timm:"):])
        if cfg is None:
            raise ValueError(f"timm has no pretrained weights named {src[len('timm:'):]!r}")
        out = []
        if cfg.hf_hub_id:
            repo = cfg.hf_hub_id.split("@")[0]
            fname = cfg.hf_hub_filename or "model.safetensors"
            out.append((fname, "hf", repo, f"https://huggingface.co/{repo}/resolve/main/{fname}"))
        if cfg.url:
            out.append((Path(urlparse(cfg.url).path).name, "url", cfg.url, cfg.url))
        if not out:
            raise ValueError(f"timm lists no download location for {src!r}")
        return out
    if src.startswith("torchvision:"):
        url = _torchvision_url(src[len("torchvision:"):])
        return [(Path(urlparse(url).path).name, "url", url, url)]
    if src.startswith(("http://", "https://")):
        return [(spec.weights_filename or Path(urlparse(src).path).name, "url", src, src)]
    raise ValueError(f"backbone {spec.name!r} has no pretrained weights source (weights_source={src!r}); "
                     f"use weights=None or weights=<local file>")


def _torchvision_url(enum_path):
    """'ResNet50_Weights.IMAGENET1K_V2' -> its download URL."""
    import torchvision.models as tvm

    enum_name, _, member = enum_path.partition(".")
    enum = getattr(tvm, enum_name, None)
    if enum is None or not member or not hasattr(enum, member):
        raise ValueError(f"torchvision has no weights {enum_path!r}")
    return getattr(enum, member).url


def _missing_message(spec, sources, target_dir, reason):
    lines = [f"pretrained weights for backbone {spec.name!r} are not available locally and {reason}.",
             "Download this file on a machine with internet access:"]
    lines += [f"    {url}" for _, _, _, url in sources[:1]]
    lines.append(f"and put it at\n    {target_dir / sources[0][0]}")
    if len(sources) > 1:
        lines.append("(alternatives: " + ", ".join(f"{url} -> {target_dir / fn}" for fn, _, _, url in sources[1:]) + ")")
    lines.append("or pass weights=<path of the file> to get_backbone/embed. Set ASTROFMX_CACHE to change "
                 "the cache folder.")
    return "\n".join(lines)


def resolve_pretrained_file(spec, *, cache_dir=None, progress_bar=True):
    """Local path of the pretrained weights of ``spec``, downloading them if needed.

    Looks in `weights_cache_dir` first; otherwise downloads with the hub's own
    client (`huggingface_hub.hf_hub_download` for Hugging Face and timm
    weights, `torch.hub.download_url_to_file` for torchvision and plain URLs)
    into that folder, then verifies ``spec.sha256`` (and the sha256 the Hugging
    Face hub publishes for the file).

    Parameters
    ----------
    spec : `~astrofmx.backbones.BackboneSpec`
        The registry entry.
    cache_dir : path-like, optional
        Cache root; default from `~astrofmx.utils.get_cache_dir`.
    progress_bar : bool, optional
        Show the hub's download progress bar.

    Returns
    -------
    path : `pathlib.Path`

    Raises
    ------
    WeightsNotFoundError
        Offline (``HF_HUB_OFFLINE=1``, ``ASTROFMX_OFFLINE=1``, or the host does
        not answer within 1.5 s) and the file is not in the cache; the message
        gives the URL to download and the path to put it at.
    WeightsChecksumError
        The cached or downloaded file does not match its sha256; it is deleted.
    """
    sources = _sources(spec)
    target_dir = weights_cache_dir(spec.name, cache_dir)
    for fname, *_ in sources:
        path = target_dir / fname
        if path.is_file():
            verify_sha256(path, _expected_sha(spec, fname, sources), remove=True)
            logger.debug("using cached weights %s", path)
            return path
    if is_offline():
        raise WeightsNotFoundError(_missing_message(spec, sources, target_dir,
                                                    "downloads are off (HF_HUB_OFFLINE/ASTROFMX_OFFLINE is set)"))
    host = urlparse(sources[0][3]).hostname
    if not _reachable(sources[0][3]):
        raise WeightsNotFoundError(_missing_message(spec, sources, target_dir, f"{host} cannot be reached (offline?)"))
    errors = []
    for fname, kind, location, url in sources:
        try:
            path = _download(kind, location, fname, url, target_dir, progress_bar)
        except FileNotFoundError as exc:  # this file name does not exist in the repo: try the next one
            errors.append(f"{url}: {exc}")
            continue
        except OSError as exc:
            errors.append(f"{url}: {exc}")
            continue
        verify_sha256(path, _expected_sha(spec, fname, sources), remove=True)
        return path
    raise WeightsNotFoundError(_missing_message(spec, sources, target_dir, "the download failed:\n  "
                                                + "\n  ".join(errors)))


def _expected_sha(spec, fname, sources):
    if spec.sha256 and (spec.weights_filename is None or spec.weights_filename == fname):
        return spec.sha256
    # torchvision convention: <name>-<first 8+ hex digits of the sha256>.pth
    match = re.search(r"-([0-9a-f]{8,64})\.(pth|pt)$", fname)
    return match.group(1) if match else None


def _download(kind, location, fname, url, target_dir, progress_bar):
    target_dir.mkdir(parents=True, exist_ok=True)
    if kind == "hf":
        import huggingface_hub
        from huggingface_hub.errors import EntryNotFoundError
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

        was_disabled = are_progress_bars_disabled()
        if not progress_bar:
            disable_progress_bars()
        try:
            hub_sha = None
            try:
                meta = huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(location, fname), timeout=10)
                if meta.etag and _HEX.match(meta.etag.strip('"')) and len(meta.etag.strip('"')) == 64:
                    hub_sha = meta.etag.strip('"')
            except EntryNotFoundError as exc:
                raise FileNotFoundError(str(exc)) from exc
            except Exception as exc:  # metadata is only used for the extra checksum
                logger.debug("no hub metadata for %s: %s", url, exc)
            logger.info("downloading %s into %s", url, target_dir)
            try:
                path = Path(huggingface_hub.hf_hub_download(location, fname, local_dir=target_dir, etag_timeout=10))
            except EntryNotFoundError as exc:
                raise FileNotFoundError(str(exc)) from exc
            except Exception as exc:
                raise OSError(str(exc)) from exc
        finally:
            if not progress_bar and not was_disabled:
                enable_progress_bars()
        if hub_sha:
            verify_sha256(path, hub_sha, remove=True)
        return path
    import torch

    path = target_dir / fname
    logger.info("downloading %s to %s", url, path)
    try:
        torch.hub.download_url_to_file(url, str(path), hash_prefix=None, progress=progress_bar)
    except Exception as exc:
        raise OSError(str(exc)) from exc
    return path


def read_hf_config(directory):
    """The ``config.json`` of a Hugging Face model folder, or None."""
    path = Path(directory) / "config.json"
    if path.is_file():
        return json.loads(path.read_text())
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
