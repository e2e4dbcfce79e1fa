"""utils.fetch against a local HTTP server (no internet): checksums, cache reuse, offline, unzip safety."""

import hashlib
import zipfile

import pytest

from astrofmx.utils import WeightsChecksumError, WeightsNotFoundError, fetch, is_offline


@pytest.fixture
def online(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "ASTROFMX_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)


def _serve(root, name, data):
    (root / name).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_download_verify_and_reuse(http_server, tmp_path, online):
    root, url = http_server
    sha = _serve(root, "data.bin", b"some bytes")
    cache = tmp_path / "cache"
    path = fetch(f"{url}/data.bin", known_hash=sha, path=cache, progress_bar=False)
    assert path == cache / "data.bin" and path.read_bytes() == b"some bytes"
    (root / "data.bin").unlink()  # the cached copy is used from now on, with a sha256: prefix too
    assert fetch(f"{url}/data.bin", known_hash=f"sha256:{sha}", path=cache, progress_bar=False) == path
    other = fetch(f"{url}/gone.bin", known_hash=None, path=cache, fname="data.bin", progress_bar=False)
    assert other == path  # no hash to check: the file in place is used


def test_checksum_mismatch_is_not_kept(http_server, tmp_path, online):
    root, url = http_server
    _serve(root, "data.bin", b"tampered")
    with pytest.raises(WeightsChecksumError, match="does not match its known sha256"):
        fetch(f"{url}/data.bin", known_hash="0" * 64, path=tmp_path / "c", fname="kept.bin", progress_bar=False)
    assert not (tmp_path / "c" / "kept.bin").exists()
    assert [p.name for p in (tmp_path / "c").iterdir()] == []  # no temporary file left either


def test_offline_fails_fast_naming_url_and_target(http_server, tmp_path, monkeypatch):
    root, url = http_server
    sha = _serve(root, "data.bin", b"x")
    for var in ("ASTROFMX_OFFLINE", "HF_HUB_OFFLINE"):
        with monkeypatch.context() as m:
            m.setenv(var, "1")
            assert is_offline()
            with pytest.raises(WeightsNotFoundError) as info:
                fetch(f"{url}/data.bin", known_hash=sha, path=tmp_path / "c", progress_bar=False)
            assert f"{url}/data.bin" in str(info.value) and str(tmp_path / "c" / "data.bin") in str(info.value)
            assert not (tmp_path / "c").exists()
    fetch(f"{url}/data.bin", known_hash=sha, path=tmp_path / "c", progress_bar=False)
    monkeypatch.setenv("ASTROFMX_OFFLINE", "yes")
    assert fetch(f"{url}/data.bin", known_hash=sha, path=tmp_path / "c").read_bytes() == b"x"  # cached: fine


def test_download_errors(http_server, tmp_path, online):
    _, url = http_server
    with pytest.raises(OSError, match="could not download"):
        fetch(f"{url}/missing.bin", known_hash=None, path=tmp_path, progress_bar=False)
    with pytest.raises(ValueError, match="url must start with"):
        fetch("gopher://x/y", known_hash=None, path=tmp_path)
    with pytest.raises(ValueError, match="64 hex digits"):
        fetch(f"{url}/a", known_hash="abc", path=tmp_path)


def _zip(root, name, members):
    with zipfile.ZipFile(root / name, "w") as zf:
        for member in members:
            zf.writestr(member, "content")
    return hashlib.sha256((root / name).read_bytes()).hexdigest()


def test_unzip(http_server, tmp_path, online):
    root, url = http_server
    sha = _zip(root, "bundle.zip", ["bundle/a.txt", "bundle/b/c.txt"])
    folder = fetch(f"{url}/bundle.zip", known_hash=sha, path=tmp_path, unzip=True, progress_bar=False)
    assert folder == tmp_path / "bundle"
    assert (folder / "bundle" / "b" / "c.txt").read_text() == "content"


@pytest.mark.parametrize("member", ["../escape.txt", "/abs/escape.txt", "a/../../escape.txt"])
def test_unsafe_archive_is_refused(http_server, tmp_path, online, member):
    root, url = http_server
    sha = _zip(root, "evil.zip", ["ok.txt", member])
    with pytest.raises(ValueError, match="unsafe path"):
        fetch(f"{url}/evil.zip", known_hash=sha, path=tmp_path / "cache", unzip=True, progress_bar=False)
    assert not (tmp_path / "cache" / "evil").exists()
    assert not list(tmp_path.rglob("escape.txt"))


def test_file_url(tmp_path, online):
    source = tmp_path / "src.bin"
    source.write_bytes(b"local")
    path = fetch(source.as_uri(), known_hash=hashlib.sha256(b"local").hexdigest(), path=tmp_path / "c")
    assert path.read_bytes() == b"local"


def _gzip(root, name, data):
    import gzip

    (root / name).write_bytes(gzip.compress(data))
    return hashlib.sha256((root / name).read_bytes()).hexdigest()


def test_decompress(http_server, tmp_path, online):
    root, url = http_server
    sha = _gzip(root, "table.hdf5.gz", b"decompressed bytes")
    cache = tmp_path / "cache"
    path = fetch(f"{url}/table.hdf5.gz", known_hash=sha, path=cache, decompress=True, progress_bar=False)
    assert path == cache / "table.hdf5" and path.read_bytes() == b"decompressed bytes"
    assert (cache / "table.hdf5.gz").is_file()  # the checked download is kept
    (root / "table.hdf5.gz").unlink()  # from now on nothing is downloaded
    assert fetch(f"{url}/table.hdf5.gz", known_hash=sha, path=cache, decompress=True, progress_bar=False) == path
    path.unlink()  # decompressed again from the cached download
    assert fetch(f"{url}/table.hdf5.gz", known_hash=sha, path=cache, decompress=True,
                 progress_bar=False).read_bytes() == b"decompressed bytes"
    other = fetch(f"{url}/x", known_hash=sha, path=cache, fname="table.hdf5.gz", decompress=True, progress_bar=False)
    assert other == path  # fname names the compressed file


def test_decompress_checks_the_compressed_file(http_server, tmp_path, online):
    root, url = http_server
    _gzip(root, "table.hdf5.gz", b"tampered")
    with pytest.raises(WeightsChecksumError, match="does not match"):
        fetch(f"{url}/table.hdf5.gz", known_hash="0" * 64, path=tmp_path / "c", decompress=True, progress_bar=False)
    assert list((tmp_path / "c").iterdir()) == []


def test_corrupt_compressed_file_leaves_nothing(http_server, tmp_path, online):
    root, url = http_server
    (root / "broken.gz").write_bytes(b"not gzip at all")
    with pytest.raises(OSError, match="could not decompress"):
        fetch(f"{url}/broken.gz", known_hash=None, path=tmp_path / "c", decompress=True, progress_bar=False)
    assert list((tmp_path / "c").iterdir()) == []  # no partial output that a later call would return


def test_decompress_needs_a_compressed_name(tmp_path, online):
    with pytest.raises(ValueError, match="needs a file name ending in"):
        fetch("http://127.0.0.1/a.hdf5", known_hash=None, path=tmp_path, decompress=True)
    with pytest.raises(ValueError, match="cannot both be set"):
        fetch("http://127.0.0.1/a.zip", known_hash=None, path=tmp_path, decompress=True, unzip=True)
    assert list(tmp_path.iterdir()) == []


def test_unverified_download_logs_a_warning(http_server, tmp_path, online, caplog):
    root, url = http_server
    _serve(root, "data.bin", b"no checksum published")
    with caplog.at_level("WARNING", logger="astrofmx.utils._download"):
        path = fetch(f"{url}/data.bin", known_hash=None, path=tmp_path, progress_bar=False)
    assert path.read_bytes() == b"no checksum published"
    assert any("not verified" in r.getMessage() and f"{url}/data.bin" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level("WARNING", logger="astrofmx.utils._download"):
        fetch(f"{url}/data.bin", known_hash=None, path=tmp_path, progress_bar=False)
    assert not caplog.records  # the file in place: nothing downloaded, nothing to warn about


def test_md5_known_hash(http_server, tmp_path, online):
    root, url = http_server
    (root / "data.bin").write_bytes(b"md5 checked")
    md5 = hashlib.md5(b"md5 checked").hexdigest()
    assert fetch(f"{url}/data.bin", known_hash=f"md5:{md5}", path=tmp_path, progress_bar=False).is_file()
    with pytest.raises(WeightsChecksumError, match="does not match its known md5"):
        fetch(f"{url}/data.bin", known_hash="md5:" + "0" * 32, path=tmp_path / "c", progress_bar=False)


def test_offline_decompress_names_url_and_target(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as info:
        fetch("http://127.0.0.1:9/t.hdf5.gz", known_hash=None, path=tmp_path / "c", decompress=True)
    assert "http://127.0.0.1:9/t.hdf5.gz" in str(info.value) and str(tmp_path / "c" / "t.hdf5.gz") in str(info.value)
    assert not (tmp_path / "c").exists()
