"""The batch engine `embed_survey` runs on, imported in this one place."""

import glob
import os

# lead: switch to survey at merge: ``from ..survey import BatchResult, expand_inputs, run_batch`` and delete the
# stand-in `expand_inputs` below (it only mirrors ``astrofmx.survey.expand_inputs`` until then)
from ..utils import BatchResult, map_batches, run_batch  # noqa: F401

__all__ = []


def expand_inputs(inputs):
    """str/Path/glob/list -> list of paths (a glob sorted); a glob with no match raises ValueError."""
    if isinstance(inputs, (str, os.PathLike)):
        text = os.path.expanduser(os.fspath(inputs))
        if isinstance(inputs, str) and any(c in text for c in "*?[") and not os.path.exists(text):
            matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise ValueError(f"the glob pattern {inputs!r} matched no files")
            return matches
        return [inputs]
    if isinstance(inputs, (list, tuple)) and all(isinstance(p, (str, os.PathLike)) for p in inputs):
        return list(inputs)
    raise TypeError(f"inputs must be a glob pattern, a path or a list of paths (files), got "
                    f"{type(inputs).__name__}; embed arrays or tensors in memory with embed()")
