"""Seeded synthetic images with a WCS for the preprocess tests."""

import numpy as np
import pytest
from astropy.nddata import NDData
from astropy.wcs import WCS


def make_wcs(shape, *, crval=(150.0, 2.0), cdelt=1.0 / 3600, ctype=("RA---SIN", "DEC--SIN")):
    w = WCS(naxis=2)
    w.wcs.ctype = list(ctype)
    w.wcs.crval = list(crval)
    w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    w.wcs.cdelt = [-cdelt, cdelt]
    w.pixel_shape = (shape[1], shape[0])
    return w


def make_field(rng, shape=(160, 200), *, n_sources=12, noise=1.0, background=5.0, peak=(20.0, 200.0)):
    """Gaussian sources (sigma 2 px) on a flat background with Gaussian noise; returns (data, positions)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    data = background + rng.normal(0.0, noise, shape)
    pos = np.column_stack([rng.uniform(10, shape[1] - 10, n_sources), rng.uniform(10, shape[0] - 10, n_sources)])
    for (x, y), amp in zip(pos, rng.uniform(*peak, n_sources)):
        data += amp * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2))
    return data.astype(np.float32), pos


@pytest.fixture
def radio_field(rng):
    """NDData: a 160x200 field, 12 sources, background 5, noise 1, SIN WCS, 1 arcsec pixels."""
    data, pos = make_field(rng)
    return NDData(data, wcs=make_wcs(data.shape), mask=np.zeros(data.shape, bool), meta={"positions": pos})
