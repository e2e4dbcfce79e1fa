"""Networks and image tensors for the supervised baselines.

Builders of the torchvision networks trained from scratch (with as many input
channels as the images have), of a pretrained astrofmx backbone plus a linear
head for fine-tuning, and the conversion of image arrays to tensors: robust
per-image standardization at the native size for networks trained from
scratch, ImageNet-style three-channel inputs for pretrained backbones.
Private to the subpackage.
"""

import copy

import numpy as np
from sklearn.utils import check_array

__all__ = []

#: Architectures trained from scratch, with their reference input size. ResNets
#: train at the images' own size by default; a ViT needs a fixed size, a
#: multiple of its patch size.
SUPERVISED_ARCHS = {"resnet18": 224, "resnet50": 224, "vit_b_16": 224}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _as_nchw(images):
    """Images as a float32 (N, C, H, W) array, C in {1, 3}."""
    if hasattr(images, "unit"):
        images = images.value
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W), (N, C, H, W) or (N, H, W, C), got {arr.shape}")
    arr = check_array(arr, dtype=np.float32, allow_nd=True, input_name="images")
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.shape[1] not in (1, 3) and arr.shape[-1] in (1, 3):
        arr = np.moveaxis(arr, -1, 1)
    if arr.shape[1] not in (1, 3):
        raise ValueError(f"4-D images must be (N, C, H, W) or (N, H, W, C) with 1 or 3 channels, got {arr.shape}")
    return arr


def _resize(x, size):
    """Resize (N, C, H, W) to ``size`` (int or (h, w); None keeps it), bilinear and antialiased."""
    import torch.nn.functional as F

    if size is None:
        return x
    size = (int(size), int(size)) if isinstance(size, (int, np.integer)) else tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def _standardize_images(images, *, image_size=None):
    """Robust per-image standardization at the native size: the input of networks trained from scratch.

    Each image and channel is centred on its median and divided by its RMS
    about the median, so that the background sits at 0 and the result does
    not depend on the units, the scale (x 1e-30 or x 1e30) or the offset of
    the pixel values; a constant image becomes zeros. The values are first
    divided by their largest deviation from the median, so that squaring
    cannot overflow. Channels are kept as they are (1 for radio images) and
    the images are only resized when ``image_size`` asks for it.

    Returns a float32 `torch.Tensor` of shape (N, C, H, W) (or (N, C, S, S)).
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(_as_nchw(images)))
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    dev = flat - flat.median(dim=2, keepdim=True).values
    peak = dev.abs().amax(dim=2, keepdim=True)
    dev = dev / torch.where(peak > 0, peak, torch.ones_like(peak))
    rms = dev.square().mean(dim=2, keepdim=True).sqrt()
    dev = dev / torch.where(rms > 0, rms, torch.ones_like(rms))
    return _resize(dev.reshape(x.shape), image_size).contiguous()


def _images_to_tensor(images, *, image_size=None, mean=_IMAGENET_MEAN, std=_IMAGENET_STD):
    """Scale images to [0, 1] per image, make 3 channels, resize (bilinear, antialiased) and normalize.

    The input of pretrained backbones (fine-tuning), as `astrofmx.backbones.embed` prepares it.

    ``images`` is (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3};
    returns a float32 `torch.Tensor` of shape (N, 3, S, S).
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(_as_nchw(images)))
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    x = (x - lo) / torch.clamp(hi - lo, min=1e-12)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = _resize(x, image_size)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def _recalibrate_batchnorm(model, x, forward, batch_size):
    """Recompute the running statistics of every batch norm layer from ``x`` ("precise BN").

    After training, each batch norm layer's running mean and variance are an
    exponential average (momentum 0.1) over the last steps, with weights that
    kept changing; with few steps per epoch they still remember their
    initialization. One forward pass in training mode, without gradients and
    with a cumulative average (``momentum=None``), replaces them by the
    statistics of the final weights on the training images. Layers without
    running statistics (ViT) are untouched.
    """
    import torch
    from torch import nn

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns:
        return
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(0, x.shape[0], batch_size):
            if x.shape[0] - i >= 2:  # batch norm needs two images
                forward(model, x[i:i + batch_size])
    for m, mom in zip(bns, momenta):
        m.momentum = mom
    model.eval()


def _vit_patch_size(overrides):
    return int(dict(overrides or {}).get("patch_size", 16))


def _build_scratch(arch, n_classes, image_size, overrides, in_chans=3):
    """A randomly initialized torchvision network with ``in_chans`` input channels and ``n_classes`` outputs.

    The first layer (ResNet ``conv1``, ViT ``conv_proj``) is rebuilt for
    ``in_chans`` channels with torchvision's own initialization for it.
    """
    import math

    import torchvision
    from torch import nn

    overrides = dict(overrides or {})
    if arch in ("resnet18", "resnet50"):
        net = getattr(torchvision.models, arch)(weights=None, num_classes=n_classes, **overrides)
        if in_chans != 3:
            net.conv1 = nn.Conv2d(in_chans, net.conv1.out_channels, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        return net
    if arch == "vit_b_16":
        from torchvision.models.vision_transformer import VisionTransformer

        cfg = dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)
        cfg.update(overrides)
        if image_size % cfg["patch_size"]:
            raise ValueError(f"image_size ({image_size}) must be a multiple of the ViT patch size "
                             f"({cfg['patch_size']})")
        net = VisionTransformer(image_size=image_size, num_classes=n_classes, **cfg)
        if in_chans != 3:
            p, d = cfg["patch_size"], cfg["hidden_dim"]
            net.conv_proj = nn.Conv2d(in_chans, d, kernel_size=p, stride=p)
            nn.init.trunc_normal_(net.conv_proj.weight, std=math.sqrt(1 / (in_chans * p * p)))
            nn.init.zeros_(net.conv_proj.bias)
        return net
    raise ValueError(f"arch must be one of {sorted(SUPERVISED_ARCHS)}, got {arch!r}")


class _FineTune:
    """Factory for a pretrained astrofmx backbone + linear head."""

    @staticmethod
    def build(backbone, weights, n_classes, overrides):
        from torch import nn

        from ..backbones import Backbone

        if isinstance(backbone, Backbone):
            bb = copy.deepcopy(backbone)
        elif isinstance(backbone, str):
            from ..backbones import get_backbone

            bb = get_backbone(backbone, weights=weights, **dict(overrides or {}))
        else:
            raise TypeError(f"backbone must be a registry name or an astrofmx Backbone, got {type(backbone).__name__}")
        head = nn.Linear(bb.spec.feature_dim, n_classes)

        class _Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = bb
                self.head = head

            def forward(self, x):
                return self.head(self.backbone(x))

        return _Net(), bb.spec
