"""Source detection with Faster R-CNN on any astrofmx backbone: training, evaluation and tiled inference.

Build a detector (`DetectorConfig`, `build_detector`), train it on labelled
images (`train_detector` with `TrainingOptions`, boxes from catalogs with `catalog_to_boxes`),
evaluate it (`mean_average_precision`, `evaluate_detector`), save and reload it
(`save_detector`, `load_detector`) and run it over whole FITS images
(`detect_sources`, one image in, one catalog out) or over a survey of files
(`detect_survey`); catalogs follow `astrofmx.io.make_source_catalog`. Trained detectors are found by backbone
name (`register_detector`, `list_detectors`, `find_detector`).
"""

from ._config import *  # noqa: F401, F403
from ._default import *  # noqa: F401, F403
from ._evaluate import *  # noqa: F401, F403
from ._inference import *  # noqa: F401, F403
from ._io import *  # noqa: F401, F403
from ._labels import *  # noqa: F401, F403
from ._model import *  # noqa: F401, F403
from ._survey import *  # noqa: F401, F403
from ._train import *  # noqa: F401, F403
from ._zoo import *  # noqa: F401, F403
