"""astrofmx: pretrained vision foundation models for astronomical FITS images.

The package follows the data flow load -> preprocess -> backbone -> head ->
catalog, one subpackage per step:

- `astrofmx.io`: FITS/WCS loading, catalogs and DS9 regions
- `astrofmx.preprocess`: normalization, resampling, tiling and cutouts
- `astrofmx.backbones`: the foundation-model registry and `embed`
- `astrofmx.classification`: linear probes and supervised baselines
- `astrofmx.detection`: Faster R-CNN source detection
- `astrofmx.compare`: classical finders, cross-matching and metrics
- `astrofmx.survey`: the resumable batch engine (files, globs, Dask) behind `detect_survey` and `embed_survey`
- `astrofmx.datasets`: simulated fields and data-set loaders
- `astrofmx.utils`: devices, progress bars, caches, warnings

The most used functions are re-exported here and imported lazily, so that
``import astrofmx`` stays fast (torch is only imported when needed).
"""

import importlib

__version__ = "0.1.0"

# name -> submodule that defines it; resolved on first access (PEP 562)
_LAZY = {
    "load_image": "astrofmx.io",
    "write_ds9": "astrofmx.io",
    "to_regions": "astrofmx.io",
    "get_preset": "astrofmx.preprocess",
    "iter_tiles": "astrofmx.preprocess",
    "make_cutouts": "astrofmx.preprocess",
    "get_backbone": "astrofmx.backbones",
    "list_backbones": "astrofmx.backbones",
    "register_backbone": "astrofmx.backbones",
    "embed": "astrofmx.backbones",
    "embed_survey": "astrofmx.backbones",
    "detect_sources": "astrofmx.detection",
    "detect_survey": "astrofmx.detection",
    "train_detector": "astrofmx.detection",
    "LinearProbe": "astrofmx.classification",
    "classify_sources": "astrofmx.classification",
    "simulate_radio_field": "astrofmx.datasets",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        return getattr(module, name)
    raise AttributeError(f"module 'astrofmx' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
