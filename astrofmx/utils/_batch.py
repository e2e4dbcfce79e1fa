"""Survey-scale batches: run one function over many inputs, resumably, serially or with Dask.

`run_batch` is a generic engine: it knows nothing about detection or
embedding, only about "a function that processes one input and returns a
table or an array". Each input's result is written atomically to its own file
in an output directory, so a batch killed at any point loses nothing that had
finished, and a rerun picks up where it stopped. The helpers `map_batches`
and `LiveCounter` bound and prove the memory of tile-by-tile processing of a
single huge image.
"""

import dataclasses
import functools
import glob
import hashlib
import itertools
import logging
import numbers
import os
import re
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._misc import atomic_write, get_meta
from ._progress import progress_bar as _progress_bar

__all__ = ["BatchResult", "run_batch", "map_batches", "LiveCounter"]

logger = logging.getLogger(__name__)

_EXTENSIONS = {"ecsv": ".ecsv", "fits": ".fits", "parquet": ".parquet", "npy": ".npy"}
_TABLE_FORMATS = ("ecsv", "fits", "parquet")
_ARRAY_FORMATS = ("npy",)
_GLOB_CHARS = re.compile(r"[*?\[]")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".fz", ".zip")
_PARALLEL_HELP = ("parallel must be False, True, a positive int (number of local worker processes), "
                  "'current-scheduler' or a dask.distributed Client")


