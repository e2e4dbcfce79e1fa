"""Device selection and mixed-precision helpers."""

import contextlib
import functools
import logging

__all__ = ["resolve_device", "cpu_supports_bf16", "resolve_precision", "autocast"]

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
