import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS

from astrofmx.datasets import (RADIO_MORPHOLOGIES, read_simulated_field, simulate_radio_field, truth_boxes,
                               truth_boxes_in_window)


@pytest.fixture(scope="module")
def field():
    return simulate_radio_field((384, 320), seed=11, extended_fraction=0.2, double_fraction=0.1)


def test_same_seed_same_field_and_different_seed_differs():
    a = simulate_radio_field((128, 128), seed=5, n_sources=30)
    b = simulate_radio_field((128, 128), seed=5, n_sources=30)
    c = simulate_radio_field((128, 128), seed=6, n_sources=30)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.truth["flux"], b.truth["flux"])
    assert not np.array_equal(a.data, c.data)
    assert not np.allclose(a.truth["x_centroid"], c.truth["x_centroid"])


def test_unseeded_field_records_a_seed_that_regenerates_it():
    a = simulate_radio_field((64, 64), n_sources=5)
    b = simulate_radio_field((64, 64), n_sources=5, seed=a.header["SIMSEED"])
    np.testing.assert_array_equal(a.data, b.data)


def test_image_type_header_and_wcs(field):
    assert field.data.dtype == np.float32 and field.data.shape == (384, 320)
    h = field.header
    assert h["BUNIT"] == "JY/BEAM"
    assert h["CTYPE1"] == "RA---SIN" and h["CTYPE2"] == "DEC--SIN"
    assert h["BMAJ"] == pytest.approx(6.0 / 3600) and h["BMIN"] == pytest.approx(6.0 / 3600)
    assert "BPA" in h and h["SIMSEED"] == 11
    wcs = WCS(h)
    assert wcs.has_celestial
    centre = wcs.pixel_to_world((320 - 1) / 2, (384 - 1) / 2)
    assert centre.separation(SkyCoord(150.0, 2.2, unit="deg")) < 0.01 * u.arcsec
    # sky column agrees with the WCS
    sky = wcs.pixel_to_world(field.truth["x_centroid"], field.truth["y_centroid"])
    assert np.all(sky.separation(field.truth["sky_centroid"]) < 1e-3 * u.arcsec)
    nd = field.to_nddata()
    assert nd.unit == u.Jy / u.beam and nd.wcs.has_celestial
    assert field.rms == 20 * u.uJy / u.beam


def test_tan_projection_and_skycoord_centre():
    f = simulate_radio_field((64, 64), seed=0, n_sources=2, projection="TAN",
                             wcs_center=SkyCoord(53.1, -27.8, unit="deg"))
    assert f.header["CTYPE1"] == "RA---TAN"
    assert f.header["CRVAL1"] == pytest.approx(53.1) and f.header["CRVAL2"] == pytest.approx(-27.8)


def test_noise_rms_and_beam_correlation():
    f = simulate_radio_field((512, 512), seed=3, n_sources=0, rms=50 * u.uJy / u.beam)
    assert len(f.truth) == 0
    measured = f.data.std()
    assert measured == pytest.approx(50e-6, rel=0.05)
    # a Gaussian beam of sigma s gives a noise autocorrelation exp(-d^2 / (4 s^2)) at lag d
    sigma = 4.0 / (2 * np.sqrt(2 * np.log(2)))
    d = f.data.astype(float) - f.data.mean()
    lag1 = (d[:, 1:] * d[:, :-1]).mean() / d.var()
    assert lag1 == pytest.approx(np.exp(-1 / (4 * sigma ** 2)), abs=0.03)


def test_source_counts_exact_and_from_density():
    f = simulate_radio_field((128, 128), seed=1, n_sources=37)
    assert len(f.truth) == 37 and f.header["SIMNSRC"] == 37
    assert list(f.truth["id"]) == list(range(1, 38))
    density = 20000 / u.deg ** 2
    area = (512 * 1.5 / 3600) ** 2
    g = simulate_radio_field((512, 512), seed=2, source_density=density)
    expected = 20000 * area
    assert abs(len(g.truth) - expected) < 5 * np.sqrt(expected)


