import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS

from astrofmx.detection import catalog_to_boxes
from astrofmx.detection._labels import _boxes_from_table
from astrofmx.utils import AstrofmxWarning


def _image(shape=(100, 100), pix_arcsec=2.0, bmaj_arcsec=None):
    header = fits.Header()
    header.update(NAXIS=2, NAXIS1=shape[1], NAXIS2=shape[0], CTYPE1="RA---SIN", CTYPE2="DEC--SIN", CRVAL1=150.0,
                  CRVAL2=2.0, CRPIX1=shape[1] / 2, CRPIX2=shape[0] / 2, CDELT1=-pix_arcsec / 3600,
                  CDELT2=pix_arcsec / 3600, CUNIT1="deg", CUNIT2="deg")
    if bmaj_arcsec:
        header.update(BMAJ=bmaj_arcsec / 3600, BMIN=bmaj_arcsec / 3600, BPA=0.0)
    return fits.PrimaryHDU(np.zeros(shape, dtype=np.float32), header=header)


def test_gaussian_components_in_sky_units_pybdsf_style():
    hdu = _image()
    wcs = WCS(hdu.header)
    centre = wcs.pixel_to_world(40.0, 60.0)
    # PyBDSF gaul: FWHM in degrees, PA east of north; 20" x 8" along north-south, then east-west
    table = Table({"RA": [centre.ra.deg] * 2, "DEC": [centre.dec.deg] * 2, "Maj": [20 / 3600] * 2,
                   "Min": [8 / 3600] * 2, "PA": [0.0, 90.0]})
    for name in ("RA", "DEC", "Maj", "Min", "PA"):
        table[name].unit = "deg"
    boxes = catalog_to_boxes(table, hdu)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    # size_factor=1: the box spans +-1 FWHM along each axis (20" = 10 px, 8" = 4 px)
    np.testing.assert_allclose([height[0], width[0]], [20.0, 8.0], atol=0.05)
    np.testing.assert_allclose([width[1], height[1]], [20.0, 8.0], atol=0.05)
    np.testing.assert_allclose(0.5 * (boxes[:, 0] + boxes[:, 2]), 40.0, atol=1e-6)
    np.testing.assert_allclose(0.5 * (boxes[:, 1] + boxes[:, 3]), 60.0, atol=1e-6)
    half = catalog_to_boxes(table, hdu, size_factor=0.5)
    np.testing.assert_allclose(half[0, 3] - half[0, 1], 10.0, atol=0.05)


def test_aegean_catalog_on_its_real_image(shared_data):
    from astrofmx.io import load_image

    image = load_image(shared_data / "radio" / "aegean" / "1904-66_SIN.fits")
    table = Table.read(shared_data / "radio" / "aegean" / "1904_comp.fits")
    boxes = catalog_to_boxes(table, image)
    assert boxes.shape == (51, 4)
    x, y = image.wcs.world_to_pixel(SkyCoord(table["ra"], table["dec"], unit="deg"))
    centre_x, centre_y = 0.5 * (boxes[:, 0] + boxes[:, 2]), 0.5 * (boxes[:, 1] + boxes[:, 3])
    assert np.median(np.hypot(centre_x - x, centre_y - y)) < 0.05
    # Aegean a/b are FWHM in arcsec (the 864" beam is 3.6 pixels of 240"): boxes ~2 beams across
    sizes = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert 6.5 < np.median(sizes) < 8.5


def test_pybdsf_gaussians_on_a_4d_image(shared_data):
    folder = shared_data / "radio" / "pybdsf"
    table = Table.read(folder / "tbdsf_process_image.in_fits.pybdsf.gaul.FITS")
    boxes = catalog_to_boxes(table, folder / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits")
    assert boxes.shape == (48, 4)
    inside = (boxes >= -0.5) & (boxes <= 128.5)
    assert inside.all()


def test_pixel_components_photutils_style():
    table = QTable({"xcentroid": [30.0], "ycentroid": [20.0], "semimajor_sigma": [4.0] * u.pix,
                    "semiminor_sigma": [2.0] * u.pix, "orientation": [90.0] * u.deg})
    (box,) = catalog_to_boxes(table, shape=(64, 64))
    fwhm = 2 * np.sqrt(2 * np.log(2))
    np.testing.assert_allclose(box, [30 - 2 * fwhm, 20 - 4 * fwhm, 30 + 2 * fwhm, 20 + 4 * fwhm], atol=1e-9)


def test_segment_bboxes_and_catalog_boxes():
    seg = Table({"bbox_xmin": [3], "bbox_xmax": [7], "bbox_ymin": [10], "bbox_ymax": [12]})
    np.testing.assert_array_equal(_boxes_from_table(seg), [[2.5, 9.5, 7.5, 12.5]])
    from astrofmx.io import make_source_catalog

    cat = make_source_catalog([[2.5, 9.5, 7.5, 12.5]])
    np.testing.assert_array_equal(catalog_to_boxes(cat, shape=(32, 32)), [[2.5, 9.5, 7.5, 12.5]])


def test_positions_only_use_the_beam():
    hdu = _image(bmaj_arcsec=6.0)
    wcs = WCS(hdu.header)
    sky = wcs.pixel_to_world([20.0, 50.0], [30.0, 50.0])
    table = QTable({"sky_centroid": sky})
    boxes = catalog_to_boxes(table, hdu)
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], 6.0, atol=0.02)  # +-1 beam FWHM of 3 px
    with pytest.raises(ValueError, match="pass default_size"):
        catalog_to_boxes(table, _image())
    fixed = catalog_to_boxes(table, _image(), default_size=4 * u.arcsec)
    np.testing.assert_allclose(fixed[:, 3] - fixed[:, 1], 4.0, atol=0.02)


def test_bad_inputs():
    table = Table({"ra": [150.0], "dec": [2.0], "a": [10.0], "b": [5.0], "pa": [0.0]})
    with pytest.raises(ValueError, match="celestial WCS is needed"):
        catalog_to_boxes(table, shape=(10, 10))
    with pytest.raises(TypeError, match="astropy Table"):
        catalog_to_boxes({"x": [1]})
    with pytest.raises(ValueError, match="size_factor must be a positive"):
        catalog_to_boxes(table, size_factor=0)
    assert catalog_to_boxes(table[:0]).shape == (0, 4)


def test_boxes_outside_the_image_are_dropped_with_a_warning():
    table = QTable({"x": [10.0, 500.0, 63.0], "y": [10.0, 10.0, 10.0], "semimajor_sigma": [2.0, 2.0, 2.0] * u.pix,
                    "semiminor_sigma": [2.0, 2.0, 2.0] * u.pix, "orientation": [0.0, 0.0, 0.0] * u.deg})
    with pytest.warns(AstrofmxWarning, match="1 of 3 boxes lie entirely outside"):
        boxes = catalog_to_boxes(table, shape=(64, 64))
    assert len(boxes) == 2
    assert boxes[:, 2].max() == 63.5  # the edge box is clipped to the image
