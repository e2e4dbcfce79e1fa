"""The batch engine: run one function over many inputs, resumably, serially or with Dask.

`run_batch` knows nothing about detection or embedding, only about "a
function that processes one input and returns a table or an array". Each
input's result is written atomically to its own file in an output directory,
so a batch killed at any point loses nothing that had finished, and a rerun
picks up where it stopped.
"""

import contextlib
import functools
import logging
from collections.abc import Mapping

import numpy as np

from ..utils import atomic_write, get_meta
from ..utils import progress_bar as _progress_bar
from ._executors import _check_parallel, _execution, _run_one
from ._guard import _check_time_limit, _wait_unlocked
from ._inputs import _entries, _make_items, _safe
from ._result import BatchResult
from ._settings import _check_settings
from ._storage import _EXTENSIONS, _check_format, _combine_arrays, _combine_tables, _prepare_output_dir, _rows_of

__all__ = ["run_batch"]

logger = logging.getLogger(__name__)


def run_batch(func, inputs, *, output_dir, parallel=False, output_format="ecsv", resume=True, combine=True,
              progress_bar=True, func_kwargs=None, name=None, ids=None, settings=None, time_limit=None):
    """Run ``func`` over many inputs, writing each result atomically; resumable and optionally parallel.

    For every input, ``func(input, **func_kwargs)`` is called and its result
    (an astropy `~astropy.table.Table`/`~astropy.table.QTable`, e.g. a source
    catalog, or a numpy array, e.g. feature vectors) is written to
    ``output_dir/<stem>.<ext>`` through a temporary file in the same directory
    and `os.replace`, so a result file is either complete or absent. The
    ``stem`` is the file name (or the id) plus a short hash of the absolute
    path (or of the id): unique and stable from run to run.

    With ``resume=True`` (default) an input whose result file exists is
    skipped (if the results in ``output_dir`` were computed with the same
    ``settings``, see below), so after a crash, ``kill -9`` or a lost node the same call picks
    up where it stopped: nothing finished is lost, nothing is done twice. An
    input whose function raises is recorded (exception type and message) in
    the summary and does not stop the batch; it is tried again on the next
    run. Finally the results of all finished inputs are stacked into one
    catalog or array (``combine=True``).

    Parameters
    ----------
    func : callable
        ``func(input, **func_kwargs)`` returning a Table/QTable or a numpy
        array. With ``parallel`` it is pickled (cloudpickle) to the
        workers once, together with ``func_kwargs``.
    inputs : str, path-like, list or mapping
        A glob pattern (``'survey/**/*.fits'``; matches sorted, see
        `expand_inputs`), one file, a list of paths (and patterns), or arbitrary objects (arrays, NDData, cutouts) with
        their ids given by ``ids=`` or as a mapping ``{id: object}``.
    output_dir : str or path-like
        Directory for the per-input results, ``summary.ecsv`` and the
        combined result; created if needed.
    parallel : bool, int, 'current-scheduler' or `distributed.Client`, optional
        Follows reproject's convention. `False` (default): serial in this
        process, Dask is not imported. An int ``n`` (or `True` for one per
        CPU): a `distributed.LocalCluster` of ``n`` single-threaded worker
        *processes*, started and closed by this call. Processes rather than
        threads because per-file work (FITS I/O, WCS, photutils, Python
        glue) holds the GIL, and so that a worker killed by a crash or by the
        memory limit only loses its current input (recorded as failed, with
        ``KilledWorker``), never the batch; the cluster also streams results
        back as they finish. ``'current-scheduler'``: whatever Dask scheduler
        is active (a ``distributed.Client`` made earlier, or a local
        scheduler set with ``dask.config.set(scheduler=...)``). A
        ``distributed.Client``: use that cluster (local or remote; remote
        workers must see ``output_dir``).
    output_format : {'ecsv', 'fits', 'parquet', 'npy'}, optional
        File format of each result: ECSV, FITS (written with
        `astrofmx.io.write_catalog`: SkyCoord columns become ``ra``/``dec``)
        or Parquet (needs pyarrow and pandas) for tables; ``'npy'`` for
        arrays.
    resume : bool, optional
        Skip inputs whose result file exists. `False` recomputes and replaces
        them.
    combine : bool, optional
        Stack the finished results into ``combined.<ext>`` (tables: with an
        ``input`` column first; arrays: plus ``combined_ids.npy``) and return
        them.
    progress_bar : bool, optional
        Show a progress bar over the inputs.
    func_kwargs : dict, optional
        Keyword arguments passed to ``func`` for every input.
    name : str, optional
        Label of the batch for the progress bar and the log. When given it
        also names the files (``<stem>.<name>.<ext>``, ``<name>_summary.ecsv``,
        ``<name>_combined.<ext>``) so that several batches (say detection and
        embedding) can share one ``output_dir``.
    ids : list of str, optional
        One id per input (required for inputs that are not paths).
    settings : dict, optional
        What the results depend on besides the input: the options that
        change them and the model (default: ``func_kwargs``). Recorded in ``<name>_settings.json``; a model (any
        object with a ``state_dict``, e.g. a torch module) is recorded by its
        class, config/spec and a sha1 of its weights. When the results in
        ``output_dir`` were computed with other settings, a run with
        ``resume=True`` stops with a ValueError that names the changes (use
        ``resume=False`` to recompute them, or another ``output_dir``), and a
        run with ``resume=False`` removes them first.
    time_limit : float, optional
        Seconds allowed per input: an input still running then is stopped
        and recorded as failed (``TimeoutError``), so that one bad input
        cannot stall a survey. The limit is enforced between Python
        operations of ``func``: one long call into compiled code (a model
        forward pass) finishes first.

    Returns
    -------
    result : `BatchResult`
        The summary table, the combined catalog or array and their paths.

    Raises
    ------
    ValueError
        Empty inputs, a glob that matches nothing, repeated inputs, an unknown
        ``output_format`` or ``parallel``, or results that cannot be combined.
    TypeError
        If ``func`` is not callable, an input is neither a path nor has an
        id, or ``func`` returns something other than a table or an array (or
        a table for ``'npy'``, an array for a table format): the batch stops
        at the first such result, since it is a setup error.
    NotADirectoryError
        If ``output_dir`` exists and is not a directory.

    Notes
    -----
    Several processes (or machines sharing a file system) can run the same
    batch into one ``output_dir`` at once and share the work: each input is
    locked while it is computed (a ``.<result>.lock`` file created
    atomically, holding the host and process id), an input locked by
    another live process is left to it (and waited for at the end), and a
    lock left by a dead process is taken over. The hash in the file names comes from the absolute
    input path, so moving the input files starts afresh. A process killed
    while writing can leave a hidden temporary file (``.<stem>...``) in
    ``output_dir``; it is never mistaken for a result and can be deleted.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astrofmx.survey import run_batch
    >>> def stats(image):
    ...     return QTable({"peak": [np.max(image)], "mean": [np.mean(image)]})
    >>> images = {f"img{i}": np.full((8, 8), float(i)) for i in range(3)}
    >>> outdir = tempfile.mkdtemp()
    >>> result = run_batch(stats, images, output_dir=outdir, progress_bar=False)
    >>> result.summary["status"].tolist()
    ['done', 'done', 'done']
    >>> result.catalog["input"].tolist(), result.catalog["peak"].tolist()
    (['img0', 'img1', 'img2'], [0.0, 1.0, 2.0])
    >>> run_batch(stats, images, output_dir=outdir, progress_bar=False)  # doctest: +ELLIPSIS
    BatchResult(output_dir=..., done=0, skipped=3, failed=0, combined=...)
    """
    func_kwargs = _check_call(func, func_kwargs, name)
    time_limit = _check_time_limit(time_limit)
    if settings is None:
        settings = func_kwargs
    elif not isinstance(settings, Mapping):
        raise TypeError(f"settings must be a dict of the options the results depend on, got "
                        f"{type(settings).__name__}")
    fmt = _check_format(output_format)
    mode, handle = _check_parallel(parallel)
    entries = _entries(inputs, ids)
    outdir = _prepare_output_dir(output_dir)
    prefix = "" if name is None else f"{_safe(name)}_"
    items = _make_items(entries, outdir, name=name, ext=_EXTENSIONS[fmt])
    label = name or getattr(func, "__name__", None) or "batch"
    settings_record = _check_settings(items, settings, outdir / f"{prefix}settings.json", resume)

    records, todo = _resumed_records(items, resume)
    logger.info("%s: %d inputs, %d already finished, %d to run (%s)", label, len(items),
                len(items) - len(todo), len(todo), mode if mode != "workers" else f"{handle} workers")
    runner = functools.partial(_run_one, func, func_kwargs, fmt, time_limit=time_limit, resume=resume)
    locked = []
    with _progress_bar(total=len(items), desc=label, unit="input", enabled=progress_bar) as bar, \
            contextlib.closing(_run_pending(runner, todo, mode, handle, fmt, label, outdir)) as stream:
        bar.update(len(items) - len(todo))
        for item, rec in stream:
            records[item.index] = rec
            if rec["status"] == "locked":
                locked.append(item)
            else:
                bar.update(1)
        for item in locked:  # computed by another process: wait for it; compute here what it left undone
            records[item.index] = _after_other_process(runner, item)
            bar.update(1)

    combined, combine_error = {}, None
    if combine:
        try:
            combined = _combine(items, records, fmt, outdir / f"{prefix}combined{_EXTENSIONS[fmt]}")
        except ValueError as exc:  # raised after the summary is written
            combine_error = exc
    for item, record in zip(items, records):
        if record["n_rows"] is None:
            record["n_rows"] = _rows_of(item.output, fmt)
    summary = _write_summary(items, records, outdir / f"{prefix}summary.ecsv",
                             {"batch": label, "output_format": fmt, "parallel": mode,
                              "settings_key": settings_record["key"]})
    logger.info("%s: %d done, %d skipped, %d failed", label, *(
        int(np.count_nonzero(summary["status"] == s)) for s in ("done", "skipped", "failed")))
    if combine_error is not None:
        raise combine_error
    return BatchResult(summary=summary, output_dir=outdir, **combined)


