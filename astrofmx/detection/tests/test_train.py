import json

import numpy as np
import pytest
import torch
from astropy.io import fits

from astrofmx.datasets import truth_boxes
from astrofmx.detection import DetectorConfig, evaluate_detector, mean_average_precision, train_detector
from astrofmx.detection._labels import _read_coco
from astrofmx.detection._train_data import _prepare, _tile_map
from astrofmx.utils import cpu_supports_bf16

from .conftest import SMALL_HEADS, TINY_VIT, simulated_field

VIT = dict(backbone="msn", backbone_kwargs=dict(TINY_VIT), weights=None, tile_size=64, **SMALL_HEADS)


@pytest.fixture(scope="module")
def small_field():
    return simulated_field((128, 128), seed=11, n_sources=25)


def test_small_detector_learns(trained_detector, heldout_field):
    history = trained_detector.history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    # a 45-step detector's scores sit low, and how low depends on the CPU's float arithmetic (an AMD EPYC Zen 4
    # gave completeness 0.45 / purity 0.67 at 0.3 and 0.25 / 0.83 at 0.5; one without AVX-512 0.73 / 0.29 at
    # 0.3 and 0.60 / 0.59 at 0.5): what it has learnt is the best F1 over the thresholds a user would try
    image = heldout_field.to_nddata()
    runs = [evaluate_detector(trained_detector, image, heldout_field.truth, precision="fp32", score_threshold=t,
                              progress_bar=False) for t in (0.3, 0.4, 0.5, 0.6)]
    metrics = max(runs, key=lambda m: _f1(m["completeness"], m["purity"]))
    # chance: boxes of the true sizes at random places, random scores
    rng = np.random.default_rng(0)
    truth = truth_boxes(heldout_field.truth)
    sizes = truth[:, 2:] - truth[:, :2]
    starts = rng.uniform(0, 160 - sizes.max(), size=(200, 2))
    pick = rng.integers(0, len(sizes), 200)
    chance_boxes = np.concatenate([starts, starts + sizes[pick]], axis=1)
    chance = mean_average_precision([{"boxes": chance_boxes, "scores": rng.random(200)}], [{"boxes": truth}])
    assert chance["map_50"] < 0.1
    assert metrics["map_50"] > chance["map_50"] + 0.2
    assert _f1(metrics["completeness"], metrics["purity"]) > 0.45, metrics


def _f1(completeness, purity):
    return 2 * completeness * purity / (completeness + purity) if completeness + purity > 0 else 0.0


def _weights(det):
    return {k: v.clone() for k, v in det.model.state_dict().items()}


def test_training_is_seeded_and_resumes_exactly(small_field, tmp_path):
    image, truth = small_field.to_nddata(), small_field.truth
    common = dict(mode="finetune", epochs=2, steps_per_epoch=1, batch_size=2, learning_rate=1e-3, precision="fp32",
                  progress_bar=False, **VIT)
    state_before = torch.get_rng_state()
    full = train_detector(image, truth, seed=3, checkpoint_dir=tmp_path / "full", **common)
    assert torch.equal(torch.get_rng_state(), state_before)  # the caller's RNG is untouched
    assert (tmp_path / "full" / "last" / "model.safetensors").is_file()
    again = train_detector(image, truth, seed=3, **common)
    assert all(torch.equal(a, b) for a, b in zip(_weights(full).values(), _weights(again).values()))
    other = train_detector(image, truth, seed=4, **common)
    assert not all(torch.equal(a, b) for a, b in zip(_weights(full).values(), _weights(other).values()))

    # stop after one epoch, then resume to two: the same weights as the uninterrupted run
    train_detector(image, truth, seed=3, checkpoint_dir=tmp_path / "part", **{**common, "epochs": 1})
    resumed = train_detector(image, truth, seed=3, checkpoint_dir=tmp_path / "part", resume=True, **common)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    assert all(torch.equal(a, b) for a, b in zip(_weights(full).values(), _weights(resumed).values()))
    with pytest.raises(ValueError, match="another configuration"):
        train_detector(image, truth, seed=3, checkpoint_dir=tmp_path / "part", resume=True,
                       **{**common, "mode": "frozen"})


