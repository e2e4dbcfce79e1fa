"""The result of a batch: the summary table and the combined catalog or array."""

import dataclasses
from pathlib import Path

import numpy as np

__all__ = ["BatchResult"]


@dataclasses.dataclass(frozen=True, repr=False)
class BatchResult:
    """What `run_batch` returns.

    Attributes
    ----------
    summary : `~astropy.table.QTable`
        One row per input, in input order: ``input`` (the input's id: the
        absolute path of a file, or the id given for an object), ``output``
        (its result file), ``status`` (``'done'``: processed in this run,
        ``'skipped'``: its result file already existed, ``'failed'``),
        ``error`` (``'ExceptionType: message'`` for failed inputs, else
        ``''``), ``n_rows`` (rows of the result table or array; 0 for failed
        inputs) and ``seconds`` (run time of the function, a Quantity in s;
        0 for skipped inputs). Also written to the output directory as
        ``summary.ecsv``.
    output_dir : `~pathlib.Path`
        Where the per-input results, the summary and the combined result are.
    catalog : `~astropy.table.QTable` or None
        The combined catalog (table results, ``combine=True``): all finished
        inputs stacked in input order, with the input's id in a first column
        ``input``. None for array results, without ``combine`` or when no
        input finished.
    features : `~numpy.ndarray` or None
        The combined array (array results, ``combine=True``), memory-mapped
        read-only from ``combined.npy``: ``(n_inputs, ...)`` when every
        input gave a 1-D vector of the same length (one feature vector per
        input), else the per-input arrays concatenated along their first axis.
    ids : `~numpy.ndarray` of str or None
        The input id of each row of ``features``.
    combined_path : `~pathlib.Path` or None
        The combined catalog or array file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astrofmx.survey import run_batch
    >>> result = run_batch(lambda x: np.atleast_1d(x.sum()), {"a": np.ones(3), "b": np.zeros(3)},
    ...                    output_dir=tempfile.mkdtemp(), output_format="npy", progress_bar=False)
    >>> result.ok, result.n_done, result.features.ravel().tolist(), result.ids.tolist()
    (True, 2, [3.0, 0.0], ['a', 'b'])
    """

    summary: "astropy.table.QTable"  # noqa: F821 -- astropy is imported lazily
    output_dir: Path
    catalog: "astropy.table.QTable" = None  # noqa: F821
    features: np.ndarray = None
    ids: np.ndarray = None
    combined_path: Path = None

    def _count(self, status):
        return int(np.count_nonzero(np.asarray(self.summary["status"]) == status))

    @property
    def n_done(self):
        """Number of inputs processed in this run."""
        return self._count("done")

    @property
    def n_skipped(self):
        """Number of inputs whose result already existed (resumed)."""
        return self._count("skipped")

    @property
    def n_failed(self):
        """Number of inputs whose function raised."""
        return self._count("failed")

    @property
    def failed(self):
        """The rows of `summary` for failed inputs."""
        return self.summary[np.asarray(self.summary["status"]) == "failed"]

    @property
    def ok(self):
        """True if no input failed."""
        return self.n_failed == 0

    def __repr__(self):
        combined = None if self.combined_path is None else str(self.combined_path)
        return (f"BatchResult(output_dir={str(self.output_dir)!r}, done={self.n_done}, "
                f"skipped={self.n_skipped}, failed={self.n_failed}, combined={combined!r})")
