"""Batches of a (lazy) iterable, one batch alive at a time, and running an iterator one step ahead."""

import itertools
import numbers

__all__ = ["map_batches", "prefetch"]


def prefetch(iterator, *, name="astrofmx-prefetch"):
    """Yield the items of ``iterator``, computing each next one in a worker thread while the caller works.

    The preparation of the next batch (reading FITS, normalizing, resampling:
    numpy, astropy and torch release the GIL for most of it) then overlaps the
    caller's forward pass. One item is computed ahead, so at most two exist
    at once. Exceptions of the iterator are raised in the caller.

    Parameters
    ----------
    iterator : iterator
        Any iterator (a generator, ``iter(list)``).
    name : str, optional
        Prefix of the worker thread's name.

    Examples
    --------
    >>> from astrofmx.utils import prefetch
    >>> list(prefetch(x * x for x in range(4)))
    [0, 1, 4, 9]
    """
    import concurrent.futures

    sentinel = object()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        future = pool.submit(next, iterator, sentinel)
        while True:
            value = future.result()
            if value is sentinel:
                return
            future = pool.submit(next, iterator, sentinel)
            yield value


def map_batches(func, iterable, *, batch_size):
    """Apply ``func`` to consecutive batches of a (lazy) iterable, holding one batch at a time.

    The batch is released before the next one is drawn, so with a lazy
    source such as `astrofmx.preprocess.iter_tiles` over a memory-mapped
    image at most about ``batch_size`` items exist at once, whatever the
    image size.

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
