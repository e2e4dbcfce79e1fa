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
import dataclasses
from typing import Optional

import torch
from torch import nn

__all__ = ["BackboneSpec", "Backbone"]


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """Everything the registry knows about one backbone entry.

    Derive variants with `dataclasses.replace`.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"msn"``.
    arch : str
        Architecture family: ``"vit"``, ``"resnet"`` or ``"timm"``.
    model_name : str
        Architecture in its source library, e.g. ``"vit_base_patch16_224"``.
    patch_size : int
        Patch size (ViT) or output stride of the last map (CNN).
    input_size : int
        Native square input size in pixels.
    mean, std : tuple of float
        Per-channel normalization applied after scaling images to [0, 1].
    feature_dim : int
        Dimension of the pooled feature vector.
    feature_strides : dict
        ``{map_name: stride}`` of ``forward_feature_maps``.
    feature_channels : dict
        ``{map_name: channels}`` of ``forward_feature_maps``.
    weights_source : str
        Where pretrained weights come from: ``"hf-hub:<repo>"``,
        ``"timm:<name.tag>"``, ``"torchvision:<WeightsEnum>"`` or a URL.
    weights_filename : str, optional
        File inside the source that holds the weights.
    license : str
        Licence of the pretrained weights.
    sha256 : str, optional
        Checksum of the weight file where known: the full hex sha256 digest,
        or a leading prefix of at least 8 hex digits (torchvision publishes
        one in each file name).
    paper : str
        Reference for the pretraining method.
    """

    name: str
    arch: str
    model_name: str
    patch_size: int
    input_size: int
    mean: tuple
    std: tuple
    feature_dim: int
    feature_strides: dict = dataclasses.field(default_factory=dict)
    feature_channels: dict = dataclasses.field(default_factory=dict)
    weights_source: str = ""
    weights_filename: Optional[str] = None
    license: str = "unknown"
    sha256: Optional[str] = None
    paper: str = ""


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
