"""Detectors found by backbone name: trained here, registered folders, and model-zoo archives."""

import hashlib
import zipfile

import astropy.units as u
import numpy as np
import pytest

from astrofmx.compare import crossmatch
from astrofmx.detection import (build_detector, detect_sources, find_detector, list_detectors, register_detector,
                                save_detector, train_detector, unregister_detector)
from astrofmx.utils import WeightsChecksumError, WeightsNotFoundError

from .conftest import SMALL_HEADS, simulated_field

QUIET = dict(progress_bar=False, precision="fp32", score_threshold=0.0, min_snr=0)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache of our own, online, and no registration left behind."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ASTROFMX_CACHE", str(folder))
    for var in ("HF_HUB_OFFLINE", "ASTROFMX_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    yield folder
    unregister_detector("resnet18")


@pytest.fixture(scope="module")
def field():
    return simulated_field((96, 96), seed=31, n_sources=10)


def _tiny(seed=0):
    import torch

    torch.manual_seed(seed)
    return build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64, **SMALL_HEADS)


def _row(backbone):
    """The one row of `list_detectors` for ``backbone``."""
    table = list_detectors()
    rows = [row for row in table if row["backbone"] == backbone]
    assert len(rows) == 1, table
    return rows[0]


def _same(a, b):
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a["x_centroid"].value, b["x_centroid"].value, atol=1e-5)
    np.testing.assert_allclose(a["score"], b["score"], atol=1e-6)


def test_a_trained_detector_is_used_by_backbone_name(cache, field):
    with pytest.raises(ValueError, match=r"(?s)no trained detector is available for backbone 'resnet18'.*"
                                         r"astrofmx train-detector --simulate \d+ --sim-shape \d+ \d+ --backbone "
                                         r"resnet18 --mode frozen -o resnet18_detector\n\(\d+ tiles x \d+ epochs: "
                                         r"roughly [\d.]+ (s|min|h) on one GPU, [\d.]+ (s|min|h) on this machine.*"
                                         r"train_detector\(images, boxes, backbone='resnet18', mode='frozen'\).*"
                                         r"register_detector"):
        detect_sources(field.to_nddata(), backbone="resnet18", **QUIET)
    det = train_detector(field.to_nddata(), field.truth, backbone="resnet18", weights=None, mode="scratch",
                         tile_size=64, epochs=1, steps_per_epoch=2, batch_size=2, precision="fp32",
                         progress_bar=False, **SMALL_HEADS)
    folder = find_detector("resnet18")
    assert folder.parent == cache / "detectors" / "local" / "resnet18"
    _same(detect_sources(field.to_nddata(), backbone="resnet18", **QUIET),
          detect_sources(field.to_nddata(), model=det, **QUIET))
    table = list_detectors()
    assert table["source"][0] == "embedded" and _row("resnet18")["source"] == "local"
    assert set(table["source"][1:]) <= {"shipped", "local"}
    # register=False leaves the cache alone
    train_detector(field.to_nddata(), field.truth, backbone="resnet18", weights=None, mode="scratch", tile_size=64,
                   epochs=1, steps_per_epoch=1, batch_size=2, precision="fp32", progress_bar=False, register=False,
                   **SMALL_HEADS)
    assert len(list(folder.parent.iterdir())) == 1


def test_registered_folder(cache, field, tmp_path):
    det = _tiny(1)
    save_detector(det, tmp_path / "mine")
    register_detector("resnet18", path=tmp_path / "mine", description="my detector")
    assert find_detector("resnet18") == (tmp_path / "mine").resolve()
    _same(detect_sources(field.to_nddata(), backbone="resnet18", **QUIET),
          detect_sources(field.to_nddata(), model=det, **QUIET))
    row = _row("resnet18")
    assert (row["source"], row["available"], row["description"]) == ("path", True, "my detector")


