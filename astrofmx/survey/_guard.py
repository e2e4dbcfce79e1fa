"""Guards of one input: a lock file per result (concurrent runs share the work) and a time limit.

A lock is ``.<result name>.lock`` next to the result, created atomically
(``O_CREAT | O_EXCL``) and holding ``<host> <pid>``; a lock whose process is
dead (same host) is stale and is taken over. The time limit raises an
exception in the thread that runs the input once the limit has passed, so it
works serially and on Dask worker threads alike.
"""

import ctypes
import logging
import os
import socket
import threading
import time

__all__ = []

logger = logging.getLogger(__name__)

_HOST = socket.gethostname()
_UNREADABLE_STALE_S = 60.0  # a lock file without a pid (its writer died between create and write)


def _lock_path(output):
    return output.with_name(f".{output.name}.lock")


def _pid_alive(pid):
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):  # no /proc (macOS): trust kill(pid, 0)
        return True


def _holder(lock):
    """``(host, pid)`` of a lock file, or None when it cannot be read."""
    try:
        host, pid = lock.read_text().split()
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _is_stale(lock):
    """True when the process holding ``lock`` is known to be dead (or the lock was never completed)."""
    holder = _holder(lock)
    if holder is None:
        try:
            return time.time() - lock.stat().st_mtime > _UNREADABLE_STALE_S
        except FileNotFoundError:
            return True
    host, pid = holder
    return host == _HOST and not _pid_alive(pid)


def _acquire(output):
    """Create the lock of ``output``; its path, or None when a live process holds it."""
    lock = _lock_path(output)
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _is_stale(lock):
                return None
            logger.warning("removing the stale lock %s (held by %s, which is no longer running)", lock,
                           _holder(lock))
            try:
                lock.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{_HOST} {os.getpid()}\n")
        return lock
    return None


def _release(lock):
    try:
        lock.unlink()
    except FileNotFoundError:
        pass


def _wait_unlocked(output, poll=0.2):
    """Wait while another live process holds the lock of ``output`` (a stale lock ends the wait)."""
    lock = _lock_path(output)
    logged = False
    while lock.exists() and not _is_stale(lock):
        if not logged:
            logger.info("waiting for %s, which another process (%s) is computing", output.name, _holder(lock))
            logged = True
        time.sleep(poll)


class _TimeLimitExceeded(BaseException):
    """Raised inside the input's thread when its time limit has passed (a BaseException: not swallowed by the
    ``except Exception`` of the function itself)."""


def _raise_in(thread_id, exc_type):
    return ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                                      ctypes.py_object(exc_type) if exc_type else None)


def _call_with_time_limit(func, obj, kwargs, time_limit):
    """``func(obj, **kwargs)``; TimeoutError once ``time_limit`` seconds have passed (None: no limit).

    The exception is raised between two Python operations of ``func``: a
    single long call into compiled code (one model forward pass) finishes
    first.
    """
    if time_limit is None:
        return func(obj, **kwargs)
    thread_id = threading.get_ident()
    state = {"active": True, "fired": False}
    guard, done = threading.Lock(), threading.Event()

    def watchdog():  # fires again until func stops: Python drops an exception that lands in a finalizer
        wait = time_limit
        while not done.wait(wait):
            with guard:
                if not state["active"]:
                    return
                state["fired"] = True
                _raise_in(thread_id, _TimeLimitExceeded)
            wait = _REFIRE_S

    timer = threading.Thread(target=watchdog, name="astrofmx-time-limit", daemon=True)
    start = time.perf_counter()
    try:
        try:
            timer.start()
            result = func(obj, **kwargs)
        finally:
            with guard:
                state["active"] = False
            done.set()
            _raise_in(thread_id, None)  # clear a limit that fired but was not delivered yet
    except _TimeLimitExceeded:
        raise _timed_out(start, time_limit) from None
    if state["fired"]:  # the limit passed, but its exception was dropped (in a finalizer) or came too late
        raise _timed_out(start, time_limit)
    return result


#: seconds between two deliveries of the time limit's exception, while the input still runs
_REFIRE_S = 0.05


def _timed_out(start, time_limit):
    return TimeoutError(f"stopped after {time.perf_counter() - start:.3g} s: the time limit is {time_limit:g} s "
                        "per input (time_limit=, --time-limit on the command line); this input is left "
                        "unfinished, a rerun tries it again")


def _check_time_limit(time_limit):
    if time_limit is None:
        return None
    if isinstance(time_limit, bool) or not isinstance(time_limit, (int, float)) or not time_limit > 0 \
            or time_limit != time_limit or time_limit == float("inf"):
        raise ValueError(f"time_limit must be a positive number of seconds per input (or None), got {time_limit!r}")
    return float(time_limit)
