"""Simulated fields, synthetic galaxies, bundled files and data-set loaders."""

from ._bundled import *  # noqa: F401, F403
