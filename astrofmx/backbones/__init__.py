"""Foundation-model backbones: a registry of pretrained vision models, `embed` and `embed_survey`.

Built-in entries (`list_backbones`): ``"msn"``, ``"dino"``, ``"dinov2"``,
``"mae"`` (ViT-B, one shared ViT adapter), ``"resnet50"``, ``"resnet18"``
(torchvision), plus any timm model as ``"timm:<name>"``.
"""

from ._base import *  # noqa: F401, F403
from ._checkpoint import *  # noqa: F401, F403
from ._cnn import *  # noqa: F401, F403
from ._embed import *  # noqa: F401, F403
from ._embed_survey import *  # noqa: F401, F403
from ._local import *  # noqa: F401, F403
from ._pretrained import *  # noqa: F401, F403
from ._registry import *  # noqa: F401, F403
from ._vit import *  # noqa: F401, F403
