"""Trained detectors by backbone name: a model zoo (downloaded, checksummed) and detectors trained locally.

``detect_sources(image, backbone="msn")`` looks, in order, for

1. the newest detector trained here for that backbone
   (`~astrofmx.detection.train_detector` registers each one it trains in
   ``<cache>/detectors/local/<backbone>/<time>/``);
2. a detector folder registered with ``register_detector(backbone, path=...)``;
3. a model-zoo entry (``register_detector(backbone, url=..., sha256=...)``):
   a zip of a saved detector folder, downloaded once into
   ``<cache>/detectors/zoo/<backbone>/`` and checked against its SHA-256;
4. a detector shipped inside the package beside a shipped backbone
   (``astrofmx/data/models/<backbone>/detector/``; today the one on
   ``astrofmx-radio``), which works offline.

``<cache>`` is `astrofmx.utils.get_cache_dir` (``ASTROFMX_CACHE`` or
``~/.cache/astrofmx``). Detector files are JSON and safetensors: nothing is
unpickled.
"""

import dataclasses
import datetime
import json
import logging
import re
from pathlib import Path

from ..utils import WeightsChecksumError, get_cache_dir

__all__ = ["register_detector", "unregister_detector", "list_detectors", "find_detector"]

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class _Entry:
    backbone: str
    url: str = None
    sha256: str = None
    path: str = None
    description: str = ""


#: Registered detectors by backbone name. The package ships no zoo entry yet: trained detectors for the
#: ImageNet foundation-model backbones are published separately (a release asset: URL + SHA-256) and
#: registered with `register_detector`; the embedded default detector and those shipped beside a shipped
#: backbone (`_shipped`) need no entry.
_REGISTRY = {}


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _local_root(backbone, cache_dir=None):
    return get_cache_dir(cache_dir) / "detectors" / "local" / _safe(backbone)


def _shipped(backbone):
    """The folder of the detector shipped for ``backbone``, or None."""
    return _shipped_detectors().get(_safe(backbone))


def _shipped_detectors():
    """``{backbone: folder}`` of every detector shipped inside the package: the ``detector/`` folders of
    `SHIPPED_MODELS_DIR`'s models."""
    from ..backbones import SHIPPED_MODELS_DIR

    root = Path(SHIPPED_MODELS_DIR)
    folders = sorted(p / "detector" for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return {f.parent.name: f for f in folders if _is_detector_dir(f)}


def _is_detector_dir(path):
    return (Path(path) / "config.json").is_file() and (Path(path) / "model.safetensors").is_file()


def _detector_dir_in(folder):
    """The first saved detector folder at or below ``folder`` (None if there is none)."""
    folder = Path(folder)
    for candidate in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir())]:
        if _is_detector_dir(candidate):
            return candidate
    return None


