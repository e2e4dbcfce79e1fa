"""Shared fixtures of the detection tests: simulated radio fields and one small trained detector."""

import contextlib

import pytest

#: a tiny ViT (2 blocks, 64 dims) for fast tests of the ViTDet path
TINY_VIT = {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64}

#: small heads and few proposals keep CPU steps fast
SMALL_HEADS = dict(pyramid_channels=32, representation_size=128, rpn_batch_size_per_image=64,
                   box_batch_size_per_image=64, rpn_pre_nms_top_n=200, rpn_post_nms_top_n=100,
                   anchor_sizes=(4, 8, 16, 32, 64))


def simulated_field(shape, seed, n_sources):
    """A MeerKAT-like simulated field of bright-enough compact and extended sources (4-pixel beam)."""
    from astrofmx.datasets import simulate_radio_field

    return simulate_radio_field(shape, seed=seed, n_sources=n_sources, extended_fraction=0.1, double_fraction=0.0,
                                flux_min_snr=8)


@contextlib.contextmanager
def one_torch_thread():
    """Run torch on one thread inside the context, then restore the setting.

    The tiny test models gain little from intra-op parallelism, and on a shared
    2-core machine two threads per process made these tests five times slower
    (measured: 224 s against 30 s for this folder under a load of 7).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread():
    with one_torch_thread():
        yield


@pytest.fixture(scope="session")
def train_field():
    return simulated_field((192, 192), seed=1, n_sources=60)


@pytest.fixture(scope="session")
def heldout_field():
    """A field the detector never sees (different seed)."""
    return simulated_field((160, 160), seed=7, n_sources=40)


@pytest.fixture(scope="session")
def trained_detector(train_field):
    """A ResNet-18 detector trained from scratch for 45 steps (~15 s on 2 cores)."""
    from astrofmx.detection import train_detector

    # session fixtures are set up before the package's autouse fixture: set the threads here too
    with one_torch_thread():
        return train_detector(train_field.to_nddata(), train_field.truth, backbone="resnet18", weights=None,
                              mode="scratch", tile_size=64, epochs=3, steps_per_epoch=15, batch_size=4,
                              learning_rate=1e-3, precision="fp32", seed=0, progress_bar=False, **SMALL_HEADS)
