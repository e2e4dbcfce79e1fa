"""Saving and loading detectors: a JSON `DetectorConfig` plus safetensors weights, never a pickle."""

import json
import logging
import os
from pathlib import Path

from ..utils import UnsafeCheckpointError, WeightsNotFoundError, atomic_write, check_overwrite
from ._config import DetectorConfig
from ._model import FasterRCNNDetector

__all__ = ["save_detector", "load_detector"]

logger = logging.getLogger(__name__)

_CONFIG_NAME = "config.json"
_WEIGHTS_NAME = "model.safetensors"
_META_KEY = "astrofmx_detector_config"
_FORMAT = "astrofmx-detector/1"


def _state_dict(detector):
    return {k: v.detach().to("cpu").contiguous() for k, v in detector.model.state_dict().items()}


def save_detector(detector, path, *, overwrite=False):
    """Save a detector as its configuration (JSON) and weights (safetensors).

    Parameters
    ----------
    detector : `FasterRCNNDetector`
        The detector to save.
    path : str or `~pathlib.Path`
        A directory (created; holds ``config.json`` and ``model.safetensors``),
        or a single ``.safetensors`` file holding the configuration in its
        metadata.
    overwrite : bool, optional
        Replace an existing file or directory contents.

    Returns
    -------
    path : `~pathlib.Path`
        Where the detector was written.

    Examples
    --------
    >>> import tempfile
    >>> from astrofmx.detection import build_detector, save_detector, load_detector
    >>> det = build_detector(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=32,
    ...                      representation_size=64)
    >>> path = save_detector(det, tempfile.mkdtemp() + "/det.safetensors")
    >>> load_detector(path).config == det.config
    True
    """
    from safetensors.torch import save_file

    if not isinstance(detector, FasterRCNNDetector):
        raise TypeError(f"detector must be a FasterRCNNDetector, got {type(detector).__name__}")
    path = Path(path)
    state = _state_dict(detector)
    meta = {_META_KEY: detector.config.to_json(), "format": _FORMAT,
            "history": json.dumps(_jsonable(detector.history))}
    if path.suffix == ".safetensors":
        with atomic_write(path, overwrite=overwrite) as tmp:
            save_file(state, str(tmp), metadata=meta)
        return path
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{str(path)!r} exists and is not a directory; give a directory or a .safetensors file")
    path.mkdir(parents=True, exist_ok=True)
    for name in (_CONFIG_NAME, _WEIGHTS_NAME):
        check_overwrite(path / name, overwrite)
    with atomic_write(path / _WEIGHTS_NAME, overwrite=overwrite) as tmp:
        save_file(state, str(tmp), metadata={"format": _FORMAT})
    with atomic_write(path / _CONFIG_NAME, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps({"format": _FORMAT, "config": detector.config.to_dict(),
                                   "history": _jsonable(detector.history)}, indent=2))
    return path


def _jsonable(history):
    out = []
    for row in history or []:
        out.append({k: (float(v) if hasattr(v, "__float__") and not isinstance(v, (int, str)) else v)
                    for k, v in row.items()})
    return out


def _read_config_json(cfg_file):
    """The parsed ``config.json`` of a detector folder; ValueError naming the file and the broken spot."""
    try:
        return json.loads(cfg_file.read_text())
    except UnicodeDecodeError as exc:
        raise ValueError(f"{str(cfg_file)!r} is not a text (JSON) file ({exc}); save the detector again with "
                         "save_detector, or restore config.json from the original folder") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(cfg_file)!r} is corrupted: not valid JSON ({exc.msg} at line {exc.lineno}, column "
                         f"{exc.colno}); save the detector again with save_detector, or restore config.json from "
                         "the original folder") from None


def _config_from(data, cfg_file):
    """The `DetectorConfig` of a parsed ``config.json``; ValueError naming the file if it is not one."""
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("config"), dict):
        raise ValueError(f"{str(cfg_file)!r} is not an astrofmx detector configuration (a JSON object with "
                         f"\"format\": \"{_FORMAT}\" and a \"config\" object); save the detector again with "
                         "save_detector")
    try:
        return DetectorConfig.from_dict(data["config"])
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"the configuration in {str(cfg_file)!r} does not describe a valid detector: {exc}") from None


