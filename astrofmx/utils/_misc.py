"""Small helpers shared by every subpackage: provenance, caches, safe file writing."""

import contextlib
import datetime
import functools
import os
import tempfile
from pathlib import Path

__all__ = ["get_meta", "get_cache_dir", "check_overwrite", "atomic_write", "available_cores", "available_memory"]


def available_cores():
    """The number of CPU cores this process may run on (its affinity mask where the OS has one).

    Returns
    -------
    n : int
        At least 1.

    Examples
    --------
    >>> from astrofmx.utils import available_cores
    >>> available_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def available_memory():
    """The memory the system can give this process now, in bytes: ``MemAvailable`` of ``/proc/meminfo``
    (Linux), else the free physical pages that ``os.sysconf`` reports.

    Returns
    -------
    n : int or None
        Bytes, or None where neither can be read.

    Examples
    --------
    >>> from astrofmx.utils import available_memory
    >>> free = available_memory()
    >>> free is None or free > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - platforms without sysconf
        return None


def get_meta():
    """Provenance for catalog metadata: the date and the versions of the main packages.

    Returns
    -------
    meta : dict
        ``{'date': ISO-8601 UTC string, 'version': {package: version}}``.

    Examples
    --------
    >>> from astrofmx.utils import get_meta
    >>> sorted(get_meta()['version'])[:2]
    ['astrofmx', 'astropy']
    """
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    return {"date": now.isoformat(), "version": dict(_versions())}


@functools.lru_cache(maxsize=1)
def _versions():
    """The package versions of `get_meta`, read once per process (each lookup reads package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    import astrofmx

    versions = {"astrofmx": astrofmx.__version__}
    for pkg in ("astropy", "numpy", "photutils", "timm", "torch", "torchvision"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            versions[pkg] = None
    return tuple(versions.items())


def get_cache_dir(cache_dir=None):
    """Directory where downloaded weights and cached embeddings live.

    Order: the ``cache_dir`` argument, the ``ASTROFMX_CACHE`` environment
    variable, then ``$XDG_CACHE_HOME/astrofmx`` (default ``~/.cache/astrofmx``).
    The directory is created if needed.

    Examples
    --------
    >>> from astrofmx.utils import get_cache_dir
    >>> get_cache_dir("/tmp/astrofmx-doctest-cache").name
    'astrofmx-doctest-cache'
    """
    if cache_dir is None:
        cache_dir = os.environ.get("ASTROFMX_CACHE")
    if cache_dir is None:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        cache_dir = Path(base) / "astrofmx"
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir


def check_overwrite(path, overwrite):
    """Raise `FileExistsError` if ``path`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> from astrofmx.utils import check_overwrite
    >>> check_overwrite("/nonexistent/file.ecsv", overwrite=False)
    """
    path = Path(path)
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{str(path)!r} already exists; pass overwrite=True (--overwrite on the command "
                              "line) to replace it")


@contextlib.contextmanager
def atomic_write(path, *, overwrite=False, suffix=None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Readers never see a half-written file, and a crash leaves the target
    untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.utils import atomic_write
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    check_overwrite(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes))
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates the file owner-only (0600); give the result the usual umask-based mode
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
