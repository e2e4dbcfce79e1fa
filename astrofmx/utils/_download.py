"""One download path for astrofmx: `fetch` (pooch, checksummed, offline-aware) and `is_offline`."""

import logging
import os
import shutil
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from .exceptions import WeightsChecksumError, WeightsNotFoundError

__all__ = ["fetch", "is_offline"]

logger = logging.getLogger(__name__)

#: Environment variables that switch downloads off: astrofmx's own, then the Hugging Face ones.
OFFLINE_VARIABLES = ("ASTROFMX_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def is_offline():
    """Whether downloads are switched off.

    True when ``ASTROFMX_OFFLINE``, ``HF_HUB_OFFLINE`` or
    ``TRANSFORMERS_OFFLINE`` is set to 1/true/yes/on. The variables are read
    at each call, so setting one at run time takes effect at once.

    Returns
    -------
    offline : bool

    Examples
    --------
    >>> import os
    >>> from astrofmx.utils import is_offline
    >>> os.environ["ASTROFMX_OFFLINE"] = "1"
    >>> is_offline()
    True
    >>> del os.environ["ASTROFMX_OFFLINE"]
    """
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on") for var in OFFLINE_VARIABLES)


def _normalize_hash(known_hash):
    if known_hash is None:
        return None
    if not isinstance(known_hash, str):
        raise TypeError(f"known_hash must be a str or None, got {known_hash!r}")
    alg, _, digest = known_hash.lower().rpartition(":")
    alg = alg or "sha256"
    if alg == "sha256" and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise ValueError(f"known_hash must be the 64 hex digits of a sha256 digest, got {known_hash!r}")
    return f"{alg}:{digest}"


def _hash_ok(path, known_hash):
    import pooch

    if known_hash is None:
        return True
    alg, digest = known_hash.split(":", 1)
    return pooch.file_hash(str(path), alg=alg) == digest


def _file_downloader(url, output_file, pup):
    """A pooch downloader for ``file://`` URLs (pooch serves http, https, ftp, sftp and doi)."""
    source = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
    with open(source, "rb") as src, open(output_file, "wb") as dst:
        shutil.copyfileobj(src, dst)


def _check_archive(archive):
    """Refuse a zip archive with absolute member paths or ``..`` parts (before anything is extracted)."""
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            member = PurePosixPath(name.replace("\\", "/"))
            if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
                raise ValueError(f"refusing the archive {str(archive)!r}: it holds the unsafe path {name!r}")


def _safe_unzip(extract_dir):
    """A pooch processor: check the archive's member paths, then `pooch.Unzip` into ``extract_dir``."""
    import pooch

    unzip = pooch.Unzip(extract_dir=str(extract_dir))

    def processor(fname, action, pup):
        _check_archive(fname)
        unzip(fname, action, pup)
        return str(extract_dir)

    return processor


#: Suffixes `fetch` can decompress (`pooch.Decompress` methods).
_COMPRESSED = {".gz": "gzip", ".bz2": "bzip2", ".xz": "lzma"}


def _processor(folder, fname, *, unzip, decompress):
    """The pooch processor for ``unzip`` / ``decompress`` (None for neither); bad combinations raise."""
    import pooch

    if unzip and decompress:
        raise ValueError(f"unzip and decompress cannot both be set (fetching {fname!r})")
    if unzip:
        return _safe_unzip(folder / (fname[:-4] if fname.lower().endswith(".zip") else fname + ".unzip"))
    if decompress:
        suffix = Path(fname).suffix.lower()
        if suffix not in _COMPRESSED:
            raise ValueError(f"decompress=True needs a file name ending in {', '.join(_COMPRESSED)}, got {fname!r}")
        return _clean_decompress(pooch.Decompress(method=_COMPRESSED[suffix], name=fname[:-len(suffix)]),
                                 folder / fname[:-len(suffix)])
    return None


def _clean_decompress(decompress, output):
    """A pooch processor: ``decompress``, but a failure leaves neither a partial ``output`` nor the
    compressed file behind (pooch would otherwise return the partial file from then on)."""

    def processor(fname, action, pup):
        try:
            return decompress(fname, action, pup)
        except Exception as exc:  # gzip.BadGzipFile, EOFError of a truncated file, lzma/bz2 errors
            output.unlink(missing_ok=True)
            Path(fname).unlink(missing_ok=True)
            raise OSError(f"could not decompress {fname!r} (removed; fetch downloads it again): {exc}") from exc

    return processor


def _offline_message(url, target, known_hash):
    digest = f" ({known_hash.replace(':', ' ', 1)})" if known_hash else ""
    return (f"{target.name} is not available locally and downloads are switched off (offline: "
            f"{'/'.join(OFFLINE_VARIABLES)} is set). Download\n    {url}{digest}\non a machine with internet "
            f"access and put it at\n    {target}")


def fetch(url, *, known_hash, path, fname=None, unzip=False, decompress=False, progress_bar=True):
    """Download a file into a folder once, verify its checksum, and optionally unzip or decompress it.

    Built on `pooch.retrieve`: a file already at ``path/fname`` whose hash
    matches is used as is (no network access); otherwise it is downloaded to
    a temporary file, checked against ``known_hash`` and only then moved into
    place, so a corrupted or truncated download never lands in the cache.

    Parameters
    ----------
    url : str
        ``https://``, ``http://``, ``ftp://`` or ``file://`` URL.
    known_hash : str or None
        SHA-256 of the file (64 hex digits, optionally prefixed ``sha256:``;
        other `pooch` algorithms as ``"md5:..."``). None skips the check,
        for sources that publish no checksum or files verified elsewhere; a
        download without one logs a warning that the file is unverified.
    path : str or path-like
        Folder to keep the file in; created if needed.
    fname : str, optional
        File name inside ``path``; default the last part of the URL.
    unzip : bool, optional
        Extract the (zip) file into ``path/<fname without .zip>/`` with
        `pooch.Unzip`. Archives with absolute member paths or ``..`` parts
        are refused before anything is extracted.
    decompress : bool, optional
        Decompress a single compressed file (``.gz``, ``.bz2`` or ``.xz``)
        with `pooch.Decompress` into ``path/<fname without that suffix>``.
        The compressed file is kept next to it, so a later call neither
        downloads nor decompresses again.
    progress_bar : bool, optional
        Show pooch's download progress bar (and pooch's log messages).

    Returns
    -------
    path : `pathlib.Path`
        The file, with ``unzip=True`` the folder it was extracted into, with
        ``decompress=True`` the decompressed file.

    Raises
    ------
    WeightsNotFoundError
        The file is missing (or does not match ``known_hash``) and downloads
        are switched off (`is_offline`); the message names the URL and the
        target path.
    WeightsChecksumError
        The download does not match ``known_hash`` (it is not kept).
    OSError
        The download failed.
    ValueError
        A malformed ``known_hash``, an unsafe archive, or ``decompress=True``
        for a file name without a compression suffix (or with ``unzip=True``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from astrofmx.utils import fetch
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "source.txt").write_text("hello")
    >>> url = (folder / "source.txt").as_uri()
    >>> sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    >>> fetch(url, known_hash=sha, path=folder / "cache", progress_bar=False).read_text()
    'hello'

    A gzip-compressed file, decompressed after the download:

    >>> import gzip, hashlib
    >>> _ = (folder / "table.csv.gz").write_bytes(gzip.compress(b"a,b"))
    >>> sha = hashlib.sha256((folder / "table.csv.gz").read_bytes()).hexdigest()
    >>> path = fetch((folder / "table.csv.gz").as_uri(), known_hash=sha, path=folder / "cache",
    ...              decompress=True, progress_bar=False)
    >>> path.name, path.read_text()
    ('table.csv', 'a,b')
    """
    import pooch

    if not isinstance(url, str) or not url.startswith(("https://", "http://", "ftp://", "file://")):
        raise ValueError(f"url must start with https://, http://, ftp:// or file://, got {url!r}")
    known_hash = _normalize_hash(known_hash)
    folder = Path(path).expanduser()
    fname = fname or Path(urllib.parse.urlparse(url).path).name
    target = folder / fname
    processor = _processor(folder, fname, unzip=unzip, decompress=decompress)
    if is_offline() and not (target.is_file() and _hash_ok(target, known_hash)):
        raise WeightsNotFoundError(_offline_message(url, target, known_hash))
    if known_hash is None and not target.is_file():
        logger.warning("no checksum is known for %s: the download into %r is not verified", url, str(target))
    folder.mkdir(parents=True, exist_ok=True)
    if url.startswith("file://"):
        downloader = _file_downloader
    else:
        downloader = pooch.downloaders.choose_downloader(url, progressbar=bool(progress_bar))
    pooch_logger = pooch.get_logger()
    level = pooch_logger.level
    if not progress_bar:  # pooch announces each download on its own stderr handler
        pooch_logger.setLevel(logging.WARNING)
    try:
        result = pooch.retrieve(url, known_hash=known_hash, fname=fname, path=str(folder), processor=processor,
                                downloader=downloader)
    except ValueError as exc:
        if "refusing the archive" in str(exc):
            raise
        if "hash" in str(exc).lower():
            alg, digest = known_hash.split(":", 1)
            raise WeightsChecksumError(f"the download of {url} into {str(target)!r} does not match its known "
                                       f"{alg} {digest}; it was removed from the cache, not kept ({exc})") from exc
        raise
    except Exception as exc:  # requests' HTTP and connection errors, a missing file:// source
        raise OSError(f"could not download {url} to {str(target)!r}: {exc}") from exc
    finally:
        pooch_logger.setLevel(level)
    return Path(result)
