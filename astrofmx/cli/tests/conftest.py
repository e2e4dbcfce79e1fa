"""Fixtures of the command-line tests: a tiny saved detector and a small simulated field."""

import pytest

from astrofmx.cli import main


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny untrained (seeded) ResNet-18 detector saved with save_detector."""
    import torch

    from astrofmx.detection import build_detector, save_detector

    torch.manual_seed(0)
    det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64, pyramid_channels=16,
                         representation_size=32)
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_detector(det, path)
    return path


@pytest.fixture(scope="session")
def sim_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.fits"
    assert main(["-q", "simulate", str(path), "--shape", "96", "128", "--seed", "4", "--n-sources", "15"]) == 0
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
