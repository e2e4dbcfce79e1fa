"""All the settings of a source detector, in one frozen dataclass saved with its weights."""

import dataclasses
import json

import numpy as np

__all__ = ["DetectorConfig", "TrainingOptions", "DETECTOR_MODES"]

#: Training modes: ``"frozen"`` trains only the pyramid, RPN and RoI heads;
#: ``"finetune"`` also trains the (pretrained) backbone; ``"scratch"`` trains
#: everything from a random initialisation.
DETECTOR_MODES = ("frozen", "finetune", "scratch")


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_fraction(name, value, *, low=0.0, high=1.0):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (low <= value <= high):
        raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}")


def _check_calibration(config):
    """``score_calibration`` as a tuple of (raw, calibrated) pairs, raw increasing, both in [0, 1], monotone."""
    value = config.score_calibration
    if value is None:
        return
    try:
        pts = np.asarray(value, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ValueError(f"score_calibration must be a sequence of (raw, calibrated) pairs, got {value!r}") from None
    if (len(pts) < 2 or not np.all(np.isfinite(pts)) or pts.min() < 0 or pts.max() > 1
            or np.any(np.diff(pts[:, 0]) <= 0) or np.any(np.diff(pts[:, 1]) < 0)):
        raise ValueError("score_calibration must be at least two (raw, calibrated) pairs in [0, 1] with raw "
                         f"increasing and calibrated non-decreasing, got {value!r}")
    object.__setattr__(config, "score_calibration", tuple((float(a), float(b)) for a, b in pts))


def _check_beam_range(config):
    value = config.beam_range
    if value is None:
        return
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"beam_range must be a (min, max) FWHM in pixels or None, got {value!r}") from None
    if not (0 < low < high < float("inf")):
        raise ValueError(f"beam_range must be a (min, max) FWHM in pixels with 0 < min < max, got {value!r}")
    object.__setattr__(config, "beam_range", (low, high))


