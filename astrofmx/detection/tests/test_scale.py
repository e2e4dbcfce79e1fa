"""Beam/PSF awareness of `detect_sources`: the kind of image, its beam in pixels, and resampling into the
detector's training beams (``DetectorConfig.beam_range``)."""

import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import NDData
from radio_beam import Beam

from astrofmx.compare import crossmatch, match_metrics, read_reference_catalog
from astrofmx.datasets import simulate_radio_field
from astrofmx.detection import DetectorConfig, detect_sources
from astrofmx.detection._kind import _resolve_kind
from astrofmx.detection._scale import _PixelBeam, _resample_factor, _resolve_beam
from astrofmx.io import load_image
from astrofmx.utils import NoDetectionsWarning


def _field(fwhm, shape=(320, 320), seed=21, pa=60.0, **kw):
    return simulate_radio_field(shape, seed=seed, beam_fwhm=(fwhm[0] * u.arcsec, fwhm[1] * u.arcsec),
                                beam_pa=pa * u.deg, **kw)


def _completeness(field, cat, radius):
    bright = field.truth[np.asarray(field.truth["snr"]) >= 5]
    return match_metrics(cat, bright, radius)["completeness"]


def test_kind_from_header():
    assert _resolve_kind("auto", fits.Header({"BUNIT": "JY/BEAM"}), False) == ("radio", "BUNIT=JY/BEAM")
    assert _resolve_kind("auto", fits.Header(), True)[0] == "radio"
    assert _resolve_kind("auto", fits.Header({"NAXIS": 3, "CTYPE3": "FREQ"}), False) == ("radio", "CTYPE3=FREQ")
    assert _resolve_kind("auto", fits.Header({"TELESCOP": "ATCA"}), False) == ("radio", "TELESCOP=ATCA")
    assert _resolve_kind("auto", fits.Header({"TELESCOP": "HST", "BUNIT": "ELECTRONS"}), False)[0] == "optical"
    assert _resolve_kind("auto", fits.Header({"BUNIT": "nanomaggy"}), False) == ("optical", "BUNIT=nanomaggy")
    assert _resolve_kind("auto", fits.Header({"FILTER": "r"}), False) == ("optical", "the header has FILTER")
    kind, reason = _resolve_kind("auto", fits.Header(), False)
    assert kind == "radio" and "default" in reason
    assert _resolve_kind("optical", fits.Header({"BUNIT": "JY/BEAM"}), True) == ("optical", "given (kind=...)")
    with pytest.raises(ValueError, match="kind must be"):
        _resolve_kind("infrared", fits.Header(), False)


def test_kind_from_pixels_where_the_header_says_nothing():
    """A sky background (SkyView's DSS cutouts carry no telescope keyword) or integer counts say optical; a
    zero-mean map says nothing and stays radio; any header keyword still comes first."""
    from astrofmx.datasets import simulate_optical_field

    optical = simulate_optical_field((128, 128), seed=2).data
    radio = _field((6.0, 6.0), shape=(128, 128)).data
    kind, reason = _resolve_kind("auto", fits.Header(), False, pixels=(optical, None))
    assert kind == "optical" and "sigma above zero (sky)" in reason
    kind, reason = _resolve_kind("auto", fits.Header(), False, pixels=(np.round(optical).astype(np.int16), None))
    assert kind == "optical" and "integers (int16" in reason
    assert _resolve_kind("auto", fits.Header(), False, pixels=(radio, None))[0] == "radio"
    subtracted = optical - np.median(optical)
    assert _resolve_kind("auto", fits.Header(), False, pixels=(subtracted, None))[0] == "radio"
    nan_sky = np.where(np.arange(128)[None] < 100, np.nan, optical)  # few valid pixels: still read
    assert _resolve_kind("auto", fits.Header(), False, pixels=(nan_sky, None))[0] == "optical"
    assert _resolve_kind("auto", fits.Header({"BUNIT": "JY/BEAM"}), False, pixels=(optical, None))[0] == "radio"
    cat = detect_sources(optical, progress_bar=False)  # a bare array: the pixels decide
    assert cat.meta["kind"] == "optical" and "sky" in cat.meta["kind_reason"]


