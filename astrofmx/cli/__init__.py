"""The ``astrofmx`` command line (also ``python -m astrofmx``).

Each sub-command is a thin layer over the library, one module per command:
it parses arguments, calls the public API, writes files (never over existing
ones without ``--overwrite``) and prints a short summary. Options, inputs,
outputs and optional packages are checked before the work starts: a usage
error ends with a one-line message and exit status 2, a failure of the work
with one line and status 1, and anything else (a bug) keeps its traceback.
Heavy packages (astropy tables, torch) are imported inside the commands,
after those checks, so that listing commands and backbones, ``--help`` and
usage errors stay fast.
"""

from ._main import *  # noqa: F401, F403
