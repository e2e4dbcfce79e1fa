import numpy as np
import pytest

from astrofmx.detection import mean_average_precision

TRUTH = [{"boxes": np.array([[10.0, 10, 20, 20], [30, 30, 40, 44]])},
         {"boxes": np.array([[5.0, 5, 9, 9]])}]


def test_perfect_and_missed_detections():
    perfect = [{"boxes": t["boxes"], "scores": np.linspace(0.9, 0.5, len(t["boxes"]))} for t in TRUTH]
    m = mean_average_precision(perfect, TRUTH)
    assert m["map_50"] == pytest.approx(1.0) and m["map"] == pytest.approx(1.0) and m["n_targets"] == 3
    # shifted by 6 px on 10-px boxes: IoU 0.25 < 0.5, nothing counts
    shifted = [{"boxes": t["boxes"] + 6, "scores": np.ones(len(t["boxes"]))} for t in TRUTH]
    assert mean_average_precision(shifted, TRUTH)["map_50"] == 0.0
    nothing = [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)} for _ in TRUTH]
    assert mean_average_precision(nothing, TRUTH)["map_50"] == 0.0


def test_a_false_positive_ranked_first_halves_precision():
    preds = [{"boxes": np.array([[60.0, 60, 70, 70], [10, 10, 20, 20]]), "scores": np.array([0.9, 0.8])}]
    m = mean_average_precision(preds, [{"boxes": np.array([[10.0, 10, 20, 20]])}])
    # one target found at rank 2: the interpolated precision is 0.5 at every recall level
    assert m["map_50"] == pytest.approx(0.5)


def test_labels_must_agree():
    preds = [{"boxes": TRUTH[1]["boxes"], "scores": np.ones(1), "labels": np.array([2])}]
    targets = [{"boxes": TRUTH[1]["boxes"], "labels": np.array([1])}]
    assert mean_average_precision(preds, targets)["map_50"] == 0.0


def test_bad_inputs_and_no_targets():
    with pytest.raises(ValueError, match="one entry per image"):
        mean_average_precision([], TRUTH)
    with pytest.raises(ValueError, match="no 'scores'"):
        mean_average_precision([{"boxes": np.zeros((1, 4))}], [{"boxes": np.zeros((0, 4))}])
    empty = mean_average_precision([{"boxes": np.zeros((1, 4)), "scores": [1.0]}], [{"boxes": np.zeros((0, 4))}])
    assert np.isnan(empty["map_50"])
