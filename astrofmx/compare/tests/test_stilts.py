"""Real client: STILTS (the engine of TOPCAT) reads our catalogs and agrees with `crossmatch`.

``tmatch2 find=best`` keeps, among all pairs within the radius, the closest
pair first and drops every other pair of its two rows ("best match,
symmetric"): that is ``crossmatch(..., method='greedy')``.  The default
Hungarian matching finds the same pairs unless greedy choices block each
other, in which case it finds more; the constructed case below shows both.
"""

import re
import shutil
import subprocess

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from astrofmx.compare import crossmatch, find_sources_photutils, find_sources_sep, read_reference_catalog
from astrofmx.datasets import get_bundled_path
from astrofmx.io import make_source_catalog, write_catalog

pytestmark = pytest.mark.skipif(shutil.which("stilts") is None,
                                reason="STILTS is not installed (Debian: apt-get install stilts)")


def _stilts(*args):
    out = subprocess.run(["stilts", *args], capture_output=True, text=True, timeout=180)
    if out.returncode:
        raise RuntimeError(f"stilts {' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout


def _tmatch2_count(file1, file2, radius, find="best"):
    out = _stilts("tmatch2", f"in1={file1}", f"in2={file2}", "matcher=sky", "values1=ra dec", "values2=ra dec",
                  f"params={radius.to_value(u.arcsec)}", f"find={find}", "join=1and2", "omode=count",
                  "progress=none")
    return int(re.search(r"rows:\s*(\d+)", out).group(1))


@pytest.fixture(scope="module")
def radio_catalogs(bundled_radio_image, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stilts")
    cats = {"photutils": find_sources_photutils(bundled_radio_image),
            "sep": find_sources_sep(bundled_radio_image)}
    files = {}
    for name, cat in cats.items():
        for ext in ("vot", "fits"):
            files[name, ext] = tmp / f"{name}.{ext}"
            write_catalog(cat, files[name, ext])
    return cats, files


def test_stilts_reads_votable_and_fits(radio_catalogs):
    cats, files = radio_catalogs
    cat = cats["sep"]
    for ext in ("vot", "fits"):
        meta = _stilts("tpipe", f"in={files['sep', ext]}", "omode=meta")
        assert re.search(r"Rows:\s*%d\b" % len(cat), meta)
        assert "ra(Double)/deg" in meta and "dec(Double)/deg" in meta and "x_centroid(Double)/pix" in meta
        # column statistics computed by STILTS equal ours (STILTS prints them to ~7 digits)
        stats = _stilts("tpipe", f"in={files['sep', ext]}", "cmd=keepcols 'ra dec x_centroid'",
                        "cmd=stats name mean minimum maximum", "omode=out", "ofmt=csv")
        rows = {line.split(",")[0]: [float(v) for v in line.split(",")[1:]] for line in stats.splitlines()[1:]}
        ra = cat["sky_centroid"].icrs.ra.deg
        np.testing.assert_allclose(rows["ra"], [ra.mean(), ra.min(), ra.max()], rtol=1e-6)
        np.testing.assert_allclose(rows["x_centroid"], [cat["x_centroid"].value.mean(),
                                                        cat["x_centroid"].value.min(),
                                                        cat["x_centroid"].value.max()], rtol=1e-6)


@pytest.mark.parametrize("radius", [7.2 * u.arcmin, 14.4 * u.arcmin])
def test_tmatch2_agrees_with_crossmatch_on_real_data(radio_catalogs, tmp_path, radius):
    cats, files = radio_catalogs
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"))
    ref_file = tmp_path / "aegean.fits"
    write_catalog(ref, ref_file)
    for name, cat in cats.items():
        stilts_best = _tmatch2_count(files[name, "vot"], ref_file, radius)
        greedy = crossmatch(cat, ref, radius, method="greedy").meta["n_matched"]
        hungarian = crossmatch(cat, ref, radius).meta["n_matched"]
        assert stilts_best == greedy == hungarian > 20


def test_tmatch2_best_is_greedy_on_constructed_data(tmp_path):
    """a0-b0 is the closest pair; taking it strands a1 and b1, which the Hungarian matching pairs up."""
    def cat(ra_arcsec):
        t = QTable()
        t["id"] = np.arange(1, len(ra_arcsec) + 1)
        t["sky_centroid"] = SkyCoord(150 * u.deg + np.asarray(ra_arcsec) * u.arcsec, np.zeros(len(ra_arcsec)) * u.deg)
        return t

    a, b = cat([0.0, 0.9, 50.0, 80.0]), cat([0.1, -0.8, 50.3, 120.0])
    write_catalog(a, tmp_path / "a.vot")
    write_catalog(b, tmp_path / "b.fits")
    radius = 0.85 * u.arcsec
    stilts_best = _tmatch2_count(tmp_path / "a.vot", tmp_path / "b.fits", radius)
    assert stilts_best == crossmatch(a, b, radius, method="greedy").meta["n_matched"] == 2
    assert crossmatch(a, b, radius).meta["n_matched"] == 3
    # with the radius below the blocking pairs' separations, every rule finds the same isolated pairs
    assert _tmatch2_count(tmp_path / "a.vot", tmp_path / "b.fits", 0.5 * u.arcsec) == 2 == \
        crossmatch(a, b, 0.5 * u.arcsec).meta["n_matched"]


def test_tmatch2_on_pixel_catalog_with_wcs(tmp_path, rng):
    """A catalog made with a WCS (as detect_sources makes them) against a shifted copy of itself."""
    from astropy.wcs import WCS

    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-1 / 3600, 1 / 3600]
    wcs.wcs.crval = [210, -30]
    wcs.wcs.crpix = [500, 500]
    xy = rng.uniform(0, 1000, (300, 2))
    shifted = xy + rng.normal(0, 0.7, xy.shape)
    c1 = make_source_catalog(np.concatenate([xy - 2, xy + 2], 1), centroids=xy, wcs=wcs)
    c2 = make_source_catalog(np.concatenate([shifted - 2, shifted + 2], 1), centroids=shifted, wcs=wcs)
    write_catalog(c1, tmp_path / "c1.fits")
    write_catalog(c2, tmp_path / "c2.vot")
    radius = 2 * u.arcsec
    assert _tmatch2_count(tmp_path / "c1.fits", tmp_path / "c2.vot", radius) == \
        crossmatch(c1, c2, radius, method="greedy").meta["n_matched"]