def test_beam_in_pixels_and_factor():
    field = _field((16.2, 7.35), pa=30.0, n_sources=0)
    img = load_image((field.data, field.header))
    header = _resolve_beam("auto", img)  # BMAJ/BMIN/BPA through the WCS: 10.8 x 4.9 px, major 120 deg from +x
    assert header.source == "header"
    assert (header.major, header.minor, header.theta) == pytest.approx((10.8, 4.9, 120.0), rel=1e-6)
    given = _resolve_beam(Beam(major=6 * u.arcsec), img)
    assert given.source == "given" and given.fwhm == pytest.approx(4.0)
    assert _resolve_beam(3 * u.pix, img).fwhm == 3.0
    assert _resolve_beam(9 * u.arcsec, img).fwhm == pytest.approx(6.0)
    assert _resolve_beam(None, img) is None
    bare = load_image(np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match="no celestial WCS"):
        _resolve_beam(6 * u.arcsec, bare)
    with pytest.raises(ValueError, match="beam must be 'auto'"):
        _resolve_beam("header", bare)
    with pytest.raises(TypeError, match="beam must be"):
        _resolve_beam(4.0, bare)
    with pytest.raises(ValueError, match="positive"):
        _resolve_beam(-2 * u.pix, bare)
    rng = DetectorConfig().beam_range
    assert rng == (2.5, 6.0)
    assert _resample_factor(_PixelBeam(4, 4, 0, "given"), rng) == 1.0
    assert _resample_factor(_PixelBeam(1.25, 1.25, 0, "given"), rng) == 2.0
    assert _resample_factor(_PixelBeam(12, 12, 0, "given"), rng) == 0.5
    assert _resample_factor(_PixelBeam(12, 12, 0, "given"), None) == 1.0
    with pytest.raises(ValueError, match="beam_range"):
        DetectorConfig(beam_range=(6, 2))
    assert DetectorConfig.from_json(DetectorConfig(beam_range=None).to_json()).beam_range is None


def test_parkes_in_range_identical(bundled_radio_image):
    """The Parkes beam (14.4 arcmin, 3.6 px) is in range: beam='auto' and beam=None give the same detections
    (min_snr=0: with a threshold, beam=None sizes the local-noise box from the detector's beam range, 3.9 px,
    not from the header's 3.6)."""
    auto = detect_sources(bundled_radio_image, min_snr=0, progress_bar=False)
    none = detect_sources(bundled_radio_image, beam=None, min_snr=0, progress_bar=False)
    assert auto.meta["beam_source"] == "header" and auto.meta["resample_factor"] == 1.0
    assert auto.meta["kind"] == "radio" and auto.meta["kind_reason"] == "BUNIT=JY/BEAM"
    assert none.meta["beam"] == "none"
    assert len(auto) == len(none) > 0
    for col in ("x_centroid", "y_centroid", "score", "bbox_xmin", "bbox_ymax"):
        np.testing.assert_array_equal(np.asarray(auto[col]), np.asarray(none[col]))


def test_small_beam_recall():
    """1.2 px beam (320^2 field, seed 21): completeness at S/N >= 5 is 0.87 with beam='auto' (tiles resampled
    2.08x from the header beam) against 0.44 with beam=None (measured; 0.93 against 0.20 on a 384^2
    field, seed 11)."""
    field = _field((1.8, 1.8), source_density=6000)
    auto = detect_sources(field.to_nddata(), progress_bar=False)
    none = detect_sources(field.to_nddata(), beam=None, progress_bar=False)
    assert auto.meta["resample_factor"] == pytest.approx(2.5 / 1.2)
    c_auto, c_none = _completeness(field, auto, 2 * u.pix), _completeness(field, none, 2 * u.pix)
    assert c_auto > 0.8 and c_auto > c_none + 0.3, (c_auto, c_none)
    # the positions are in the original pixels: matched within a third of a beam
    assert match_metrics(auto, field.truth, 0.6 * u.pix)["n_matched"] >= 0.7 * len(auto)


def test_large_beam_recall_from_file_tiled(tmp_path):
    """24 px beam (640^2 field, seed 21, 40 sources of S/N >= 5): completeness 0.65 with beam='auto' (x0.25)
    against 0.33 with beam=None (measured with the default detector, which was trained on beams of 2-7 px);
    the same from a memory-mapped FITS file cut into small tiles."""
    field = _field((36.0, 36.0), shape=(640, 640), source_density=2000)
    auto = detect_sources(field.to_nddata(), progress_bar=False)
    none = detect_sources(field.to_nddata(), beam=None, progress_bar=False)
    c_auto, c_none = _completeness(field, auto, 12 * u.pix), _completeness(field, none, 12 * u.pix)
    assert c_auto > c_none + 0.2, (c_auto, c_none)
    path = tmp_path / "big_beam.fits"
    fits.writeto(path, field.data, field.header)
    tiled = detect_sources(path, tile_size=400, progress_bar=False)
    assert tiled.meta["n_tiles"] > 1 and tiled.meta["resample_factor"] == 0.25
    assert _completeness(field, tiled, 12 * u.pix) >= c_auto - 0.1
    assert tiled["sky_centroid"].separation(field.truth["sky_centroid"][:1]).size == len(tiled)


