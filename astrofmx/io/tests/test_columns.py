"""Positions and ellipse boxes from catalog columns, in each catalog flavour's own convention."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable, Table
from astropy.wcs import WCS

from astrofmx.io import catalog_positions, catalog_sky_positions, ellipse_bboxes, load_image

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@pytest.fixture
def wcs():
    """1 arcsec pixels, north up, east left, centred on (150, 2) at pixel (50, 50)."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [51.0, 51.0]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    return w


@pytest.mark.parametrize("xname, yname", [("x_centroid", "y_centroid"), ("xcentroid", "ycentroid"), ("x", "y"),
                                          ("X", "Y"), ("Xposn", "Yposn"), ("x_peak", "y_peak"),
                                          ("XCENTROID", "YCENTROID")])
def test_pixel_columns_of_every_flavour(xname, yname):
    xy = catalog_positions(Table({xname: [1.5, 3], yname: [2.0, 4]}))
    assert xy.dtype == np.float64 and xy.shape == (2, 2)
    np.testing.assert_array_equal(xy, [[1.5, 2.0], [3.0, 4.0]])


def test_pixel_columns_with_units_and_order():
    cat = QTable({"x_centroid": [1.0] * u.pix, "y_centroid": [2.0] * u.pix, "x": [9.0], "y": [9.0],
                  "xcentroid": [8.0], "ycentroid": [8.0]})
    np.testing.assert_array_equal(catalog_positions(cat), [[1.0, 2.0]])  # astrofmx columns first
    table = Table({"x": [3.0], "y": [4.0]})
    table["x"].unit = table["y"].unit = "pixel"
    np.testing.assert_array_equal(catalog_positions(table), [[3.0, 4.0]])
    with pytest.raises(ValueError, match=r"pixel position column 'x' has unit deg"):
        catalog_positions(QTable({"x": [3.0] * u.deg, "y": [4.0] * u.deg}))
    # an exact match wins over a case-insensitive one
    np.testing.assert_array_equal(catalog_positions(Table({"X": [7.0], "x": [1.0], "y": [2.0]})), [[1.0, 2.0]])


@pytest.mark.parametrize("ra, dec", [("ra", "dec"), ("RA", "DEC"), ("RA", "Dec"), ("RAJ2000", "DEJ2000"),
                                     ("raj2000", "dej2000"), ("ra_deg", "dec_deg"), ("RA_deg", "DEC_deg"),
                                     ("ALPHA_J2000", "DELTA_J2000"), ("sky_centroid.ra", "sky_centroid.dec")])
def test_sky_columns_of_every_flavour(ra, dec, wcs):
    table = Table({ra: [150.0, 150.0], dec: [2.0, 2.0 + 10 / 3600]})  # degrees without a unit
    sky = catalog_sky_positions(table)
    assert isinstance(sky, SkyCoord) and sky.frame.name == "icrs"
    np.testing.assert_allclose(catalog_positions(table, wcs), [[50.0, 50.0], [50.0, 60.0]], atol=1e-9)


def test_sky_units_are_honoured(wcs):
    q = QTable({"ra": [150.0] * u.deg, "dec": [7200.0 + 5.0] * u.arcsec})
    np.testing.assert_allclose(catalog_positions(q, wcs), [[50.0, 55.0]], atol=1e-6)
    t = Table({"ra": [np.deg2rad(150.0)], "dec": [np.deg2rad(2.0)]})
    t["ra"].unit = t["dec"].unit = "rad"
    np.testing.assert_allclose(catalog_positions(t, wcs), [[50.0, 50.0]], atol=1e-6)
    with pytest.raises(ValueError, match="sky position column 'ra' has unit Jy"):
        catalog_sky_positions(QTable({"ra": [1.0] * u.Jy, "dec": [1.0] * u.deg}))


def test_skycoord_columns(wcs):
    sky = SkyCoord([150.0], [2.0], unit="deg")
    cat = QTable({"sky_centroid": sky, "ra": [10.0], "dec": [10.0]})
    assert catalog_sky_positions(cat) is cat["sky_centroid"]  # the SkyCoord column first
    other = QTable({"pos": sky})
    np.testing.assert_allclose(catalog_positions(other, wcs), [[50.0, 50.0]], atol=1e-9)
    # a sky_centroid that is not a SkyCoord is not a position column
    assert catalog_sky_positions(Table({"sky_centroid": ["a"]})) is None


