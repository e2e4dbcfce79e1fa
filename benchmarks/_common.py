"""Running the four source finders the benchmarks compare, each importing only what it needs."""

import importlib
import warnings

FINDERS = ("default", "photutils", "sep", "pybdsf")

# the libraries each finder's first call would otherwise import inside a timed region: each finder's own
# (the default's torch, torchvision and timm for its network, photutils for its measurements), so that wall
# times compare the work, not the imports; the default's model is still loaded inside the timed call
_IMPORTS = {"default": ("torch", "torchvision", "timm", "photutils.segmentation", "astrofmx.detection"),
            "photutils": ("astrofmx.compare", "photutils.segmentation"),
            "sep": ("astrofmx.compare", "sep"), "pybdsf": ("astrofmx.compare", "bdsf")}


def import_finder(name, *, threads=None):
    """Import the modules finder ``name`` uses (so that timing it does not time imports).

    The classical finders do not import torch; ``threads`` sets torch's thread count for ``'default'``.
    """
    if name not in _IMPORTS:
        raise ValueError(f"unknown finder {name!r}; expected one of {FINDERS}")
    for module in _IMPORTS[name]:
        importlib.import_module(module)
    if name == "default" and threads is not None:
        import torch

        torch.set_num_threads(threads)


def run_finder(name, image):
    """The catalog of finder ``name`` on ``image`` (anything `astrofmx.io.load_image` accepts), defaults only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "default":
            from astrofmx.detection import detect_sources

            return detect_sources(image, progress_bar=False)
        from astrofmx import compare

        finder = {"photutils": compare.find_sources_photutils, "sep": compare.find_sources_sep,
                  "pybdsf": compare.find_sources_pybdsf}.get(name)
        if finder is None:
            raise ValueError(f"unknown finder {name!r}; expected one of {FINDERS}")
        return finder(image)