@pytest.mark.parametrize("index", [2.5, 1.8])
def test_powerlaw_slope_recovered_from_truth_fluxes(index):
    f = simulate_radio_field((256, 256), seed=4, n_sources=3000, powerlaw_index=index, flux_max_snr=1e6)
    s = f.truth["flux"].to_value(u.Jy)
    smin = f.header["SIMSMIN"]
    assert s.min() >= smin and s.max() <= f.header["SIMSMAX"]
    # maximum-likelihood slope of a power law above smin (Clauset et al. 2009)
    alpha = 1 + len(s) / np.sum(np.log(s / smin))
    assert alpha == pytest.approx(index, abs=0.08)
    # the faintest sources are ~flux_min_snr sigma
    assert np.percentile(f.truth["snr"][f.truth["morphology"] == "compact"], 5) < 4


def test_morphology_fractions_and_shapes():
    f = simulate_radio_field((256, 256), seed=8, n_sources=2000, extended_fraction=0.3, double_fraction=0.2)
    t = f.truth
    frac = {m: np.mean(t["morphology"] == m) for m in RADIO_MORPHOLOGIES}
    assert frac["extended"] == pytest.approx(0.3, abs=0.035)
    assert frac["double"] == pytest.approx(0.2, abs=0.035)
    compact = t[t["morphology"] == "compact"]
    extended = t[t["morphology"] == "extended"]
    double = t[t["morphology"] == "double"]
    # compact sources have the beam shape and peak ~ integrated flux (pixel sampling lowers the peak a little)
    np.testing.assert_allclose(compact["major"].to_value(u.arcsec), 6.0, rtol=1e-6)
    ratio = (compact["peak_flux"].to_value(u.Jy / u.beam) / compact["flux"].to_value(u.Jy))
    assert np.all((ratio > 0.8) & (ratio <= 1.0 + 1e-9))
    # resolved sources are larger than the beam and have peak < integrated flux
    assert np.all(extended["major"] > 6.0 * u.arcsec) and np.all(double["major"] > 6.0 * u.arcsec)
    assert np.all(extended["peak_flux"].value < extended["flux"].value)
    assert np.all(double["n_components"] >= 2) and np.all(compact["n_components"] == 1)
    assert np.all((t["pa"] >= 0 * u.deg) & (t["pa"] < 180 * u.deg))


def test_bright_compact_source_peak_matches_image():
    f = simulate_radio_field((256, 256), seed=9, n_sources=20, extended_fraction=0, double_fraction=0,
                             flux_min_snr=200, flux_max_snr=300)
    rms = f.header["SIMRMS"]
    xy = np.stack([f.truth["x_centroid"], f.truth["y_centroid"]], axis=-1)
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) + np.eye(len(xy)) * 1e9
    isolated = f.truth[dist.min(axis=1) > 20]
    assert len(isolated) >= 10
    for row in isolated:
        x, y = int(round(row["x_centroid"])), int(round(row["y_centroid"]))
        local_max = f.data[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2].max()
        # neighbours may add a little flux; noise is 1 rms
        assert local_max == pytest.approx(row["peak_flux"].value, abs=6 * rms + 0.02 * row["peak_flux"].value)


def test_truth_boxes_inside_image_and_around_sources(field):
    t = field.truth
    boxes = truth_boxes(t)
    ny, nx = field.data.shape
    assert boxes.shape == (len(t), 4)
    assert np.all(boxes[:, 0] >= -0.5) and np.all(boxes[:, 2] <= nx - 0.5)
    assert np.all(boxes[:, 1] >= -0.5) and np.all(boxes[:, 3] <= ny - 0.5)
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert np.all((t["x_centroid"] >= boxes[:, 0]) & (t["x_centroid"] <= boxes[:, 2]))
    assert np.all((t["y_centroid"] >= boxes[:, 1]) & (t["y_centroid"] <= boxes[:, 3]))
    # an unclipped compact box is 2 * 3 sigma of the beam wide
    compact = (t["morphology"] == "compact") & (boxes[:, 0] > 0) & (boxes[:, 2] < nx - 1)
    sigma = 4.0 / (2 * np.sqrt(2 * np.log(2)))
    np.testing.assert_allclose(boxes[compact, 2] - boxes[compact, 0], 6 * sigma, rtol=1e-6)