def register_detector(backbone, *, url=None, sha256=None, path=None, description="", overwrite=False):
    """Make a trained detector available as ``detect_sources(image, backbone=backbone)``.

    Give either ``path`` (a folder written by `~astrofmx.detection.save_detector`)
    or ``url`` and ``sha256`` (a zip archive of such a folder: a model-zoo
    entry, downloaded on first use into the cache and verified, like backbone
    weights). Detectors trained with `~astrofmx.detection.train_detector` are
    registered automatically and take precedence.

    Parameters
    ----------
    backbone : str
        Backbone registry name (``"msn"``, ``"resnet50"``, ``"timm:<name>"``).
    url : str, optional
        Where the zip archive is (``https://``, ``http://`` or ``file://``).
    sha256 : str, optional
        SHA-256 of the archive (64 hex digits); required with ``url``.
    path : str or `~pathlib.Path`, optional
        A saved detector folder on disk.
    description : str, optional
        Shown by `list_detectors`.
    overwrite : bool, optional
        Replace an existing registration for ``backbone``.

    Raises
    ------
    ValueError
        Neither or both of ``url`` and ``path``, a missing or malformed
        ``sha256``, a folder that is not a saved detector, or an existing
        registration without ``overwrite=True``.

    Examples
    --------
    >>> from astrofmx.detection import register_detector, unregister_detector
    >>> register_detector("timm:vit_small_patch16_224", url="https://example.org/vits-mgcls-detector.zip",
    ...                   sha256="0" * 64, description="ViT-S/16 fine-tuned on MGCLS")
    >>> register_detector("timm:vit_small_patch16_224", path="/nonexistent")
    Traceback (most recent call last):
    ...
    ValueError: a detector is already registered for backbone 'timm:vit_small_patch16_224'; pass overwrite=True to replace it
    >>> unregister_detector("timm:vit_small_patch16_224")
    """
    if not isinstance(backbone, str) or not backbone:
        raise TypeError(f"backbone must be a registry name (str), got {backbone!r}")
    if (url is None) == (path is None):
        raise ValueError("give either url= (with sha256=) for a zoo archive or path= for a saved detector folder")
    if backbone in _REGISTRY and not overwrite:
        raise ValueError(f"a detector is already registered for backbone {backbone!r}; pass overwrite=True to "
                         "replace it")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("https://", "http://", "file://")):
            raise ValueError(f"url must start with https://, http:// or file://, got {url!r}")
        if not isinstance(sha256, str) or not _SHA256.match(sha256.lower()):
            raise ValueError(f"sha256 must be the 64 hex digits of the archive's SHA-256, got {sha256!r}")
        entry = _Entry(backbone, url=url, sha256=sha256.lower(), description=description)
    else:
        if not _is_detector_dir(path):
            raise ValueError(f"{str(path)!r} is not a saved detector folder (config.json and model.safetensors, "
                             "as written by save_detector)")
        entry = _Entry(backbone, path=str(Path(path).resolve()), description=description)
    _REGISTRY[backbone] = entry


def unregister_detector(backbone):
    """Remove the registration of ``backbone`` made with `register_detector` (no error if there is none).

    Detectors trained locally stay in the cache (delete their folder,
    ``<cache>/detectors/local/<backbone>/<time>/``, to forget them).
    """
    _REGISTRY.pop(backbone, None)


def _newest_local(backbone, cache_dir=None):
    root = _local_root(backbone, cache_dir)
    if not root.is_dir():
        return None
    found = sorted(p for p in root.iterdir() if _is_detector_dir(p))
    return found[-1] if found else None


def register_trained(detector, *, cache_dir=None):
    """Save a freshly trained detector as the newest local one for its backbone; returns the folder."""
    from ._io import save_detector

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    target = _local_root(detector.config.backbone, cache_dir) / stamp
    save_detector(detector, target)
    logger.info("registered the trained detector for backbone %r in %s: detect_sources(image, backbone=%r) "
                "uses it", detector.config.backbone, target, detector.config.backbone)
    return target


def _fetch_zoo(entry, cache_dir=None, progress_bar=True):
    """Download (once), verify and unzip a zoo archive with `astrofmx.utils.fetch`; returns the detector folder."""
    from ..utils import WeightsNotFoundError, fetch

    root = get_cache_dir(cache_dir) / "detectors" / "zoo" / _safe(entry.backbone) / entry.sha256[:16]
    cached = _detector_dir_in(root / "detector") if (root / "detector").is_dir() else None
    if cached is not None:
        return cached
    hint = (f"download {entry.url} (SHA-256 {entry.sha256}) on a machine with internet access, and put it at "
            f"'{root / 'detector.zip'}'; or train one with astrofmx.train_detector(images, boxes, "
            f"backbone={entry.backbone!r})")
    try:
        folder = fetch(entry.url, known_hash=entry.sha256, path=root, fname="detector.zip", unzip=True,
                       progress_bar=progress_bar)
    except WeightsNotFoundError as exc:
        raise WeightsNotFoundError(f"the detector for backbone {entry.backbone!r} is not in the cache and "
                                   f"downloads are switched off (offline): {hint}") from exc
    except (WeightsChecksumError, ValueError):
        raise
    except OSError as exc:
        raise WeightsNotFoundError(f"could not download the detector for backbone {entry.backbone!r} "
                                   f"({exc}): {hint}") from exc
    found = _detector_dir_in(folder)
    if found is None:
        raise ValueError(f"the detector archive {entry.url} holds no saved detector (config.json + "
                         "model.safetensors)")
    return found


