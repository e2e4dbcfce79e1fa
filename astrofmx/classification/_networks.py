"""Networks and image tensors for the supervised baselines.

Builders of the torchvision networks trained from scratch, of a pretrained
astrofmx backbone plus a linear head for fine-tuning, and the conversion of
image arrays to normalized tensors. Private to the subpackage.
"""

import copy

import numpy as np
from sklearn.utils import check_array

__all__ = []

#: Architectures trained from scratch, with their native input size.
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


def _images_to_tensor(images, *, image_size=None, mean=_IMAGENET_MEAN, std=_IMAGENET_STD):
    """Scale images to [0, 1] per image, make 3 channels, resize (bilinear, antialiased) and normalize.

    ``images`` is (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3};
    returns a float32 `torch.Tensor` of shape (N, 3, S, S).
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(_as_nchw(images)))
    flat = x.reshape(x.shape[0], -1)
    lo = flat.min(dim=1).values.view(-1, 1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1, 1)
    x = (x - lo) / torch.clamp(hi - lo, min=1e-12)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if image_size is not None and tuple(x.shape[-2:]) != (image_size, image_size):
        x = F.interpolate(x, size=(int(image_size), int(image_size)), mode="bilinear", align_corners=False,
                          antialias=True)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).contiguous()


def _build_scratch(arch, n_classes, image_size, overrides):
    import torchvision

    overrides = dict(overrides or {})
    if arch == "resnet18":
        return torchvision.models.resnet18(weights=None, num_classes=n_classes, **overrides)
    if arch == "resnet50":
        return torchvision.models.resnet50(weights=None, num_classes=n_classes, **overrides)
    if arch == "vit_b_16":
        from torchvision.models.vision_transformer import VisionTransformer

        cfg = dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)
        cfg.update(overrides)
        if image_size % cfg["patch_size"]:
            raise ValueError(f"image_size ({image_size}) must be a multiple of the ViT patch size "
                             f"({cfg['patch_size']})")
        return VisionTransformer(image_size=image_size, num_classes=n_classes, **cfg)
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
