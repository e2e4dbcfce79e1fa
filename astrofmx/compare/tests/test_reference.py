"""Reading the real reference catalogs (Aegean, PyBDSF, SExtractor) into the catalog convention."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrofmx.compare import read_reference_catalog
from astrofmx.datasets import get_bundled_path
from astrofmx.io import ellipse_bboxes, load_image

PYBDSF = "radio/pybdsf/tbdsf_process_image.in_fits.pybdsf."


def test_aegean_components(bundled_radio_image):
    raw = Table.read(get_bundled_path("1904_comp.fits"))
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"))
    assert ref.meta["format"] == "aegean" and len(ref) == 51
    assert "x_centroid" not in ref.colnames  # no WCS: sky positions only
    np.testing.assert_allclose(ref["sky_centroid"].ra.deg, raw["ra"])
    assert ref["major"].unit == u.arcsec and ref["major"][0].value == pytest.approx(raw["a"][0])

    image = load_image(bundled_radio_image)
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    ny, nx = image.data.shape
    x, y = ref["x_centroid"].value, ref["y_centroid"].value
    assert np.all((x > -0.5) & (x < nx - 0.5) & (y > -0.5) & (y < ny - 0.5))  # all 51 inside the image
    # components sit on emission: the image at each position is close to the fitted peak
    peak_img = image.data[np.round(y).astype(int), np.round(x).astype(int)]
    assert np.nanmedian(peak_img / ref["peak_flux"]) == pytest.approx(0.94, abs=0.1)
    # boxes are the FWHM ellipse bounding boxes: about a beam (14.4 arcmin = 3.6 pixels) wide
    assert np.median(ref["width"].value) == pytest.approx(3.6, rel=0.25)
    assert np.all(ref["width"].value > 2.5) and np.all(ref["height"].value > 2.5)


def test_pybdsf_source_and_gaussian_lists(shared_data):
    image = load_image(shared_data / (PYBDSF + "ch0_I.fits"))
    srl = read_reference_catalog(shared_data / (PYBDSF + "srl.FITS"), wcs=image.wcs)
    gaul = read_reference_catalog(shared_data / (PYBDSF + "gaul.FITS"), wcs=image.wcs)
    assert (len(srl), len(gaul)) == (43, 48)
    assert srl.meta["format"] == gaul.meta["format"] == "pybdsf"
    # PyBDSF's own pixel positions (0-based Xposn/Yposn) agree with ours from RA/Dec through the WCS to
    # better than a pixel (PyBDSF's sky<->pixel transform drifts by up to 0.6 pixels at the top of this
    # image; a 0-/1-based mix-up would show as a 1-pixel offset everywhere)
    raw = Table.read(shared_data / (PYBDSF + "gaul.FITS"))
    np.testing.assert_allclose(gaul["x_centroid"].value, raw["Xposn"], atol=0.7)
    np.testing.assert_allclose(gaul["y_centroid"].value, raw["Yposn"], atol=0.7)
    assert np.median(np.abs(gaul["x_centroid"].value - raw["Xposn"])) < 0.1
    # without a WCS the Gaussian list still gives pixel positions, straight from Xposn/Yposn
    nowcs = read_reference_catalog(shared_data / (PYBDSF + "gaul.FITS"))
    np.testing.assert_allclose(nowcs["x_centroid"].value, raw["Xposn"])


def test_sextractor_catalog_is_converted_to_zero_based(shared_data):
    ref = read_reference_catalog(shared_data / "optical/sep/image.cat")
    raw = Table.read(shared_data / "optical/sep/image.cat", format="ascii.sextractor")
    assert ref.meta["format"] == "sextractor" and len(ref) == 65
    np.testing.assert_allclose(ref["x_centroid"].value, raw["X_IMAGE"] - 1)
    np.testing.assert_allclose(ref["y_centroid"].value, raw["Y_IMAGE"] - 1)
    assert "sky_centroid" not in ref.colnames
    np.testing.assert_allclose(ref["width"].value, 6 * np.sqrt(raw["X2_IMAGE"]))


def test_generic_tables_and_errors(tmp_path):
    t = Table({"RAJ2000": [10.0, 10.1], "DEJ2000": [-5.0, -5.1]})
    ref = read_reference_catalog(t)
    assert ref.meta["format"] == "generic" and isinstance(ref["sky_centroid"], SkyCoord)
    assert ref["sky_centroid"][1].dec.deg == pytest.approx(-5.1)
    pix = read_reference_catalog(Table({"x": [1.0], "y": [2.0]}))
    assert pix["x_centroid"][0] == 1.0 * u.pix
    with pytest.raises(ValueError, match="cannot find source positions"):
        read_reference_catalog(Table({"flux": [1.0]}))
    with pytest.raises(ValueError, match="format must be one of"):
        read_reference_catalog(t, format="votable")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_reference_catalog(tmp_path / "missing.fits")
    (tmp_path / "text.fits").write_text("not a FITS file")  # a raw OSError from astropy before
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(image)  # an image, no table
    (tmp_path / "binary.ecsv").write_bytes(bytes(range(256)) * 4)
    for bad in ("text.fits", "image.fits", "binary.ecsv"):
        with pytest.raises(ValueError, match=f"reference catalog .*{bad}.* cannot be read as a table.*give a FITS"):
            read_reference_catalog(tmp_path / bad)
    with pytest.raises(TypeError, match="celestial"):
        read_reference_catalog(t, wcs=WCS(naxis=2))


def _tan_wcs():
    """1 arcsec TAN pixels centred on (150, 2) deg at pixel (50, 50)."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    wcs.wcs.crval = [150, 2]
    wcs.wcs.crpix = [51, 51]
    return wcs


