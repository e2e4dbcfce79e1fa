import dataclasses

import pytest

from astrofmx.detection import DETECTOR_MODES, DetectorConfig


def test_json_round_trip_keeps_every_field():
    cfg = DetectorConfig(backbone="msn", backbone_kwargs={"depth": 2}, weights=None, mode="frozen",
                         class_names=("compact", "extended"), tile_size=96, upscale=2, anchor_sizes=(4, 8, 16, 32, 64))
    again = DetectorConfig.from_json(cfg.to_json())
    assert again == cfg
    assert again.input_size == 192 and again.num_classes == 2
    assert isinstance(again.class_names, tuple) and isinstance(again.anchor_sizes, tuple)


def test_frozen_and_replace():
    cfg = DetectorConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.mode = "scratch"
    assert dataclasses.replace(cfg, mode="scratch").mode == "scratch"
    assert set(DETECTOR_MODES) == {"frozen", "finetune", "scratch"}


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "partly"}, "mode must be one of"),
    ({"tile_size": 0}, "tile_size must be a positive integer"),
    ({"upscale": 0}, "upscale must be a number"),
    ({"anchor_sizes": (8, 16)}, "anchor_sizes must be 5 positive sizes"),
    ({"aspect_ratios": (0.0,)}, "aspect_ratios must be positive"),
    ({"augmentations": ("flip", "warp")}, "augmentations must be drawn from"),
    ({"class_names": ()}, "class_names must be a non-empty"),
    ({"box_nms_thresh": 1.5}, "box_nms_thresh must be a number"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DetectorConfig(**kwargs)


def test_from_dict_rejects_unknown_fields():
    data = DetectorConfig().to_dict()
    data["colour"] = "blue"
    with pytest.raises(ValueError, match=r"unknown DetectorConfig fields \['colour'\]"):
        DetectorConfig.from_dict(data)
    with pytest.raises(TypeError, match="backbone must be a registry name"):
        DetectorConfig(backbone=3)
