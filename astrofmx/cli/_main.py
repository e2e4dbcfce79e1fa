"""The entry point: parse, set up logging, run the command, and report errors and warnings on one line."""

import logging
import sys
import warnings

from ._common import USER_ERRORS, one_line
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
        0 on success, 2 for bad input (one ``astrofmx COMMAND: error: ...``
        line on standard error), 1 when a batch finished with failed inputs.
        Usage errors and ``--help`` exit through `SystemExit`, as argparse does.

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
        except USER_ERRORS as exc:
            print(f"astrofmx {args.command}: error: {one_line(exc)}", file=sys.stderr)
            status = 2
        except RuntimeError as exc:  # a batch finished with failed inputs (reported above)
            print(f"astrofmx {args.command}: error: {one_line(exc)}", file=sys.stderr)
            status = 1
    for w in caught:
        print(f"astrofmx {args.command}: warning: {one_line(w.message)}", file=sys.stderr)
    return status
