"""Pretrained weights: the cache folder, fail-fast offline checks, and loading through each library's own loader.

- timm weights (``timm:<arch.tag>`` sources) are loaded by timm itself,
  `timm.models.load_pretrained` with ``pretrained_cfg`` overlaid by
  ``file=<cached safetensors>`` (what ``timm.create_model(pretrained=True,
  pretrained_cfg_overlay=dict(file=...))`` runs), so timm's own checkpoint
  filter and head handling apply;
- torchvision weights by torchvision,
  ``Weights.get_state_dict(check_hash=True, weights_only=True)`` into the cache;
- Hugging Face files are downloaded with `huggingface_hub.hf_hub_download`
  (which respects ``HF_HUB_OFFLINE``), plain URLs with `astrofmx.utils.fetch`.

Files that are not safetensors are read with astrofmx's safe reader
(``torch.load(weights_only=True)``); nothing executes pickled code.
"""

import hashlib
import logging
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

from astrofmx.utils import WeightsChecksumError, WeightsNotFoundError, fetch, get_cache_dir, is_offline

from ._checkpoint import load_weights
from ._local import SHIPPED_MODELS_DIR

__all__ = ["resolve_pretrained_file", "weights_cache_dir"]

logger = logging.getLogger(__name__)

_HEX = re.compile(r"^[0-9a-f]{8,64}$")


