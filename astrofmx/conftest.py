"""Shared pytest configuration and seeded fixtures for the astrofmx test suite."""

import os
from pathlib import Path

import numpy as np
import pytest

try:
    from pytest_astropy_header.display import PYTEST_HEADER_MODULES, TESTED_VERSIONS
except ImportError:  # pragma: no cover
    PYTEST_HEADER_MODULES, TESTED_VERSIONS = {}, {}


def pytest_configure(config):
    config.option.astropy_header = True
    for name in ("Pandas", "h5py", "Matplotlib", "scikit-image"):
        PYTEST_HEADER_MODULES.pop(name, None)
    PYTEST_HEADER_MODULES.update({"torch": "torch", "torchvision": "torchvision", "timm": "timm",
                                  "photutils": "photutils", "regions": "regions", "reproject": "reproject"})
    from astrofmx import __version__

    TESTED_VERSIONS["astrofmx"] = __version__
    # trained detectors register themselves in the cache: keep the tests' out of the user's cache
    import tempfile

    os.environ["ASTROFMX_CACHE"] = tempfile.mkdtemp(prefix="astrofmx-test-cache-")
    # tests are sized for 2 CPU cores; keep torch from oversubscribing them
    try:
        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
    except ImportError:  # pragma: no cover
        pass


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        has_cuda = False
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is visible on this machine")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(skip_gpu)


def _find_shared_data(config):
    env = os.environ.get("ASTROFMX_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates += [Path(config.rootpath) / ".." / "shared" / "data", Path.cwd() / ".." / "shared" / "data",
                   Path(__file__).resolve().parents[1] / ".." / "shared" / "data"]
    for cand in candidates:
        if (cand / "README.md").is_file():
            return cand.resolve()
    return None


@pytest.fixture(scope="session")
def shared_data(request):
    """Path of the real-data folder ``../shared/data`` (see its README).

    Skips only where the folder does not exist (a user's fresh clone); CI has it.
    Set ``ASTROFMX_SHARED_DATA`` to point elsewhere.
    """
    path = _find_shared_data(request.config)
    if path is None:
        pytest.skip("real-data folder ../shared/data not found (set ASTROFMX_SHARED_DATA to use it)")
    return path


@pytest.fixture
def rng():
    """A freshly seeded numpy Generator, identical in every test."""
    return np.random.default_rng(20240917)


@pytest.fixture(scope="session")
def bundled_radio_image():
    """Path of the real radio image shipped inside the package (Parkes 1904-66, SIN)."""
    from astrofmx.datasets import get_bundled_path

    return get_bundled_path("1904-66_SIN.fits")


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server (no internet needed) serving the files of a folder."""
    import functools
    import http.server
    import threading

    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