def load_detector(path, *, device=None):
    """Load a detector saved by `save_detector`; no code-side arguments are needed.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        A directory holding ``config.json`` and ``model.safetensors``, or a
        single ``.safetensors`` file.
    device : str or `torch.device`, optional
        Where to put the detector (default: CPU, or CUDA when available).

    Returns
    -------
    detector : `FasterRCNNDetector`
        In eval mode, with ``detector.source`` set to ``path``.

    Raises
    ------
    WeightsNotFoundError
        If the path does not exist or lacks one of the two files.
    UnsafeCheckpointError
        If the file is a pickle (``.pt``/``.pth``) rather than safetensors.
    ValueError
        If the file is not an astrofmx detector.

    Examples
    --------
    >>> import tempfile
    >>> from astrofmx.detection import build_detector, load_detector, save_detector
    >>> det = build_detector(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=32,
    ...                      representation_size=64)
    >>> folder = save_detector(det, tempfile.mkdtemp() + "/detector")
    >>> sorted(p.name for p in folder.iterdir())
    ['config.json', 'model.safetensors']
    >>> again = load_detector(folder, device="cpu")
    >>> again.config == det.config, again.source == str(folder)
    (True, True)
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    from ..backbones import get_backbone
    from ..utils import resolve_device

    path = Path(os.fspath(path)).expanduser()
    if not path.exists():
        raise WeightsNotFoundError(f"no detector at {str(path)!r}: give a directory written by save_detector "
                                   "(config.json + model.safetensors) or a .safetensors file")
    if path.is_dir():
        cfg_file, weights_file = path / _CONFIG_NAME, path / _WEIGHTS_NAME
        missing = [str(f) for f in (cfg_file, weights_file) if not f.is_file()]
        if missing:
            raise WeightsNotFoundError(f"detector directory {str(path)!r} lacks {missing}")
        data = _read_config_json(cfg_file)
        config = _config_from(data, cfg_file)
        history = data.get("history", [])
    else:
        weights_file = path
        if path.suffix in (".pt", ".pth", ".ckpt", ".pkl", ".bin"):
            raise UnsafeCheckpointError(f"{str(path)!r} looks like a pickle; astrofmx only loads detectors saved "
                                        "as safetensors by save_detector")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
        except Exception as exc:
            raise ValueError(f"{str(path)!r} is not a safetensors file, or is truncated or half-written ({exc}, "
                             f"{path.stat().st_size:,} bytes); save, copy or download the detector again") from None
        if _META_KEY not in meta:
            raise ValueError(f"{str(path)!r} holds no astrofmx detector configuration (metadata key {_META_KEY!r}); "
                             "was it written by save_detector?")
        try:
            config = DetectorConfig.from_json(meta[_META_KEY])
            history = json.loads(meta.get("history", "[]"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"the detector configuration stored in {str(path)!r} is corrupted ({exc}); save the "
                             "detector again with save_detector") from None
    backbone = get_backbone(config.backbone, weights=None, **config.backbone_kwargs)
    detector = FasterRCNNDetector(config, backbone=backbone)
    try:
        state = load_file(str(weights_file))
    except Exception as exc:  # safetensors' SafetensorError: truncated, half-written or not safetensors
        raise OSError(f"cannot read the detector weights {str(weights_file)!r}: the safetensors file is truncated "
                      f"or corrupted ({exc}, {weights_file.stat().st_size:,} bytes on disk); save, copy or download "
                      "the detector again") from None
    try:
        missing, unexpected = detector.model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        first = str(exc).splitlines()[1:2]
        raise ValueError(f"the weights in {str(weights_file)!r} do not fit the configured detector: "
                         f"{first[0].strip() if first else exc}") from None
    if missing or unexpected:
        raise ValueError(f"the weights in {str(weights_file)!r} do not fit the configured detector: missing "
                         f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    detector.history = list(history)
    detector.source = str(path)
    detector.to(resolve_device(device))
    detector.train(False)
    logger.info("loaded detector %s from %s", config.backbone, path)
    return detector
