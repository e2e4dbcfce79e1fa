import dataclasses
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import NDData

from astrofmx.compare import crossmatch
from astrofmx.detection import build_detector, detect_sources
from astrofmx.detection._tiles import _image_to_model, _model_to_image
from astrofmx.io import SOURCE_COLUMNS
from astrofmx.utils import NoDetectionsWarning, cpu_supports_bf16

from .conftest import SMALL_HEADS, TINY_VIT

QUIET = dict(progress_bar=False, precision="fp32")


@pytest.fixture(scope="module")
def untiled(trained_detector, heldout_field):
    return detect_sources(heldout_field.to_nddata(), model=trained_detector, tile_size=160, score_threshold=0.3,
                          **QUIET)


@pytest.fixture(scope="module")
def tiled(trained_detector, heldout_field):
    return detect_sources(heldout_field.to_nddata(), model=trained_detector, tile_size=64, overlap=24,
                          score_threshold=0.3, **QUIET)


def test_catalog_columns_meta_and_truth(tiled, trained_detector, heldout_field):
    assert tiled.colnames == list(SOURCE_COLUMNS) + ["peak", "peak_snr", "x_centroid_err", "y_centroid_err",
                                                     "peak_err", "flux", "flux_err", "semimajor", "semiminor",
                                                     "orientation"]
    assert tiled["peak"].unit == heldout_field.truth["peak_flux"].unit
    assert np.all(np.diff(tiled["score"]) <= 0)  # sorted by decreasing score
    assert set(tiled["label"]) == {"source"}
    for key in ("model", "backbone", "weights", "preprocessing", "date", "version", "finder"):
        assert key in tiled.meta
    assert tiled.meta["backbone"] == "resnet18" and "tile_size=64" in tiled.meta["preprocessing"]
    confident = tiled[tiled["score"] >= 0.5]
    matches = crossmatch(confident, heldout_field.truth, 3 * u.pix)
    assert matches.meta["n_matched"] >= 0.5 * len(confident)


def _box_keys(catalog):
    """Each row's box corner, rounded, as a hashable key (the same box in two catalogs of one image)."""
    corners = np.stack([catalog["bbox_xmin"].value, catalog["bbox_ymin"].value], axis=1)
    return [tuple(r) for r in np.round(corners, 4)]


def test_positions_and_fluxes_are_measured_on_the_pixels(tiled, heldout_field):
    """Measured centroids lie closer to the truth than box centres; Jy/beam sums become Jy through the beam."""
    truth = heldout_field.truth
    bright = tiled[tiled["peak_snr"] >= 10]
    m = crossmatch(bright, truth, 3 * u.pix)
    assert len(m) >= 10
    i, j = np.asarray(m["idx_catalog"]), np.asarray(m["idx_reference"])
    tx, ty = np.asarray(truth["x_centroid"], float)[j], np.asarray(truth["y_centroid"], float)[j]
    measured = np.hypot(bright["x_centroid"].value[i] - tx, bright["y_centroid"].value[i] - ty)
    box_x = 0.5 * (bright["bbox_xmin"].value + bright["bbox_xmax"].value)[i]
    box_y = 0.5 * (bright["bbox_ymin"].value + bright["bbox_ymax"].value)[i]
    boxed = np.hypot(box_x - tx, box_y - ty)
    assert np.median(measured) < 0.5 and np.median(measured) < np.median(boxed)
    # every bright detection of a true source has a flux (a box whose brightest pixel is a neighbour's, at its
    # edge, and whose core holds nothing above the threshold has none: its own footprint is empty)
    assert bright["flux"].unit == u.Jy and np.all(bright["flux_err"].value[i] > 0)
    point = np.asarray(truth["morphology"][j]) == "compact"
    ratio = bright["flux"].to_value(u.Jy)[i][point] / truth["flux"].to_value(u.Jy)[j][point]
    assert point.sum() >= 5 and 0.85 < np.median(ratio) < 1.15
    err = bright["x_centroid_err"].value[i]
    assert np.all(np.isfinite(err)) and np.all(err > 0)


