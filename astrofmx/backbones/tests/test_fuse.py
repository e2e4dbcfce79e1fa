"""Inference copies of CNN backbones: folded batch norms, channels-last, the same features."""

import numpy as np
import pytest
import torch
from torch import nn

from astrofmx import embed
from astrofmx.backbones import fold_batch_norms, get_backbone, inference_copy

from .helpers import TINY_VIT


def _with_statistics(model, seed=0):
    """Batch norms with running statistics and affine weights far from their initial values (as after
    training), so that folding them is not the identity."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.3 * torch.randn(n, generator=g))
            module.running_var.copy_(0.5 + torch.rand(n, generator=g))
            module.weight.data.copy_(1.0 + 0.2 * torch.randn(n, generator=g))
            module.bias.data.copy_(0.1 * torch.randn(n, generator=g))
    return model.eval()


def _n_batch_norms(model):
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.fixture
def resnet():
    return _with_statistics(get_backbone("resnet18", weights=None, layers=(1, 1, 1, 1)))


def test_fold_batch_norms_keeps_outputs(resnet):
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, n_before = resnet(x), _n_batch_norms(resnet)
        n = fold_batch_norms(resnet)
        after = resnet(x)
    assert n == n_before == 12 and _n_batch_norms(resnet) == 0  # stem, 2 per block, 3 downsamples
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)


def test_fold_batch_norms_refuses_training_mode(resnet):
    resnet.train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_batch_norms(resnet)
    assert _n_batch_norms(resnet) == 12


def test_not_a_module_is_a_type_error():
    from astrofmx.backbones import folded_copy

    with pytest.raises(TypeError, match="torch.nn.Module, got ndarray"):
        fold_batch_norms(np.zeros(3))
    with pytest.raises(TypeError, match="folded_copy needs a torch.nn.Module, got str"):
        folded_copy("resnet18")


def test_inference_copy_same_features_original_untouched(resnet):
    fast = inference_copy(resnet)
    assert fast is not resnet and _n_batch_norms(fast) == 0
    assert _n_batch_norms(resnet) == 12  # the user's model is not modified
    assert fast.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(fast(x), resnet(x), rtol=1e-4, atol=1e-4)


def test_inference_copy_follows_weight_changes(resnet):
    fast = inference_copy(resnet)
    assert inference_copy(resnet) is fast  # reused while the weights are unchanged
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    optimizer = torch.optim.SGD(resnet.parameters(), lr=0.5)
    resnet.train()
    resnet(x).pow(2).mean().backward()
    optimizer.step()  # in-place updates: new version counters
    resnet.eval()
    rebuilt = inference_copy(resnet)
    assert rebuilt is not fast
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), resnet(x), rtol=1e-4, atol=1e-4)
        assert not torch.allclose(fast(x), resnet(x), rtol=1e-3, atol=1e-3)


def test_inference_copy_leaves_vits_alone():
    vit = get_backbone("msn", weights=None, **TINY_VIT)
    assert inference_copy(vit) is vit


def test_embed_cnn_equals_the_models_own_forward(resnet):
    """embed runs the folded copy: the features of the model's own forward, and the model is left as it was."""
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    out = embed(x, backbone=resnet, precision="fp32", progress_bar=False)
    with torch.no_grad():
        ref = resnet(x).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    assert _n_batch_norms(resnet) == 12 and resnet.model.conv1.weight.is_contiguous()


def test_embed_bf16_weights(resnet):
    """A model cast to bfloat16 is probed in its own dtype (a float32 probe would fail) and embeds."""
    resnet.to(torch.bfloat16)
    fast = inference_copy(resnet)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    out = embed(x, backbone=resnet, precision="bf16", progress_bar=False)
    with torch.no_grad():
        ref = fast(x.to(torch.bfloat16)).float().numpy()
    assert out.shape == (2, 512) and np.isfinite(out).all()
    np.testing.assert_allclose(out, ref, rtol=0.05, atol=0.05)
