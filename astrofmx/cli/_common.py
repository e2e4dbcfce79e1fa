"""What the commands share: argument types, the sub-command parser, output checks and one-line errors.

Only the standard library is imported here, so that listing the commands,
``--help`` and usage errors stay fast (no astropy, no torch).
"""

import argparse

__all__ = []

# exceptions that mean "bad input", reported as one line rather than a traceback
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError, OSError, KeyError)


def add_command(sub, name, help, examples, *, parents, description=None):
    """A sub-command parser with the global options (``parents``) and an examples epilog."""
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog="examples:\n" + examples, parents=parents,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_output_flags(parser):
    parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def check_outputs(paths, overwrite):
    """Refuse existing output files (before any work is done) unless ``overwrite``."""
    from ..utils import check_overwrite

    for path in paths:
        if path is not None:
            check_overwrite(path, overwrite)


def one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def print_table(table, max_lines=40):
    for line in table.pformat(max_lines=max_lines, max_width=-1):
        print(line)


def expand_paths(patterns):
    """Command-line inputs -> paths: a quoted glob pattern (not an existing file) becomes its sorted matches."""
    from ..survey import expand_inputs

    return expand_inputs(list(patterns))


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


positive_int = _bounded(int, "a positive integer", 1)
fraction = _bounded(float, "a number in [0, 1]", 0.0, 1.0)