def test_artefacts_only_change_pixels_near_bright_sources():
    kwargs = dict(seed=21, n_sources=40, flux_min_snr=5, flux_max_snr=3000)
    clean = simulate_radio_field((256, 256), **kwargs)
    for kind in ("rings", "stripes"):
        dirty = simulate_radio_field((256, 256), artefacts=kind, artefact_amplitude=0.05, **kwargs)
        np.testing.assert_array_equal(clean.truth["flux"], dirty.truth["flux"])
        diff = dirty.data - clean.data
        flagged = dirty.truth[dirty.truth["has_artefact"]]
        assert len(flagged) >= 1
        assert np.all((flagged["snr"] >= 100) | (len(flagged) == 1))
        assert np.abs(diff).max() > 0.3 * 0.05 * flagged["peak_flux"].value.max()
        # far from every flagged source (beyond the 4 x 8 beam artefact stamp) nothing changed
        yy, xx = np.mgrid[0:256, 0:256]
        far = np.ones((256, 256), bool)
        for row in flagged:
            far &= np.hypot(xx - row["x_centroid"], yy - row["y_centroid"]) > 4 * 8 * 4 * 1.5
        assert np.all(diff[far] == 0)
    assert not clean.truth["has_artefact"].any()


def test_write_and_read_round_trip(tmp_path, field):
    path = tmp_path / "sim.fits"
    field.write(path)
    back = read_simulated_field(path)
    np.testing.assert_array_equal(back.data, field.data)
    assert back.header["BMAJ"] == pytest.approx(field.header["BMAJ"], rel=1e-12)
    assert back.truth.colnames == field.truth.colnames
    np.testing.assert_allclose(back.truth["flux"].to_value(u.Jy), field.truth["flux"].to_value(u.Jy))
    assert back.truth["flux"].unit == u.Jy
    assert np.all(back.truth["sky_centroid"].separation(field.truth["sky_centroid"]) < 1e-6 * u.arcsec)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        field.write(path)
    field.write(path, overwrite=True)


def test_return_truth_false_gives_same_image():
    a = simulate_radio_field((96, 96), seed=2, n_sources=10, double_fraction=0.5)
    b = simulate_radio_field((96, 96), seed=2, n_sources=10, double_fraction=0.5, return_truth=False)
    assert b.truth is None
    np.testing.assert_array_equal(a.data, b.data)
    assert len(b.to_hdulist()) == 1


def test_truth_boxes_in_window(field):
    t = field.truth
    ny, nx = field.data.shape
    boxes, labels, index = truth_boxes_in_window(t, 0, 0, nx, ny, min_visible_fraction=0, return_index=True)
    assert len(boxes) == len(t)
    np.testing.assert_allclose(boxes, truth_boxes(t) + 0.5, atol=1e-4)
    assert set(labels) <= {1, 2, 3}
    np.testing.assert_array_equal(labels, [1 + RADIO_MORPHOLOGIES.index(m) for m in t["morphology"]])

    x0, y0, w, h = 100, 50, 128, 96
    boxes, labels, index = truth_boxes_in_window(t, x0, y0, w, h, return_index=True)
    assert len(boxes) > 0
    assert np.all(boxes >= 0) and np.all(boxes[:, [0, 2]] <= w) and np.all(boxes[:, [1, 3]] <= h)
    strict, _, strict_index = truth_boxes_in_window(t, x0, y0, w, h, min_visible_fraction=1.0, return_index=True)
    assert set(strict_index) <= set(index)
    full = truth_boxes(t)[strict_index]
    assert np.all((full[:, 0] >= x0 - 0.5) & (full[:, 2] <= x0 + w - 0.5))
    astro, _ = truth_boxes_in_window(t, x0, y0, w, h, convention="astropy")
    np.testing.assert_allclose(astro + 0.5, boxes, atol=1e-4)
    _, agnostic = truth_boxes_in_window(t, x0, y0, w, h, class_agnostic=True)
    assert np.all(agnostic == 1)
    bright, _ = truth_boxes_in_window(t, 0, 0, nx, ny, min_visible_fraction=0, min_snr=5)
    assert len(bright) == np.sum(t["snr"] >= 5) < len(t)
    empty, empty_labels = truth_boxes_in_window(t, 10 ** 6, 10 ** 6, 10, 10)
    assert empty.shape == (0, 4) and empty_labels.shape == (0,)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rms=-1e-5), ValueError, "rms must be positive"),
    (dict(rms=1 * u.arcsec), ValueError, "rms must have units"),
    (dict(shape=(16, 16, 3)), ValueError, "shape must be 2-D"),
    (dict(shape=(4, 4)), ValueError, "at least"),
    (dict(extended_fraction=1.5), ValueError, r"extended_fraction must be in \[0, 1\]"),
    (dict(double_fraction=-0.1), ValueError, r"double_fraction must be in \[0, 1\]"),
    (dict(extended_fraction=0.7, double_fraction=0.5), ValueError, "must be <= 1"),
    (dict(n_sources=5, source_density=100), ValueError, "not both"),
    (dict(n_sources=-2), ValueError, "n_sources must be a non-negative integer"),
    (dict(artefacts="ghosts"), ValueError, "artefacts must be"),
    (dict(projection="AIT"), ValueError, "projection must be"),
    (dict(beam_fwhm=0), ValueError, "beam_fwhm must be positive"),
    (dict(beam_fwhm=(2, 4)), ValueError, "minor must not exceed major"),
    (dict(pixel_scale=-1 * u.arcsec), ValueError, "pixel_scale must be positive"),
    (dict(powerlaw_index=0.5), ValueError, "powerlaw_index must be > 1"),
    (dict(flux_min_snr=10, flux_max_snr=5), ValueError, "flux_max_snr must exceed"),
    (dict(wcs_center=(10, 95)), ValueError, "Dec must be in"),
    (dict(seed="abc"), TypeError, "seed must be"),
])
def test_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_radio_field(**{"shape": (32, 32), **kwargs})


