import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from astrofmx.io import SOURCE_COLUMNS, make_source_catalog
from astrofmx.utils import NoDetectionsWarning


@pytest.fixture
def tan_wcs():
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [50.5, 50.5]
    w.wcs.cdelt = [-1.0 / 3600, 1.0 / 3600]  # 1 arcsec pixels
    return w


def test_columns_and_sky(tan_wcs, rng):
    xy = rng.uniform(5, 95, size=(20, 2))
    boxes = np.column_stack([xy - 2, xy + 3])
    cat = make_source_catalog(boxes, scores=rng.uniform(size=20), wcs=tan_wcs, finder="unit-test")
    assert tuple(cat.colnames) == SOURCE_COLUMNS
    assert cat["id"][0] == 1 and cat["id"][-1] == 20
    np.testing.assert_allclose(cat["x_centroid"].value, xy[:, 0] + 0.5)
    expected = SkyCoord.from_pixel(xy[:, 0] + 0.5, xy[:, 1] + 0.5, tan_wcs)
    assert np.all(cat["sky_centroid"].separation(expected) < 1e-6 * u.arcsec)
    np.testing.assert_allclose(cat["width_sky"].to_value(u.arcsec), 5.0, rtol=1e-6)
    assert cat.meta["finder"] == "unit-test" and "torch" in cat.meta["version"]


def test_pixel_only_without_wcs():
    cat = make_source_catalog([[0, 0, 4, 2]], labels=["double"])
    assert "sky_centroid" not in cat.colnames and "width_sky" not in cat.colnames
    assert cat["label"][0] == "double"
    assert np.isnan(cat["score"][0])


def test_empty_catalog_has_all_columns(tan_wcs):
    with pytest.warns(NoDetectionsWarning, match="no sources"):
        cat = make_source_catalog(np.zeros((0, 4)), wcs=tan_wcs)
    assert len(cat) == 0
    assert tuple(cat.colnames) == SOURCE_COLUMNS


@pytest.mark.parametrize("boxes, match", [
    (np.zeros((3, 3)), "shape"),
    ([[0, 0, np.nan, 1]], "NaN"),
    ([[5, 0, 1, 1]], "xmin <= xmax"),
])
def test_bad_boxes(boxes, match):
    with pytest.raises(ValueError, match=match):
        make_source_catalog(boxes)


def test_bad_lengths():
    with pytest.raises(ValueError, match="scores must have one value per source"):
        make_source_catalog([[0, 0, 1, 1]], scores=[0.1, 0.2])
    with pytest.raises(ValueError, match="labels must have one value"):
        make_source_catalog([[0, 0, 1, 1]], labels=["a", "b"])