# ----------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------

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
    """

    summary: "astropy.table.QTable"  # noqa: F821 -- astropy is imported lazily, to keep astrofmx.utils light
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


# ----------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Item:
    index: int
    id: str
    obj: object
    output: Path


def _is_path(obj):
    return isinstance(obj, (str, os.PathLike))


def _stem_of_path(path):
    name = Path(path).name
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(name).stem or name


def _safe(text, limit=60):
    text = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(text)).strip("._") or "input"
    return text[:limit]


def _short_hash(text):
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _expand_inputs(inputs, ids):
    """``[(id, obj, readable_stem)]`` in a stable order."""
    if isinstance(inputs, (str, os.PathLike)):
        text = os.path.expanduser(os.fspath(inputs))
        if isinstance(inputs, str) and _GLOB_CHARS.search(text):
            matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not matches:
                raise ValueError(f"the glob pattern {inputs!r} matched no files")
            inputs = matches
        elif os.path.isdir(text):
            raise ValueError(f"inputs {os.fspath(inputs)!r} is a directory; pass a glob pattern such as "
                             f"{os.path.join(os.fspath(inputs), '*.fits')!r} or a list of files")
        elif os.path.exists(text):
            inputs = [inputs]
        else:
            raise FileNotFoundError(f"inputs {os.fspath(inputs)!r} is neither an existing file nor a glob "
                                    "pattern (with *, ? or [...]) that matches files")
    if isinstance(inputs, Mapping):
        if ids is not None:
            raise ValueError("pass either a mapping {id: input} or ids=, not both")
        ids = list(inputs.keys())
        inputs = list(inputs.values())
    elif isinstance(inputs, (bytes, np.ndarray)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a list of paths or objects, a glob pattern or a mapping "
                        f"{{id: input}}, got {type(inputs).__name__}")
    else:
        inputs = list(inputs)
    if not inputs:
        raise ValueError("inputs is empty: there is nothing to process")
    if ids is not None:
        ids = list(ids)
        if len(ids) != len(inputs):
            raise ValueError(f"ids must have one entry per input ({len(inputs)}), got {len(ids)}")
        bad = [i for i in ids if not isinstance(i, (str, numbers.Integral))]
        if bad:
            raise TypeError(f"ids must be strings or integers, got {bad[0]!r}")
        ids = [str(i) for i in ids]
    entries = []
    for k, obj in enumerate(inputs):
        if ids is not None:
            entries.append((ids[k], obj, _safe(ids[k])))
        elif _is_path(obj):
            path = os.path.abspath(os.path.expanduser(os.fspath(obj)))
            entries.append((path, obj, _safe(_stem_of_path(path))))
        else:
            raise TypeError(f"input {k} is a {type(obj).__name__}, not a path: give objects an id with "
                            "ids=[...] or pass a mapping {id: object}")
    seen = {}
    dups = []
    for id_, _, _ in entries:
        if id_ in seen:
            dups.append(id_)
        seen[id_] = True
    if dups:
        raise ValueError(f"inputs must be unique, got {len(dups)} repeated: {dups[:3]!r}")
    return entries


# ----------------------------------------------------------------------------------------------
# options
# ----------------------------------------------------------------------------------------------

def _check_parallel(parallel):
    """``('serial', None)``, ``('workers', n)``, ``('current', None)`` or ``('client', client)``."""
    if parallel is False or parallel is None:
        return "serial", None
    if parallel is True:
        return "workers", os.cpu_count() or 1
    if isinstance(parallel, numbers.Integral):
        if parallel < 1:
            raise ValueError(f"{_PARALLEL_HELP}, got {parallel!r}")
        return "workers", int(parallel)
    if isinstance(parallel, str):
        if parallel != "current-scheduler":
            raise ValueError(f"{_PARALLEL_HELP}, got {parallel!r}")
        return "current", None
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is a test dependency
        Client = ()
    if Client and isinstance(parallel, Client):
        return "client", parallel
    raise TypeError(f"{_PARALLEL_HELP}, got {type(parallel).__name__}")


def _check_format(output_format):
    if output_format not in _EXTENSIONS:
        raise ValueError(f"output_format must be one of {list(_EXTENSIONS)}, got {output_format!r}")
    if output_format == "parquet":
        import importlib.util

        missing = [m for m in ("pyarrow", "pandas") if importlib.util.find_spec(m) is None]
        if missing:
            raise ImportError(f"output_format='parquet' needs {' and '.join(missing)} (to write and read the "
                              f"results back): pip install {' '.join(missing)}, or use 'ecsv' or 'fits'")
    return output_format


def _prepare_output_dir(output_dir):
    if output_dir is None:
        raise TypeError("output_dir is required: the directory where per-input results are written")
    path = Path(output_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"output_dir {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


# ----------------------------------------------------------------------------------------------
# one input (runs on the workers)
# ----------------------------------------------------------------------------------------------

def _write_table(table, path, fmt):
    if fmt == "parquet":
        from astropy.table import Table

        with atomic_write(path, overwrite=True, suffix=".parquet") as tmp:
            Table(table).write(tmp, format="parquet", overwrite=True)
    else:
        from ..io import write_catalog

        write_catalog(table, path, format="ascii.ecsv" if fmt == "ecsv" else "fits", overwrite=True)


def _read_table(path, fmt):
    if fmt == "parquet":
        from astropy.table import QTable

        return QTable.read(path, format="parquet")
    from ..io import read_catalog

    return read_catalog(path, format="ascii.ecsv" if fmt == "ecsv" else "fits")


def _write_array(array, path):
    with atomic_write(path, overwrite=True, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=False)


def _describe(exc):
    """``'ExceptionType: message'`` on one line, for the summary table."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _n_rows(result):
    return len(result) if np.ndim(result) > 0 else 1