def test_bad_window_inputs(field):
    with pytest.raises(ValueError, match="width and height must be positive"):
        truth_boxes_in_window(field.truth, 0, 0, 0, 10)
    with pytest.raises(TypeError, match="x0 must be an integer"):
        truth_boxes_in_window(field.truth, 0.5, 0, 10, 10)
    with pytest.raises(ValueError, match="min_visible_fraction"):
        truth_boxes_in_window(field.truth, 0, 0, 10, 10, min_visible_fraction=2)
    with pytest.raises(ValueError, match="convention must be"):
        truth_boxes_in_window(field.truth, 0, 0, 10, 10, convention="pixel")
    with pytest.raises(ValueError, match="missing"):
        truth_boxes(field.truth["id", "x_centroid"])


def test_hdu_provenance_and_repr(field):
    hdu = field.to_hdu()
    assert hdu.data.dtype == np.float32 and hdu.header["ORIGIN"] == "astrofmx"
    for key in ("SIMRMS", "SIMNSRC", "SIMALPHA", "SIMEXTF", "SIMDBLF", "SIMARTEF"):
        assert key in hdu.header
    assert any("simulate_radio_field" in str(h) for h in hdu.header["HISTORY"])
    assert hdu.data is not field.data  # a copy: editing the HDU leaves the field intact
    assert field.truth.meta["simulation"]["SIMNSRC"] == len(field.truth)
    assert "SimulatedRadioField shape=(384, 320)" in repr(field)
    major, minor, pa = field.beam
    assert major == 6 * u.arcsec and minor == 6 * u.arcsec and pa == 0 * u.deg


