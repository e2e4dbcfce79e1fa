"""`BackboneSpec`: what the registry knows about a backbone, as plain data (no torch import)."""

import dataclasses
from typing import Optional

__all__ = ["BackboneSpec"]


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
