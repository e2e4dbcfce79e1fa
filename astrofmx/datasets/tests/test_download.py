"""The loaders' download=True path (through astrofmx.utils.fetch) against a local HTTP server."""

import dataclasses
import gzip
import hashlib
import shutil

import numpy as np
import pytest

from astrofmx.datasets import DATASET_SOURCES, load_galaxy_mnist, load_rgz


@pytest.fixture
def online(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "ASTROFMX_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def _serve_gmnist(root, name, n):
    h5py = pytest.importorskip("h5py")
    plain = root / name
    with h5py.File(plain, "w") as f:
        f.create_dataset("images", data=np.full((n, 64, 64, 3), 7, np.uint8))
        f.create_dataset("labels", data=np.arange(n) % 4)
    gz = root / (name + ".gz")
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return "sha256:" + hashlib.sha256(gz.read_bytes()).hexdigest()


def _point_at(monkeypatch, key, url, known_hash):
    monkeypatch.setitem(DATASET_SOURCES, key, dataclasses.replace(DATASET_SOURCES[key], url=url,
                                                                  known_hash=known_hash))


def test_galaxy_mnist_download_decompresses(http_server, tmp_path, online, monkeypatch):
    root, url = http_server
    sha = _serve_gmnist(root, "train_dataset.hdf5", 6)
    _point_at(monkeypatch, "galaxy_mnist_train", f"{url}/train_dataset.hdf5.gz", sha)
    data = load_galaxy_mnist(tmp_path / "cache", download=True)
    assert data.images.shape == (6, 3, 64, 64) and (tmp_path / "cache" / "train_dataset.hdf5").is_file()
    (root / "train_dataset.hdf5.gz").unlink()  # the decompressed file is used from now on
    assert len(load_galaxy_mnist(tmp_path / "cache", download=True)) == 6


def test_galaxy_mnist_without_checksum(http_server, tmp_path, online, monkeypatch):
    root, url = http_server
    _serve_gmnist(root, "test_dataset.hdf5", 4)
    _point_at(monkeypatch, "galaxy_mnist_test", f"{url}/test_dataset.hdf5.gz", None)  # as upstream: none published
    assert len(load_galaxy_mnist(tmp_path / "test_dataset.hdf5", download=True)) == 4


def test_download_failures_say_where_to_put_the_file(http_server, tmp_path, online, monkeypatch):
    root, url = http_server
    _serve_gmnist(root, "train_dataset.hdf5", 2)
    _point_at(monkeypatch, "galaxy_mnist_train", f"{url}/train_dataset.hdf5.gz", "sha256:" + "0" * 64)
    target = tmp_path / "c" / "train_dataset.hdf5"
    with pytest.raises(FileNotFoundError, match="Download http.*put it at.*download failed.*does not match"):
        load_galaxy_mnist(target, download=True)
    assert not target.exists() and not target.with_name("train_dataset.hdf5.gz").exists()
    _point_at(monkeypatch, "galaxy_mnist_train", f"{url}/gone.hdf5.gz", None)
    with pytest.raises(FileNotFoundError, match="put it at.*download failed: could not download"):
        load_galaxy_mnist(target, download=True)
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="put it at.*download failed.*downloads are switched off"):
        load_galaxy_mnist(target, download=True)


@pytest.mark.shared_data
def test_rgz_download_with_the_published_checksum(http_server, tmp_path, online, monkeypatch, shared_data):
    root, url = http_server
    shutil.copy(shared_data / "radio" / "rgz-rcnn" / "full_catalogue.csv.tgz", root)
    _point_at(monkeypatch, "rgz", f"{url}/full_catalogue.csv.tgz", DATASET_SOURCES["rgz"].known_hash)
    data = load_rgz(tmp_path, single_galaxy=False, download=True)
    assert len(data) == 11836 and (tmp_path / "full_catalogue.csv.tgz").is_file()