def _check_call(func, func_kwargs, name):
    """Check ``func``, ``name`` and return ``func_kwargs`` as a dict."""
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if func_kwargs is None:
        func_kwargs = {}
    elif not isinstance(func_kwargs, Mapping):
        raise TypeError(f"func_kwargs must be a dict of keyword arguments, got {type(func_kwargs).__name__}")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return dict(func_kwargs)


def _resumed_records(items, resume):
    """``(records, todo)``: a 'skipped' record for each item whose result exists (with ``resume``)."""
    records = [None] * len(items)
    todo = []
    for item in items:
        if resume and item.output.exists():
            # n_rows is filled in later, from the combined read or from the file itself
            records[item.index] = {"status": "skipped", "error": "", "n_rows": None, "seconds": 0.0}
        else:
            todo.append(item)
    return records, todo


def _after_other_process(runner, item):
    """The record of an input that another process was computing: wait for it, then skip or compute it."""
    while True:
        _wait_unlocked(item.output)
        record = runner.func(*runner.args, item.obj, item.output, **{**runner.keywords, "resume": True})
        if record["status"] != "locked":
            return record


def _run_pending(runner, todo, mode, handle, fmt, label, outdir):
    """Yield ``(item, record)`` as the ``todo`` items finish; stop at the first result of a wrong type."""
    with _execution(mode, handle, runner, todo, fmt) as stream:
        for item, record in stream:
            if record["status"] == "bad-result":
                raise TypeError(f"{record['error']} (input {item.id!r}); the batch stopped, results written "
                                f"so far are kept in {str(outdir)!r}")
            if record["status"] == "failed":
                logger.warning("%s: input %s failed: %s", label, item.id, record["error"])
            yield item, record