def _zip_detector(det, served, name="resnet18-detector.zip", extra=None):
    folder = served.parent / f"to-zip-{name}"
    save_detector(det, folder / "resnet18-detector")
    archive = served / name
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((folder / "resnet18-detector").iterdir()):
            zf.write(f, f"resnet18-detector/{f.name}")
        if extra:
            zf.writestr(extra, "x")
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_zoo_archive_is_downloaded_verified_and_cached(cache, field, http_server, monkeypatch):
    served, url = http_server
    det = _tiny(2)
    archive, sha = _zip_detector(det, served)
    register_detector("resnet18", url=f"{url}/{archive.name}", sha256=sha, description="zoo entry")
    assert _row("resnet18")["available"] is np.False_
    _same(detect_sources(field.to_nddata(), backbone="resnet18", **QUIET),
          detect_sources(field.to_nddata(), model=det, **QUIET))
    assert _row("resnet18")["available"] is np.True_
    # cached: works offline and without the server
    archive.unlink()
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    assert find_detector("resnet18").is_dir()


def test_zoo_checksum_offline_and_unsafe_archives(cache, http_server, monkeypatch):
    served, url = http_server
    archive, sha = _zip_detector(_tiny(3), served)
    register_detector("resnet18", url=f"{url}/{archive.name}", sha256="0" * 64)
    with pytest.raises(WeightsChecksumError, match="sha256"):
        find_detector("resnet18")
    assert not list((cache / "detectors" / "zoo").rglob("*.zip"))  # the bad download is deleted
    evil, evil_sha = _zip_detector(_tiny(3), served, name="evil.zip", extra="../escape.txt")
    register_detector("resnet18", url=f"{url}/{evil.name}", sha256=evil_sha, overwrite=True)
    with pytest.raises(ValueError, match=r"unsafe path '\.\./escape\.txt'"):
        find_detector("resnet18")
    assert not (cache / "detectors" / "zoo" / "resnet18" / "escape.txt").exists()
    register_detector("resnet18", url=f"{url}/{archive.name}", sha256=sha, overwrite=True)
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match=rf"offline.*{archive.name}.*detector\.zip"):
        find_detector("resnet18")


def test_register_detector_bad_input(cache, tmp_path):
    with pytest.raises(ValueError, match="give either url= .* or path="):
        register_detector("resnet18")
    with pytest.raises(ValueError, match="sha256 must be the 64 hex digits"):
        register_detector("resnet18", url="https://example.org/d.zip", sha256="abc")
    with pytest.raises(ValueError, match="url must start with https://"):
        register_detector("resnet18", url="ftp://example.org/d.zip", sha256="0" * 64)
    with pytest.raises(ValueError, match="is not a saved detector folder"):
        register_detector("resnet18", path=tmp_path)
    with pytest.raises(TypeError, match="backbone must be a registry name"):
        register_detector(None, path=tmp_path)


def test_the_detector_shipped_on_astrofmx_radio_works_offline(cache, monkeypatch):
    from astrofmx.backbones import SHIPPED_MODELS_DIR
    from astrofmx.datasets import random_radio_field

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    shipped = SHIPPED_MODELS_DIR / "astrofmx-radio" / "detector"
    assert find_detector("astrofmx-radio") == shipped
    row = _row("astrofmx-radio")
    assert (row["source"], row["available"]) == ("shipped", True) and "astrofmx-radio backbone" in row["description"]
    field = random_radio_field((256, 256), seed=5010)
    cat = detect_sources(field.to_nddata(), backbone="astrofmx-radio", progress_bar=False)
    assert cat.meta["backbone"] == "astrofmx-radio" and cat.meta["model"] == str(shipped)
    assert not (cache / "detectors").exists()  # nothing was downloaded or written
    # it finds the field's bright sources where they are
    truth = field.truth[field.truth["snr"] >= 10]
    matched = crossmatch(cat, truth, 2 * u.pix).meta["n_matched"]
    assert len(truth) >= 8 and matched >= 0.8 * len(truth), (matched, len(truth))
