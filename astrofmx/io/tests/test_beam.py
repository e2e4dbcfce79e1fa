"""`astrofmx.io.read_beam`: BMAJ/BMIN/BPA and AIPS history beams, from real and synthetic headers."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import NDData
from astropy.utils.exceptions import AstropyUserWarning

from astrofmx.io import load_image, read_beam


def test_keywords_and_defaults():
    beam = read_beam(fits.Header({"BMAJ": 54 / 3600, "BMIN": 25 / 3600, "BPA": -30.0}))
    assert beam.major.to_value(u.arcsec) == pytest.approx(54) and beam.minor.to_value(u.arcsec) == pytest.approx(25)
    assert beam.pa.to_value(u.deg) == pytest.approx(-30)
    round_beam = read_beam(fits.Header({"BMAJ": 0.01}))  # no BMIN/BPA: a round beam
    assert round_beam.minor == round_beam.major and round_beam.pa.to_value(u.deg) == 0


def test_no_beam_or_unusable_beam_is_none():
    assert read_beam(fits.Header()) is None
    assert read_beam(fits.Header({"BMAJ": 0.0, "BMIN": 0.0})) is None  # single-dish/optical placeholders
    assert read_beam(fits.Header({"BMAJ": "unknown"})) is None  # not a number
    assert read_beam({}) is None


@pytest.mark.parametrize("bmaj", [-0.002, float("nan"), float("inf")])
def test_a_declared_beam_that_cannot_be_used_warns(caplog, bmaj):
    with caplog.at_level("INFO", logger="astrofmx.io._beam"):
        # a FITS card cannot hold NaN: those come in a dict (an NDData's meta)
        assert read_beam({"BMAJ": bmaj, "BMIN": 0.001, "BPA": 0.0}) is None
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "pass the beam yourself" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="astrofmx.io._beam"):
        assert read_beam(fits.Header({"BMAJ": 0.0, "BMIN": 0.0})) is None  # a placeholder: no warning
    assert [r.levelname for r in caplog.records] == ["INFO"]


def test_minor_axis_above_major_is_read_swapped():
    header = fits.Header({"BMAJ": 25 / 3600, "BMIN": 54 / 3600, "BPA": 30.0})
    beam = read_beam(header)
    assert beam.major.to_value(u.arcsec) == pytest.approx(54) and beam.minor.to_value(u.arcsec) == pytest.approx(25)
    assert beam.pa.to_value(u.deg) == pytest.approx(-60)  # the same ellipse: its long axis 90 deg from BPA
    assert header["BMAJ"] == 25 / 3600  # the caller's header is left alone


def test_accepts_hdu_nddata_and_dict():
    header = fits.Header({"BMAJ": 0.002, "BMIN": 0.001, "BPA": 10.0})
    hdu = fits.PrimaryHDU(np.zeros((4, 4), np.float32), header=header)
    assert read_beam(hdu).major.to_value(u.deg) == pytest.approx(0.002)
    assert read_beam(NDData(np.zeros((4, 4)), meta=header)).minor.to_value(u.deg) == pytest.approx(0.001)
    assert read_beam({"BMAJ": 0.002, "BMIN": 0.001}).major.to_value(u.deg) == pytest.approx(0.002)
    assert read_beam(NDData(np.zeros((4, 4)), meta={"header": header})).pa.to_value(u.deg) == pytest.approx(10)
    with pytest.raises(TypeError, match="header must be"):
        read_beam(42)


def test_aips_history_only():
    header = fits.Header()
    header["HISTORY"] = "AIPS   CLEAN BMAJ=  1.7222E-03 BMIN=  1.5000E-03 BPA=  12.00"
    beam = read_beam(header)
    assert beam.major.to_value(u.deg) == pytest.approx(1.7222e-3) and beam.pa.to_value(u.deg) == pytest.approx(12)


def test_real_headers(shared_data):
    parkes = read_beam(fits.getheader(shared_data / "radio" / "aegean" / "1904-66_SIN.fits"))
    assert parkes.major.to(u.arcmin).value == pytest.approx(14.4, rel=1e-6)  # the Parkes beam
    # FIRST cutout: BMAJ and an AIPS CLEAN history card; without the keywords the history gives the same beam
    header = fits.getheader(shared_data / "radio" / "astroquery-first" / "image.fits")
    keywords = read_beam(header)
    for key in ("BMAJ", "BMIN", "BPA"):
        del header[key]
    history = read_beam(header)
    assert history.major.to_value(u.arcsec) == pytest.approx(5.4) == keywords.major.to_value(u.arcsec)
    magpis = read_beam(fits.getheader(shared_data / "radio" / "astroquery-magpis" / "image.fits"))
    assert magpis.major > magpis.minor
    atlas = read_beam(load_image(shared_data / "radio" / "rgz-atlas" / "S311.fits").meta)  # through load_image
    assert atlas.major.to_value(u.arcsec) == pytest.approx(9.6, rel=1e-3)
    for optical in ("sep/image.fits", "astropy-wheel/m13.fits", "astropy-data/HorseHead.fits"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)  # non-standard ESO-LOG cards in the sep image
            header = fits.getheader(shared_data / "optical" / optical)
        assert read_beam(header) is None
