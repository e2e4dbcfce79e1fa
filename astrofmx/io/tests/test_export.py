"""Catalog files for TOPCAT/STILTS: SkyCoord -> ra/dec columns, provenance kept, no silent overwrite."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.io.votable import parse_single_table
from astropy.wcs import WCS

from astrofmx.io import make_source_catalog, read_catalog, write_catalog


@pytest.fixture
def catalog(rng):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    wcs.wcs.crval = [150, 2]
    wcs.wcs.crpix = [50, 50]
    xy = rng.uniform(0, 100, (12, 2))
    cat = make_source_catalog(np.concatenate([xy - 2, xy + 3], 1), centroids=xy, scores=rng.uniform(size=12),
                              wcs=wcs, finder="test-finder", meta={"backbone": {"name": "resnet18", "tag": "x"}})
    return cat


@pytest.mark.parametrize("ext", ["ecsv", "fits", "vot"])
def test_round_trip(catalog, tmp_path, ext):
    fname = tmp_path / f"cat.{ext}"
    write_catalog(catalog, fname)
    back = read_catalog(fname)
    assert back.colnames == catalog.colnames
    assert isinstance(back["sky_centroid"], SkyCoord)
    assert np.all(back["sky_centroid"].separation(catalog["sky_centroid"]) < 1e-6 * u.arcsec)
    np.testing.assert_allclose(back["x_centroid"].to_value(u.pix), catalog["x_centroid"].value)
    assert back["width_sky"].unit == u.arcsec
    assert list(back["label"]) == list(catalog["label"])
    assert back.meta["finder"] == "test-finder"
    assert back.meta["backbone"] == {"name": "resnet18", "tag": "x"}


def test_plain_columns_in_fits_and_votable(catalog, tmp_path):
    write_catalog(catalog, tmp_path / "c.fits")
    with fits.open(tmp_path / "c.fits") as hdul:
        names = hdul[1].columns.names
        assert names[3:5] == ["ra", "dec"] and hdul[1].columns["ra"].unit == "deg"
        assert hdul[1].header["FINDER"] == "test-finder"
    write_catalog(catalog, tmp_path / "c.vot")
    vot = parse_single_table(str(tmp_path / "c.vot"))
    fields = {f.name: f for f in vot.fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["dec"].ucd == "pos.eq.dec;meta.main"
    assert str(fields["ra"].unit) == "deg"


def test_overwrite_and_bad_names(catalog, tmp_path):
    fname = tmp_path / "c.fits"
    write_catalog(catalog, fname)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_catalog(catalog, fname)
    write_catalog(catalog[:3], fname, overwrite=True)
    assert len(read_catalog(fname)) == 3
    with pytest.raises(ValueError, match="cannot tell the catalog format from the extension '.txt'"):
        write_catalog(catalog, tmp_path / "c.txt")
    with pytest.raises(ValueError, match="format must be one of"):
        write_catalog(catalog, tmp_path / "c.dat", format="csv")
    with pytest.raises(FileNotFoundError, match="no such catalog"):
        read_catalog(tmp_path / "missing.vot")


def test_empty_catalog_round_trip(tmp_path):
    with pytest.warns(Warning, match="no sources"):
        cat = make_source_catalog(np.zeros((0, 4)))
    for ext in ("fits", "vot"):
        write_catalog(cat, tmp_path / f"e.{ext}")
        assert len(read_catalog(tmp_path / f"e.{ext}")) == 0