def _file_sha256(path, *, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_sha256(path, expected, *, remove=False):
    """Check ``path`` against a sha256 digest or a leading prefix of 8+ digits (torchvision's file names)."""
    if expected is None:
        return
    expected = expected.lower()
    if not _HEX.match(expected):
        raise ValueError(f"sha256 must be a hex string of 8 to 64 digits, got {expected!r}")
    actual = _file_sha256(path)
    if not actual.startswith(expected):
        note = ""
        if remove:
            Path(path).unlink(missing_ok=True)
            note = " The file was removed from the cache; run again to download it anew."
        raise WeightsChecksumError(f"weights file {str(path)!r} is corrupted or not the expected file: sha256 "
                                   f"{actual} does not match the known {expected}.{note}")


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
    ``weights="pretrained"`` work offline. Builds no model.

    Examples
    --------
    >>> from astrofmx.backbones import weights_cache_dir
    >>> weights_cache_dir("timm:resnet50", "/tmp/astrofmx-doctest-cache").name
    'timm-resnet50'
    """
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    return get_cache_dir(cache_dir) / "weights" / safe


def _hf_names(spec):
    names = [spec.weights_filename] if spec.weights_filename else ["model.safetensors", "pytorch_model.bin"]
    if spec.weights_filename == "pytorch_model.bin":  # the repo may also hold a safetensors copy
        names.append("model.safetensors")
    return names


def _timm_cfg(tag):
    import timm

    cfg = timm.models.get_pretrained_cfg(tag)
    if cfg is None:
        raise ValueError(f"timm has no pretrained weights named {tag!r}")
    return cfg


def _torchvision_weights(enum_path):
    """'ResNet50_Weights.IMAGENET1K_V2' -> the torchvision `~torchvision.models.Weights` entry."""
    import torchvision.models as tvm

    enum_name, _, member = enum_path.partition(".")
    enum = getattr(tvm, enum_name, None)
    if enum is None or not member or not hasattr(enum, member):
        raise ValueError(f"torchvision has no weights {enum_path!r}")
    return getattr(enum, member)


def _sources(spec):
    """Candidate downloads for a spec: list of (filename, kind, location, display_url)."""
    from huggingface_hub import hf_hub_url

    src = spec.weights_source
    if src.startswith("hf-hub:"):
        repo = src[len("hf-hub:"):]
        return [(n, "hf", repo, hf_hub_url(repo, n)) for n in _hf_names(spec)]
    if src.startswith("timm:"):
        cfg = _timm_cfg(src[len("timm:"):])
        out = []
        if cfg.hf_hub_id:
            repo = cfg.hf_hub_id.split("@")[0]
            fname = cfg.hf_hub_filename or "model.safetensors"
            out.append((fname, "hf", repo, hf_hub_url(repo, fname)))
        if cfg.url:
            out.append((Path(urlparse(cfg.url).path).name, "url", cfg.url, cfg.url))
        if not out:
            raise ValueError(f"timm lists no download location for {src!r}")
        return out
    if src.startswith("torchvision:"):
        url = _torchvision_weights(src[len("torchvision:"):]).url
        return [(Path(urlparse(url).path).name, "torchvision", src[len("torchvision:"):], url)]
    if src.startswith(("http://", "https://")):
        return [(spec.weights_filename or Path(urlparse(src).path).name, "url", src, src)]
    raise ValueError(f"backbone {spec.name!r} has no pretrained weights source (weights_source={src!r}); "
                     f"use weights=None or weights=<local file>")


def _file_names(spec):
    """Names a cached weight file of ``spec`` may have, without importing timm or torchvision where the spec
    names its file; None when the spec has no pretrained source."""
    src = spec.weights_source
    if not src:
        return None
    if src.startswith("hf-hub:"):
        return _hf_names(spec)
    if spec.weights_filename and src.startswith(("timm:", "torchvision:")):
        return [spec.weights_filename]
    if src.startswith(("http://", "https://")):
        return [spec.weights_filename or Path(urlparse(src).path).name]
    try:
        return [fname for fname, *_ in _sources(spec)]
    except (ValueError, ImportError):
        return None


def _missing_message(spec, sources, target_dir, reason):
    lines = [f"pretrained weights for backbone {spec.name!r} are not available locally and {reason}.",
             "Download this file on a machine with internet access:"]
    lines += [f"    {url}" for _, _, _, url in sources[:1]]
    lines.append(f"and put it at\n    {target_dir / sources[0][0]}")
    if len(sources) > 1:
        lines.append("(alternatives: " + ", ".join(f"{url} -> {target_dir / fn}" for fn, _, _, url in sources[1:]) + ")")
    lines.append("or pass weights=<path of the file> to get_backbone/embed. Set ASTROFMX_CACHE to change "
                 "the cache folder.")
    shipped = sorted(p.parent.name for p in SHIPPED_MODELS_DIR.glob("*/backbone.json"))
    if shipped:
        lines.append(f"To work offline now, use a backbone that ships with astrofmx: {', '.join(shipped)} "
                     f"(e.g. backbone={shipped[0]!r}, or --backbone {shipped[0]} on the command line).")
    return "\n".join(lines)


def _expected_sha(spec, fname):
    if spec.sha256 and (spec.weights_filename is None or spec.weights_filename == fname):
        return spec.sha256
    # torchvision convention: <name>-<first 8+ hex digits of the sha256>.pth
    match = re.search(r"-([0-9a-f]{8,64})\.(pth|pt)$", fname)
    return match.group(1) if match else None


def _locate(spec, cache_dir):
    """(cached file or None, sources, target folder); raises WeightsNotFoundError at once when offline."""
    sources = _sources(spec)
    target_dir = weights_cache_dir(spec.name, cache_dir)
    for fname, *_ in sources:
        path = target_dir / fname
        if path.is_file():
            _verify_sha256(path, _expected_sha(spec, fname), remove=True)
            logger.debug("using cached weights %s", path)
            return path, sources, target_dir
    if is_offline():
        raise WeightsNotFoundError(_missing_message(spec, sources, target_dir,
                                                    "downloads are off (HF_HUB_OFFLINE/ASTROFMX_OFFLINE is set)"))
    host = urlparse(sources[0][3]).hostname
    if not _reachable(sources[0][3]):
        raise WeightsNotFoundError(_missing_message(spec, sources, target_dir, f"{host} cannot be reached (offline?)"))
    return None, sources, target_dir


def resolve_pretrained_file(spec, *, cache_dir=None, progress_bar=True):
    """Local path of the pretrained weights of ``spec``, downloading them if needed.

    Looks in `weights_cache_dir` first; otherwise downloads with the hub's own
    client into that folder (`huggingface_hub.hf_hub_download` for Hugging
    Face and timm weights, torchvision's ``Weights.get_state_dict`` with
    ``check_hash=True``, `astrofmx.utils.fetch` for plain URLs), then
    verifies ``spec.sha256`` (and the sha256 the Hugging Face hub publishes).

    Parameters
    ----------
    spec : `~astrofmx.backbones.BackboneSpec`
        The registry entry.
    cache_dir : path-like, optional
        Cache root; default from `~astrofmx.utils.get_cache_dir`.
    progress_bar : bool, optional
        Show the download progress bar.

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

    Examples
    --------
    >>> import os
    >>> from astrofmx.backbones import get_backbone_spec, resolve_pretrained_file
    >>> os.environ["ASTROFMX_OFFLINE"] = "1"
    >>> resolve_pretrained_file(get_backbone_spec("resnet18"), cache_dir="/tmp/astrofmx-doctest-empty-cache")
    Traceback (most recent call last):
    ...
    astrofmx.utils.exceptions.WeightsNotFoundError: pretrained weights for backbone 'resnet18' are not ...
    >>> del os.environ["ASTROFMX_OFFLINE"]
    """
    path, sources, target_dir = _locate(spec, cache_dir)
    if path is not None:
        return path
    errors = []
    for fname, kind, location, url in sources:
        try:
            path = _download(kind, location, fname, url, target_dir, progress_bar, _expected_sha(spec, fname))
        except OSError as exc:  # includes a file name that the repo does not hold: try the next one
            if isinstance(exc, WeightsChecksumError):
                raise
            errors.append(f"{url}: {exc}")
            continue
        _verify_sha256(path, _expected_sha(spec, fname), remove=True)
        return path
    raise WeightsNotFoundError(_missing_message(spec, sources, target_dir, "the download failed:\n  "
                                                + "\n  ".join(errors)))


def _download_hf(repo, fname, url, target_dir, progress_bar):
    import huggingface_hub
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not progress_bar:
        disable_progress_bars()
    try:
        hub_sha = None
        try:
            meta = huggingface_hub.get_hf_file_metadata(huggingface_hub.hf_hub_url(repo, fname), timeout=10)
            etag = (meta.etag or "").strip('"')
            hub_sha = etag if len(etag) == 64 and _HEX.match(etag) else None
        except Exception as exc:  # metadata is only used for the extra checksum
            logger.debug("no hub metadata for %s: %s", url, exc)
        logger.info("downloading %s into %s", url, target_dir)
        try:
            path = Path(huggingface_hub.hf_hub_download(repo, fname, local_dir=target_dir, etag_timeout=10))
        except Exception as exc:
            raise OSError(str(exc)) from exc
    finally:
        if not progress_bar and not was_disabled:
            enable_progress_bars()
    _verify_sha256(path, hub_sha, remove=True)
    return path


def _download(kind, location, fname, url, target_dir, progress_bar, expected):
    target_dir.mkdir(parents=True, exist_ok=True)
    if kind == "hf":
        return _download_hf(location, fname, url, target_dir, progress_bar)
    if kind == "torchvision":
        _torchvision_state_dict(location, target_dir, progress_bar)
        return target_dir / fname
    full = expected if expected and len(expected) == 64 else None  # pooch checks full digests; prefixes after
    return fetch(url, known_hash=full, path=target_dir, fname=fname, progress_bar=progress_bar)


def _torchvision_state_dict(enum_path, target_dir, progress_bar):
    """torchvision loads its own weights: cached in ``target_dir`` or downloaded there and hash-checked."""
    weights = _torchvision_weights(enum_path)
    try:
        return weights.get_state_dict(model_dir=str(target_dir), progress=progress_bar, check_hash=True,
                                      map_location="cpu", weights_only=True)
    except RuntimeError as exc:
        if "hash" in str(exc):
            raise WeightsChecksumError(f"the download of {weights.url} does not match the sha256 prefix in its "
                                       f"file name; it was removed from the cache ({exc})") from exc
        raise OSError(str(exc)) from exc


def prepare_pretrained(spec, *, cache_dir=None, progress_bar=True):
    """Before a model is built: the local weight file of ``spec``, downloaded if needed (None where
    torchvision downloads it while loading). Fails fast when offline."""
    if spec.weights_source.startswith("torchvision:"):
        return _locate(spec, cache_dir)[0]
    return resolve_pretrained_file(spec, cache_dir=cache_dir, progress_bar=progress_bar)


def load_pretrained(backbone, spec, path, *, cache_dir=None, progress_bar=True, checkpoint_key=None):
    """Load the pretrained weights of ``spec`` (at ``path``, from `prepare_pretrained`) into ``backbone``
    through the source library's own loader; returns the file."""
    src = spec.weights_source
    if src.startswith("torchvision:") and checkpoint_key is None:
        target_dir = weights_cache_dir(spec.name, cache_dir)
        state_dict = _torchvision_state_dict(src[len("torchvision:"):], target_dir, progress_bar)
        backbone.load_state_dict_converted(state_dict)
        logger.info("loaded weights for %r from %s (torchvision)", spec.name, target_dir)
        return path if path is not None else target_dir / spec.weights_filename
    if path is None:
        path = resolve_pretrained_file(spec, cache_dir=cache_dir, progress_bar=progress_bar)
    model = getattr(backbone, "model", None)
    if src.startswith("timm:") and path.suffix == ".safetensors" and checkpoint_key is None \
            and hasattr(model, "pretrained_cfg"):
        _timm_load(model, src[len("timm:"):], path)
        logger.info("loaded weights for %r from %s (timm)", spec.name, path)
        return path
    return load_weights(backbone, path, checkpoint_key=checkpoint_key)


def _timm_load(model, tag, path):
    import sys

    import timm

    cfg = {**_timm_cfg(tag).to_dict(), "file": str(path)}
    cfg.pop("hf_hub_id", None), cfg.pop("url", None)
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    timm.models.load_pretrained(model, pretrained_cfg=cfg, num_classes=getattr(model, "num_classes", 0),
                                in_chans=cfg.get("input_size", (3,))[0], filter_fn=filter_fn, strict=True)
