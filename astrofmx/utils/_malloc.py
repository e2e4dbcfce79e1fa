"""Keeping the C allocator from handing every large activation fresh, zeroed pages (glibc ``mallopt``).

torch allocates CPU tensors with the C library's ``malloc``. glibc serves
blocks above its mmap threshold (dynamic, at most 32 MiB) with a fresh
``mmap`` each time and returns freed memory at the top of the heap to the
system above its trim threshold, so a network that allocates the same
large activations batch after batch takes a page fault for every 4 KiB of
each of them, every time. Measured with the embedded default detector on
96 tiles of 384 x 384 (batches of 8, bf16, 2 threads; a 2-core Xeon):
454,000-467,000 minor page faults per pass and 2.8-3.8 s, against
1,500-3,200 faults and 2.5-2.9 s with both thresholds at 256 MiB, three
runs of each alternating.

Why not a different allocator: jemalloc or tcmalloc (``LD_PRELOAD``, as
PyTorch's CPU performance guide suggests) do the same and more, but must be
installed and preloaded before Python starts; ``mallopt`` is part of glibc
and can be set from a running process.
"""

import ctypes
import ctypes.util
import functools
import logging
import os

__all__ = ["tune_cpu_allocator"]

logger = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3

#: the thresholds set: blocks up to this size come from the heap, and up to this much freed memory is kept
THRESHOLD_BYTES = 256 * 2**20

_ENV = "ASTROFMX_MALLOC_TUNING"


@functools.cache  # once per process
def tune_cpu_allocator():
    """Let glibc's ``malloc`` reuse freed memory for large CPU tensors (once per process).

    Sets glibc's mmap and trim thresholds (``mallopt``) to
    `THRESHOLD_BYTES`, so that the activations a network allocates and frees
    batch after batch are reused from the heap instead of being mapped and
    zeroed afresh each time (see the module docstring for the measurement).
    The process then keeps up to that much freed memory for reuse. This is
    done by `~astrofmx.detect_sources` and `~astrofmx.backbones.embed` on
    CPU; it does nothing where the C
    library is not glibc, or when the environment variable
    ``ASTROFMX_MALLOC_TUNING`` is ``0``.

    Returns
    -------
    tuned : bool
        Whether the thresholds are set (now or by an earlier call).

    Examples
    --------
    >>> from astrofmx.utils import tune_cpu_allocator
    >>> tune_cpu_allocator() in (True, False)
    True
    """
    if os.environ.get(_ENV, "1").strip() == "0":
        logger.debug("%s=0: malloc left as it is", _ENV)
        return False
    mallopt = _mallopt()
    if mallopt is None:
        logger.debug("no glibc mallopt here: malloc left as it is")
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, THRESHOLD_BYTES) == 1 and mallopt(_M_TRIM_THRESHOLD, THRESHOLD_BYTES) == 1
    logger.debug("glibc malloc mmap/trim thresholds %s to %d MiB", "set" if ok else "not set",
                 THRESHOLD_BYTES >> 20)
    return ok


def _mallopt():
    """glibc's ``mallopt`` as a ctypes function, or None where the C library has none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ctypes.CDLL(None).gnu_get_libc_version  # glibc only (musl and macOS have no such symbol)
    except (OSError, AttributeError):
        return None
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt
