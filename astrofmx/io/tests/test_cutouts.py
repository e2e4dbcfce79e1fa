"""`load_pixels`: the fast read of plain cutouts gives exactly what `load_image` gives, and any other file
goes through `load_image`, with its errors."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.wcs import WCS

from astrofmx.io import FITSFileError, load_image, load_pixels
from astrofmx.io._cutouts import _plain_primary


def _cutout_header(n_cards):
    """A celestial WCS header, padded with HISTORY cards so that it spans several 2880-byte blocks."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.cdelt = [-1e-3, 1e-3]
    header = w.to_header()
    for i in range(n_cards):
        header.add_history(f"card {i} / with a slash and = sign")
    return header


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    out = {}
    data = rng.normal(size=(40, 30)).astype(np.float32)
    data[3:6, 7:9] = np.nan
    data[0, 0] = np.finfo(np.float32).max  # a blank value
    out["float32"] = data
    out["float64"] = rng.normal(size=(17, 23))
    out["long header"] = rng.normal(size=(20, 20)).astype(np.float32)
    for name, pixels in out.items():
        header = _cutout_header(200 if name == "long header" else 0)
        fits.writeto(tmp_path / f"{name}.fits", pixels, header)
    big = rng.normal(size=(300, 300)).astype(np.float32)
    cut = Cutout2D(big, (150, 150), 64, wcs=WCS(_cutout_header(0)))
    fits.writeto(tmp_path / "cutout2d.fits", cut.data, cut.wcs.to_header())
    paths = {name: tmp_path / f"{name}.fits" for name in [*out, "cutout2d"]}
    scaled = fits.PrimaryHDU((rng.normal(size=(40, 40)) * 100).astype(np.int16))
    scaled.header["BSCALE"], scaled.header["BZERO"], scaled.header["BLANK"] = 0.01, 3.0, -32768
    scaled.data[5, 5] = -32768
    scaled.writeto(tmp_path / "scaled.fits")
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(rng.normal(size=(1, 40, 40)).astype(np.float32))]).writeto(
        tmp_path / "extension.fits")
    fits.HDUList([fits.PrimaryHDU(data), fits.ImageHDU(data)]).writeto(tmp_path / "two images.fits")
    fits.PrimaryHDU(data).writeto(tmp_path / "unscaled bscale.fits")
    with fits.open(tmp_path / "unscaled bscale.fits", mode="update") as hdul:
        hdul[0].header["BSCALE"] = 1.0
    cube = rng.normal(size=(1, 1, 16, 16)).astype(np.float32)
    fits.writeto(tmp_path / "cube.fits", cube)
    for name in ("scaled", "extension", "two images", "unscaled bscale", "cube"):
        paths[name] = tmp_path / f"{name}.fits"
    return paths


PLAIN = ("float32", "float64", "long header", "cutout2d")


def test_plain_cutouts_are_read_directly_and_equal_load_image(files):
    for name, path in files.items():
        direct = _plain_primary(path)
        assert (direct is not None) == (name in PLAIN), name
        if direct is not None:
            np.testing.assert_array_equal(direct, fits.getdata(path))
        if name == "two images":  # load_image asks which HDU: so does load_pixels (the next test)
            continue
        data, mask = load_pixels(path)
        ref = load_image(path)
        assert data.dtype == ref.data.dtype and data.shape == ref.data.shape, name
        np.testing.assert_array_equal(data, ref.data)
        np.testing.assert_array_equal(mask, ref.mask)
    _, mask = load_pixels(files["float32"])
    assert mask.sum() == 7  # six NaN pixels and the blank one


def test_other_files_get_load_images_errors(files, tmp_path):
    with pytest.raises(ValueError, match="HDU"):
        load_pixels(files["two images"])
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(files["float32"].read_bytes()[:-3000])
    assert _plain_primary(truncated) is None
    with pytest.raises(FITSFileError, match="(?i)truncat"):
        load_pixels(truncated)
    text = tmp_path / "text.fits"
    text.write_text("not a FITS file\n" * 300)
    with pytest.raises(FITSFileError, match="not a readable FITS file"):
        load_pixels(text)
    with pytest.raises(FileNotFoundError):
        load_pixels(tmp_path / "missing.fits")
    blank = tmp_path / "blank.fits"
    fits.PrimaryHDU(np.full((16, 16), np.nan, np.float32)).writeto(blank)
    assert _plain_primary(blank) is not None  # read on the fast path, yet the error names the file
    with pytest.raises(ValueError, match="every pixel of the image '.*blank.fits' is NaN"):
        load_pixels(blank)