def find_detector(backbone, *, cache_dir=None, progress_bar=True):
    """The folder of the detector `detect_sources` uses for ``backbone``, or None if there is none.

    Looks for the newest locally trained detector, then a registered folder,
    then a model-zoo entry (downloaded and verified on first use), then a
    detector shipped inside the package (``astrofmx-radio``'s).

    Examples
    --------
    >>> from astrofmx.detection import find_detector
    >>> find_detector("timm:no-detector-for-this", cache_dir="/tmp/astrofmx-doctest-cache") is None
    True
    """
    local = _newest_local(backbone, cache_dir)
    if local is not None:
        return local
    entry = _REGISTRY.get(backbone)
    if entry is None:
        return _shipped(backbone)
    if entry.path is not None:
        return Path(entry.path)
    return _fetch_zoo(entry, cache_dir, progress_bar)


def _shipped_description(folder):
    try:
        return str(json.loads((Path(folder) / "metadata.json").read_text()).get("name", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def list_detectors(*, cache_dir=None):
    """The detectors `detect_sources` can use, by backbone.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``backbone``, ``source`` (``'embedded'`` for the default,
        ``'shipped'`` for one shipped beside a shipped backbone, ``'local'``,
        ``'path'`` or ``'zoo'``), ``location`` and ``available`` (False for
        a zoo entry not downloaded yet) and ``description``.

    Examples
    --------
    >>> from astrofmx.detection import list_detectors
    >>> table = list_detectors(cache_dir="/tmp/astrofmx-doctest-cache")
    >>> str(table["source"][0]), bool(table["available"][0])
    ('embedded', True)
    """
    from astropy.table import Table

    from ._default import DEFAULT_DETECTOR_PATH, get_default_detector_metadata

    meta = get_default_detector_metadata()
    rows = [(meta["config"]["backbone"] + " (default)", "embedded", str(DEFAULT_DETECTOR_PATH), True,
             meta.get("name", ""))]
    for name, folder in _shipped_detectors().items():
        rows.append((name, "shipped", str(folder), True, _shipped_description(folder)))
    local_root = get_cache_dir(cache_dir) / "detectors" / "local"
    if local_root.is_dir():
        for folder in sorted(local_root.iterdir()):
            runs = sorted(p for p in folder.iterdir() if _is_detector_dir(p))
            if runs:
                try:
                    backbone = json.loads((runs[-1] / "config.json").read_text())["config"]["backbone"]
                except (ValueError, KeyError, TypeError) as exc:  # a corrupted config.json: listed, not fatal
                    rows.append((folder.name, "local", str(runs[-1]), False,
                                 f"config.json is corrupted ({type(exc).__name__}); retrain or delete the folder"))
                    continue
                rows.append((backbone, "local", str(runs[-1]), True, f"{len(runs)} trained here"))
    for name, entry in sorted(_REGISTRY.items()):
        if entry.path is not None:
            rows.append((name, "path", entry.path, _is_detector_dir(entry.path), entry.description))
        else:
            cached = (get_cache_dir(cache_dir) / "detectors" / "zoo" / _safe(name) / entry.sha256[:16]
                      / "detector").is_dir()
            rows.append((name, "zoo", entry.url, cached, entry.description))
    return Table(rows=rows, names=("backbone", "source", "location", "available", "description"),
                 dtype=(str, str, str, bool, str))
