"""Device selection and mixed-precision helpers."""

import contextlib
import functools
import logging
import numbers

__all__ = ["resolve_device", "cpu_supports_bf16", "resolve_precision", "autocast", "fit_batch_size",
           "resolve_batch_size"]

logger = logging.getLogger(__name__)

_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_device(device=None):
    """Return a `torch.device`, choosing CUDA when available if ``device`` is None.

    Parameters
    ----------
    device : None, str or `torch.device`
        ``None`` picks ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Returns
    -------
    device : `torch.device`

    Raises
    ------
    ValueError
        If ``device`` is not a valid device string, or names CUDA on a machine
        without a GPU.

    Examples
    --------
    >>> from astrofmx.utils import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but no CUDA GPU is available; use device='cpu'")
    return dev


@functools.lru_cache(maxsize=1)
def cpu_supports_bf16():
    """Whether this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX).

    Examples
    --------
    >>> from astrofmx.utils import cpu_supports_bf16
    >>> isinstance(cpu_supports_bf16(), bool)
    True
    """
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    try:
        import torch

        return torch.backends.cpu.get_cpu_capability() in {"AVX512_BF16", "AMX"}
    except Exception:  # pragma: no cover
        return False


def resolve_precision(precision, device):
    """Turn ``precision`` ('auto', 'fp32', 'bf16', 'fp16') into a concrete choice for ``device``.

    'auto' gives 'bf16' on CUDA devices that support it and on CPUs with
    native bf16 instructions, otherwise 'fp32'.

    Examples
    --------
    >>> from astrofmx.utils import resolve_precision
    >>> resolve_precision("fp32", "cpu")
    'fp32'
    """
    import torch

    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision != "auto":
        if precision == "fp16" and device.type == "cpu":
            raise ValueError("precision='fp16' is only supported on CUDA devices; use 'bf16' or 'fp32' on CPU")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_supports_bf16() else "fp32"


def autocast(device, precision="auto"):
    """Context manager running the enclosed forward passes in the resolved precision.

    Examples
    --------
    >>> import torch
    >>> from astrofmx.utils import autocast
    >>> with autocast("cpu", "fp32"):
    ...     y = torch.ones(2) * 2
    """
    import torch

    device = torch.device(device)
    precision = resolve_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def fit_batch_size(per_item_bytes, free_bytes, *, fraction=0.7, maximum=512):
    """Largest power-of-two batch whose activations fit in ``fraction`` of the free device memory.

    Parameters
    ----------
    per_item_bytes : int
        Device memory one item of a batch needs (measured, see
        `resolve_batch_size`).
    free_bytes : int
        Free device memory.
    fraction : float, optional
        Share of the free memory a batch may use (leaves room for the
        allocator's fragmentation and other processes).
    maximum : int, optional
        Upper bound (larger batches rarely run faster).

    Returns
    -------
    batch_size : int
        At least 1.

    Examples
    --------
    >>> from astrofmx.utils import fit_batch_size
    >>> fit_batch_size(per_item_bytes=300 * 2**20, free_bytes=80 * 2**30)  # 300 MiB per image, 80 GiB free
    128
    """
    if not per_item_bytes > 0:
        raise ValueError(f"per_item_bytes must be positive, got {per_item_bytes!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    n = int(fraction * max(free_bytes, 0) // per_item_bytes)
    if n < 1:
        return 1
    return int(min(maximum, 2 ** (n.bit_length() - 1)))


def resolve_batch_size(batch_size, device, probe, *, cpu_default, probe_items=2, maximum=512):
    """Turn ``batch_size`` (an int, or 'auto') into a number of items per forward pass.

    'auto' gives ``cpu_default`` on a CPU. On a CUDA device it runs
    ``probe(probe_items)`` (a forward pass on a batch of that many items),
    measures the peak memory it allocated per item and returns
    `fit_batch_size` of the free memory, so that batches fill the GPU
    without running out of memory.

    Parameters
    ----------
    batch_size : int or 'auto'
    device : `torch.device`
    probe : callable
        ``probe(n)`` runs the model on ``n`` items on ``device``.
    cpu_default : int
        The 'auto' batch size on a CPU.
    probe_items : int, optional
        Items in the probe batch.
    maximum : int, optional
        Largest batch returned for 'auto'.

    Returns
    -------
    batch_size : int

    Examples
    --------
    >>> import torch
    >>> from astrofmx.utils import resolve_batch_size
    >>> resolve_batch_size("auto", torch.device("cpu"), probe=None, cpu_default=8)
    8
    >>> resolve_batch_size(32, torch.device("cpu"), probe=None, cpu_default=8)
    32
    """
    import torch

    if isinstance(batch_size, str):
        if batch_size != "auto":
            raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
    elif isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
    else:
        return int(batch_size)
    device = torch.device(device)
    if device.type != "cuda":
        return int(cpu_default)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    probe(probe_items)
    torch.cuda.synchronize(device)
    per_item = max(1, (torch.cuda.max_memory_allocated(device) - before) // probe_items)
    free, _ = torch.cuda.mem_get_info(device)
    n = fit_batch_size(per_item, free, maximum=maximum)
    logger.info("batch_size='auto': %.1f MiB per item, %.1f GiB free on %s -> %d", per_item / 2**20,
                free / 2**30, device, n)
    return n
