import pytest
import torch

from astrofmx.backbones import get_backbone
from astrofmx.detection import DetectorConfig, FasterRCNNDetector, SimpleFeaturePyramid, build_detector

from .conftest import SMALL_HEADS, TINY_VIT


def _tiny(backbone, mode, **kw):
    kwargs = dict(TINY_VIT) if backbone != "resnet18" else {}
    return build_detector(backbone=backbone, backbone_kwargs=kwargs, weights=None, mode=mode, tile_size=64,
                          **SMALL_HEADS, **kw)


@pytest.mark.parametrize("backbone", ["resnet18", "msn"])
def test_trainable_parameter_counts_of_the_three_modes(backbone):
    counts = {mode: _tiny(backbone, mode).count_parameters() for mode in ("frozen", "finetune", "scratch")}
    frozen, finetune, scratch = counts["frozen"], counts["finetune"], counts["scratch"]
    assert frozen["total"] == finetune["total"] == scratch["total"]
    assert frozen["backbone_trainable"] == 0
    assert frozen["trainable"] == frozen["total"] - frozen["backbone"] > 0
    assert frozen["trainable"] < finetune["trainable"] == scratch["trainable"] == finetune["total"]


def test_vitdet_pyramid_strides_from_a_stride_16_map():
    fpn = SimpleFeaturePyramid(64, 32)
    out = fpn(torch.randn(2, 64, 6, 6))
    assert list(out) == ["0", "1", "2", "3", "pool"]
    assert [tuple(v.shape) for v in out.values()] == [(2, 32, 24, 24), (2, 32, 12, 12), (2, 32, 6, 6),
                                                     (2, 32, 3, 3), (2, 32, 2, 2)]


def test_patch14_backbone_detects_inside_the_image():
    det = build_detector(backbone="dinov2", backbone_kwargs=dict(TINY_VIT), weights=None, mode="scratch",
                         tile_size=56, **SMALL_HEADS)
    assert det.model.backbone.kind == "vitdet" and det.spec.patch_size == 14
    torch.manual_seed(0)
    (out,) = det.predict(torch.rand(1, 3, 56, 56))
    assert out["boxes"].shape[1] == 4
    assert bool(((out["boxes"] >= 0) & (out["boxes"] <= 56)).all())


def test_frozen_backbone_does_not_change_but_heads_do():
    det = _tiny("msn", "frozen")
    before = {k: v.clone() for k, v in det.state_dict().items()}
    det.train()
    params = [p for p in det.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1)
    torch.manual_seed(0)
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [{"boxes": torch.tensor([[10.0, 12.0, 20.0, 22.0]]), "labels": torch.tensor([1])}] * 2
    loss = sum(det(images, targets).values())
    loss.backward()
    opt.step()
    after = det.state_dict()
    body = [k for k in after if k.startswith("model.backbone.body.")]
    heads = [k for k in after if k.startswith("model.roi_heads.")]
    assert body and heads
    assert all(torch.equal(before[k], after[k]) for k in body)
    assert any(not torch.equal(before[k], after[k]) for k in heads)
    assert not det.backbone.training  # a frozen backbone stays in eval mode


def test_prebuilt_backbone_and_bad_inputs():
    body = get_backbone("resnet18", weights=None)
    det = FasterRCNNDetector(DetectorConfig(backbone="resnet18", weights=None, tile_size=64, **SMALL_HEADS),
                             backbone=body)
    assert det.backbone is body and det.model.backbone.kind == "fpn"
    with pytest.raises(ValueError, match="unknown backbone"):
        build_detector(backbone="no-such-backbone", weights=None)
    with pytest.raises(ValueError, match="smaller than one 16-px patch"):
        build_detector(backbone="msn", backbone_kwargs=dict(TINY_VIT), weights=None, tile_size=8)
    with pytest.raises(TypeError, match="config must be a DetectorConfig"):
        build_detector({"backbone": "resnet18"})
    with pytest.raises(TypeError, match="backbone must be an astrofmx Backbone"):
        FasterRCNNDetector(DetectorConfig(weights=None), backbone=torch.nn.Linear(2, 2))


def test_inference_model_scales_budgets_and_shares_weights():
    from astrofmx.detection._model import _inference_model

    det = build_detector(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=16,
                         representation_size=32, rpn_pre_nms_top_n=100, rpn_post_nms_top_n=50,
                         box_detections_per_img=30, rpn_score_thresh=0.1)
    same = _inference_model(det, 64)
    assert same.rpn._pre_nms_top_n["testing"] == 100 and same.roi_heads.detections_per_img == 30
    assert same.rpn.score_thresh == 0.1 and det.model.rpn.score_thresh == 0.0
    big = _inference_model(det, 100)  # (100 / 64) ** 2 = 2.44 times the budgets, rounded up
    assert big.rpn._pre_nms_top_n["testing"] == 245 and big.rpn._post_nms_top_n["testing"] == 123
    assert big.roi_heads.detections_per_img == 74
    assert det.model.rpn._pre_nms_top_n["testing"] == 100  # the detector itself is untouched
    assert big.roi_heads.box_predictor is det.model.roi_heads.box_predictor
    # the CNN backbone runs as a folded copy that follows the detector's own (see _fast_pyramid)
    assert big.backbone.dtype_source() is det.model.backbone
    assert not big.training


def _with_running_statistics(det, seed=0):
    """Random batch-norm running statistics and affine parameters, so that folding them changes the weights."""
    gen = torch.Generator().manual_seed(seed)
    for m in det.model.backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return det.eval()


def test_inference_backbone_folds_batch_norms_and_gives_the_same_maps():
    from astrofmx.detection._fuse import _fast_pyramid

    det = _with_running_statistics(_tiny("resnet18", "scratch"))
    pyramid = det.model.backbone
    fast = _fast_pyramid(pyramid)
    assert fast is not pyramid and fast.channels_last
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in pyramid.modules()) > 5  # the original is untouched
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref, out = pyramid(x), fast(x)
    for k in ref:
        assert torch.allclose(out[k], ref[k], rtol=1e-4, atol=1e-4 * float(ref[k].abs().max()))
    # the copy follows the original's autocast setting (FasterRCNNDetector.autocast sets it there)
    with det.autocast("bf16", "cpu"):
        assert fast.dtype_source() is pyramid and pyramid.autocast_dtype == torch.bfloat16


def test_vit_backbones_run_unchanged_at_inference():
    from astrofmx.detection._fuse import _fast_pyramid

    det = _tiny("msn", "scratch")
    assert _fast_pyramid(det.model.backbone) is det.model.backbone


def test_detections_equal_with_and_without_the_folded_backbone(monkeypatch):
    from astrofmx.datasets import simulate_radio_field
    from astrofmx.detection import _model, detect_sources

    det = _with_running_statistics(_tiny("resnet18", "scratch", score_threshold=0.0), seed=2)
    image = simulate_radio_field((128, 128), seed=5, n_sources=8).data
    # in fp32: under bf16 autocast the folded batch norm rounds differently (scores ~2e-3 apart on CPUs with
    # AMX, where the plain and folded convolutions run different kernels)
    fast = detect_sources(image, model=det, progress_bar=False, min_snr=0, precision="fp32")
    monkeypatch.setattr(_model, "_fast_pyramid", lambda pyramid: pyramid)
    plain = detect_sources(image, model=det, progress_bar=False, min_snr=0, precision="fp32")
    assert len(fast) == len(plain) > 0
    assert torch.allclose(torch.as_tensor(fast["score"]), torch.as_tensor(plain["score"]), atol=1e-4)
