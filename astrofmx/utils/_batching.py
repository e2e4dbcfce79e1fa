"""Batches of a (lazy) iterable, one batch alive at a time, and running an iterator one step ahead."""

import itertools
import numbers

__all__ = ["map_batches", "prefetch", "prefetch_helps"]


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


def prefetch_helps(device):
    """Whether preparing the next batch in a thread (`prefetch`) can overlap a model running on ``device``.

    On a GPU the CPU is free while the model runs; on a CPU only where torch
    leaves a core idle (fewer torch threads than available cores). Where
    torch's threads fill every core, the thread competes with them. Measured
    on 2 cores (2 torch threads, bf16, side by side): `~astrofmx.embed` of 256
    radio cutouts with a ResNet-18 ran at 0.80 of the bare forward with the
    thread and 0.90 without; `~astrofmx.detect_sources` on 4096 x 4096 took
    19.1-19.4 s with it against 17.7-18.9 s without.

    Parameters
    ----------
    device : `torch.device` or str
        Where the model runs.

    Returns
    -------
    bool

    Examples
    --------
    >>> from astrofmx.utils import prefetch_helps
    >>> prefetch_helps("cuda")
    True
    """
    import torch

    from ._misc import available_cores

    return torch.device(device).type != "cpu" or torch.get_num_threads() < available_cores()


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