def _run_one(func, func_kwargs, fmt, obj, output):
    """Run ``func`` on one input and write its result atomically; never raises for a failing input."""
    start = time.perf_counter()
    try:
        result = func(obj, **func_kwargs)
    except Exception as exc:  # a failing input is recorded and does not stop the batch
        logger.debug("input failed", exc_info=True)
        return {"status": "failed", "error": _describe(exc), "n_rows": 0,
                "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    from astropy.table import Table

    if isinstance(result, Table):
        kind, wanted = "table", _TABLE_FORMATS
    elif isinstance(result, np.ndarray):
        kind, wanted = "array", _ARRAY_FORMATS
    else:
        return {"status": "bad-result", "n_rows": 0, "seconds": seconds,
                "error": f"func must return an astropy Table/QTable or a numpy array, got {type(result).__name__}"}
    if fmt not in wanted:
        return {"status": "bad-result", "n_rows": 0, "seconds": seconds,
                "error": f"func returned a {'table' if kind == 'table' else 'numpy array'}, which cannot be "
                         f"written as output_format={fmt!r}; use output_format="
                         f"{' or '.join(repr(w) for w in wanted)}"}
    try:
        if kind == "table":
            _write_table(result, output, fmt)
        else:
            _write_array(result, output)
    except Exception as exc:
        logger.debug("writing failed", exc_info=True)
        return {"status": "failed", "error": f"{_describe(exc)} (while writing {output})",
                "n_rows": 0, "seconds": seconds}
    return {"status": "done", "error": "", "n_rows": _n_rows(result), "seconds": seconds}


# ----------------------------------------------------------------------------------------------
# executors: each yields (item, record) as inputs finish
# ----------------------------------------------------------------------------------------------

def _execute_serial(runner, items):
    for item in items:
        yield item, runner(item.obj, item.output)


def _execute_client(runner, items, client, fmt):
    from distributed import as_completed

    # ship func (+ model) once, as a task rather than scattered data: if a worker holding it dies, the
    # scheduler rebuilds it from the task instead of cancelling every input that needs it
    runner_future = client.submit(_identity, runner, pure=False)
    nthreads = sum(client.nthreads().values()) or 1
    window = max(8, 4 * nthreads)  # bounded number of tasks in flight, for batches of millions
    pending = iter(items)
    owner = {}

    def submit(item):
        fut = client.submit(_call, runner_future, item.obj, item.output, pure=False)
        owner[fut.key] = item
        return fut

    queue = as_completed([submit(item) for item in itertools.islice(pending, window)])
    try:
        for fut in queue:
            item = owner.pop(fut.key)
            try:
                record = fut.result()
            except Exception as exc:  # e.g. KilledWorker when a worker dies on this input
                if item.output.exists():  # it finished; only the report was lost with its worker
                    record = {"status": "done", "error": "", "n_rows": _rows_of(item.output, fmt),
                              "seconds": float("nan")}
                else:
                    record = {"status": "failed", "error": _describe(exc), "n_rows": 0,
                              "seconds": float("nan")}
            fut.release()
            nxt = next(pending, None)
            if nxt is not None:
                queue.add(submit(nxt))
            yield item, record
    finally:
        for fut in list(queue.futures):
            fut.cancel()


def _identity(obj):
    return obj


def _call(runner, obj, output):
    return runner(obj, output)


def _execute_local_dask(runner, items):
    import dask

    n_workers = dask.config.get("num_workers", None) or os.cpu_count() or 1
    chunk = max(8, 4 * n_workers)
    it = iter(items)
    while True:
        block = list(itertools.islice(it, chunk))
        if not block:
            return
        tasks = [dask.delayed(runner, pure=False)(item.obj, item.output) for item in block]
        records = dask.compute(*tasks)
        yield from zip(block, records)


def _active_client():
    """The dask.distributed Client behind the current dask scheduler, or None."""
    import dask.base

    try:
        scheduler = dask.base.get_scheduler()
    except Exception:  # pragma: no cover - unusual dask configurations
        return None
    client = getattr(scheduler, "__self__", None)
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover
        return None
    return client if isinstance(client, Client) else None


# ----------------------------------------------------------------------------------------------
# combining
# ----------------------------------------------------------------------------------------------

def _combine_tables(rows, fmt, path, n_inputs):
    from astropy.table import QTable, vstack

    tables = []
    for item in rows:
        table = _read_table(item.output, fmt)
        name = "input" if "input" not in table.colnames else "batch_input"
        table.add_column(np.full(len(table), item.id, dtype=object).astype(str), name=name, index=0)
        tables.append(table)
    lengths = [len(t) for t in tables]
    if not tables:
        return None, lengths
    try:
        combined = vstack(tables, join_type="outer", metadata_conflicts="silent") if len(tables) > 1 \
            else tables[0]
    except Exception as exc:
        raise ValueError(f"the per-input tables in {str(path.parent)!r} cannot be stacked into one catalog "
                         f"({type(exc).__name__}: {exc}); they are all there: read them one by one, or "
                         "pass combine=False") from exc
    combined = QTable(combined)
    combined.meta.update({"batch_inputs": n_inputs, "batch_finished": len(tables)})
    _write_table(combined, path, fmt)
    return combined, lengths


def _combine_arrays(rows, path):
    if not rows:
        return None, None, []
    arrays = [np.load(item.output, mmap_mode="r", allow_pickle=False) for item in rows]
    shapes = [a.shape for a in arrays]
    lengths = [s[0] if s else 1 for s in shapes]
    dtype = np.result_type(*[a.dtype for a in arrays])
    stack = all(s == shapes[0] for s in shapes) and len(shapes[0]) <= 1
    if stack:
        out_shape = (len(arrays),) + shapes[0]
        counts = [1] * len(arrays)
    elif all(len(s) >= 1 for s in shapes) and all(s[1:] == shapes[0][1:] for s in shapes):
        counts = [s[0] for s in shapes]
        out_shape = (sum(counts),) + shapes[0][1:]
    else:
        raise ValueError(f"the per-input arrays in {str(path.parent)!r} cannot be combined: shapes "
                         f"{sorted(set(shapes))[:4]} differ beyond the first axis; pass combine=False")
    with atomic_write(path, overwrite=True, suffix=".npy") as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=out_shape)
        pos = 0
        for arr, n in zip(arrays, counts):
            out[pos:pos + n] = arr[None] if stack else arr
            pos += n
        out.flush()
        del out
    ids = np.repeat(np.array([item.id for item in rows], dtype=str), counts)
    _write_array(ids, path.with_name(path.name[: -len(".npy")] + "_ids.npy"))
    return np.load(path, mmap_mode="r", allow_pickle=False), ids, lengths


