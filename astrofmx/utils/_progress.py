"""Optional tqdm progress bars."""

__all__ = ["progress_bar"]


class _NoBar:
    """Stand-in with tqdm's iteration/update/close interface that prints nothing."""

    def __init__(self, iterable=None, total=None):
        self.iterable = iterable
        self.total = total
        self.n = 0

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, *args, **kwargs):
        pass

    def set_description(self, *args, **kwargs):
        pass

    def close(self):
        pass


def progress_bar(iterable=None, *, total=None, desc=None, unit="it", enabled=True, leave=False):
    """Wrap ``iterable`` in a tqdm progress bar, or in a silent stand-in.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over; omit it and call ``update`` by hand.
    total : int, optional
        Number of expected items (or units) when ``len(iterable)`` is unknown.
    desc : str, optional
        Text shown in front of the bar.
    unit : str, optional
        Unit name shown by tqdm.
    enabled : bool, optional
        `False` (or tqdm not installed) gives a silent object with the same
        interface.
    leave : bool, optional
        Keep the finished bar on screen.

    Returns
    -------
    bar : `tqdm.tqdm` or silent stand-in
        Supports iteration, ``update(n)``, ``close()`` and use as a context
        manager.

    Examples
    --------
    >>> from astrofmx.utils import progress_bar
    >>> sum(progress_bar(range(4), enabled=False))
    6
    """
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency
            enabled = False
        else:
            return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave)
    return _NoBar(iterable, total)
