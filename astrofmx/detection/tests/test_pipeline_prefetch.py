"""The tiles prepared in a background thread give the catalog the serial loop gives."""

import numpy as np
import pytest

from astrofmx.detection import build_detector, detect_sources
from astrofmx.detection import _pipeline

from .conftest import SMALL_HEADS, simulated_field


@pytest.mark.parametrize("batch_size", [1, 3])
def test_prefetched_tiles_give_the_same_catalog(monkeypatch, batch_size):
    field = simulated_field((160, 130), seed=3, n_sources=20)
    image = field.to_nddata()
    image.data[:40, :70] = np.nan  # tiles without a valid pixel are skipped in both loops
    det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64, **SMALL_HEADS)
    kwargs = dict(model=det, batch_size=batch_size, precision="fp32", progress_bar=False, score_threshold=0.0,
                  beam=None)
    catalogs = {}
    for flag in (False, True):
        monkeypatch.setattr(_pipeline, "_PREFETCH", flag)
        catalogs[flag] = detect_sources(image, **kwargs)
    serial, threaded = catalogs[False], catalogs[True]
    assert len(serial) > 0 and serial.meta["n_tiles"] == threaded.meta["n_tiles"]
    assert serial.colnames == threaded.colnames
    for name in serial.colnames:
        a, b = serial[name], threaded[name]
        if hasattr(a, "ra"):  # sky positions
            a, b = np.stack([a.ra.deg, a.dec.deg]), np.stack([b.ra.deg, b.dec.deg])
        np.testing.assert_array_equal(np.asarray(getattr(a, "value", a)), np.asarray(getattr(b, "value", b)),
                                      err_msg=name)
