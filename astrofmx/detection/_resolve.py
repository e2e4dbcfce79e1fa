"""What a `detect_sources` call runs with: the detector, the checked options and the batch size."""

import math
import os

import numpy as np

from ._io import load_detector
from ._model import FasterRCNNDetector

__all__ = []


def _default_for_kind(kind, device):
    """The default detector for ``kind`` ('radio' or 'optical'): the hook where each kind gets its own model.

    Today one general model serves both (the embedded default, trained on radio and optical/IR fields); a
    model per kind would be chosen here.
    """
    from ._default import get_default_detector

    return get_default_detector(device=device)


def _resolve_detector(model, backbone, device, kind="radio"):
    if model is None:
        if backbone is None:  # the embedded default detector
            return _default_for_kind(kind, device)
        from ..backbones import list_backbones

        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registry name (str), got {backbone!r}")
        if backbone not in list_backbones() and not backbone.startswith("timm:"):
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {list_backbones()} or 'timm:<name>'")
        from ._zoo import find_detector

        folder = find_detector(backbone)
        if folder is not None:
            return load_detector(folder, device=device)
        raise ValueError(_no_detector_message(backbone))
    if isinstance(model, (str, os.PathLike)):
        model = load_detector(model, device=device)
    if not isinstance(model, FasterRCNNDetector):
        raise TypeError(f"model must be a FasterRCNNDetector or the path of a saved detector, got "
                        f"{type(model).__name__}")
    if backbone is not None and backbone != model.config.backbone:
        raise ValueError(f"backbone={backbone!r} does not match the detector's backbone "
                         f"{model.config.backbone!r}; pass only model=")
    return model


#: the training set the hint of `_no_detector_message` proposes: simulated fields of this side
_HINT_FIELDS, _HINT_SHAPE, _HINT_EPOCHS = 100, 512, 10


def _no_detector_message(backbone):
    """Why ``detect_sources(image, backbone=...)`` cannot run, with the command that trains the detector it
    needs (frozen backbone, heads from cached features) and how long that takes."""
    from ..utils import available_cores
    from ._config import DetectorConfig, TrainingOptions
    from ._tiles import _n_windows
    from ._estimate import _duration, _frozen_training_seconds

    cfg, opts = DetectorConfig(), TrainingOptions()
    per_field = _n_windows((_HINT_SHAPE, _HINT_SHAPE), cfg.tile_size, opts.tile_overlap(cfg.tile_size))
    n_tiles = _HINT_FIELDS * per_field
    args = dict(input_size=cfg.input_size, n_variants=8)
    gpu = _frozen_training_seconds(backbone, n_tiles, _HINT_EPOCHS, device="gpu", **args)
    cores = available_cores()
    cpu = _frozen_training_seconds(backbone, n_tiles, _HINT_EPOCHS, device="cpu", cores=cores, **args)
    name = backbone.replace(":", "_").replace("/", "_")
    return (f"no trained detector is available for backbone {backbone!r}. Train one on simulated fields (frozen "
            f"backbone: its features are computed once, then only the heads train); it is registered and used "
            f"here afterwards:\n    astrofmx train-detector --simulate {_HINT_FIELDS} --sim-shape {_HINT_SHAPE} "
            f"{_HINT_SHAPE} --backbone {backbone} --mode frozen -o {name}_detector\n"
            f"({n_tiles} tiles x {_HINT_EPOCHS} epochs: roughly {_duration(gpu)} on one GPU, {_duration(cpu)} "
            f"on this machine's {cores} CPU cores). In Python: astrofmx.train_detector(images, boxes, "
            f"backbone={backbone!r}, mode='frozen'). Or register a published detector with "
            f"astrofmx.detection.register_detector({backbone!r}, url=..., sha256=...) or path=..., or pass "
            "model=<saved detector folder>")


def _resolve_batch_size(batch_size, det, model, dev, precision, size):
    """An int, or 'auto': 8 tiles on a CPU, as many ``size``-pixel model inputs as fit in the free memory
    of a GPU (probed with ``model``, the inference model `_run_tiles` will run)."""
    import torch

    from ..utils import resolve_batch_size

    def probe(n):
        with torch.inference_mode(), det.autocast(precision, dev):
            model(list(torch.zeros(n, 3, size, size, device=dev)))

    return resolve_batch_size(batch_size, dev, probe, cpu_default=8)


def _budget_tile(config, tile_size, upscale):
    """The tile side, in the configuration's image pixels, whose model input is that of ``tile_size`` at
    ``upscale``: what `_inference_model` scales the proposal budgets by."""
    return max(1, int(round(tile_size * upscale / config.upscale)))


def _default_overlap(config, tile_size, resample=1.0):
    """A quarter of ``tile_size``, or the configuration's ``inference_overlap`` (scaled by ``1 / resample``, as
    the default tile is) where that is smaller."""
    overlap = tile_size // 4
    if config.inference_overlap is not None:
        overlap = min(overlap, int(round(config.inference_overlap / resample)))
    return overlap


def _check_options(config, patch, tile_size, overlap, score_threshold, nms_threshold, min_snr, resample=1.0):
    """``(tile_size, overlap, min_snr)`` of a `detect_sources` call, defaults filled in from ``config``.

    With beam resampling by ``resample``, the default tile is the configured one divided by ``resample``,
    so that the model sees tiles of the configured size.
    """
    if tile_size is None:
        tile_size = config.inference_tile_size or config.tile_size
        if resample != 1.0:
            tile_size = max(1, int(round(tile_size / resample)))
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size <= 0:
        raise ValueError(f"tile_size must be a positive integer, got {tile_size!r}")
    tile_size = int(tile_size)
    upscale = config.upscale * resample
    if tile_size * upscale < patch:
        raise ValueError(f"tile_size={tile_size} (x upscale {upscale:g}) is smaller than one {patch}-pixel "
                         f"patch of backbone {config.backbone!r}; use tile_size >= {math.ceil(patch / upscale)}")
    if overlap is None:
        overlap = _default_overlap(config, tile_size, resample)
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < tile_size:
        raise ValueError(f"overlap must be an integer in [0, tile_size={tile_size}), got {overlap!r}")
    for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    min_snr = config.min_snr if min_snr is None else min_snr
    if min_snr is not None and (isinstance(min_snr, bool) or not isinstance(min_snr, (int, float))
                                or not np.isfinite(min_snr) or min_snr < 0):
        raise ValueError(f"min_snr must be a non-negative number of sigma or None, got {min_snr!r}")
    return tile_size, overlap, min_snr
