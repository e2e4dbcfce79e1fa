"""Running the inputs of a batch: one input on a worker, and the serial and Dask executors.

Each executor yields ``(item, record)`` as inputs finish; a record is the dict
``{status, error, n_rows, seconds}`` of one summary row.
"""

import contextlib
import itertools
import logging
import numbers
import os
import time

import numpy as np

from ._guard import _acquire, _call_with_time_limit, _release
from ._storage import _ARRAY_FORMATS, _TABLE_FORMATS, _rows_of, _write_array, _write_table

__all__ = []

logger = logging.getLogger(__name__)

_PARALLEL_HELP = ("parallel must be False, True, a positive int (number of local worker processes), "
                  "'current-scheduler' or a dask.distributed Client")


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


# ----------------------------------------------------------------------------------------------
# one input (runs on the workers)
# ----------------------------------------------------------------------------------------------

def _describe(exc):
    """``'ExceptionType: message'`` on one line, for the summary table."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _n_rows(result):
    return len(result) if np.ndim(result) > 0 else 1


def _result_kind_error(result, fmt):
    """``(kind, None)`` for a result that ``fmt`` can store, else ``(None, message)``."""
    from astropy.table import Table

    if isinstance(result, Table):
        kind, wanted = "table", _TABLE_FORMATS
    elif isinstance(result, np.ndarray):
        kind, wanted = "array", _ARRAY_FORMATS
    else:
        return None, f"func must return an astropy Table/QTable or a numpy array, got {type(result).__name__}"
    if fmt not in wanted:
        return None, (f"func returned a {'table' if kind == 'table' else 'numpy array'}, which cannot be "
                      f"written as output_format={fmt!r}; use output_format="
                      f"{' or '.join(repr(w) for w in wanted)}")
    return kind, None


def _run_one(func, func_kwargs, fmt, obj, output, *, time_limit=None, resume=True):
    """Run ``func`` on one input and write its result atomically; never raises for a failing input.

    The input's lock file is held meanwhile: an input that another live
    process holds is not computed (status ``'locked'``). With ``resume``, an
    input whose result appeared since the batch listed its inputs (another
    process finished it, or a worker that died after writing it) is not
    computed again: it is ``'done'`` in this run.
    """
    lock = _acquire(output)
    if lock is None:
        return {"status": "locked", "error": "", "n_rows": 0, "seconds": 0.0}
    try:
        if resume and output.exists():  # finished since this run listed the inputs
            return {"status": "done", "error": "", "n_rows": None, "seconds": 0.0}
        return _compute(func, func_kwargs, fmt, obj, output, time_limit)
    finally:
        _release(lock)


def _compute(func, func_kwargs, fmt, obj, output, time_limit):
    start = time.perf_counter()
    try:
        result = _call_with_time_limit(func, obj, func_kwargs, time_limit)
    except Exception as exc:  # a failing input is recorded and does not stop the batch
        logger.debug("input failed", exc_info=True)
        return {"status": "failed", "error": _describe(exc), "n_rows": 0,
                "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    kind, error = _result_kind_error(result, fmt)
    if error is not None:
        return {"status": "bad-result", "n_rows": 0, "seconds": seconds, "error": error}
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


def _lost_record(item, exc, fmt):
    """The record of an input whose future raised (e.g. KilledWorker when its worker died)."""
    if item.output.exists():  # it finished; only the report was lost with its worker
        return {"status": "done", "error": "", "n_rows": _rows_of(item.output, fmt), "seconds": float("nan")}
    return {"status": "failed", "error": _describe(exc), "n_rows": 0, "seconds": float("nan")}


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
                record = _lost_record(item, exc, fmt)
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


@contextlib.contextmanager
def _execution(mode, handle, runner, items, fmt):
    """The ``(item, record)`` stream of the executor of ``mode``; closes what it started on exit.

    Leaving early (an exception in the caller) cancels what is still queued
    on a cluster; a local cluster started here is closed, a client passed by
    the user or found as the current scheduler is left open.
    """
    cluster = client = None
    stream = iter(())
    try:
        if not items:
            pass
        elif mode == "serial":
            stream = _execute_serial(runner, items)
        elif mode == "client":
            stream = _execute_client(runner, items, handle, fmt)
        elif mode == "current":
            current = _active_client()
            stream = _execute_client(runner, items, current, fmt) if current is not None \
                else _execute_local_dask(runner, items)
        else:
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=handle, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
            stream = _execute_client(runner, items, client, fmt)
        yield stream
    finally:
        if hasattr(stream, "close"):
            stream.close()  # cancels what is still queued on a cluster
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