def test_the_kind_of_image_picks_the_centroid(trained_detector, heldout_field):
    """Radio images get the Gaussian fit to the core, optical ones the windowed centroid, each equal to
    measure_sources'."""
    from astrofmx.measure import measure_sources

    image = heldout_field.data
    boxes = None
    for kind, centroid in (("radio", "gauss"), ("optical", "win")):
        cat = detect_sources(image, model=trained_detector, kind=kind, score_threshold=0.3, beam=None, **QUIET)
        assert cat.meta["kind"] == kind and cat.meta["centroid"] == centroid and len(cat) >= 5
        if boxes is None:
            boxes = np.stack([cat[f"bbox_{k}"].value for k in ("xmin", "ymin", "xmax", "ymax")], axis=1)
            quad = cat
    moment = cat
    # the same boxes, measured two ways; but for the few that one centroid puts within the duplicate radius of
    # a better-scored detection and the other does not (`_distinct`)
    key = {"quad": _box_keys(quad), "moment": _box_keys(moment)}
    common = set(key["quad"]) & set(key["moment"])
    assert len(common) >= 0.95 * max(len(quad), len(moment))
    iq = [i for i, b in enumerate(key["quad"]) if b in common]
    im = [i for i, b in enumerate(key["moment"]) if b in common]
    assert np.any(np.abs(moment["x_centroid"][im] - quad["x_centroid"][iq]).value > 1e-3)
    direct = measure_sources(image, boxes[iq], centroid="win")  # its own global background: close, not equal
    diff = np.abs(moment["x_centroid"][im].value - direct["x_centroid"].value)
    # boxes of noise (scores >= 0.3 of a briefly trained detector) have no footprint, so no centroid
    assert np.isfinite(diff).sum() >= 10 and np.nanmedian(diff) < 0.05


def test_tiled_and_untiled_inference_agree(tiled, untiled):
    """Confident detections of one pass are found by the other, at the same place."""
    assert len(untiled) >= 10
    for ref, other in ((untiled, tiled), (tiled, untiled)):
        confident = ref[ref["score"] >= 0.7]
        matches = crossmatch(confident, other, 2 * u.pix)
        assert matches.meta["n_matched"] >= 0.85 * len(confident)
        assert np.median(matches["separation"].to_value(u.pix)) < 1.0


def test_box_to_sky_mapping_is_exact(tiled, heldout_field):
    wcs = heldout_field.wcs
    sky = wcs.pixel_to_world(tiled["x_centroid"].value, tiled["y_centroid"].value)
    assert np.all(tiled["sky_centroid"].separation(sky) < 1e-6 * u.arcsec)
    scale = 1.5 * u.arcsec  # pixel size of the simulated field
    np.testing.assert_allclose(tiled["width_sky"].to_value(u.arcsec), (tiled["width"].value * scale).value,
                               rtol=1e-6)
    # the measured centroid lies inside its box
    for axis in ("x", "y"):
        c = tiled[f"{axis}_centroid"].value
        assert np.all((c >= tiled[f"bbox_{axis}min"].value - 0.5) & (c <= tiled[f"bbox_{axis}max"].value + 0.5))


def test_tile_to_image_box_mapping():
    # model pixel [0, 2] of a 2x-upscaled tile starting at image pixel (x0=10, y0=20) is image pixel 10 (20)
    box = _model_to_image(np.array([[0.0, 0.0, 2.0, 2.0]]), 10, 20, 2.0)
    np.testing.assert_array_equal(box, [[9.5, 19.5, 10.5, 20.5]])
    rng = np.random.default_rng(1)
    boxes = rng.uniform(0, 100, (20, 4))
    np.testing.assert_allclose(_model_to_image(_image_to_model(boxes, 37, 5, 1.75), 37, 5, 1.75), boxes,
                               atol=1e-12)


