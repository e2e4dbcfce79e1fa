"""Measurements on images: the PSF or beam of an image (`estimate_psf`)."""

from ._psf import *  # noqa: F401, F403