def test_sky_ellipse_bbox_rotation():
    """The FWHM-ellipse boxes read_reference_catalog makes: ellipse_bboxes with half the FWHM axes."""
    wcs = _tan_wcs()
    c = SkyCoord([150] * 3, [2] * 3, unit="deg")
    boxes = ellipse_bboxes(c, [10, 10, 10] * u.arcsec / 2, [4, 4, 10] * u.arcsec / 2, [0, 90, 30] * u.deg, wcs=wcs)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    np.testing.assert_allclose(w, [4, 10, 10], atol=0.01)   # PA 0: major axis north-south
    np.testing.assert_allclose(h, [10, 4, 10], atol=0.01)   # PA 90: major axis east-west; circle


def test_generic_pixel_catalog_with_a_wcs():
    """A generic catalog with pixel columns only keeps them when a WCS is given, and gains sky positions."""
    wcs = _tan_wcs()
    ref = read_reference_catalog(Table({"xcentroid": [50.0, 60.0], "ycentroid": [50.0, 40.0]}), wcs=wcs)
    np.testing.assert_allclose(ref["x_centroid"].value, [50.0, 60.0])
    np.testing.assert_allclose(ref["y_centroid"].value, [50.0, 40.0])
    assert ref["sky_centroid"][0].separation(SkyCoord(150, 2, unit="deg")).arcsec < 1e-6


def test_reference_of_another_field_is_refused(bundled_radio_image):
    """A reference catalog of another sky field: 'no reference source falls on the image' (with both fields'
    positions), not a NaN-box error, whether its sources project off the image or onto the far side of the
    projection; a catalog partly on the image keeps its projectable rows."""
    image = load_image(bundled_radio_image)
    ny, nx = image.data.shape
    centre = image.wcs.celestial.pixel_to_world((nx - 1) / 2, (ny - 1) / 2)
    for offset in (30 * u.deg, 120 * u.deg):  # beside the 12.8-deg field; across the sky (NaN through SIN)
        far = centre.directional_offset_by(0 * u.deg, offset)
        table = Table({"ra": [far.ra.deg] * 3 * u.deg, "dec": (far.dec.deg + np.array([0, 0.01, 0.02])) * u.deg})
        with pytest.raises(ValueError, match=r"no reference source falls on the image: none of the 3 sources"):
            read_reference_catalog(table, wcs=image.wcs)
    across = centre.directional_offset_by(0 * u.deg, 120 * u.deg)
    table = Table({"ra": [centre.ra.deg, across.ra.deg] * u.deg, "dec": [centre.dec.deg, across.dec.deg] * u.deg})
    ref = read_reference_catalog(table, wcs=image.wcs)
    assert len(ref) == 1 and ref.meta["n_off_projection"] == 1
    np.testing.assert_allclose([ref["x_centroid"][0].value, ref["y_centroid"][0].value],
                               [(nx - 1) / 2, (ny - 1) / 2], atol=1e-3)  # ICRS -> the image frame