def test_no_wcs_gives_pixel_catalog_and_pixel_regions(trained_detector, heldout_field, tmp_path):
    from regions import RectanglePixelRegion, Regions

    from astrofmx.io import write_ds9

    cat = detect_sources(np.asarray(heldout_field.data), model=trained_detector, **QUIET)
    assert "sky_centroid" not in cat.colnames and "width_sky" not in cat.colnames
    assert len(cat) > 5
    write_ds9(cat, tmp_path / "found.reg")
    regs = Regions.read(tmp_path / "found.reg", format="ds9")
    assert len(regs) == len(cat) and all(isinstance(r, RectanglePixelRegion) for r in regs)
    # each region is the detection's box (its centre is the box centre, not the measured centroid)
    np.testing.assert_allclose([r.center.x for r in regs], 0.5 * (cat["bbox_xmin"] + cat["bbox_xmax"]).value,
                               atol=1e-6)
    np.testing.assert_allclose([r.center.y for r in regs], 0.5 * (cat["bbox_ymin"] + cat["bbox_ymax"]).value,
                               atol=1e-6)


def test_masked_areas_are_ignored(trained_detector, heldout_field):
    data = np.array(heldout_field.data)
    data[:, 100:] = np.nan
    cat = detect_sources(NDData(data, wcs=heldout_field.wcs), model=trained_detector, tile_size=64, overlap=16,
                         **QUIET)
    assert len(cat) > 3
    assert np.all(cat["x_centroid"].value < 99.5)
    # half of the image masked on the left: its tiles are skipped
    data = np.array(heldout_field.data)
    data[:, :110] = np.nan
    cat = detect_sources(data, model=trained_detector, tile_size=64, overlap=16, score_threshold=0.0, **QUIET)
    assert cat.meta["n_tiles"] < 9 and np.all(cat["x_centroid"].value > 109.5)


def test_no_detection_gives_an_empty_catalog_with_every_column(trained_detector, heldout_field):
    flat = np.zeros((96, 96), dtype=np.float32)
    flat[0, 0] = 1.0
    with pytest.warns(NoDetectionsWarning, match="no sources were found"):
        cat = detect_sources((flat, heldout_field.wcs), model=trained_detector, score_threshold=1.0, **QUIET)
    assert len(cat) == 0 and cat.colnames == list(SOURCE_COLUMNS) + ["peak", "peak_snr"]


def test_bad_inputs(trained_detector, heldout_field, tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path))  # no detector trained or registered for 'msn' here
    image = heldout_field.to_nddata()
    with pytest.raises(ValueError, match="empty"):
        detect_sources(np.zeros((0, 0), dtype=np.float32), model=trained_detector, **QUIET)
    with pytest.raises(ValueError, match="NaN"):
        detect_sources(np.full((64, 64), np.nan, dtype=np.float32), model=trained_detector, **QUIET)
    with pytest.raises(ValueError, match=r"train_detector\(images, boxes, backbone='msn', mode='frozen'\)"):
        detect_sources(image, backbone="msn", **QUIET)
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        detect_sources(image, backbone="nope", **QUIET)
    with pytest.raises(ValueError, match="does not match the detector's backbone"):
        detect_sources(image, model=trained_detector, backbone="msn", **QUIET)
    with pytest.raises(TypeError, match="model must be a FasterRCNNDetector or the path"):
        detect_sources(image, model=42, **QUIET)
    with pytest.raises(ValueError, match="overlap must be an integer"):
        detect_sources(image, model=trained_detector, tile_size=64, overlap=64, **QUIET)
    with pytest.raises(ValueError, match="score_threshold must be a number"):
        detect_sources(image, model=trained_detector, score_threshold=2, **QUIET)
    with pytest.raises(ValueError, match="min_snr must be a non-negative number of sigma or None, got -1"):
        detect_sources(image, model=trained_detector, min_snr=-1, **QUIET)


