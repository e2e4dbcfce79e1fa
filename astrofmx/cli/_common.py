"""What the commands share: argument types, the sub-command parser, output checks and one-line errors.

Only the standard library is imported here, so that listing the commands,
``--help`` and usage errors stay fast (no astropy, no torch).
"""

import argparse
import importlib.util
import os
import re

__all__ = []


class UsageError(ValueError):
    """A command line that cannot work as written (options, input and output paths): exit status 2."""


# failures of the work itself, reported as one line (exit status 1); anything else is a bug and keeps its
# traceback (KeyError, TypeError, AttributeError, a bare OSError...; astrofmx.io.FITSFileError, an input that is
# not a readable FITS file, is one line)
RUNTIME_ERRORS = (ValueError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError,
                  NotADirectoryError, ImportError, RuntimeError, TimeoutError)
USER_ERRORS = RUNTIME_ERRORS  # the errors a command re-raises with more context


def is_runtime_error(exc):
    """Whether ``exc`` is an expected failure (one line, status 1) rather than a bug (traceback)."""
    if isinstance(exc, RUNTIME_ERRORS):
        return True
    from ..io import FITSFileError
    from ..utils import UnsafeCheckpointError, WeightsChecksumError

    return isinstance(exc, (FITSFileError, UnsafeCheckpointError, WeightsChecksumError))


def add_command(sub, name, help, examples, *, parents, description=None):
    """A sub-command parser with the global options (``parents``) and an examples epilog."""
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog="examples:\n" + examples, parents=parents,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_output_flags(parser):
    parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def check_outputs(paths, overwrite, *, folders=()):
    """Before any work: refuse existing outputs without ``overwrite``, and outputs that cannot be written.

    ``folders`` are output folders, created later if missing: their nearest
    existing parent must be a writable folder.
    """
    check_exists(paths, overwrite)
    for path in paths:
        if path is None:
            continue
        path = os.fspath(path)
        if os.path.isdir(path):
            raise UsageError(f"the output {path!r} is a folder, not a file")
        _check_writable_folder(os.path.dirname(os.path.abspath(path)), path, create=False)
    for folder in folders:
        if folder is not None:
            _check_writable_folder(os.fspath(folder), os.fspath(folder), create=True)


def check_exists(paths, overwrite):
    """Refuse outputs (files or folders) that exist, unless ``overwrite``."""
    for path in paths:
        if path is not None and os.path.lexists(path) and not overwrite:
            raise UsageError(f"{os.fspath(path)!r} already exists; pass --overwrite to replace it")


def _check_writable_folder(folder, output, *, create):
    existing = os.path.abspath(folder)  # a relative name ('out') has no parent to walk up to otherwise
    while create and not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        what = "is not a folder" if os.path.exists(existing) else "does not exist"
        raise UsageError(f"cannot write {output!r}: {existing!r} {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {output!r}: the folder {existing!r} is not writable")


def check_inputs(paths):
    """Before any work: each input named on the command line exists and is a file."""
    for path in paths:
        if isinstance(path, (str, os.PathLike)):
            if os.path.isdir(path):
                raise UsageError(f"{os.fspath(path)!r} is a folder; give FITS files or a quoted glob pattern "
                                 f"such as {os.path.join(os.fspath(path), '*.fits')!r}")
            if not os.path.exists(path):
                raise UsageError(f"{os.fspath(path)!r}: no such file")
    return paths


def installed(module):
    return importlib.util.find_spec(module) is not None


def require(modules, why, extra=None):
    """ImportError with the pip command, before any work, when one of ``modules`` is not installed."""
    missing = [m for m in modules if not installed(m)]
    if missing:
        hint = f"pip install {' '.join(missing)}" + (f" (or pip install 'astrofmx[{extra}]')" if extra else "")
        raise ImportError(f"{why} needs {' and '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not "
                          f"installed: {hint}")


