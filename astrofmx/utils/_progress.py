"""tqdm progress bars that can be switched off."""

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, total=None, desc=None, unit="it", enabled=True, leave=False):
    """Wrap ``iterable`` in a `tqdm.tqdm` progress bar, silent when ``enabled`` is False.

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
        `False` gives a disabled bar (``tqdm(disable=True)``): it iterates
        and accepts ``update``, ``set_postfix`` and ``close`` but prints
        nothing.
    leave : bool, optional
        Keep the finished bar on screen.

    Returns
    -------
    bar : `tqdm.tqdm`
        From `tqdm.auto` (a widget in notebooks); supports iteration,
        ``update(n)``, ``close()`` and use as a context manager.

    Examples
    --------
    >>> from astrofmx.utils import progress_bar
    >>> sum(progress_bar(range(4), enabled=False))
    6
    >>> with progress_bar(total=3, enabled=False) as bar:
    ...     bar.update(3)
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=not enabled)
