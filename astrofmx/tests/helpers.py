"""Helpers for astrofmx's tests: counting live objects to prove memory bounds, and failing a hang."""

import threading
import weakref

__all__ = ["LiveCounter", "finishes"]


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
    >>> from astrofmx.tests.helpers import LiveCounter
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


def finishes(func, *args, limit=60.0, **kwargs):
    """Run ``func(*args, **kwargs)`` in a thread; fail if it is still running after ``limit`` seconds (a hang).

    Returns what ``func`` returns and raises what it raises. The thread is a
    daemon, so a hung call does not keep the test process alive.

    Examples
    --------
    >>> from astrofmx.tests.helpers import finishes
    >>> finishes(sum, [1, 2, 3], limit=5)
    6
    """
    result = {}

    def target():
        try:
            result["value"] = func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised in the calling thread
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"{getattr(func, '__name__', func)} did not return within {limit} s"
    if "error" in result:
        raise result["error"]
    return result["value"]