@dataclasses.dataclass(frozen=True)
class DetectorConfig:
    """Everything needed to rebuild a Faster R-CNN source detector.

    A `DetectorConfig` is stored as JSON next to the weights by
    `~astrofmx.detection.save_detector`, so a saved detector reloads by path
    with no code-side arguments. Derive variants with `dataclasses.replace`.

    Parameters
    ----------
    backbone : str
        Registry name of the backbone (see `astrofmx.backbones.list_backbones`),
        e.g. ``"resnet18"`` or ``"msn"``. ViT backbones are read through a
        ViTDet simple feature pyramid, ResNets through a feature pyramid network.
    backbone_kwargs : dict
        Architecture overrides passed to `~astrofmx.backbones.get_backbone`
        (e.g. ``{"depth": 2, "embed_dim": 64}`` for a tiny test ViT).
    weights : str or None
        Backbone weights used when the detector is first built: ``"pretrained"``,
        a local file, or `None` for a random initialisation. Ignored when a
        saved detector is reloaded (its file holds every weight).
    mode : {'frozen', 'finetune', 'scratch'}
        What trains: see `DETECTOR_MODES`. ``"scratch"`` always starts from a
        random backbone.
    class_names : tuple of str
        Names of the foreground classes (the label column of the catalogs).
    tile_size : int
        Side in image pixels of the square tiles the detector sees.
    upscale : float
        Resampling factor applied to each tile before the model (the paper
        found a source must cover most of a ViT patch; doubling MGCLS crops
        raised mAP by more than 10%). The model input side is
        ``round(tile_size * upscale)``.
    normalizer : str
        Name of the `astrofmx.preprocess.get_preset` normalization applied to
        the whole image before tiling (``"radio"``, ``"radio-snr"``,
        ``"optical"``).
    pyramid_channels : int
        Channels of every feature-pyramid level.
    representation_size : int
        Width of the two-layer MLP box head.
    anchor_sizes : tuple of int
        One anchor size (in model-input pixels) per pyramid level (5 levels,
        strides 4 to 64); small by default, suited to compact sources.
    aspect_ratios : tuple of float
        Anchor aspect ratios used at every level.
    rpn_pre_nms_top_n, rpn_post_nms_top_n : int
        Proposals kept before and after the RPN's NMS (per level / per image),
        at test time; training uses twice as many.
    rpn_batch_size_per_image, box_batch_size_per_image : int
        Anchors and RoIs sampled per image for the losses.
    box_detections_per_img : int
        Maximum detections per tile (radio fields are crowded).
    box_score_thresh, box_nms_thresh : float
        Score threshold and NMS IoU used inside each tile.
    rpn_score_thresh : float
        At inference (`~astrofmx.detection.detect_sources`), RPN proposals
        whose objectness probability is below this are dropped before the box
        head. Empty sky then costs almost nothing; 0 keeps every proposal.
        Training always uses 0.
    min_snr : float or None
        Default of ``detect_sources(min_snr=)``: detections whose peak
        signal-to-noise ratio (brightest pixel in the box over the local
        noise) is below it are dropped. None keeps every detection.
    inference_tile_size : int or None
        Default tile side of `~astrofmx.detection.detect_sources` (None: the
        training ``tile_size``). Larger tiles waste less time on overlaps; the
        detector is convolutional, and the proposal budgets scale with the
        tile area.
    inference_overlap : int or None
        Default overlap of neighbouring inference tiles, in image pixels of
        the ``inference_tile_size`` tiles (None: a quarter of the tile). A
        smaller tile or a beam resampling scales it down with the tile, and
        it never exceeds a quarter of the tile.
    inference_roi_sampling : int or None
        Sampling points per bin and axis of the RoIAlign pooling in
        `~astrofmx.detection.detect_sources` (None: the training value, 2).
        Source boxes span a few feature-map pixels, so one point per bin
        pools nearly the same features at a quarter of the cost.
    beam_range : tuple of float or None
        ``(min, max)`` FWHM in image pixels of the beams/PSFs the detector
        was trained on (the geometric mean of the major and minor axes).
        `~astrofmx.detection.detect_sources` resamples an image whose beam
        lies outside it so that the beam lands on the nearest edge of the range.
        The default ``(2.5, 6.0)`` is the range of the embedded default
        detector (``scripts/train_default_detector.py``); None never
        resamples.
    score_calibration : sequence of (float, float) or None
        Breakpoints ``(raw score, calibrated score)`` of a monotone map
        (``scripts/calibrate_detector.py`` fits it by isotonic regression on
        validation fields): `~astrofmx.detection.detect_sources` reports
        ``score = interp(raw, ...)``, so that among detections with score
        close to s a fraction close to s are real. None reports raw scores.
    score_threshold : float or None
        Default of ``detect_sources(score_threshold=)`` (on the calibrated
        score); None: 0.5.
    augmentations : tuple of str
        Training augmentations, any of ``"flip"``, ``"rot90"``, ``"blur"``,
        ``"contrast"`` and ``"jitter"`` (colour jitter); the paper's defaults
        are blur, contrast and jitter.

    Examples
    --------
    >>> from astrofmx.detection import DetectorConfig
    >>> cfg = DetectorConfig(backbone="resnet18", tile_size=128, upscale=2)
    >>> cfg.input_size
    256
    >>> DetectorConfig.from_json(cfg.to_json()) == cfg
    True
    """

    backbone: str = "resnet18"
    backbone_kwargs: dict = dataclasses.field(default_factory=dict)
    weights: object = "pretrained"
    mode: str = "finetune"
    class_names: tuple = ("source",)
    tile_size: int = 256
    upscale: float = 1.0
    normalizer: str = "radio"
    pyramid_channels: int = 256
    representation_size: int = 1024
    anchor_sizes: tuple = (6, 12, 24, 48, 96)
    aspect_ratios: tuple = (0.5, 1.0, 2.0)
    rpn_pre_nms_top_n: int = 600
    rpn_post_nms_top_n: int = 300
    rpn_batch_size_per_image: int = 256
    box_batch_size_per_image: int = 512
    box_detections_per_img: int = 300
    box_score_thresh: float = 0.05
    box_nms_thresh: float = 0.5
    rpn_score_thresh: float = 0.0
    min_snr: float = None
    inference_tile_size: int = None
    inference_overlap: int = None
    inference_roi_sampling: int = None
    beam_range: tuple = (2.5, 6.0)
    score_calibration: tuple = None
    score_threshold: float = None
    augmentations: tuple = ("flip", "rot90", "blur", "contrast", "jitter")

    def __post_init__(self):
        if not isinstance(self.backbone, str) or not self.backbone:
            raise TypeError(f"backbone must be a registry name (str), got {self.backbone!r}")
        if not isinstance(self.backbone_kwargs, dict):
            raise TypeError(f"backbone_kwargs must be a dict, got {self.backbone_kwargs!r}")
        if self.weights is not None and not isinstance(self.weights, str):
            # Path objects are stored as strings so that the config stays JSON
            object.__setattr__(self, "weights", str(self.weights))
        if self.mode not in DETECTOR_MODES:
            raise ValueError(f"mode must be one of {DETECTOR_MODES}, got {self.mode!r}")
        names = (self.class_names,) if isinstance(self.class_names, str) else tuple(self.class_names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"class_names must be a non-empty sequence of strings, got {self.class_names!r}")
        object.__setattr__(self, "class_names", names)
        for name in ("tile_size", "pyramid_channels", "representation_size", "rpn_pre_nms_top_n",
                     "rpn_post_nms_top_n", "rpn_batch_size_per_image", "box_batch_size_per_image",
                     "box_detections_per_img"):
            _check_positive_int(name, getattr(self, name))
        if (not isinstance(self.upscale, (int, float)) or isinstance(self.upscale, bool)
                or not 0.25 <= self.upscale <= 16):
            raise ValueError(f"upscale must be a number between 0.25 and 16, got {self.upscale!r}")
        object.__setattr__(self, "upscale", float(self.upscale))
        sizes = tuple(self.anchor_sizes)
        if len(sizes) != 5 or not all(isinstance(s, (int, float)) and s > 0 for s in sizes):
            raise ValueError(f"anchor_sizes must be 5 positive sizes (one per pyramid level), "
                             f"got {self.anchor_sizes!r}")
        object.__setattr__(self, "anchor_sizes", tuple(int(s) if float(s).is_integer() else float(s) for s in sizes))
        ratios = tuple(float(r) for r in self.aspect_ratios)
        if not ratios or any(r <= 0 for r in ratios):
            raise ValueError(f"aspect_ratios must be positive numbers, got {self.aspect_ratios!r}")
        object.__setattr__(self, "aspect_ratios", ratios)
        _check_fraction("box_score_thresh", self.box_score_thresh)
        _check_fraction("box_nms_thresh", self.box_nms_thresh)
        _check_fraction("rpn_score_thresh", self.rpn_score_thresh)
        if self.min_snr is not None and (isinstance(self.min_snr, bool) or not isinstance(self.min_snr, (int, float))
                                         or not self.min_snr >= 0):
            raise ValueError(f"min_snr must be a non-negative number of sigma or None, got {self.min_snr!r}")
        for name in ("inference_tile_size", "inference_overlap", "inference_roi_sampling"):
            if getattr(self, name) is not None:
                _check_positive_int(name, getattr(self, name))
        _check_beam_range(self)
        _check_calibration(self)
        if self.score_threshold is not None:
            _check_fraction("score_threshold", self.score_threshold)
        known = {"flip", "rot90", "blur", "contrast", "jitter"}
        augs = (self.augmentations,) if isinstance(self.augmentations, str) else tuple(self.augmentations)
        bad = [a for a in augs if a not in known]
        if bad:
            raise ValueError(f"augmentations must be drawn from {sorted(known)}, got {bad!r}")
        object.__setattr__(self, "augmentations", augs)
        if not isinstance(self.normalizer, str):
            raise TypeError(f"normalizer must be a preset name (str), got {self.normalizer!r}")

    @property
    def input_size(self):
        """Side in pixels of the model input, ``round(tile_size * upscale)``."""
        return int(round(self.tile_size * self.upscale))

    @property
    def num_classes(self):
        """Number of foreground classes."""
        return len(self.class_names)

    def to_dict(self):
        """The configuration as a JSON-serialisable dict."""
        out = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    def to_json(self):
        """The configuration as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data):
        """Rebuild a configuration from `to_dict` output (unknown keys are an error)."""
        if not isinstance(data, dict):
            raise TypeError(f"a DetectorConfig must be built from a dict, got {type(data).__name__}")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown DetectorConfig fields {unknown}; this file may come from a newer astrofmx")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text):
        """Rebuild a configuration from `to_json` output."""
        return cls.from_dict(json.loads(text))


def _resolve_config(config, overrides):
    """``config`` (a `DetectorConfig` or None) with the `DetectorConfig` fields in ``overrides`` applied."""
    if config is None:
        return DetectorConfig(**overrides)
    if not isinstance(config, DetectorConfig):
        raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides) if overrides else config


def _check_optional_positive_int(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How `~astrofmx.detection.train_detector` trains: schedule, data split, checkpoints and hardware.

    `train_detector` takes these as keyword arguments too (they fill a
    `TrainingOptions`); the detector's own settings are a `DetectorConfig`.

    Parameters
    ----------
    epochs : int
        Number of passes over the training tiles.
    steps_per_epoch : int or None
        Optimizer steps per epoch (None: enough to see every tile once).
    batch_size : int
        Tiles per step.
    learning_rate, weight_decay : float
        AdamW settings.
    warmup_steps : int or None
        Steps of the linear learning-rate warm-up (None: a tenth of the first
        epoch).
    val_fraction : float
        Without validation images: the fraction of training tiles held out
        for validation.
    overlap : int or None
        Overlap of the training tiles in pixels (None: a quarter of the tile).
    min_visible_fraction : float
        A box cut by a tile edge is kept if at least this fraction of its area
        is in the tile.
    label_column : str or None
        Column of the box tables holding class names
        (``DetectorConfig.class_names``); None: every box is class 1.
    checkpoint_dir : str, `~pathlib.Path` or None
        Where to write ``last/`` (and ``best/``) detectors and the trainer
        state after each epoch.
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir``.
    patience : int or None
        Early stopping: epochs without a better validation mAP@50.
    seed : int
        Seed of the initialisation, shuffling, sampling and augmentation.
    precision : {'auto', 'fp32', 'bf16'}
        'auto' runs the backbone and pyramid under bf16 autocast on CPUs with
        native bf16 support (the detection heads and losses stay in fp32).
    device : None, str or `torch.device`
        None picks CUDA when available.
    progress_bar : bool
        Show progress bars.
    register : bool
        Save the trained detector into the cache as the newest local detector
        for its backbone (see `~astrofmx.detection.register_detector`).
    feature_cache : {'auto', 'memory', 'disk', None}
        With ``mode='frozen'``: compute the backbone's feature maps of each
        training (and validation) tile once, for each flip and rotation the
        ``augmentations`` can draw (at most 8), and train the pyramid and
        heads from them. 'memory' keeps them in RAM, 'disk' in a
        memory-mapped file in ``feature_cache_dir`` (removed at the end),
        'auto' (default) picks 'memory' up to 4 GiB. The photometric
        augmentations (blur, contrast, jitter) change pixels before the
        backbone and are not applied from a cache. None runs the backbone
        at every step (other modes always do).
    feature_cache_dir : str, `~pathlib.Path` or None
        Folder of a 'disk' feature cache (None: the system's temporary folder).

    Examples
    --------
    >>> from astrofmx.detection import TrainingOptions
    >>> opts = TrainingOptions(epochs=3, batch_size=2)
    >>> opts.epochs, opts.learning_rate
    (3, 0.0001)
    >>> TrainingOptions(epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a positive integer, got 0
    """

    epochs: int = 10
    steps_per_epoch: int = None
    batch_size: int = 4
    learning_rate: float = 1e-4
    weight_decay: float = 1e-4
    warmup_steps: int = None
    val_fraction: float = 0.0
    overlap: int = None
    min_visible_fraction: float = 0.5
    label_column: str = None
    checkpoint_dir: object = None
    resume: bool = False
    patience: int = None
    seed: int = 0
    precision: str = "auto"
    device: object = None
    progress_bar: bool = True
    register: bool = True
    feature_cache: object = "auto"
    feature_cache_dir: object = None

    def __post_init__(self):
        if self.feature_cache not in ("auto", "memory", "disk", None, False):
            raise ValueError(f"feature_cache must be 'auto', 'memory', 'disk' or None, got {self.feature_cache!r}")
        _check_positive_int("epochs", self.epochs)
        _check_positive_int("batch_size", self.batch_size)
        _check_optional_positive_int("steps_per_epoch", self.steps_per_epoch)
        _check_optional_positive_int("patience", self.patience)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if not (self.learning_rate > 0):
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir=")

    def tile_overlap(self, tile_size):
        """The tile overlap in pixels for ``tile_size``-pixel tiles (default a quarter of the tile)."""
        overlap = tile_size // 4 if self.overlap is None else self.overlap
        if not isinstance(overlap, int) or not 0 <= overlap < tile_size:
            raise ValueError(f"overlap must be an integer in [0, tile_size={tile_size}), got {overlap!r}")
        return overlap