def test_prefer_sky_and_pixel_to_sky(wcs):
    cat = QTable({"x_centroid": [1.0], "y_centroid": [2.0], "ra": [150.0], "dec": [2.0]})
    np.testing.assert_array_equal(catalog_positions(cat, wcs), [[1.0, 2.0]])
    np.testing.assert_allclose(catalog_positions(cat, wcs, prefer="sky"), [[50.0, 50.0]], atol=1e-9)
    np.testing.assert_array_equal(catalog_positions(cat, prefer="sky"), [[1.0, 2.0]])  # no WCS: pixels
    pixel_only = QTable({"x": [50.0], "y": [60.0]})
    assert catalog_sky_positions(pixel_only) is None
    sky = catalog_sky_positions(pixel_only, wcs)
    assert sky.separation(SkyCoord(150.0, 2.0 + 10 / 3600, unit="deg")).arcsec < 1e-6
    with pytest.raises(ValueError, match="prefer must be one of"):
        catalog_positions(cat, prefer="both")


def test_empty_table_and_errors(wcs):
    empty = QTable({"x": np.zeros(0), "y": np.zeros(0)})
    assert catalog_positions(empty).shape == (0, 2)
    with pytest.raises(ValueError, match=r"no position columns; expected pixel columns .*x_centroid/y_centroid"
                                         r".*got \['flux', 'name'\]"):
        catalog_positions(Table({"flux": [1.0], "name": ["a"]}))
    with pytest.raises(ValueError, match="sky positions only, but there is no celestial WCS"):
        catalog_positions(Table({"ra": [150.0], "dec": [2.0]}))
    linear = WCS(naxis=2)
    with pytest.raises(ValueError, match="no celestial WCS"):
        catalog_positions(Table({"ra": [150.0], "dec": [2.0]}), linear)
    with pytest.raises(TypeError, match="must be an astropy Table"):
        catalog_positions({"x": [1.0], "y": [2.0]})


def test_aegean_catalog_on_its_image(bundled_path):
    """The bundled Aegean components land on their peaks in the bundled image."""
    image = load_image(bundled_path("1904-66_SIN.fits"))
    cat = Table.read(bundled_path("1904_comp.fits"))
    xy = catalog_positions(cat, image.wcs)
    x_img, y_img = image.wcs.world_to_pixel(SkyCoord(np.asarray(cat["ra"], float), np.asarray(cat["dec"], float),
                                                     unit="deg"))
    np.testing.assert_allclose(xy, np.column_stack([x_img, y_img]))
    brightest = np.argmax(cat["peak_flux"])
    xi, yi = np.round(xy[brightest]).astype(int)
    window = image.data[yi - 2:yi + 3, xi - 2:xi + 3]
    assert np.nanmax(window) == np.nanmax(image.data[np.isfinite(image.data)])


@pytest.fixture
def bundled_path():
    from astrofmx.datasets import get_bundled_path

    return get_bundled_path


# --------------------------------------------------------------------------------------------------------
# ellipse boxes


def test_pixel_ellipse_boxes_photutils_convention():
    """photutils: semimajor_sigma/semiminor_sigma in pixels, orientation counter-clockwise from +x."""
    cat = QTable({"x": [20.0, 5.0], "y": [10.0, 5.0], "semimajor_sigma": [4 * FWHM_TO_SIGMA, 3.0] * u.pix,
                  "semiminor_sigma": [2 * FWHM_TO_SIGMA, 1.0] * u.pix, "orientation": [0.0, 30.0] * u.deg})
    a = cat["semimajor_sigma"] / FWHM_TO_SIGMA  # one FWHM along each axis
    b = cat["semiminor_sigma"] / FWHM_TO_SIGMA
    boxes = ellipse_bboxes(catalog_positions(cat), a, b, cat["orientation"])
    np.testing.assert_allclose(boxes[0], [16.0, 8.0, 24.0, 12.0])
    t = np.deg2rad(30.0)
    hx = np.hypot(a[1].value * np.cos(t), b[1].value * np.sin(t))
    hy = np.hypot(a[1].value * np.sin(t), b[1].value * np.cos(t))
    np.testing.assert_allclose(boxes[1], [5 - hx, 5 - hy, 5 + hx, 5 + hy])
    # angles in radians give the same boxes as degrees; plain numbers are degrees and pixels
    np.testing.assert_array_equal(ellipse_bboxes(catalog_positions(cat), a, b, cat["orientation"].to(u.rad)),
                                  ellipse_bboxes(catalog_positions(cat), a.value, b.value, [0.0, 30.0]))
    # a circle is its radius either side, whatever the angle
    np.testing.assert_allclose(ellipse_bboxes([[0.0, 0.0]], 2.0, 2.0, 17.0), [[-2.0, -2.0, 2.0, 2.0]])