def test_elongated_beam_faint_source():
    """A 6.4 sigma source under a 10.8 x 4.9 px (2.2:1) beam at PA 40 deg is found above the 0.5 threshold,
    within a pixel of its position, once the image is resampled (x0.58) into the training beams.

    Measured: score 0.94 with beam='auto', 0.97 with beam=None. The simulator's lone source does not show the
    issue's miss (0.46 without resampling on a real interferometer image), so only the resampled detection
    is held to the threshold here."""
    field = _field((16.2, 7.35), shape=(256, 256), seed=5, pa=40.0, n_sources=1, flux_min_snr=6.4,
                   flux_max_snr=6.41, extended_fraction=0.0, double_fraction=0.0)
    scores = {}
    for beam in ("auto", None):
        cat = detect_sources(field.to_nddata(), beam=beam, score_threshold=0.05, min_snr=0, progress_bar=False)
        m = match_metrics(cat, field.truth, 4 * u.pix)
        near = np.hypot(np.asarray(cat["x_centroid"]) - field.truth["x_centroid"][0],
                        np.asarray(cat["y_centroid"]) - field.truth["y_centroid"][0]) < 4
        scores[beam] = float(np.max(np.asarray(cat["score"])[near])) if near.any() else 0.0
        assert m["n_reference"] == 1
        if beam == "auto":
            assert cat.meta["resample_factor"] == pytest.approx(6.0 / np.sqrt(10.8 * 4.9))
            assert match_metrics(cat, field.truth, 1 * u.pix)["n_matched"] == 1
    assert scores["auto"] >= 0.5, scores


def test_estimated_beam_and_optical_kind(shared_data):
    """No header beam: the PSF is estimated from the image; the sep test image is optical (INSTRUME=EMMI)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-standard ESO-LOG header cards
        img = load_image(shared_data / "optical" / "sep" / "image.fits")
    cat = detect_sources(img, progress_bar=False)
    assert cat.meta["kind"] == "optical" and "EMMI" in cat.meta["kind_reason"]
    # estimated 2.47 px, just below the 2.5-6 px range: resampled by 1.01
    assert cat.meta["beam_source"] == "estimated" and 1.0 <= cat.meta["resample_factor"] < 1.05
    # optical: a detection below peak S/N 5 stays when its isophotal flux S/N reaches 8 (faint extended
    # galaxies of SExtractor's catalog: completeness 0.80 with the peak S/N alone, 0.85-0.86 with the flux S/N)
    assert cat.meta["min_snr"] == 5 and cat.meta["min_flux_snr"] == 8
    ref = read_reference_catalog(shared_data / "optical" / "sep" / "image.cat")
    m = crossmatch(cat, ref, 3.2 * u.pix)
    matched = cat[np.asarray(m["idx_catalog"])]
    low = np.asarray(matched["peak_snr"]) < 5
    assert low.sum() >= 3 and np.all(np.asarray(matched["flux"][low] / matched["flux_err"][low]) >= 8)
    # 56 of 65 in fp32, 55 in bf16 on a CPU with AMX (one source at the edge); the peak S/N alone gives 52
    assert m.meta["n_matched"] / len(ref) >= 0.83, m.meta
    noise = NDData(np.random.default_rng(0).normal(size=(96, 96)).astype(np.float32))
    with pytest.warns(NoDetectionsWarning):  # nothing to estimate from: no resampling, no error
        cat = detect_sources(noise, progress_bar=False)
    assert cat.meta["beam_source"] == "none" and cat.meta["kind"] == "radio"


@pytest.mark.parametrize("bmaj_deg, match", [(1e-6, "upsampled x250"), (1.0, "wider than the 96x96-pixel image")])
def test_impossible_header_beam_is_a_clear_error(tmp_path, bmaj_deg, match):
    """A header beam of 0.01 px (it hung, tiling a 250x upsampled image) or 10,000 px (it asked for a
    640,000-px tile) is named with the fix, before any tile is made; ``beam=None`` detects as it is."""
    field = _field((6.0, 6.0), shape=(96, 96), n_sources=3, flux_min_snr=30)  # 1.5" pixels
    header = field.header.copy()
    header["BMAJ"] = header["BMIN"] = bmaj_deg
    header["CDELT1"], header["CDELT2"] = -1e-4, 1e-4
    path = tmp_path / "beam.fits"
    fits.PrimaryHDU(field.data, header=header).writeto(path)
    with pytest.raises(ValueError, match=match) as info:
        detect_sources(path, progress_bar=False)
    assert "BMAJ/BMIN" in str(info.value) and "beam=None" in str(info.value)
    with pytest.raises(ValueError, match="upsampled"):
        detect_sources(field.data, beam=0.05 * u.pix, progress_bar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        cat = detect_sources(path, beam=None, progress_bar=False)
    assert cat.meta["beam"] == "none" and len(cat) >= 2
