"""Survey-scale batches: one function over many inputs, resumably, serially or with Dask.

`run_batch` runs any per-input function (a finder, `embed` on a shard)
over files, globs or objects and writes each result atomically, so a rerun
resumes where a crash stopped; `expand_inputs` is the glob expansion it
shares with the survey functions and the command line.
"""

from ._inputs import *  # noqa: F401, F403
from ._result import *  # noqa: F401, F403
from ._run import *  # noqa: F401, F403
