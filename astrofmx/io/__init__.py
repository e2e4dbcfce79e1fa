"""Reading FITS images with their WCS, and writing catalogs and DS9 regions."""

from ._catalog import *  # noqa: F401, F403
