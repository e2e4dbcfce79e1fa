"""The ``astrofmx`` command line (also ``python -m astrofmx``).

Each sub-command is a thin layer over the library, one module per command:
it parses arguments, calls the public API, writes files (never over existing
ones without ``--overwrite``) and prints a short summary. Errors caused by the
input end with a one-line message and exit status 2. Heavy packages (astropy
tables, torch) are imported inside the commands, so that listing them,
``--help`` and usage errors stay fast.
"""

from ._main import *  # noqa: F401, F403