def test_sky_ellipse_boxes_aegean_convention(wcs):
    """Aegean: a/b are FWHMs in arcsec, pa in deg east of north; the FWHM ellipse has semi-axes a/2, b/2."""
    cat = Table({"ra": [150.0, 150.0], "dec": [2.0, 2.0], "a": [10.0, 10.0], "b": [4.0, 4.0], "pa": [0.0, 90.0]})
    cat["a"].unit = cat["b"].unit = "arcsec"
    cat["pa"].unit = "deg"
    sky = catalog_sky_positions(cat)
    boxes = ellipse_bboxes(sky, u.Quantity(cat["a"]) / 2, u.Quantity(cat["b"]) / 2, u.Quantity(cat["pa"]), wcs=wcs)
    np.testing.assert_allclose(boxes, [[48.0, 45.0, 52.0, 55.0], [45.0, 48.0, 55.0, 52.0]], atol=1e-3)


def test_sky_ellipse_boxes_pybdsf_convention(wcs):
    """PyBDSF: Maj/Min FWHM in deg, PA in deg east of north; PA 45 gives a box of the rotated extents."""
    cat = QTable({"RA": [150.0] * u.deg, "DEC": [2.0] * u.deg, "Maj": [10 / 3600] * u.deg,
                  "Min": [4 / 3600] * u.deg, "PA": [45.0] * u.deg})
    boxes = ellipse_bboxes(catalog_sky_positions(cat), cat["Maj"] / 2, cat["Min"] / 2, cat["PA"], wcs=wcs)
    half = np.hypot(5 * np.cos(np.pi / 4), 2 * np.sin(np.pi / 4))
    np.testing.assert_allclose(boxes, [[50 - half, 50 - half, 50 + half, 50 + half]], atol=2e-3)
    # more outline points move the edges towards the exact extent
    fine = ellipse_bboxes(catalog_sky_positions(cat), cat["Maj"] / 2, cat["Min"] / 2, cat["PA"], wcs=wcs,
                          n_points=720)
    assert np.all(np.abs(fine - 50) >= np.abs(boxes - 50) - 1e-9)


def test_sky_ellipse_boxes_near_the_pole():
    """Near a pole north is not up: the box follows the projected outline, not the local axes."""
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [0.0, 90.0], [101.0, 101.0], [-1 / 60, 1 / 60]
    centre = SkyCoord(90.0, 89.0, unit="deg")  # north points towards the image centre
    box = ellipse_bboxes(centre, 10 * u.arcmin, 2 * u.arcmin, 0 * u.deg, wcs=w)[0]
    xc, yc = w.world_to_pixel(centre)
    assert box[2] - box[0] == pytest.approx(20.0, rel=0.02)  # the major axis lies along x here
    assert box[3] - box[1] == pytest.approx(4.0, rel=0.02)
    assert box[0] < xc < box[2] and box[1] < yc < box[3]


def test_ellipse_boxes_edge_cases(wcs):
    assert ellipse_bboxes(SkyCoord([], [], unit="deg"), [] * u.arcsec, [] * u.arcsec, [] * u.deg,
                          wcs=wcs).shape == (0, 4)
    assert ellipse_bboxes(np.zeros((0, 2)), [], [], []).shape == (0, 4)
    # scalars broadcast to every ellipse
    boxes = ellipse_bboxes([[1.0, 1.0], [5.0, 5.0]], 1.0, 1.0, 0.0)
    np.testing.assert_allclose(boxes, [[0, 0, 2, 2], [4, 4, 6, 6]])
    with pytest.raises(ValueError, match="need a celestial WCS"):
        ellipse_bboxes(SkyCoord([150], [2], unit="deg"), [1] * u.arcsec, [1] * u.arcsec, [0] * u.deg)
    with pytest.raises(ValueError, match="semimajor must be in units of angle, got pix"):
        ellipse_bboxes(SkyCoord([150], [2], unit="deg"), [1] * u.pix, [1] * u.arcsec, [0] * u.deg, wcs=wcs)
    with pytest.raises(ValueError, match="semiminor must be in units of pixels, got arcsec"):
        ellipse_bboxes([[1.0, 1.0]], 1.0, 1 * u.arcsec, 0.0)
    with pytest.raises(ValueError, match="semimajor has 2 values for 1 ellipses"):
        ellipse_bboxes([[1.0, 1.0]], [1.0, 2.0], 1.0, 0.0)
    with pytest.raises(ValueError, match=r"pixel centers must have shape \(N, 2\), got \(3,\)"):
        ellipse_bboxes([1.0, 2.0, 3.0], 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="n_points must be an integer of at least 4, got 2"):
        ellipse_bboxes([[1.0, 1.0]], 1.0, 1.0, 0.0, n_points=2)
    # an ellipse whose outline does not project gets the zero-size box at its centre
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval, w.wcs.crpix, w.wcs.cdelt = [0.0, 0.0], [1.0, 1.0], [-1.0, 1.0]
    far = SkyCoord(180.0, 0.0, unit="deg")  # the far side of the sphere: no pixel for it
    box = ellipse_bboxes(far, 1 * u.deg, 1 * u.deg, 0 * u.deg, wcs=w)
    assert box.shape == (1, 4)
