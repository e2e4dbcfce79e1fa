"""Measuring sources on the original pixels: the image's PSF or beam, positions, fluxes and sizes.

`estimate_psf` measures the PSF/beam of an image from its bright, isolated
compact sources; given boxes from any finder or detector, `measure_sources`
measures each source with `photutils.segmentation.SourceCatalog` on its
footprint (the pixels of its box above a threshold that are connected to its
peak).
"""

from ._measure import *  # noqa: F401, F403
from ._psf import *  # noqa: F401, F403