def test_elliptical_beam_position_angle_convention():
    f = simulate_radio_field((96, 96), seed=0, n_sources=1, extended_fraction=0, double_fraction=0,
                             beam_fwhm=(9 * u.arcsec, 4.5 * u.arcsec), beam_pa=30 * u.deg, flux_min_snr=2000,
                             flux_max_snr=2001, rms=1 * u.uJy / u.beam)
    row = f.truth[0]
    assert row["major"].to_value(u.arcsec) == pytest.approx(9.0)
    assert row["minor"].to_value(u.arcsec) == pytest.approx(4.5)
    assert row["pa"].to_value(u.deg) == pytest.approx(30.0)
    assert f.header["BPA"] == 30.0
    # measure the orientation in the image: PA 30 deg east of north on a north-up, east-left image
    # is 120 deg counter-clockwise from +x
    x0, y0 = int(round(row["x_centroid"])), int(round(row["y_centroid"]))
    cut = f.data[max(y0 - 12, 0):y0 + 13, max(x0 - 12, 0):x0 + 13].astype(float)
    yy, xx = np.mgrid[: cut.shape[0], : cut.shape[1]]
    w = np.clip(cut, 0, None)
    mx, my = (w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()
    cxx, cyy = (w * (xx - mx) ** 2).sum(), (w * (yy - my) ** 2).sum()
    cxy = (w * (xx - mx) * (yy - my)).sum()
    theta = np.degrees(0.5 * np.arctan2(2 * cxy, cxx - cyy)) % 180
    assert theta == pytest.approx(120.0, abs=3)
    assert row["theta"].to_value(u.deg) == pytest.approx(120.0)


# ----------------------------------------------------------------------------------------------
# primary-beam-corrected noise
# ----------------------------------------------------------------------------------------------

def _pb(shape, fwhm_px, x0=None, y0=None):
    ny, nx = shape
    x0 = (nx - 1) / 2 if x0 is None else x0
    y0 = (ny - 1) / 2 if y0 is None else y0
    yy, xx = np.mgrid[0:ny, 0:nx]
    return np.exp(-4 * np.log(2) * ((xx - x0) ** 2 + (yy - y0) ** 2) / fwhm_px ** 2), np.hypot(xx - x0, yy - y0)


def test_primary_beam_noise_rises_as_one_over_pb():
    shape, fwhm_px, rms = (512, 512), 400.0, 30e-6
    f = simulate_radio_field(shape, seed=31, n_sources=0, rms=rms * u.Jy / u.beam,
                             primary_beam_fwhm=fwhm_px * 1.5 * u.arcsec)
    pb, r = _pb(shape, fwhm_px)
    assert np.isfinite(f.data).all()
    for lo, hi in ((0, 50), (120, 150), (200, 240)):
        ring = (r >= lo) & (r < hi)
        expected = rms * np.sqrt(np.mean(1 / pb[ring] ** 2))
        assert f.data[ring].std() == pytest.approx(expected, rel=0.08), (lo, hi)
    inner, outer = f.data[r < 50].std(), f.data[(r >= 200) & (r < 240)].std()
    assert outer / inner > 1.8  # PB ~ 0.4 at r = 220 px
    # multiplying by the primary beam gives back uniform noise of the given rms
    assert (f.data * pb).std() == pytest.approx(rms, rel=0.05)
    assert f.header["SIMPBFW"] == pytest.approx(600.0) and f.header["SIMPBCUT"] == 0.0
    assert f.header["SIMPBX"] == pytest.approx(255.5) and f.header["SIMPBY"] == pytest.approx(255.5)


def test_primary_beam_changes_only_the_noise_and_snr_uses_local_noise():
    kwargs = dict(seed=32, n_sources=60, flux_min_snr=5, double_fraction=0.1, rms=20 * u.uJy / u.beam)
    shape, fwhm_px = (256, 320), 200.0
    plain = simulate_radio_field(shape, **kwargs)
    noise_only = simulate_radio_field(shape, **{**kwargs, "n_sources": 0})
    pbc = simulate_radio_field(shape, primary_beam_fwhm=fwhm_px * 1.5 * u.arcsec, **kwargs)
    pb, _ = _pb(shape, fwhm_px)
    # same sources (true fluxes), noise divided by PB
    np.testing.assert_array_equal(pbc.truth["flux"], plain.truth["flux"])
    np.testing.assert_array_equal(pbc.truth["peak_flux"], plain.truth["peak_flux"])
    np.testing.assert_allclose(pbc.data - plain.data, noise_only.data * (1 / pb - 1), atol=2e-7)
    # snr is peak over the local noise rms / PB at the source
    t = pbc.truth
    pb_src = np.exp(-4 * np.log(2) * ((t["x_centroid"] - 159.5) ** 2 + (t["y_centroid"] - 127.5) ** 2)
                    / fwhm_px ** 2)
    np.testing.assert_allclose(t["primary_beam"], pb_src, rtol=1e-9)
    np.testing.assert_allclose(t["snr"], t["peak_flux"].to_value(u.Jy / u.beam) * pb_src / 20e-6, rtol=1e-9)
    assert np.all(t["snr"] < plain.truth["snr"]) and "primary_beam" not in plain.truth.colnames
    # a primary beam much wider than the field changes nothing noticeable
    wide = simulate_radio_field(shape, primary_beam_fwhm=1e6 * u.arcsec, **kwargs)
    np.testing.assert_allclose(wide.data, plain.data, atol=1e-9)
    # no primary beam: header without SIMPB* keywords, as before the option existed
    assert not any(k.startswith("SIMPB") for k in plain.header)


def test_primary_beam_cutoff_blanks_edges_and_drops_blanked_sources(tmp_path):
    shape, fwhm_px, cut = (300, 300), 260.0, 0.3
    kwargs = dict(seed=33, n_sources=400)
    plain = simulate_radio_field(shape, **kwargs)
    f = simulate_radio_field(shape, primary_beam_fwhm=fwhm_px * 1.5 * u.arcsec, pb_cutoff=cut, **kwargs)
    pb, _ = _pb(shape, fwhm_px)
    np.testing.assert_array_equal(np.isnan(f.data), pb < cut)
    assert 0.05 < np.isnan(f.data).mean() < 0.5
    inside = pb[np.clip(np.round(plain.truth["y_centroid"]).astype(int), 0, 299),
                np.clip(np.round(plain.truth["x_centroid"]).astype(int), 0, 299)] >= cut
    assert 0 < len(f.truth) < len(plain.truth)
    assert abs(len(f.truth) - inside.sum()) <= 5  # rounding to pixel centres at the cut edge
    assert np.all(f.truth["primary_beam"] >= cut)
    assert set(f.truth["id"]) <= set(plain.truth["id"])
    assert f.header["SIMPBCUT"] == cut and f.header["SIMNSRC"] == 400
    path = tmp_path / "pbc.fits"
    f.write(path)
    back = read_simulated_field(path)
    np.testing.assert_array_equal(np.isnan(back.data), np.isnan(f.data))
    np.testing.assert_allclose(back.truth["primary_beam"], f.truth["primary_beam"])


def test_primary_beam_centre_as_pixels_or_sky():
    shape, kwargs = (128, 160), dict(seed=34, n_sources=5, primary_beam_fwhm=90 * u.arcsec)
    a = simulate_radio_field(shape, primary_beam_center=(40, 90), **kwargs)
    sky = a.wcs.pixel_to_world(40, 90)
    b = simulate_radio_field(shape, primary_beam_center=sky, **kwargs)
    np.testing.assert_allclose(b.data, a.data, rtol=1e-5, atol=1e-9)
    assert b.header["SIMPBX"] == pytest.approx(40, abs=1e-6) and b.header["SIMPBY"] == pytest.approx(90, abs=1e-6)
    pb, _ = _pb(shape, 60.0, 40, 90)
    np.testing.assert_allclose(a.truth["primary_beam"],
                               np.exp(-4 * np.log(2) * ((a.truth["x_centroid"] - 40) ** 2
                                                        + (a.truth["y_centroid"] - 90) ** 2) / 60.0 ** 2))
    # the noise is lowest around the pointing centre
    near, far = a.data[80:100, 30:50], a.data[0:20, 140:160]
    assert far.std() > 5 * near.std()


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(pb_cutoff=0.2), ValueError, "need primary_beam_fwhm"),
    (dict(primary_beam_center=(3, 4)), ValueError, "need primary_beam_fwhm"),
    (dict(primary_beam_fwhm=60, pb_cutoff=1.5), ValueError, r"pb_cutoff must be in \[0, 1\]"),
    (dict(primary_beam_fwhm=60, pb_cutoff=0), ValueError, r"pb_cutoff must be in \(0, 1\)"),
    (dict(primary_beam_fwhm=-60), ValueError, "primary_beam_fwhm must be positive"),
    (dict(primary_beam_fwhm=1 * u.Jy), ValueError, "primary_beam_fwhm must have units"),
    (dict(primary_beam_fwhm=60, primary_beam_center="centre"), TypeError, "primary_beam_center must be"),
    (dict(primary_beam_fwhm=60, primary_beam_center=(np.nan, 3)), ValueError, "must be finite"),
])
def test_bad_primary_beam_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_radio_field((32, 32), n_sources=1, **kwargs)


def test_a_field_beyond_the_free_memory_is_refused_before_allocating():
    """1.2 TB of work arrays for a 200,000^2 field: a ValueError with the figures (a MemoryError half-way before)."""
    from astrofmx.datasets import simulate_optical_field

    for simulate in (simulate_radio_field, simulate_optical_field):
        with pytest.raises(ValueError, match=r"needs about 1192\.1 GiB .* free; simulate a smaller field"):
            simulate((200_000, 200_000), seed=0)