def add_image_flags(parser):
    """--hdu and --plane, for the commands that read FITS images."""
    group = parser.add_argument_group("which image in the FITS file")
    group.add_argument("--hdu", type=hdu_arg,
                       help="HDU to read: an index (0, 1...), an EXTNAME ('SCI') or EXTNAME,EXTVER ('SCI,2') "
                            "(default: the only HDU with image data)")
    group.add_argument("--plane", type=plane_arg,
                       help="2-D plane of a cube: an index of its extra axis, or one index per extra axis as "
                            "'0,1' (numpy order)")


def image_options(args):
    return {"hdu": getattr(args, "hdu", None), "plane": getattr(args, "plane", None)}


def read_image(path, args):
    """`astrofmx.io.load_image` of ``path`` with ``--hdu``/``--plane``; an unreadable file is a ValueError."""
    from ..io import load_image

    try:
        return load_image(path, **image_options(args))
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except OSError as exc:  # astropy's "not a FITS file", truncated files...: a problem of this input
        raise ValueError(f"{one_line(exc)}") from exc


def one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def plural(n, word, words=None):
    """'1 tile', '2 tiles'."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def print_table(table, max_lines=40):
    for line in table.pformat(max_lines=max_lines, max_width=-1):
        print(line)


def expand_paths(patterns):
    """Command-line inputs -> existing files: a quoted glob pattern becomes its sorted matches."""
    from ..survey import expand_inputs

    try:
        paths = expand_inputs(list(patterns))
    except ValueError as exc:  # a pattern that matches nothing
        raise UsageError(one_line(exc)) from exc
    return check_inputs(paths)


# ----------------------------------------------------------------------------- argument types
def quantity(text):
    """argparse type: '7.2arcmin', '20 uJy/beam', '3pix' -> Quantity; a plain number stays a float."""
    try:
        return float(text)
    except ValueError:
        pass
    import astropy.units as u

    try:
        return u.Quantity(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a quantity such as '7.2arcmin'") from exc


def weights_arg(text):
    """'pretrained' | 'none' (random initialisation, for testing) | a local weights file."""
    return None if text.lower() == "none" else text


def parallel_arg(text):
    """argparse type of --parallel: 'no', an int or 'current-scheduler'."""
    if text.lower() in ("no", "false", "0"):
        return False
    if text == "current-scheduler":
        return text
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--parallel must be a number of worker processes or "
                                         f"'current-scheduler', got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"--parallel must be at least 1, got {value}")
    return value


def _bounded(convert, what, low, high=None):
    """An argparse type: ``convert(text)`` within [low, high], else an error naming ``what`` was expected."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from exc
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


def hdu_arg(text):
    """argparse type of --hdu: an int, an EXTNAME, or EXTNAME,EXTVER."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("--hdu must be an index, an EXTNAME or EXTNAME,EXTVER, got ''")
    try:
        value = int(text)
    except ValueError:
        pass
    else:
        if value < 0:
            raise argparse.ArgumentTypeError(f"--hdu must be a non-negative index, got {value}")
        return value
    if "," in text:
        name, _, ver = text.partition(",")
        try:
            return (name.strip(), int(ver))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--hdu EXTNAME,EXTVER needs an integer EXTVER, got {text!r}") from None
    return text


def plane_arg(text):
    """argparse type of --plane: an int, or comma-separated ints."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--plane must be an integer or integers separated by commas "
                                         f"(e.g. 0 or 0,1), got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--plane indices must be non-negative, got {text!r}")
    return values[0] if len(values) == 1 else values


_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def device_arg(text):
    """``--device``: checked before torch is imported (cpu, cuda, cuda:N, mps)."""
    if not _DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or mps, got {text!r}")
    return text


def batch_size_arg(text):
    """argparse type of --batch-size: 'auto' or a positive integer."""
    if text.lower() == "auto":
        return "auto"
    return positive_int(text)


def time_limit_arg(text):
    """argparse type of --time-limit: positive seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--time-limit must be a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--time-limit must be a positive number of seconds, got {text!r}")
    return value


positive_int = _bounded(int, "a positive integer", 1)
non_negative_int = _bounded(int, "an integer >= 0", 0)
fraction = _bounded(float, "a number in [0, 1]", 0.0, 1.0)
