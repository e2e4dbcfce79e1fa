"""Galaxy morphology classification on frozen foundation-model features.

Linear probes (`LinearProbe`), supervised baselines trained end to end
(`SupervisedClassifier`), the label-fraction study of the paper
(`label_fraction_study`, `plot_label_fraction`, `plot_per_class_f1`), 2-D views
of the latent space (`embed_umap`, `plot_latent`) and catalog classification
(`classify_sources`).
"""

from ._baselines import *  # noqa: F401, F403
from ._catalog import *  # noqa: F401, F403
from ._latent import *  # noqa: F401, F403
from ._probe import *  # noqa: F401, F403
from ._study import *  # noqa: F401, F403
from ._study_plots import *  # noqa: F401, F403
from ._subsets import *  # noqa: F401, F403
