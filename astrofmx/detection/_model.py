"""Faster R-CNN on any astrofmx backbone.

ViT backbones (one stride-16 or stride-14 map) are read through the ViTDet
simple feature pyramid of Li et al. (2022, "Exploring Plain Vision Transformer
Backbones for Object Detection"): the last patch-token map is upsampled x4 and
x2 with transposed convolutions, kept as is, and max-pooled x0.5, each scale
followed by a 1x1 and a 3x3 convolution. ResNets (maps ``c2`` to ``c5`` at
strides 4 to 32) go through torchvision's hierarchical feature pyramid network.
Both give five levels (the fifth by max-pooling the fourth) for torchvision's
`~torchvision.models.detection.FasterRCNN`.
"""

import contextlib
import logging
import math
from collections import OrderedDict

import torch
from torch import nn

from ._config import DetectorConfig, _resolve_config
from ._fuse import _fast_pyramid

__all__ = ["SimpleFeaturePyramid", "FasterRCNNDetector", "build_detector"]

logger = logging.getLogger(__name__)

_LEVELS = ("0", "1", "2", "3")


class SimpleFeaturePyramid(nn.Module):
    """ViTDet simple feature pyramid built from one single-scale map.

    Parameters
    ----------
    in_channels : int
        Channels of the input map (the ViT embedding dimension).
    out_channels : int
        Channels of every output level.

    Notes
    -----
    For an input of stride ``p`` (the patch size) the outputs ``'0'``, ``'1'``,
    ``'2'``, ``'3'`` and ``'pool'`` have strides ``p/4``, ``p/2``, ``p``,
    ``2p`` and ``4p``: two transposed convolutions (x4), one (x2), identity
    and a 2x2 max-pool, each followed by a 1x1 and a 3x3 convolution with
    channel layer norms; ``'pool'`` max-pools the last level again (the
    extra level torchvision's FPN adds for the RPN).

    Examples
    --------
    >>> import torch
    >>> from astrofmx.detection import SimpleFeaturePyramid
    >>> fpn = SimpleFeaturePyramid(64, 32)
    >>> [tuple(v.shape[-2:]) for v in fpn(torch.zeros(1, 64, 4, 4)).values()]
    [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    """

    def __init__(self, in_channels, out_channels):
        super().__init__()
        from timm.layers import LayerNorm2d

        c = int(in_channels)
        if c < 4:
            raise ValueError(f"in_channels must be at least 4, got {in_channels!r}")
        self.in_channels = c
        self.out_channels = int(out_channels)
        x4 = nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, stride=2), LayerNorm2d(c // 2), nn.GELU(),
                           nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2))
        x2 = nn.ConvTranspose2d(c, c // 2, 2, stride=2)
        self.scales = nn.ModuleList([x4, x2, nn.Identity(), nn.MaxPool2d(2, stride=2, ceil_mode=True)])
        dims = (c // 4, c // 2, c, c)
        self.outputs = nn.ModuleList(
            nn.Sequential(nn.Conv2d(d, self.out_channels, 1, bias=False), LayerNorm2d(self.out_channels),
                          nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1, bias=False),
                          LayerNorm2d(self.out_channels))
            for d in dims)

    def forward(self, x):
        out = OrderedDict()
        for name, scale, head in zip(_LEVELS, self.scales, self.outputs):
            out[name] = head(scale(x))
        out["pool"] = nn.functional.max_pool2d(out["3"], 1, 2, 0)
        return out


class _PyramidBackbone(nn.Module):
    """An astrofmx `Backbone` plus a feature pyramid: torchvision's backbone contract."""

    def __init__(self, body, out_channels, *, frozen=False):
        super().__init__()
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        spec = body.spec
        self.body = body
        self.frozen = bool(frozen)
        names = sorted(spec.feature_strides, key=lambda k: spec.feature_strides[k])
        if len(names) == 1:
            self.kind = "vitdet"
            self.in_features = names
            self.fpn = SimpleFeaturePyramid(spec.feature_channels[names[0]], out_channels)
        elif len(names) >= 4:
            self.kind = "fpn"
            self.in_features = names[-4:]
            self.fpn = FeaturePyramidNetwork([spec.feature_channels[n] for n in self.in_features], out_channels,
                                             extra_blocks=LastLevelMaxPool())
        else:
            raise ValueError(f"backbone {spec.name!r} gives {len(names)} feature maps {names}; a detector needs "
                             "one (ViT, simple pyramid) or at least four (CNN, FPN)")
        self.out_channels = int(out_channels)
        #: dtype of the autocast region around the backbone and pyramid (None: fp32); set by
        #: `FasterRCNNDetector.autocast`. The RPN and RoI heads always run in fp32, so that box
        #: coordinates keep sub-pixel precision (bf16 has 8 significant bits).
        self.autocast_dtype = None
        #: inference copies (`_fast_pyramid`): channels-last input, and the autocast dtype of the original
        self.channels_last = False
        self.dtype_source = None

    def forward(self, x):
        source = self.dtype_source() if self.dtype_source is not None else None
        dtype = (source or self).autocast_dtype
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=x.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                feats = self.body.forward_feature_maps(x)
            if self.kind == "vitdet":
                out = self.fpn(feats[self.in_features[0]])
            else:
                out = self.fpn(OrderedDict((lvl, feats[n]) for lvl, n in zip(_LEVELS, self.in_features)))
        return OrderedDict((k, v.float()) for k, v in out.items())


def _fixed_size_transform(config, spec, size_divisible):
    """torchvision's detection transform, normalizing with the backbone's mean/std but never resizing.

    astrofmx resamples tiles itself (``config.upscale``), so boxes map back to
    image pixels exactly.
    """
    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    class _FixedSizeTransform(GeneralizedRCNNTransform):
        def resize(self, image, target=None):
            return image, target

    return _FixedSizeTransform(config.input_size, config.input_size, list(spec.mean), list(spec.std),
                               size_divisible=size_divisible)


def _faster_rcnn(config, adapter, *, parts=None, factor=1.0, rpn_score_thresh=0.0, roi_sampling=None):
    """torchvision's `~torchvision.models.detection.FasterRCNN` with the budgets of ``config``.

    ``parts`` (a built FasterRCNN) lends its anchor generator, heads and RoI pooling, so the new model
    shares every weight; ``factor`` scales the proposal and detection budgets (see `_inference_model`);
    ``roi_sampling`` replaces the RoIAlign sampling ratio (a pooling without weights).
    """
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    c = config.pyramid_channels
    if parts is None:
        layers = dict(
            rpn_anchor_generator=AnchorGenerator(sizes=tuple((s,) for s in config.anchor_sizes),
                                                 aspect_ratios=(tuple(config.aspect_ratios),) * 5),
            box_roi_pool=MultiScaleRoIAlign(featmap_names=list(_LEVELS), output_size=7, sampling_ratio=2),
            box_head=TwoMLPHead(c * 7 * 7, config.representation_size),
            box_predictor=FastRCNNPredictor(config.representation_size, config.num_classes + 1))
    else:
        layers = dict(rpn_anchor_generator=parts.rpn.anchor_generator, rpn_head=parts.rpn.head,
                      box_roi_pool=parts.roi_heads.box_roi_pool, box_head=parts.roi_heads.box_head,
                      box_predictor=parts.roi_heads.box_predictor)

    if roi_sampling is not None:
        layers["box_roi_pool"] = MultiScaleRoIAlign(featmap_names=list(_LEVELS), output_size=7,
                                                    sampling_ratio=int(roi_sampling))

    def budget(n):
        return int(math.ceil(n * factor)) if factor > 1 else int(n)

    return FasterRCNN(
        adapter, num_classes=None, **layers,
        rpn_pre_nms_top_n_train=budget(2 * config.rpn_pre_nms_top_n),
        rpn_pre_nms_top_n_test=budget(config.rpn_pre_nms_top_n),
        rpn_post_nms_top_n_train=budget(2 * config.rpn_post_nms_top_n),
        rpn_post_nms_top_n_test=budget(config.rpn_post_nms_top_n),
        rpn_score_thresh=float(rpn_score_thresh),
        rpn_batch_size_per_image=config.rpn_batch_size_per_image,
        box_batch_size_per_image=config.box_batch_size_per_image,
        box_detections_per_img=budget(config.box_detections_per_img),
        box_score_thresh=config.box_score_thresh, box_nms_thresh=config.box_nms_thresh,
    )


def _inference_model(detector, tile_size):
    """The detector's FasterRCNN rebuilt for inference on ``tile_size``-pixel tiles, sharing its weights.

    The configured RPN proposal and detection budgets are per training tile; a larger tile holds
    proportionally more sources and must not be starved of proposals, so the budgets scale with the tile
    area (``ceil(n * (tile_size / config.tile_size) ** 2)``, never below the configured ones). RPN proposals
    below the configuration's ``rpn_score_thresh`` objectness are dropped (training always uses 0), and the
    RoIAlign pooling samples ``inference_roi_sampling`` points per bin where the configuration sets it.
    A CNN backbone runs as a batch-norm-folded, channels-last copy (`_fast_pyramid`: same outputs, faster
    on CPU). The model is in eval mode.
    """
    config = detector.config
    factor = max(1.0, (tile_size / config.tile_size) ** 2)
    model = _faster_rcnn(config, _fast_pyramid(detector.model.backbone), parts=detector.model, factor=factor,
                         rpn_score_thresh=getattr(config, "rpn_score_thresh", 0.0),
                         roi_sampling=config.inference_roi_sampling)
    model.transform = detector.model.transform
    return model.train(False)


class FasterRCNNDetector(nn.Module):
    """A torchvision Faster R-CNN source detector on an astrofmx backbone.

    Build one with `build_detector`, train it with `train_detector`, run it
    over whole images with `detect_sources`, and save or reload it with
    `save_detector` / `load_detector`.

    Parameters
    ----------
    config : `DetectorConfig`
        All the settings (saved with the weights).
    backbone : `~astrofmx.backbones.Backbone`, optional
        An already built backbone to use instead of building
        ``config.backbone`` from the registry.

    Attributes
    ----------
    model : `~torchvision.models.detection.FasterRCNN`
        The wrapped detector; ``model.backbone.body`` is the astrofmx backbone.
    history : list of dict
        Per-epoch training record filled by `train_detector`.
    source : str or None
        Where the detector was loaded from (recorded in catalog metadata).

    Examples
    --------
    >>> from astrofmx.detection import DetectorConfig, FasterRCNNDetector
    >>> cfg = DetectorConfig(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=32,
    ...                      representation_size=64)
    >>> det = FasterRCNNDetector(cfg)
    >>> det.config.backbone, det.training
    ('resnet18', False)
    """

    def __init__(self, config, *, backbone=None):
        super().__init__()
        if not isinstance(config, DetectorConfig):
            raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
        if backbone is None:
            from ..backbones import get_backbone

            weights = None if config.mode == "scratch" else config.weights
            backbone = get_backbone(config.backbone, weights=weights, **config.backbone_kwargs)
        if not hasattr(backbone, "forward_feature_maps") or not hasattr(backbone, "spec"):
            raise TypeError(f"backbone must be an astrofmx Backbone (with .spec and .forward_feature_maps), "
                            f"got {type(backbone).__name__}")
        spec = backbone.spec
        if config.input_size < spec.patch_size:
            raise ValueError(f"the model input ({config.tile_size} px tiles x upscale {config.upscale:g} = "
                             f"{config.input_size} px) is smaller than one {spec.patch_size}-px patch of "
                             f"backbone {spec.name!r}; use larger tiles or a larger upscale")
        self.config = config
        self.history = []
        self.source = None
        adapter = _PyramidBackbone(backbone, config.pyramid_channels, frozen=config.mode == "frozen")
        self.model = _faster_rcnn(config, adapter)
        divisible = 32 if adapter.kind == "fpn" else int(spec.patch_size)
        self.model.transform = _fixed_size_transform(config, spec, divisible)
        if config.mode == "frozen":
            backbone.requires_grad_(False)
        else:
            backbone.requires_grad_(True)
        self.train(False)

    # -- properties -----------------------------------------------------------------------------------
    @property
    def backbone(self):
        """The astrofmx backbone inside the detector."""
        return self.model.backbone.body

    @property
    def spec(self):
        """The `~astrofmx.backbones.BackboneSpec` of the backbone."""
        return self.backbone.spec

    @property
    def device(self):
        """Device of the detector's parameters."""
        return next(self.parameters()).device

    def train(self, mode=True):
        """Set training mode; a frozen backbone (and pretrained batch-norm statistics) stay in eval mode."""
        super().train(mode)
        if mode and self.config.mode == "frozen":
            self.backbone.eval()
        elif mode and self.config.mode == "finetune" and self.config.weights is not None:
            # pretrained batch-norm statistics are kept (as torchvision's FrozenBatchNorm2d); a randomly
            # initialised backbone has no statistics worth keeping, so it trains them as in 'scratch'
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    @contextlib.contextmanager
    def autocast(self, precision="auto", device=None):
        """Run the backbone and pyramid under bf16/fp16 autocast inside this context.

        The RPN and RoI heads stay in fp32 so that boxes keep sub-pixel
        precision. ``precision`` is resolved with `~astrofmx.utils.resolve_precision`
        ('auto': bf16 on CPUs and GPUs that support it).
        """
        from ..utils import resolve_precision

        device = self.device if device is None else torch.device(device)
        precision = resolve_precision(precision, device)
        adapter = self.model.backbone
        before = adapter.autocast_dtype
        adapter.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        try:
            yield precision
        finally:
            adapter.autocast_dtype = before

    def forward(self, images, targets=None):
        """torchvision's interface: losses in training mode, detections in eval mode.

        ``images`` is a list of ``(3, H, W)`` tensors scaled to [0, 1]; ``targets``
        a list of dicts with ``boxes`` (``(N, 4)`` xyxy, model-input pixels) and
        ``labels`` (1-based).
        """
        return self.model(images, targets)

    @torch.inference_mode()
    def predict(self, images):
        """Detections for a batch of ``(3, H, W)`` tensors in [0, 1] (eval mode, no gradients).

        Returns
        -------
        detections : list of dict
            ``boxes`` (xyxy, model-input pixels), ``scores`` and ``labels`` (1-based) per image.
        """
        was_training = self.training
        self.train(False)
        try:
            out = self.model(list(images))
        finally:
            self.train(was_training)
        return [{k: v.float() if v.is_floating_point() else v for k, v in d.items()} for d in out]

    def count_parameters(self):
        """Total and trainable parameter counts, overall and of the backbone.

        Returns
        -------
        counts : dict
            ``{'total', 'trainable', 'backbone', 'backbone_trainable'}``.

        Examples
        --------
        >>> from astrofmx.detection import DetectorConfig, build_detector
        >>> cfg = DetectorConfig(backbone="resnet18", weights=None, mode="frozen", tile_size=64,
        ...                      pyramid_channels=32, representation_size=64)
        >>> counts = build_detector(cfg).count_parameters()
        >>> counts["trainable"] == counts["total"] - counts["backbone"]
        True
        """
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        body = sum(p.numel() for p in self.backbone.parameters())
        body_trainable = sum(p.numel() for p in self.backbone.parameters() if p.requires_grad)
        return {"total": total, "trainable": trainable, "backbone": body, "backbone_trainable": body_trainable}

    def extra_repr(self):
        return (f"backbone={self.config.backbone!r}, mode={self.config.mode!r}, tile_size={self.config.tile_size}, "
                f"upscale={self.config.upscale:g}")


def build_detector(config=None, *, backbone=None, **kwargs):
    """Build a `FasterRCNNDetector` from a `DetectorConfig` or keyword settings.

    Parameters
    ----------
    config : `DetectorConfig`, optional
        The settings; keyword arguments override its fields.
    backbone : str or `~astrofmx.backbones.Backbone`, optional
        A registry name (the `DetectorConfig` field), or a prebuilt backbone
        (otherwise ``config.backbone`` is built from the registry, with
        ``config.weights`` unless ``mode='scratch'``).
    **kwargs
        `DetectorConfig` fields.

    Returns
    -------
    detector : `FasterRCNNDetector`
        In eval mode, on the CPU.

    Examples
    --------
    >>> from astrofmx.detection import build_detector
    >>> det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64,
    ...                      pyramid_channels=32, representation_size=64)
    >>> det.config.mode, det.count_parameters()["backbone_trainable"] > 0
    ('scratch', True)
    """
    if isinstance(backbone, str):
        kwargs["backbone"], backbone = backbone, None
    return FasterRCNNDetector(_resolve_config(config, kwargs), backbone=backbone)
