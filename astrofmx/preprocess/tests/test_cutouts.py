import types

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from astrofmx.io import load_image
from astrofmx.preprocess import make_cutouts
from astrofmx.utils import AstrofmxWarning


def test_cutouts_around_catalog_positions(shared_data):
    image = load_image(shared_data / "radio/aegean/1904-66_SIN.fits")
    cat = Table.read(shared_data / "radio/aegean/1904_comp.fits")
    sky = SkyCoord(cat["ra"], cat["dec"], unit="deg")
    cutouts = make_cutouts(image, sky, 24, mode="pad")
    assert len(cutouts) == len(cat) == 51
    ratios = []
    for cut, pos, peak in zip(cutouts, sky, cat["peak_flux"]):
        assert cut.data.shape == (24, 24) and cut.data.dtype == np.float32
        x0, y0 = cut.meta["offset"]
        # the cutout WCS agrees with the parent WCS
        xc, yc = cut.wcs.world_to_pixel(pos)
        xp, yp = image.wcs.world_to_pixel(pos)
        np.testing.assert_allclose((xc + x0, yc + y0), (xp, yp), atol=1e-6)
        np.testing.assert_allclose(cut.meta["mapping"].to_original(xc, yc), (xp, yp), atol=1e-6)
        np.testing.assert_allclose(cut.wcs.pixel_to_world_values(3.0, 4.0),
                                   image.wcs.pixel_to_world_values(3.0 + x0, 4.0 + y0), atol=1e-9)
        # the pixels are the parent's (padding, where the cutout runs off the map, is masked)
        for yy, xx in [(5, 5), (12, 12), (20, 3)]:
            if 0 <= yy + y0 < 192 and 0 <= xx + x0 < 192:
                np.testing.assert_array_equal(cut.data[yy, xx], image.data[yy + y0, xx + x0])
                assert cut.mask[yy, xx] == image.mask[yy + y0, xx + x0]
            else:
                assert cut.mask[yy, xx]
        # the catalog's peak flux is found at the catalog position in the cutout
        ratios.append(cut.data[int(round(float(yc))), int(round(float(xc)))] / peak)
    assert np.isfinite(ratios).mean() > 0.9
    assert np.nanmedian(ratios) == pytest.approx(0.94, abs=0.05)  # MANIFEST: image/peak ~0.94


def test_modes(rng):
    data = rng.random((50, 60)).astype(np.float32)
    positions = [(30, 25), (2, 3), (58, 48)]
    padded = make_cutouts(data, positions, 11, mode="pad", fill_value=-5.0)
    assert [c.data.shape for c in padded] == [(11, 11)] * 3
    np.testing.assert_array_equal(padded[0].data, data[20:31, 25:36])
    assert np.all(padded[1].data[:2, :] == -5.0) and padded[1].mask[:2, :].all()
    assert not padded[1].mask[2:, 3:].any()
    with pytest.warns(AstrofmxWarning, match=r"skipping 2 of 3 positions .* indices \[1, 2\]"):
        kept = make_cutouts(data, positions, 11, mode="skip")
    assert len(kept) == 1 and kept[0].meta["index"] == 0
    with pytest.raises(ValueError, match=r"position 1 \(\(2.0, 3.0\)\) runs off the image; use mode='pad'"):
        make_cutouts(data, positions, 11, mode="error")
    with pytest.raises(ValueError, match="does not overlap the image at all"):
        make_cutouts(data, [(500, 500)], 11, mode="pad")
    with pytest.warns(AstrofmxWarning, match="skipping 1 of 1"):
        assert make_cutouts(data, [(500, 500)], 11, mode="skip") == []
    lazy = make_cutouts(data, positions[:1], (5, 7), lazy=True)
    assert isinstance(lazy, types.GeneratorType) and next(lazy).data.shape == (5, 7)
    single = make_cutouts(data, (30, 25), 3)
    np.testing.assert_array_equal(single[0].data, data[24:27, 29:32])


def test_angular_size_and_errors(radio_field):
    sky = radio_field.wcs.pixel_to_world(100, 80)
    cut = make_cutouts(radio_field, sky, 20 * u.arcsec)[0]
    assert cut.data.shape == (20, 20)
    with pytest.raises(ValueError, match="mode must be one of"):
        make_cutouts(radio_field, [(1, 1)], 4, mode="clip")
    with pytest.raises(ValueError, match="cutouts around sky positions need a celestial WCS"):
        make_cutouts(np.ones((10, 10)), sky, 4)
    with pytest.raises(ValueError, match=r"positions must be a SkyCoord or pixel \(x, y\) pairs"):
        make_cutouts(radio_field, [(1, 2, 3)], 4)
    with pytest.raises(ValueError, match="positions must be finite"):
        make_cutouts(radio_field, [(np.nan, 2)], 4)


@pytest.mark.parametrize("size", [0, -5, (32, 0), float("nan"), [[1, 2], [3, 4]], 0 * u.arcsec])
def test_bad_cutout_size_is_refused(size):
    """A zero, negative or NaN size raises ValueError naming the value (not a 0x0 cutout, not astropy's error)."""
    image = np.zeros((64, 64), dtype=np.float32)
    with pytest.raises(ValueError, match="size must be one or two positive numbers"):
        make_cutouts(image, [(10, 10)], size)
