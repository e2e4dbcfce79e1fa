"""Convolutional backbones: torchvision ResNets and any other timm model."""

import logging
import re
import sys
from collections import OrderedDict

from ._base import Backbone
from ._vit import check_input, check_pooling, load_converted

__all__ = ["ResNetBackbone", "TimmBackbone"]

logger = logging.getLogger(__name__)

_IGNORABLE_CNN = re.compile(r"^(fc\.|head\.|classifier\.|last_linear\.|num_batches_tracked)")

#: ResNet stages returned by `ResNetBackbone.forward_feature_maps` (torchvision's ``return_layers``).
_RESNET_MAPS = {"layer1": "c2", "layer2": "c3", "layer3": "c4", "layer4": "c5"}


class ResNetBackbone(Backbone):
    """A torchvision `~torchvision.models.ResNet` behind the astrofmx backbone contract.

    `forward_feature_maps` returns ``c2..c5`` (strides 4, 8, 16, 32) for a
    feature pyramid; `forward` returns the global average of ``c5``. ResNets
    have no class token: ``pooling='cls'`` and ``'mean'`` both give the global
    average pool.

    Parameters
    ----------
    model : `~torchvision.models.ResNet`
        Wrapped in torchvision's
        `~torchvision.models._utils.IntermediateLayerGetter` (which keeps the
        stem and ``layer1..layer4`` under their names, so the state-dict keys
        are those of the ResNet, and drops ``avgpool`` and ``fc``).
    spec : `~astrofmx.backbones.BackboneSpec`
    pooling : {'cls', 'mean'}, optional

    Examples
    --------
    >>> import torch
    >>> from astrofmx.backbones import get_backbone
    >>> net = get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1))
    >>> {k: tuple(v.shape) for k, v in net.forward_feature_maps(torch.zeros(1, 3, 64, 64)).items()}
    {'c2': (1, 64, 16, 16), 'c3': (1, 128, 8, 8), 'c4': (1, 256, 4, 4), 'c5': (1, 512, 2, 2)}
    """

    def __init__(self, model, spec, *, pooling="cls"):
        from torchvision.models._utils import IntermediateLayerGetter

        super().__init__()
        self.model = IntermediateLayerGetter(model, return_layers=_RESNET_MAPS)
        self.spec = spec
        self.pooling = check_pooling(pooling)

    def forward_feature_maps(self, x):
        """``OrderedDict(c2=..., c3=..., c4=..., c5=...)`` at strides 4, 8, 16, 32."""
        check_input(x, 3)
        return self.model(x)

    def forward(self, x, pooling=None):
        """Global average pool of ``c5``, ``(N, spec.feature_dim)``."""
        if pooling is not None:
            check_pooling(pooling)
        return self.forward_feature_maps(x)["c5"].mean(dim=(2, 3))

    def load_state_dict_converted(self, state_dict, *, config=None):
        """Load a torchvision (or timm) ResNet state dict; the classifier ``fc`` is dropped."""
        load_converted(self.model, state_dict, name=self.spec.name, ignorable=_IGNORABLE_CNN)


class TimmBackbone(Backbone):
    """Any timm model (``"timm:<name>"``) behind the astrofmx backbone contract.

    `forward` uses the model's own global pooling (``forward_head(...,
    pre_logits=True)``); `forward_feature_maps` returns the model's stages
    from ``forward_intermediates`` named ``stage0, stage1, ...`` with the
    strides and channels of its ``feature_info``. Vision Transformers from timm
    are served by `~astrofmx.backbones.ViTBackbone` instead.

    Parameters
    ----------
    model : `torch.nn.Module`
        A timm model built with ``num_classes=0``.
    spec : `~astrofmx.backbones.BackboneSpec`
    pooling : {'cls', 'mean'}, optional
        Accepted for a uniform interface; the model's own pooling is used.
    """

    def __init__(self, model, spec, *, pooling="cls"):
        super().__init__()
        self.model = model
        self.spec = spec
        self.pooling = check_pooling(pooling)

    def forward(self, x, pooling=None):
        """Pooled features ``(N, spec.feature_dim)`` from the model's own head pooling."""
        if pooling is not None:
            check_pooling(pooling)
        check_input(x, 3)
        feats = self.model.forward_features(x)
        return self.model.forward_head(feats, pre_logits=True)

    def forward_feature_maps(self, x):
        """The stages listed in ``spec.feature_strides``, as ``(N, C, H/s, W/s)`` maps."""
        check_input(x, 3)
        names = list(self.spec.feature_strides)
        if not hasattr(self.model, "forward_intermediates"):
            raise NotImplementedError(f"timm model {self.spec.model_name!r} does not provide forward_intermediates; "
                                      f"feature maps are not available")
        n = len(self.model.feature_info)
        maps = self.model.forward_intermediates(x, indices=list(range(n)), intermediates_only=True)
        return OrderedDict(zip(names, maps))

    def load_state_dict_converted(self, state_dict, *, config=None):
        """Load a timm state dict (the model module's ``checkpoint_filter_fn`` is applied when it has one)."""
        filter_fn = getattr(sys.modules.get(type(self.model).__module__), "checkpoint_filter_fn", None)
        if filter_fn is not None:
            try:
                state_dict = filter_fn(state_dict, self.model)
            except Exception as exc:  # pragma: no cover - filter functions differ between architectures
                logger.debug("checkpoint_filter_fn of %s failed (%s); loading as is", type(self.model), exc)
        load_converted(self.model, state_dict, name=self.spec.name, ignorable=_IGNORABLE_CNN)