def _rows_of(path, fmt):
    """Row count of an existing result file (cheap for npy, fits and parquet)."""
    try:
        if fmt == "npy":
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
            return shape[0] if shape else 1
        if fmt == "fits":
            from astropy.io import fits

            return int(fits.getheader(path, 1).get("NAXIS2", 0))
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(path).metadata.num_rows
        return len(_read_table(path, fmt))
    except Exception as exc:  # a result file that cannot be read is reported, not fatal here
        logger.warning("cannot read the existing result %s: %s", path, exc)
        return -1


# ----------------------------------------------------------------------------------------------
# the engine
# ----------------------------------------------------------------------------------------------

def run_batch(func, inputs, *, output_dir, parallel=False, output_format="ecsv", resume=True, combine=True,
              progress_bar=True, func_kwargs=None, name=None, ids=None):
    """Run ``func`` over many inputs, writing each result atomically; resumable and optionally parallel.

    For every input, ``func(input, **func_kwargs)`` is called and its result
    (an astropy `~astropy.table.Table`/`~astropy.table.QTable`, e.g. a source
    catalog, or a numpy array, e.g. feature vectors) is written to
    ``output_dir/<stem>.<ext>`` through a temporary file in the same directory
    and `os.replace`, so a result file is either complete or absent. The
    ``stem`` is the file name (or the id) plus a short hash of the absolute
    path (or of the id): unique and stable from run to run.

    With ``resume=True`` (default) an input whose result file exists is
    skipped, so after a crash, ``kill -9`` or a lost node the same call picks
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
        A glob pattern (``'survey/**/*.fits'``; matches sorted), one file, a
        list of paths, or arbitrary objects (arrays, NDData, cutouts) with
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
    A rerun skips finished inputs *whatever* ``func_kwargs`` were: to run
    with other settings, use another ``output_dir`` (or ``name``) or
    ``resume=False``. The hash in the file names comes from the absolute
    input path, so moving the input files starts afresh. A process killed
    while writing can leave a hidden temporary file (``.<stem>...``) in
    ``output_dir``; it is never mistaken for a result and can be deleted.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astrofmx.utils import run_batch
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
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if func_kwargs is None:
        func_kwargs = {}
    elif not isinstance(func_kwargs, Mapping):
        raise TypeError(f"func_kwargs must be a dict of keyword arguments, got {type(func_kwargs).__name__}")
    func_kwargs = dict(func_kwargs)
    fmt = _check_format(output_format)
    mode, handle = _check_parallel(parallel)
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    entries = _expand_inputs(inputs, ids)
    outdir = _prepare_output_dir(output_dir)

    tag = "" if name is None else f".{_safe(name)}"
    prefix = "" if name is None else f"{_safe(name)}_"
    ext = _EXTENSIONS[fmt]
    items = [_Item(k, id_, obj, outdir / f"{stem}-{_short_hash(id_)}{tag}{ext}")
             for k, (id_, obj, stem) in enumerate(entries)]
    label = name or getattr(func, "__name__", None) or "batch"

    records = [None] * len(items)
    todo = []
    for item in items:
        if resume and item.output.exists():
            # n_rows is filled in below, from the combined read or from the file itself
            records[item.index] = {"status": "skipped", "error": "", "n_rows": None, "seconds": 0.0}
        else:
            todo.append(item)
    logger.info("%s: %d inputs, %d already finished, %d to run (%s)", label, len(items),
                len(items) - len(todo), len(todo), mode if mode != "workers" else f"{handle} workers")

    runner = functools.partial(_run_one, func, func_kwargs, fmt)
    bar = _progress_bar(total=len(items), desc=label, unit="input", enabled=progress_bar)
    bar.update(len(items) - len(todo))
    cluster = client = None
    stream = iter(())
    try:
        if not todo:
            pass
        elif mode == "serial":
            stream = _execute_serial(runner, todo)
        elif mode == "client":
            stream = _execute_client(runner, todo, handle, fmt)
        elif mode == "current":
            client = _active_client()
            stream = _execute_client(runner, todo, client, fmt) if client is not None \
                else _execute_local_dask(runner, todo)
            client = None  # not ours to close
        else:
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=handle, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
            stream = _execute_client(runner, todo, client, fmt)
        for item, record in stream:
            if record["status"] == "bad-result":
                raise TypeError(f"{record['error']} (input {item.id!r}); the batch stopped, results written "
                                f"so far are kept in {str(outdir)!r}")
            if record["status"] == "failed":
                logger.warning("%s: input %s failed: %s", label, item.id, record["error"])
            records[item.index] = record
            bar.update(1)
    finally:
        bar.close()
        if hasattr(stream, "close"):
            stream.close()  # cancels what is still queued on a cluster
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    catalog = features = feature_ids = combined_path = combine_error = None
    if combine:
        finished = [item for item, r in zip(items, records) if r["status"] in ("done", "skipped")]
        combined_path = outdir / f"{prefix}combined{ext}" if finished else None
        try:
            if fmt == "npy":
                features, feature_ids, lengths = _combine_arrays(finished, combined_path)
            else:
                catalog, lengths = _combine_tables(finished, fmt, combined_path, len(items))
        except ValueError as exc:  # raised after the summary is written
            combine_error, combined_path = exc, None
        else:
            for item, n_rows in zip(finished, lengths):
                records[item.index]["n_rows"] = n_rows
    for item, record in zip(items, records):
        if record["n_rows"] is None:
            record["n_rows"] = _rows_of(item.output, fmt)

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
    summary.meta.update({"batch": label, "output_format": fmt, "parallel": mode})
    with atomic_write(outdir / f"{prefix}summary.ecsv", overwrite=True, suffix=".ecsv") as tmp:
        summary.write(tmp, format="ascii.ecsv", overwrite=True)

    n_failed = int(np.count_nonzero(summary["status"] == "failed"))
    logger.info("%s: %d done, %d skipped, %d failed", label, int(np.count_nonzero(summary["status"] == "done")),
                int(np.count_nonzero(summary["status"] == "skipped")), n_failed)
    if combine_error is not None:
        raise combine_error
    return BatchResult(summary=summary, output_dir=outdir, catalog=catalog, features=features, ids=feature_ids,
                       combined_path=combined_path)


# ----------------------------------------------------------------------------------------------
# memory: one huge image, tile by tile
# ----------------------------------------------------------------------------------------------

def map_batches(func, iterable, *, batch_size):
    """Apply ``func`` to consecutive batches of a (lazy) iterable, holding one batch at a time.

    The batch is released before the next one is drawn, so with a lazy
    source such as `astrofmx.preprocess.iter_tiles` over a memory-mapped
    image at most about ``batch_size`` items exist at once, whatever the
    image size (see `LiveCounter` to check it).

    Parameters
    ----------
    func : callable
        Called with a list of up to ``batch_size`` items.
    iterable : iterable
        The items, e.g. tiles.
    batch_size : int
        Items per batch.

    Yields
    ------
    result
        ``func(batch)`` for each batch, in order.

    Examples
    --------
    >>> from astrofmx.utils import map_batches
    >>> list(map_batches(sum, range(7), batch_size=3))
    [3, 12, 6]
    """
    if not callable(func):
        raise TypeError(f"func must be callable, got {type(func).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    it = iter(iterable)
    while True:
        batch = list(itertools.islice(it, int(batch_size)))
        if not batch:
            return
        result = func(batch)
        del batch  # release the items before the next batch is drawn
        yield result


class LiveCounter:
    """Count how many tracked objects (tiles, arrays) are alive at the same time.

    Each tracked object gets a `weakref.finalize` callback, so the count
    drops the moment the object is freed. ``peak`` then proves a memory bound
    by counting objects rather than by timing or sampling the process memory,
    e.g. that tile-by-tile processing never holds more than a few tiles of a
    huge image.

    Attributes
    ----------
    live : int
        Objects tracked and still alive.
    peak : int
        The largest ``live`` seen.
    total : int
        Objects tracked so far.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.utils import LiveCounter
    >>> counter = LiveCounter()
    >>> for tile in counter.wrap(np.zeros((4, 4)) for _ in range(10)):
    ...     pass
    >>> del tile
    >>> counter.total, counter.peak, counter.live
    (10, 2, 0)
    """

    def __init__(self):
        self.live = 0
        self.peak = 0
        self.total = 0
        self._lock = threading.RLock()  # a finalizer may run (GC) while this thread holds it

    def _release(self):
        with self._lock:
            self.live -= 1

    def track(self, obj):
        """Start counting ``obj`` (it must support weak references); return it unchanged."""
        try:
            weakref.finalize(obj, self._release)
        except TypeError as exc:
            raise TypeError(f"cannot track a {type(obj).__name__}: it does not support weak references "
                            "(numpy arrays, Tile and most class instances do)") from exc
        with self._lock:
            self.live += 1
            self.total += 1
            self.peak = max(self.peak, self.live)
        return obj

    def wrap(self, iterable):
        """Yield the items of ``iterable``, tracking each one."""
        for obj in iterable:
            yield self.track(obj)

    def __repr__(self):
        return f"LiveCounter(live={self.live}, peak={self.peak}, total={self.total})"
