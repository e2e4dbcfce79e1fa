"""The backbone contract every registry entry satisfies.

A backbone is a `torch.nn.Module` with a frozen `BackboneSpec` describing it,
and three ways to read features from an ``(N, 3, H, W)`` float tensor that has
already been normalized with ``spec.mean``/``spec.std``:

- ``forward(x)`` -> pooled features ``(N, spec.feature_dim)``
  (``pooling`` chosen at construction or per call);
- ``forward_feature_maps(x)`` -> ``OrderedDict[str, Tensor]`` of spatial maps,
  names and strides listed in ``spec.feature_strides`` / channels in
  ``feature_channels``. ViTs give one map ``{'last': (N, D, H/p, W/p)}`` (the
  patch tokens of the last block); ResNets give ``{'c2','c3','c4','c5'}`` at
  strides 4, 8, 16, 32 for the FPN.
"""

import abc
from typing import Optional

import torch
from torch import nn

from ._spec import BackboneSpec  # noqa: F401 -- its old home

__all__ = ["Backbone"]


class Backbone(nn.Module, metaclass=abc.ABCMeta):
    """Base class of all astrofmx backbones (see the module docstring for the contract)."""

    spec: BackboneSpec

    @abc.abstractmethod
    def forward_feature_maps(self, x: torch.Tensor) -> "dict[str, torch.Tensor]":
        """Spatial feature maps named as in ``spec.feature_strides``."""

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, pooling: Optional[str] = None) -> torch.Tensor:
        """Pooled features ``(N, spec.feature_dim)``."""

    def load_state_dict_converted(self, state_dict, *, config=None):
        """Load a flat state dict read from a checkpoint file.

        Subclasses convert foreign layouts (research checkpoints, Hugging Face
        transformers) here; the default loads ``state_dict`` strictly into
        ``self.model`` if the backbone wraps one, else into itself.
        """
        target = getattr(self, "model", self)
        target.load_state_dict(state_dict, strict=True)

    @property
    def out_channels(self):
        """Channels of the last feature map (torchvision's backbone attribute)."""
        return list(self.spec.feature_channels.values())[-1]