def test_tiles_smaller_than_a_patch():
    vit = build_detector(backbone="msn", backbone_kwargs=dict(TINY_VIT), weights=None, tile_size=64, **SMALL_HEADS)
    with pytest.raises(ValueError, match="smaller than one 16-pixel patch"):
        detect_sources(np.ones((64, 64), dtype=np.float32), model=vit, tile_size=8, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        cat = detect_sources(np.random.default_rng(0).normal(size=(80, 80)).astype("float32"), model=vit,
                             tile_size=16, score_threshold=0.0, **QUIET)
    assert cat.meta["n_tiles"] == 49  # 16-px tiles, 4-px overlap: starts 0, 12, ..., 60 and 64 on each axis


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_bf16_backbone_keeps_sub_pixel_boxes(trained_detector, heldout_field, tiled):
    cat = detect_sources(heldout_field.to_nddata(), model=trained_detector, tile_size=64, overlap=24,
                         score_threshold=0.3, progress_bar=False, precision="bf16")
    assert "precision=bf16" in cat.meta["preprocessing"]
    # bf16 has 8 significant bits: boxes decoded in bf16 would fall on a 1/8-pixel grid or coarser
    assert np.mean(np.mod(cat["bbox_xmin"].value * 8, 1) != 0) > 0.5
    confident = cat[cat["score"] >= 0.7]
    matches = crossmatch(confident, tiled, 1 * u.pix)
    assert matches.meta["n_matched"] >= 0.85 * len(confident)


def test_ds9_round_trip_with_a_wcs(tiled, heldout_field, tmp_path):
    from regions import Regions

    from astrofmx.io import write_ds9

    write_ds9(tiled, tmp_path / "sky.reg", wcs=heldout_field.wcs)
    regs = Regions.read(tmp_path / "sky.reg", format="ds9")
    assert len(regs) == len(tiled)
    box_centres = heldout_field.wcs.pixel_to_world(0.5 * (tiled["bbox_xmin"] + tiled["bbox_xmax"]).value,
                                                   0.5 * (tiled["bbox_ymin"] + tiled["bbox_ymax"]).value)
    sep = SkyCoord([r.center for r in regs]).separation(box_centres)
    assert np.all(sep < 0.01 * u.arcsec)
    assert f"text={{{tiled['score'][0]:.2f}}}" in (tmp_path / "sky.reg").read_text()  # labelled with the score


def test_peak_snr_measures_the_sources_and_min_snr_cuts_the_catalog(untiled, trained_detector, heldout_field):
    """peak_snr is the brightest pixel over the local noise: it follows the truth S/N of matched sources."""
    truth = heldout_field.truth
    m = crossmatch(untiled, truth, 2 * u.pix)
    measured = np.asarray(untiled["peak_snr"])[np.asarray(m["idx_catalog"])]
    expected = np.asarray(truth["snr"])[np.asarray(m["idx_reference"])]
    compact = np.asarray(truth["morphology"])[np.asarray(m["idx_reference"])] == "compact"
    assert compact.sum() >= 5
    ratio = measured[compact] / expected[compact]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.2), ratio
    assert np.corrcoef(np.log(measured[compact]), np.log(expected[compact]))[0, 1] > 0.9
    image = heldout_field.to_nddata()
    cut = detect_sources(image, model=trained_detector, tile_size=160, score_threshold=0.3, min_snr=30, **QUIET)
    assert 0 < len(cut) < len(untiled) and np.all(cut["peak_snr"] >= 30)
    assert cut.meta["min_snr"] == 30
    # every source of S/N >= 30 of the full catalog, and no other but one that the full catalog dropped as a
    # repeat (`_distinct`) of a better-scored detection of lower S/N, which the cut removed first
    above = set(_box_keys(untiled[untiled["peak_snr"] >= 30]))
    assert above <= set(_box_keys(cut))
    extra = cut[[b not in above for b in _box_keys(cut)]]
    radius = untiled.meta["duplicate_radius_pix"]
    for r in extra:
        near = np.hypot(untiled["x_centroid"].value - r["x_centroid"].value,
                        untiled["y_centroid"].value - r["y_centroid"].value) <= radius
        assert np.any(near & (untiled["score"] > r["score"]) & (untiled["peak_snr"] < 30))