def _combine(items, records, fmt, path):
    """Stack the finished results into ``path``; fill in their ``n_rows``; the combined fields of BatchResult."""
    finished = [item for item, r in zip(items, records) if r["status"] in ("done", "skipped")]
    if not finished:
        return {}
    if fmt == "npy":
        features, ids, lengths = _combine_arrays(finished, path)
        combined = {"features": features, "ids": ids, "combined_path": path}
    else:
        catalog, lengths = _combine_tables(finished, fmt, path, len(items))
        combined = {"catalog": catalog, "combined_path": path}
    for item, n_rows in zip(finished, lengths):
        records[item.index]["n_rows"] = n_rows
    return combined


def _write_summary(items, records, path, meta):
    """The summary table of the batch (one row per input), written atomically to ``path``."""
    import astropy.units as u
    from astropy.table import QTable

    summary = QTable()
    summary["input"] = np.array([item.id for item in items], dtype=str)
    summary["output"] = np.array([str(item.output) for item in items], dtype=str)
    summary["status"] = np.array([r["status"] for r in records], dtype=str)
    summary["error"] = np.array([r["error"] for r in records], dtype=str)
    summary["n_rows"] = np.array([r["n_rows"] for r in records], dtype=np.int64)
    summary["seconds"] = np.array([r["seconds"] for r in records], dtype=float) * u.s
    summary.meta.update(get_meta())
    summary.meta.update(meta)
    from ..io import annotate_table

    summary = annotate_table(summary)  # column descriptions; package paths made relative
    with atomic_write(path, overwrite=True, suffix=".ecsv") as tmp:
        summary.write(tmp, format="ascii.ecsv", overwrite=True)
    return summary
