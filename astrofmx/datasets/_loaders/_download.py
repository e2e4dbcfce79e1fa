"""Download of a missing data-set file (the one place the loaders touch the network)."""

from pathlib import Path

from ._sources import _missing_message

__all__ = []


# lead: switch to utils.fetch at merge
def _fetch(source, target, download):
    """Return ``target`` if it exists, else download it with pooch or raise FileNotFoundError."""
    target = Path(target)
    if target.is_file():
        return target
    if download and source.downloadable:
        try:
            import pooch

            processor = None
            if source.url.endswith(".gz") and not source.url.endswith(".tgz"):
                processor = pooch.Decompress(name=target.name)
            fetched = pooch.retrieve(source.url, known_hash=source.known_hash, path=target.parent,
                                     fname=target.name + (".gz" if processor else ""), processor=processor,
                                     progressbar=False)
            return Path(fetched)
        except Exception as exc:  # offline, pooch missing, checksum mismatch, HTTP error
            raise FileNotFoundError(_missing_message(source, target, f"(download failed: {exc})")) from exc
    raise FileNotFoundError(_missing_message(source, target))
