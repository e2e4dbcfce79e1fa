"""pretrain on a tiny configuration: the loss falls, resuming equals an uninterrupted run, the result loads by name."""

import json

import numpy as np
import pytest
import torch

from astrofmx.backbones import embed, get_backbone, list_backbones
from astrofmx.pretrain import AugmentationConfig, PretrainOptions, TilePlan, make_views, pretrain

TINY = dict(backbone="timm:resnet18", arch_overrides={"layers": (1, 1, 1, 1), "channels": (8, 16, 32, 64)},
            crop_size=16, tile_size=32, batch_size=6, device="cpu", progress_bar=False,
            augmentation=AugmentationConfig(local_crops=2),
            options=PretrainOptions(out_dim=64, hidden_dim=32, bottleneck_dim=16, n_prototypes=16, lr=3e-3,
                                    warmup_fraction=0.0, checkpoint_every=2))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tiny models run fastest single-threaded (and do not oversubscribe a shared machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def blobs():
    """Unlabeled images: noise plus one to three Gaussian blobs of random size (a seeded stack)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    images = rng.normal(0, 0.05, (24, 32, 32))
    for img in images:
        for _ in range(rng.integers(1, 4)):
            x, y, s = rng.uniform(6, 26), rng.uniform(6, 26), rng.uniform(1.0, 4)
            img += rng.uniform(0.5, 2) * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))
    return images.astype(np.float32)


def _weights(backbone):
    return {k: v.clone() for k, v in backbone.state_dict().items()}


@pytest.mark.parametrize("objective", ["dino", "msn"])
def test_loss_decreases(blobs, tmp_path, objective):
    result = pretrain(blobs, objective=objective, steps=12, output=tmp_path, name=f"tiny-{objective}", **TINY)
    losses = np.array(result.losses)
    assert len(losses) == 12 and np.isfinite(losses).all()
    assert losses[-4:].mean() < losses[:4].mean()


def test_resume_continues_exactly(blobs, tmp_path):
    whole = pretrain(blobs, steps=6, output=tmp_path / "whole", name="tiny-whole", **TINY)
    first = pretrain(blobs, steps=6, stop_after=3, output=tmp_path / "split", name="tiny-split", **TINY)
    assert first.steps == 3 and len(first.losses) == 3
    state = json.loads((tmp_path / "split" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3
    second = pretrain(blobs, steps=6, output=tmp_path / "split", name="tiny-split", **TINY)
    assert second.losses == whole.losses
    a, b = _weights(whole.backbone), _weights(second.backbone)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_diverging_run_stops_with_what_to_do(blobs, tmp_path):
    """A loss that stops being finite (here an absurd lr) raises at once, naming the last checkpoint."""
    import dataclasses

    options = dataclasses.replace(TINY["options"], lr=1e30, grad_clip=None, checkpoint_every=1)
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 2 .*holds step 1.*lower lr"):
        pretrain(blobs, steps=6, output=tmp_path, name="tiny-diverging", **{**TINY, "options": options})


def test_cpu_auto_precision_trains_in_fp32(blobs, tmp_path):
    """'auto' on a CPU trains in fp32 (bf16 gave NaN losses at random on CPUs), recorded in the metadata."""
    result = pretrain(blobs, steps=2, output=tmp_path, name="tiny-fp32", **TINY)
    meta = json.loads((result.folder / "metadata.json").read_text())
    assert meta["precision"] == "fp32" and all(np.isfinite(result.losses))


def test_checkpoint_of_other_settings_refused(blobs, tmp_path):
    pretrain(blobs, steps=2, output=tmp_path, name="tiny-a", **TINY)
    with pytest.raises(ValueError, match="other settings"):
        pretrain(blobs, steps=3, output=tmp_path, name="tiny-a", **TINY)
    with pytest.raises(FileExistsError, match="resume=True"):
        pretrain(blobs, steps=2, output=tmp_path, name="tiny-a", resume=False, **TINY)


def test_saved_backbone_loads_by_name_and_embeds(blobs, tmp_path):
    result = pretrain(blobs, steps=2, output=tmp_path, name="tiny-named", **TINY)
    assert "tiny-named" in list_backbones()
    net = get_backbone("tiny-named", device="cpu")
    assert net.spec.name == "tiny-named"
    assert net.spec.weights_source.startswith("local:")
    feats = embed(blobs[:4], backbone="tiny-named", progress_bar=False, precision="fp32")
    again = embed(blobs[:4], backbone=result.backbone, progress_bar=False, precision="fp32")
    assert feats.shape == (4, 64) and net.spec.input_size == 16
    np.testing.assert_allclose(feats, again, rtol=1e-5, atol=1e-6)
    # the saved weights are the teacher's, not a fresh initialisation
    fresh = get_backbone("tiny-named", weights=None, device="cpu")
    assert not all(torch.equal(v, fresh.state_dict()[k]) for k, v in net.state_dict().items()
                   if v.dtype.is_floating_point)
    meta = json.loads((result.folder / "metadata.json").read_text())
    assert meta["objective"] == "dino" and meta["steps"] == 2 and meta["data"]["windows"] == len(blobs)


def test_vit_backbone_one_step(blobs, tmp_path):
    result = pretrain(blobs, backbone="dino", arch_overrides=dict(depth=1, embed_dim=32, num_heads=2, img_size=32),
                      steps=1, output=tmp_path, name="tiny-vit", crop_size=32, tile_size=32, batch_size=4,
                      device="cpu", progress_bar=False, augmentation=AugmentationConfig(local_crops=1),
                      options=PretrainOptions(out_dim=32, hidden_dim=16, bottleneck_dim=8))
    assert np.isfinite(result.losses[0])
    assert get_backbone("tiny-vit", device="cpu")(torch.zeros(1, 3, 32, 32)).shape == (1, 32)


def test_bad_arguments(blobs, tmp_path):
    with pytest.raises(ValueError, match="objective"):
        pretrain(blobs, objective="simclr", steps=1, output=tmp_path)
    with pytest.raises(ValueError, match="exactly one of steps= and epochs="):
        pretrain(blobs, output=tmp_path)
    with pytest.raises(ValueError, match="stop_after"):
        pretrain(blobs, steps=2, stop_after=0, output=tmp_path)


def test_views_are_deterministic_grey_and_shaped(blobs):
    cfg = AugmentationConfig(local_crops=3)
    g1, l1 = make_views(blobs[0], np.random.default_rng(5), crop_size=32, config=cfg)
    g2, l2 = make_views(blobs[0], np.random.default_rng(5), crop_size=32, config=cfg)
    assert torch.equal(g1, g2) and torch.equal(l1, l2)
    assert g1.shape == (2, 3, 32, 32) and l1.shape == (3, 3, 16, 16)
    # no colour jitter: undoing the per-channel normalization gives three identical channels in [0, 1]
    mean, std = torch.tensor((0.5, 0.5, 0.5))[:, None, None], torch.tensor((0.5, 0.5, 0.5))[:, None, None]
    grey = g1 * std + mean
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 0], grey[:, 2])
    assert grey.min() >= -1e-6 and grey.max() <= 1 + 1e-6
    g3, _ = make_views(blobs[0], np.random.default_rng(6), crop_size=32, config=cfg)
    assert not torch.equal(g1, g3)


def test_views_of_blank_and_nan_tiles():
    tile = np.full((40, 40), np.nan, np.float32)
    tile[10:20, 10:20] = 1.0
    g, _ = make_views(tile, np.random.default_rng(0), crop_size=16, config=AugmentationConfig(local_crops=0))
    assert torch.isfinite(g).all()
    g, _ = make_views(np.zeros((40, 40)), np.random.default_rng(0), crop_size=16,
                      config=AugmentationConfig(local_crops=0))
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("bad", [dict(global_crops=1), dict(local_scale=(0.5, 0.2)), dict(blur_probability=2),
                                 dict(clip_high=(10, 20))])
def test_augmentation_config_checks(bad):
    with pytest.raises(ValueError):
        AugmentationConfig(**bad)


def test_plan_streams_files_and_skips_blank_windows(tmp_path):
    from astrofmx.datasets import random_radio_field

    paths = []
    for seed in range(2):
        path = tmp_path / f"f{seed}.fits"
        random_radio_field((96, 96), seed=seed, return_truth=False).write(path)
        paths.append(path)
    blank = np.full((48, 48), np.nan, np.float32)
    plan = TilePlan([str(tmp_path / "*.fits"), blank], tile_size=48)
    assert len(plan) == 2 * 4 + 1 and plan.describe()["inputs"][0].endswith("f0.fits")
    blank_window = len(plan) - 1
    kwargs = dict(seed=0, crop_size=16, config=AugmentationConfig(local_crops=0), mean=(0.5,) * 3, std=(0.5,) * 3)
    order = plan.order(0, 0)
    i = int(np.flatnonzero(order == blank_window)[0])
    views, _ = plan.sample(i, **kwargs)  # the blank window is replaced by the next one in the order
    assert torch.isfinite(views).all() and views.std() > 0
    assert not np.array_equal(plan.order(0, 0), plan.order(1, 0))
    with pytest.raises(FileNotFoundError):
        TilePlan(str(tmp_path / "nothing*.fits"), tile_size=48)


def test_plan_cutouts_around_detections():
    from astrofmx.datasets import simulate_radio_field

    field = simulate_radio_field((128, 128), seed=3)
    plan = TilePlan(field.to_nddata(), tile_size=32, sampling="detections")
    assert len(plan) >= 3
    assert all(0 <= y0 <= 96 and 0 <= x0 <= 96 for _, _, y0, x0 in plan.windows)