def test_early_stopping_keeps_the_best_epoch(small_field):
    val_field = simulated_field((96, 96), seed=12, n_sources=12)
    det = train_detector(small_field.to_nddata(), small_field.truth, val_images=val_field.to_nddata(),
                         val_boxes=val_field.truth, mode="frozen", epochs=3, steps_per_epoch=2, batch_size=2,
                         learning_rate=1e-3, patience=1, precision="fp32", progress_bar=False, **VIT)
    scores = [h["val_map_50"] for h in det.history]
    assert 1 <= len(scores) <= 3
    if len(scores) < 3:  # stopped early: the last epoch did not improve
        assert scores[-1] <= max(scores[:-1])
    val_tiles = _prepare(val_field.to_nddata(), val_field.truth, det.config, 16, 0.5, None, False)
    assert _tile_map(det, val_tiles, 2, "fp32", torch.device("cpu"))["map_50"] == pytest.approx(max(scores))


def test_coco_annotations(tmp_path, small_field):
    fits.PrimaryHDU(small_field.data, header=small_field.header).writeto(tmp_path / "field.fits")
    boxes = truth_boxes(small_field.truth)
    coco = {"images": [{"id": 7, "file_name": "field.fits", "width": 128, "height": 128}],
            "categories": [{"id": 1, "name": "source"}],
            "annotations": [{"id": i + 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
                             "bbox": [b[0] + 0.5, b[1] + 0.5, b[2] - b[0], b[3] - b[1]]} for i, b in enumerate(boxes)]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(coco))
    ((image, read, labels),) = _read_coco(path, None, DetectorConfig())
    assert image == tmp_path / "field.fits"
    np.testing.assert_allclose(read, boxes)
    assert (labels == 1).all()
    det = train_detector(None, path, mode="frozen", epochs=1, steps_per_epoch=1, batch_size=2, precision="fp32",
                         progress_bar=False, **VIT)
    assert len(det.history) == 1 and np.isfinite(det.history[0]["loss"])


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_bf16_autocast_training_step(small_field):
    det = train_detector(small_field.to_nddata(), small_field.truth, mode="finetune", epochs=1, steps_per_epoch=2,
                         batch_size=2, precision="bf16", progress_bar=False, **VIT)
    assert np.isfinite(det.history[0]["loss"])


def test_bad_training_inputs(small_field):
    image = small_field.to_nddata()
    quick = dict(epochs=1, steps_per_epoch=1, progress_bar=False, **VIT)
    with pytest.raises(ValueError, match="2 boxes lie entirely outside the 128x128 image"):
        train_detector(image, np.array([[5.0, 5, 9, 9], [200, 5, 210, 9], [5, -40, 9, -20]]), **quick)
    with pytest.raises(ValueError, match="xmax <= xmin"):
        train_detector(image, np.array([[9.0, 5, 5, 9]]), **quick)
    with pytest.raises(ValueError, match="one box set per training image"):
        train_detector([image, image], [np.zeros((0, 4))], **quick)
    with pytest.raises(ValueError, match="training boxes are missing"):
        train_detector(image, None, **quick)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        train_detector(image, small_field.truth, resume=True, **quick)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train_detector(image, small_field.truth, **{**quick, "epochs": 0})
    with pytest.raises(ValueError, match="not in class_names"):
        train_detector(image, small_field.truth, label_column="morphology", **quick)


def test_augmentation_moves_boxes_with_the_image():
    from astrofmx.detection._train_data import _augment

    x = torch.zeros(3, 32, 32)
    x[:, 4:8, 20:30] = 1.0  # rows 4-7, columns 20-29: box (20, 4, 30, 8) in edge coordinates
    boxes = torch.tensor([[20.0, 4.0, 30.0, 8.0]])
    gen = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(40):
        out, moved = _augment(x, boxes, ("flip", "rot90"), gen)
        x0, y0, x1, y1 = moved[0].round().int().tolist()
        bright = out[0] > 0.5
        assert bright[y0:y1, x0:x1].all() and bright.sum() == (x1 - x0) * (y1 - y0)
        seen.add((x0, y0, x1, y1))
    assert len(seen) == 8  # the eight symmetries of the square


def test_training_options_and_keywords_agree(small_field):
    from astrofmx.detection import TrainingOptions

    opts = TrainingOptions(epochs=1, steps_per_epoch=1, batch_size=2, seed=3, progress_bar=False, register=False)
    a = train_detector(small_field.to_nddata(), small_field.truth, options=opts, precision="fp32", **VIT)
    b = train_detector(small_field.to_nddata(), small_field.truth, epochs=1, steps_per_epoch=1, batch_size=2, seed=3,
                       progress_bar=False, register=False, precision="fp32", **VIT)
    assert a.history[0]["loss"] == pytest.approx(b.history[0]["loss"])
    with pytest.raises(TypeError, match="options must be a TrainingOptions"):
        train_detector(small_field.to_nddata(), small_field.truth, options={"epochs": 1}, **VIT)
