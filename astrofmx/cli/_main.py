"""The entry point: parse, set up logging, run the command, and report errors and warnings on one line."""

import logging
import sys
import warnings

from ._common import UsageError, is_runtime_error, one_line
from ._parser import parse_args

__all__ = ["main"]


def _setup_logging(verbose):
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), format="%(levelname)s %(name)s: %(message)s")
    if verbose == 0:
        # PyBDSF logs every step at DEBUG level and its records reach our handler; it prints warnings itself
        logging.getLogger("PyBDSF").propagate = False


def main(argv=None):
    """Run the ``astrofmx`` command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success; 2 for a usage error: a command line that cannot work
        as written (bad or conflicting options, a missing input file, an
        existing output without ``--overwrite``), found before any work
        starts; 1 for a failure of the work itself (an unreadable file, a
        missing optional package, a batch with failed inputs). Both print one
        ``astrofmx COMMAND: error: ...`` line on standard error. Argument
        errors and ``--help`` exit through `SystemExit` (status 2 and 0), as
        argparse does. Anything else is a bug and keeps its traceback.

    Examples
    --------
    >>> import os, tempfile
    >>> from astrofmx.cli import main
    >>> path = os.path.join(tempfile.mkdtemp(), "sim.fits")
    >>> main(["simulate", path, "--shape", "64", "64", "--n-sources", "3", "--quiet"])  # doctest: +ELLIPSIS
    simulated a 64 x 64 radio field with 3 sources (rms ...) -> ...sim.fits
    0
    """
    args = parse_args(argv)
    _setup_logging(args.verbose)
    # astropy's logger takes over warnings.showwarning when it is first imported: import it before recording
    import astropy.logger  # noqa: F401

    status = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            args.func(args)
            sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's flush at exit
        except UsageError as exc:
            print(f"astrofmx {args.command}: error: {one_line(exc)}", file=sys.stderr)
            status = 2
        except BrokenPipeError:  # the reader of stdout has gone (`astrofmx ... | head`): stop quietly
            _silence_stdout()
            return 1
        except Exception as exc:
            if not is_runtime_error(exc):
                raise  # a bug: keep the traceback
            print(f"astrofmx {args.command}: error: {one_line(exc)}", file=sys.stderr)
            status = 1
    # once each: library code that sets its own warning filters resets the registry that dedupes them
    for message in dict.fromkeys(one_line(w.message) for w in caught):
        print(f"astrofmx {args.command}: warning: {message}", file=sys.stderr)
    return status


def _silence_stdout():
    """Point stdout at /dev/null, so that the interpreter's flush at exit does not fail on the closed pipe again
    (what the Python documentation advises for SIGPIPE)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured in tests)
        pass
