"""Foundation-model backbones: a registry of pretrained vision models, `embed` and `embed_survey`.

Built-in entries (`list_backbones`): ``"msn"``, ``"dino"``, ``"dinov2"``,
``"mae"`` (ViT-B, one shared ViT adapter), ``"resnet50"``, ``"resnet18"``
(torchvision), plus any timm model as ``"timm:<name>"``.

The registry (names, specs, weight caches) is imported without torch, so that
listing backbones and the command line's checks stay fast; the modules that
need torch (the models, `embed`) are imported on first use of one of their
names.
"""

import importlib

from ._checkpoint import *  # noqa: F401, F403
from ._local import *  # noqa: F401, F403
from ._pretrained import *  # noqa: F401, F403
from ._registry import *  # noqa: F401, F403
from ._spec import *  # noqa: F401, F403

# modules that import torch when imported: loaded on first access of a name they define (PEP 562)
_TORCH_MODULES = ("_base", "_cnn", "_embed", "_embed_survey", "_fuse", "_vit")


def _load_torch_modules():
    for name in _TORCH_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals().update({key: getattr(module, key) for key in module.__all__})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    _load_torch_modules()
    if name in globals():
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    _load_torch_modules()
    return sorted(globals())
