"""Seeded fixtures of the search tests: two small simulated radio fields, a tiny backbone, stamps with rings."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_backbone(seed=0):
    """A tiny random-init ViT (seeded: the same weights for the same seed)."""
    import torch

    from astrofmx.backbones import get_backbone

    torch.manual_seed(seed)
    return get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)


@pytest.fixture(scope="session")
def vit():
    return tiny_backbone(0)


@pytest.fixture(scope="session")
def fields(tmp_path_factory):
    """Two simulated radio FITS files (WCS, 20 sources each) and their truth catalogs."""
    from astrofmx.datasets import simulate_radio_field

    folder = tmp_path_factory.mktemp("fields")
    out = []
    for seed in (1, 2):
        field = simulate_radio_field((128, 128), seed=seed, n_sources=20)
        path = folder / f"field{seed}.fits"
        field.write(path)
        out.append((path, field.truth))
    return out


def gaussian_stamps(n, size=16, seed=0):
    """``n`` noisy compact Gaussians at the centre of ``size`` x ``size`` stamps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    return [(np.exp(-(xx ** 2 + yy ** 2) / (2 * rng.uniform(1.0, 1.6) ** 2)) + 0.05 * rng.normal(size=(size, size)))
            .astype(np.float32) for _ in range(n)]


def ring_stamp(size=16, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r = np.hypot(xx, yy)
    return (np.exp(-(r - 5.0) ** 2 / 2.0) + 0.05 * rng.normal(size=(size, size))).astype(np.float32)
