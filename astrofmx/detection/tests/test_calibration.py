"""Calibrated scores: the configuration's monotone map is applied, and its threshold is the default."""

import dataclasses

import numpy as np
import pytest

from astrofmx.detection import DetectorConfig, detect_sources


def test_calibration_maps_scores_and_sets_the_default_threshold(trained_detector, heldout_field):
    det = trained_detector
    raw = detect_sources(heldout_field.data, model=det, score_threshold=0.05, progress_bar=False)
    assert len(raw) > 5 and raw.meta["score_calibrated"] is False
    # a map that halves scores below 0.5 and squeezes the rest into [0.25, 0.95]
    calibration = ((0.0, 0.0), (0.5, 0.25), (1.0, 0.95))
    original = det.config
    try:
        det.config = dataclasses.replace(original, score_calibration=calibration, score_threshold=0.2)
        cal = detect_sources(heldout_field.data, model=det, score_threshold=0.0, progress_bar=False)
        default = detect_sources(heldout_field.data, model=det, progress_bar=False)
    finally:
        det.config = original
    assert cal.meta["score_calibrated"] is True
    # the model never returns raw scores below 0.05, so both runs hold the same detections
    expected = np.interp(np.asarray(raw["score"], float), [0, 0.5, 1.0], [0, 0.25, 0.95])
    assert len(cal) == len(raw)
    assert np.allclose(np.sort(np.asarray(cal["score"], float)), np.sort(expected), atol=1e-6)
    # the configuration's threshold (0.2 on the calibrated scale) is the default
    assert default.meta["score_threshold"] == 0.2
    assert np.all(np.asarray(default["score"]) >= 0.2)
    assert len(default) == int(np.sum(np.asarray(cal["score"]) >= 0.2))


@pytest.mark.parametrize("bad", [((0.0, 0.0),), ((0.0, 0.5), (0.5, 0.2)), ((0.5, 0.1), (0.2, 0.3)),
                                 ((0.0, 0.0), (1.0, 1.5)), "nope"])
def test_bad_calibration_is_refused(bad):
    with pytest.raises(ValueError, match="score_calibration"):
        DetectorConfig(score_calibration=bad)


def test_calibration_survives_json():
    cfg = DetectorConfig(score_calibration=[[0, 0], [0.6, 0.4], [1, 1]], score_threshold=0.45)
    again = DetectorConfig.from_json(cfg.to_json())
    assert again == cfg and again.score_calibration == ((0.0, 0.0), (0.6, 0.4), (1.0, 1.0))
