"""Cross-matching and metrics on constructed catalogs (exact answers known)."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from astropy.wcs import WCS
from scipy.optimize import linear_sum_assignment  # noqa: F401  (the documented solver must import)
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from astrofmx.compare import catalog_scores, compare_catalogs, crossmatch, match_metrics
from astrofmx.io import make_source_catalog


def _pix_catalog(xy):
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    boxes = np.concatenate([xy - 1, xy + 1], axis=1) if len(xy) else np.zeros((0, 4))
    return make_source_catalog(boxes, centroids=xy if len(xy) else None, warn_empty=False)


def _sky_catalog(ra_arcsec, dec_arcsec=None, ra0=150.0, dec0=0.0):
    ra_arcsec = np.asarray(ra_arcsec, dtype=float)
    dec_arcsec = np.zeros_like(ra_arcsec) if dec_arcsec is None else np.asarray(dec_arcsec, dtype=float)
    t = QTable()
    t["id"] = np.arange(1, len(ra_arcsec) + 1)
    t["sky_centroid"] = SkyCoord(ra0 * u.deg + ra_arcsec * u.arcsec, dec0 * u.deg + dec_arcsec * u.arcsec)
    return t


def _tan_wcs():
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-2 / 3600, 2 / 3600]  # 2 arcsec pixels
    wcs.wcs.crval = [150, 30]
    wcs.wcs.crpix = [200, 200]
    return wcs


def test_isolated_pairs_all_methods_agree(rng):
    truth = rng.uniform(0, 500, (40, 2))
    found = truth[:30] + rng.normal(0, 0.3, (30, 2))
    found = np.concatenate([found, rng.uniform(600, 900, (5, 2))])  # 5 spurious sources far away
    for method in ("hungarian", "greedy"):
        m = crossmatch(_pix_catalog(found), _pix_catalog(truth), 3 * u.pix, method=method)
        assert m.meta["n_matched"] == 30
        assert list(m["idx_catalog"]) == list(range(30))
        assert list(m["idx_reference"]) == list(range(30))
        assert m.meta["n_unmatched_catalog"] == 5 and m.meta["n_unmatched_reference"] == 10
        assert m.meta["unmatched_reference"] == list(range(30, 40))
        assert m["separation"].unit == u.pix
        np.testing.assert_allclose(m["separation"].value, np.hypot(*(found[:30] - truth[:30]).T))


def test_one_to_one_and_maximum_cardinality(rng):
    """Crowded random catalogs: every source used at most once, within the radius, as many as possible."""
    a = rng.uniform(0, 60, (80, 2))
    b = rng.uniform(0, 60, (70, 2))
    radius = 4.0
    hung = crossmatch(_pix_catalog(a), _pix_catalog(b), radius * u.pix)
    greedy = crossmatch(_pix_catalog(a), _pix_catalog(b), radius * u.pix, method="greedy")
    for m in (hung, greedy):
        assert len(set(m["idx_catalog"])) == len(m) == len(set(m["idx_reference"]))
        assert np.all(m["separation"].value <= radius)
        d = np.hypot(*(a[m["idx_catalog"]] - b[m["idx_reference"]]).T)
        np.testing.assert_allclose(m["separation"].value, d)
    # the Hungarian assignment reaches the maximum bipartite matching; greedy may not
    dist = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    best = int(np.sum(maximum_bipartite_matching(csr_matrix(dist <= radius), perm_type="column") >= 0))
    assert len(hung) == best
    assert len(greedy) <= best


def test_greedy_and_hungarian_differ_where_they_must():
    """a0-b0 is the closest pair, but taking it leaves a1 and b1 unmatched."""
    cat = _sky_catalog([0.0, 0.9])
    ref = _sky_catalog([0.1, -0.8])
    greedy = crossmatch(cat, ref, 0.85 * u.arcsec, method="greedy")
    hung = crossmatch(cat, ref, 0.85 * u.arcsec, method="hungarian")
    assert len(greedy) == 1 and (greedy["idx_catalog"][0], greedy["idx_reference"][0]) == (0, 0)
    assert len(hung) == 2
    assert sorted(zip(hung["idx_catalog"], hung["idx_reference"])) == [(0, 1), (1, 0)]
    assert hung["separation"].unit == u.arcsec


@pytest.mark.parametrize("mode", ["sky", "pixel"])
def test_radius_edges(mode):
    if mode == "sky":
        cat, ref = _sky_catalog([0.0, 100.0]), _sky_catalog([2.0, 102.0 + 1e-3])
        r = 2.0005 * u.arcsec
    else:
        cat, ref = _pix_catalog([[0, 0], [100, 0]]), _pix_catalog([[2, 0], [102.001, 0]])
        r = 2.0005 * u.pix
    m = crossmatch(cat, ref, r)
    assert m.meta["n_matched"] == 1 and m["idx_catalog"][0] == 0  # 2 inside, 2.001 outside
    assert crossmatch(cat, ref, 1.999 * r.unit).meta["n_matched"] == 0
    assert crossmatch(cat, ref, 2.0015 * r.unit).meta["n_matched"] == 2


def test_sky_and_pixel_matching_agree_on_a_tan_field(rng):
    wcs = _tan_wcs()
    xy_true = rng.uniform(20, 380, (60, 2))
    xy_found = np.concatenate([xy_true[:50] + rng.normal(0, 0.4, (50, 2)), rng.uniform(20, 380, (8, 2))])

    def cat(xy):
        return make_source_catalog(np.concatenate([xy - 1, xy + 1], axis=1), centroids=xy, wcs=wcs)

    sky = crossmatch(cat(xy_found), cat(xy_true), 3 * u.arcsec)  # 1.5 pixels
    pix = crossmatch(cat(xy_found), cat(xy_true), 1.5 * u.pix)
    assert sky.meta["coordinates"] == "sky" and pix.meta["coordinates"] == "pixel"
    assert list(sky["idx_catalog"]) == list(pix["idx_catalog"])
    assert list(sky["idx_reference"]) == list(pix["idx_reference"])
    np.testing.assert_allclose(sky["separation"].to_value(u.arcsec), 2 * pix["separation"].value, rtol=1e-3)


def test_empty_catalogs_give_empty_matches():
    empty = _pix_catalog(np.zeros((0, 2)))
    full = _pix_catalog([[0, 0], [5, 5]])
    for a, b in ((empty, full), (full, empty), (empty, empty)):
        m = crossmatch(a, b, 1 * u.pix)
        assert len(m) == 0
        assert m.meta["n_unmatched_catalog"] == len(a) and m.meta["n_unmatched_reference"] == len(b)
        assert set(m.colnames) >= {"idx_catalog", "idx_reference", "separation"}


def test_bad_radius_and_columns():
    cat = _pix_catalog([[0, 0]])
    with pytest.raises(TypeError, match="radius must be an astropy Quantity"):
        crossmatch(cat, cat, 3.0)
    with pytest.raises(TypeError, match="got unit m"):
        crossmatch(cat, cat, 3 * u.m)
    with pytest.raises(ValueError, match="radius must be a positive"):
        crossmatch(cat, cat, -1 * u.pix)
    with pytest.raises(ValueError, match="radius must be a positive"):
        crossmatch(cat, cat, [1, 2] * u.pix)
    with pytest.raises(ValueError, match="method must be one of"):
        crossmatch(cat, cat, 1 * u.pix, method="nearest")
    with pytest.raises(ValueError, match="no 'sky_centroid' column.*u.pix"):
        crossmatch(cat, cat, 1 * u.arcsec)
    sky_only = _sky_catalog([0.0])
    with pytest.raises(ValueError, match="no 'x_centroid' column"):
        crossmatch(sky_only, sky_only, 1 * u.pix)


def test_match_metrics_values():
    truth = _pix_catalog([[0, 0], [10, 0], [20, 0], [30, 0]])
    found = _pix_catalog([[0.5, 0], [10, 0.5], [50, 50]])
    m = match_metrics(found, truth, 1 * u.pix)
    assert (m["n_sources"], m["n_reference"], m["n_matched"]) == (3, 4, 2)
    assert m["completeness"] == pytest.approx(0.5)
    assert m["purity"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert m["median_separation"] == 0.5 * u.pix


def test_metrics_of_empty_catalogs():
    truth = _pix_catalog([[0, 0]])
    empty = _pix_catalog(np.zeros((0, 2)))
    m = match_metrics(empty, truth, 1 * u.pix)
    assert (m["completeness"], m["purity"], m["f1"]) == (0.0, 0.0, 0.0)
    assert np.isnan(m["median_separation"].value)
    with pytest.raises(ValueError, match="reference catalog is empty"):
        match_metrics(truth, empty, 1 * u.pix)


def test_catalog_scores_from_counts():
    m = match_metrics(_pix_catalog([[0.5, 0], [10, 0.5], [50, 50]]),
                      _pix_catalog([[0, 0], [10, 0], [20, 0], [30, 0]]), 1 * u.pix)
    assert catalog_scores(2, 3, 4) == {k: m[k] for k in ("completeness", "purity", "f1")}
    assert catalog_scores(0, 0, 4) == {"completeness": 0.0, "purity": 0.0, "f1": 0.0}
    empty_ref = catalog_scores(0, 3, 0)  # counts summed over images where no reference source was found
    assert np.isnan(empty_ref["completeness"]) and (empty_ref["purity"], empty_ref["f1"]) == (0.0, 0.0)
    assert catalog_scores(np.int64(5), 5, 5)["f1"] == 1.0
    with pytest.raises(ValueError, match="n_matched .5. cannot exceed n_sources .3."):
        catalog_scores(5, 3, 10)
    with pytest.raises(ValueError, match="n_sources must be a non-negative integer, got -1"):
        catalog_scores(0, -1, 2)
    with pytest.raises(ValueError, match="n_reference must be a non-negative integer, got 2.5"):
        catalog_scores(0, 1, 2.5)

def test_compare_catalogs_table():
    truth = _pix_catalog([[0, 0], [10, 0]])
    perfect = _pix_catalog([[0, 0], [10, 0]])
    half = _pix_catalog([[0, 0], [40, 0], [60, 0]])
    t = compare_catalogs({"perfect": perfect, "half": half}, truth, 1 * u.pix)
    assert list(t["finder"]) == ["perfect", "half"]
    assert list(t["n_matched"]) == [2, 1]
    np.testing.assert_allclose(t["completeness"], [1.0, 0.5])
    np.testing.assert_allclose(t["purity"], [1.0, 1 / 3])
    assert t.meta["radius"] == 1 * u.pix
    with pytest.raises(ValueError, match="catalogs is empty"):
        compare_catalogs({}, truth, 1 * u.pix)
    with pytest.raises(TypeError, match="catalogs must be a dict"):
        compare_catalogs([perfect], truth, 1 * u.pix)
    with pytest.raises(ValueError, match="plot needs the image"):
        compare_catalogs({"p": perfect}, truth, 1 * u.pix, plot="x.png")


@pytest.mark.parametrize("which", ["catalog", "reference"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_positions_name_the_rows(which, bad):
    """NaN or infinite positions are refused with the catalog and the rows named (not scipy's 'data must be
    finite'), in pixels and on the sky."""
    good = _pix_catalog([[1, 1], [5, 5], [9, 9], [20, 20]])
    broken = _pix_catalog([[1, 1], [5, 5], [9, 9], [20, 20]])
    broken["x_centroid"][[1, 3]] = bad * u.pix
    args = (broken, good) if which == "catalog" else (good, broken)
    with pytest.raises(ValueError, match=rf"{which} has NaN or infinite pixel positions .* in rows 1, 3 "):
        crossmatch(*args, 2 * u.pix)
    sky = SkyCoord([10, 10.001, 10.002] * u.deg, [0, 0, 0] * u.deg)
    a, b = QTable({"sky_centroid": sky}), QTable({"sky_centroid": sky})
    bad_sky = SkyCoord([10, np.nan, 10.002] * u.deg, [0, 0, np.nan] * u.deg)  # astropy refuses infinite angles
    if which == "catalog":
        a = QTable({"sky_centroid": bad_sky})
    else:
        b = QTable({"sky_centroid": bad_sky})
    with pytest.raises(ValueError, match=rf"{which} has NaN or infinite sky positions .* in rows 1, 2 "):
        crossmatch(a, b, 2 * u.arcsec)
    assert crossmatch(good, good, 2 * u.pix).meta["n_matched"] == 4  # finite catalogs still match
