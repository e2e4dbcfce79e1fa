"""Inference-only rewrites of a detector's CNN pyramid backbone: the same outputs, faster on CPU.

Two rewrites, both exact up to float rounding:

- every batch norm that directly follows a convolution is folded into it
  (`torch.nn.utils.fusion.fuse_conv_bn_eval`), so that inference runs no
  batch-norm kernels;
- the backbone and pyramid run in channels-last memory format, where oneDNN's
  convolutions and max-pooling are vectorized over channels (max-pooling of
  the stem is ~9x faster on a 2-core CPU; batch norm is slower in that layout,
  which is why the two go together).

A rewritten copy is checked against the original on a probe input and is
only used when every output level agrees; otherwise the original runs. ViT
backbones (simple pyramid) are left as they are.
"""

import copy
import logging
import weakref

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = []

logger = logging.getLogger(__name__)

#: largest relative difference (to each level's largest absolute value) accepted between the two
_TOLERANCE = 1e-3


def _fold_pair(parent, conv_name, bn_name):
    conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
    if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
            and conv.out_channels == bn.num_features and bn.track_running_stats):
        return 0
    setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
    setattr(parent, bn_name, nn.Identity())
    return 1


def _fold_batch_norms(module):
    """Fold, in place, each ``BatchNorm2d`` that follows a ``Conv2d``: adjacent in an ``nn.Sequential``,
    or siblings named ``convN`` / ``bnN`` (torchvision's and timm's ResNet stems and blocks). The number
    folded."""
    n = 0
    for parent in list(module.modules()):
        names = [name for name, _ in parent.named_children()]
        if isinstance(parent, nn.Sequential):
            n += sum(_fold_pair(parent, a, b) for a, b in zip(names, names[1:]))
            continue
        for name in names:
            if name.startswith("bn") and "conv" + name[2:] in names:
                n += _fold_pair(parent, "conv" + name[2:], name)
    return n


def _agree(reference, candidate):
    return all(k in candidate and candidate[k].shape == v.shape
               and float((candidate[k] - v).abs().max()) <= _TOLERANCE * (float(v.abs().max()) + 1e-30)
               for k, v in reference.items())


def _fast_pyramid(pyramid, probe_size=64):
    """A rewritten copy of ``pyramid`` (a `_PyramidBackbone`) for inference, or ``pyramid`` itself.

    The copy follows the original's ``autocast_dtype`` (set by `FasterRCNNDetector.autocast`) and shares
    no parameters with it, so training the original later does not change the copy; build a new one then.
    """
    if getattr(pyramid, "kind", None) != "fpn":
        return pyramid
    fast = copy.deepcopy(pyramid).eval()
    n = _fold_batch_norms(fast.body)
    fast.to(memory_format=torch.channels_last)
    fast.channels_last = True
    fast.dtype_source = weakref.ref(pyramid)
    param = next(pyramid.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    probe = torch.randn(2, 3, probe_size, probe_size, generator=torch.Generator().manual_seed(0)).to(device)
    was_training = pyramid.training
    try:
        pyramid.eval()
        with torch.inference_mode():
            same = _agree(pyramid(probe), fast(probe))
    finally:
        pyramid.train(was_training)
    if not same:
        logger.debug("the fused channels-last copy of the %s backbone differs from it on a probe; using the "
                     "original", pyramid.body.spec.name)
        return pyramid
    logger.debug("inference backbone: %d batch norms folded, channels-last", n)
    return fast
