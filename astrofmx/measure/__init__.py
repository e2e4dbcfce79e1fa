"""Measuring sources on the original pixels: positions, peak and integrated fluxes, sizes.

Given boxes from any finder or detector, `measure_sources` measures each
source with `photutils.segmentation.SourceCatalog` on its footprint (the
pixels of its box above a threshold that are connected to its peak).
"""

from ._measure import *  # noqa: F401, F403
