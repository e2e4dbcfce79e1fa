"""Self-supervised pretraining of backbones on unlabeled FITS images (DINO and MSN, from lightly).

`pretrain` streams windows of many images (`TilePlan`), draws astronomy
views of them (`AugmentationConfig`, `make_views`), trains a student and an
EMA teacher with lightly's DINO or MSN loss, checkpoints so that a run can be
resumed exactly, and saves the teacher as a backbone loadable by name with
`astrofmx.backbones.get_backbone`.
"""

from ._augment import *  # noqa: F401, F403
from ._stream import *  # noqa: F401, F403
from ._train import *  # noqa: F401, F403