def test_boxes_sharing_a_peak_are_one_source(rng):
    """A round and an elongated box on one source (IoU < 0.5, so NMS keeps both) are merged; neighbours stay."""
    import torch
    from torchvision.ops import box_iou

    from astrofmx.detection._postprocess import _measure_peaks, _same_source
    from astrofmx.preprocess import get_preset

    yy, xx = np.mgrid[:64, :64]
    data = rng.normal(0.0, 1.0, (64, 64)).astype(np.float32)
    for x, y in ((20.0, 20.0), (40.0, 44.0)):
        data += 200.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.7**2))
    boxes = np.array([[15.5, 15.5, 24.5, 24.5],    # source 1, round
                      [17.5, 13.5, 22.5, 26.5],    # source 1 again, elongated: IoU with the first ~0.5
                      [35.5, 39.5, 44.5, 48.5],    # source 2
                      [2.5, 50.5, 8.5, 56.5]])     # empty sky
    assert box_iou(torch.tensor(boxes[:1]), torch.tensor(boxes[1:2])).item() < 0.5
    image = NDData(data)
    peaks, snr, py, px = _measure_peaks(image, boxes, get_preset("radio").fit(data))
    assert (py[0], px[0]) == (py[1], px[1]) == (20, 20) and (py[2], px[2]) == (44, 40)
    assert snr[0] > 100 and snr[3] < 5
    assert _same_source(boxes, py, px).tolist() == [True, False, True, True]


def test_distinct_keeps_the_best_scored_of_each_measured_position():
    """Rows by decreasing score: a repeat within the radius goes, a chain is broken at the kept rows,
    neighbours beyond it and rows without a position stay."""
    from astrofmx.detection._postprocess import _distinct

    x = np.array([10.0, 10.4, 10.9, 30.0, 31.5, np.nan, 50.0])
    y = np.array([10.0, 10.0, 10.0, 30.0, 30.0, np.nan, 50.0])
    # 1 repeats 0; 2 lies 0.5 px from the dropped 1 but 0.9 px from 0, so it goes too; 4 is 1.5 px from 3
    assert _distinct(x, y, 1.0).tolist() == [True, False, False, True, True, True, True]
    assert _distinct(x, y, 0.45).tolist() == [True, False, True, True, True, True, True]
    assert _distinct(x, y, 2.0).tolist() == [True, False, False, True, False, True, True]
    assert _distinct(x[:1], y[:1], 1.0).tolist() == [True]
    assert _distinct(x, y, 0.0).all()


def test_the_configured_inference_overlap_is_the_default_and_scales_with_the_tile(trained_detector, heldout_field):
    image = heldout_field.to_nddata()
    original = trained_detector.config
    try:
        trained_detector.config = dataclasses.replace(original, inference_tile_size=64, inference_overlap=12)
        default = detect_sources(image, model=trained_detector, score_threshold=0.3, **QUIET)
        smaller = detect_sources(image, model=trained_detector, tile_size=32, score_threshold=0.3, **QUIET)
        given = detect_sources(image, model=trained_detector, overlap=24, score_threshold=0.3, **QUIET)
    finally:
        trained_detector.config = original
    quarter = detect_sources(image, model=trained_detector, tile_size=64, score_threshold=0.3, **QUIET)
    assert "tile_size=64; overlap=12;" in default.meta["preprocessing"]
    assert "tile_size=32; overlap=8;" in smaller.meta["preprocessing"]  # never above a quarter of the tile
    assert "tile_size=64; overlap=24;" in given.meta["preprocessing"]
    assert "tile_size=64; overlap=16;" in quarter.meta["preprocessing"]  # without the setting: a quarter
    # the tiles cut elsewhere, the bright sources found alike
    truth = heldout_field.truth[np.asarray(heldout_field.truth["snr"]) >= 10]
    found = [crossmatch(cat, truth, 2 * u.pix).meta["n_matched"] for cat in (default, quarter)]
    assert abs(found[0] - found[1]) <= 0.1 * len(truth) and min(found) > 0
    with pytest.raises(ValueError, match="inference_overlap must be a positive integer"):
        dataclasses.replace(original, inference_overlap=-8)
