"""Download of a missing data-set file (the one place the loaders touch the network), with `utils.fetch`."""

from pathlib import Path

from ...utils import fetch
from ._sources import _is_gzipped_file, _missing_message

__all__ = []


def _fetch(source, target, download):
    """Return ``target`` if it exists, else download it with `~astrofmx.utils.fetch` or raise FileNotFoundError.

    Any download failure (offline, checksum mismatch, HTTP error) becomes a
    FileNotFoundError that says where to get the file and where to put it.
    """
    target = Path(target)
    if target.is_file():
        return target
    if download and source.downloadable:
        gzipped = _is_gzipped_file(source.url)
        try:
            return fetch(source.url, known_hash=source.known_hash, path=target.parent,
                         fname=target.name + (".gz" if gzipped else ""), decompress=gzipped, progress_bar=False)
        except Exception as exc:  # offline, checksum mismatch, HTTP error, a corrupt download
            raise FileNotFoundError(_missing_message(source, target, f"(download failed: {exc})")) from exc
    raise FileNotFoundError(_missing_message(source, target))
