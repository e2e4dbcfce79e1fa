"""Inputs of a batch: glob expansion, ids, and stable per-input result file names."""

import dataclasses
import glob
import hashlib
import numbers
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["expand_inputs"]

_GLOB_CHARS = re.compile(r"[*?\[]")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".fz", ".zip")


def _is_path(obj):
    return isinstance(obj, (str, os.PathLike))


def _is_glob(obj):
    """A str/path that is not an existing file but contains glob characters."""
    return _is_path(obj) and bool(_GLOB_CHARS.search(os.fspath(obj))) \
        and not os.path.isfile(os.path.expanduser(os.fspath(obj)))


def _glob_files(pattern):
    text = os.path.expanduser(os.fspath(pattern))
    matches = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
    if not matches:
        raise ValueError(f"the glob pattern {os.fspath(pattern)!r} matches no files")
    return matches


def expand_inputs(inputs):
    """Expand glob patterns into the sorted files they match.

    This is the one glob expansion of astrofmx, used by `run_batch`, the
    survey functions and the command line. A string or path that is not an
    existing file but contains glob characters (``*``, ``?`` or ``[``)
    becomes its sorted matching files (``**`` recurses); anything else is
    kept as given, so a missing file is reported by whoever opens it. A list
    (or any iterable) is expanded item by item, in order; items that are not
    paths (arrays, NDData) are kept.

    Parameters
    ----------
    inputs : str, path-like or iterable
        A file, a glob pattern such as ``'survey/**/*.fits'``, or a list of
        them.

    Returns
    -------
    paths : list
        The inputs with every glob pattern replaced by its matches (as str).

    Raises
    ------
    ValueError
        If a glob pattern matches no file (the message names the pattern).
    TypeError
        If ``inputs`` is neither a path nor an iterable (bytes and numpy
        arrays are refused: they are data, not lists of inputs).

    Examples
    --------
    >>> import os, tempfile
    >>> from astrofmx.survey import expand_inputs
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("b.fits", "a.fits", "notes.txt"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> [os.path.basename(p) for p in expand_inputs(os.path.join(folder, "*.fits"))]
    ['a.fits', 'b.fits']
    >>> len(expand_inputs([os.path.join(folder, "notes.txt"), os.path.join(folder, "?.fits")]))
    3
    >>> expand_inputs(os.path.join(folder, "*.png"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the glob pattern '...*.png' matches no files
    """
    if _is_path(inputs):
        return _glob_files(inputs) if _is_glob(inputs) else [inputs]
    if isinstance(inputs, (bytes, np.ndarray)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a path, a glob pattern or a list of them, got {type(inputs).__name__}")
    expanded = []
    for item in inputs:
        if _is_glob(item):
            expanded.extend(_glob_files(item))
        else:
            expanded.append(item)
    return expanded


@dataclasses.dataclass(frozen=True)
class _Item:
    """One input of a batch: its position, id, the object passed to ``func`` and its result file."""

    index: int
    id: str
    obj: object
    output: Path


def _stem_of_path(path):
    name = Path(path).name
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(name).stem or name


def _safe(text, limit=60):
    text = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(text)).strip("._") or "input"
    return text[:limit]


def _short_hash(text):
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _check_single_path(inputs):
    """A single path that is no glob must be an existing file."""
    text = os.path.expanduser(os.fspath(inputs))
    if os.path.isdir(text):
        raise ValueError(f"inputs {os.fspath(inputs)!r} is a directory; pass a glob pattern such as "
                         f"{os.path.join(os.fspath(inputs), '*.fits')!r} or a list of files")
    if not os.path.exists(text):
        raise FileNotFoundError(f"inputs {os.fspath(inputs)!r} is neither an existing file nor a glob "
                                "pattern (with *, ? or [...]) that matches files")


def _split_ids(inputs, ids):
    """``(inputs, ids)`` as lists (ids may be None), from a glob, a path, a list or a mapping."""
    if _is_path(inputs):
        if not _is_glob(inputs):
            _check_single_path(inputs)
        return expand_inputs(inputs), ids
    if isinstance(inputs, Mapping):
        if ids is not None:
            raise ValueError("pass either a mapping {id: input} or ids=, not both")
        return list(inputs.values()), list(inputs.keys())
    if isinstance(inputs, (bytes, np.ndarray)) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a list of paths or objects, a glob pattern or a mapping "
                        f"{{id: input}}, got {type(inputs).__name__}")
    # with ids given, one id per item: no item may turn into several
    return (expand_inputs(inputs) if ids is None else list(inputs)), ids


def _check_ids(ids, n_inputs):
    ids = list(ids)
    if len(ids) != n_inputs:
        raise ValueError(f"ids must have one entry per input ({n_inputs}), got {len(ids)}")
    bad = [i for i in ids if not isinstance(i, (str, numbers.Integral))]
    if bad:
        raise TypeError(f"ids must be strings or integers, got {bad[0]!r}")
    return [str(i) for i in ids]


def _entries(inputs, ids):
    """``[(id, obj, readable_stem)]`` in a stable order, from the ``inputs`` and ``ids`` of `run_batch`."""
    inputs, ids = _split_ids(inputs, ids)
    if not inputs:
        raise ValueError("inputs is empty: there is nothing to process")
    if ids is not None:
        ids = _check_ids(ids, len(inputs))
    entries = []
    for k, obj in enumerate(inputs):
        if ids is not None:
            entries.append((ids[k], obj, _safe(ids[k])))
        elif _is_path(obj):
            path = os.path.abspath(os.path.expanduser(os.fspath(obj)))
            entries.append((path, obj, _safe(_stem_of_path(path))))
        else:
            raise TypeError(f"input {k} is a {type(obj).__name__}, not a path: give objects an id with "
                            "ids=[...] or pass a mapping {id: object}")
    seen, dups = set(), []
    for id_, _, _ in entries:
        if id_ in seen:
            dups.append(id_)
        seen.add(id_)
    if dups:
        raise ValueError(f"inputs must be unique, got {len(dups)} repeated: {dups[:3]!r}")
    return entries


def _make_items(entries, outdir, *, name, ext):
    """One `_Item` per entry, with its result file ``<stem>-<hash>[.<name>]<ext>`` in ``outdir``."""
    tag = "" if name is None else f".{_safe(name)}"
    return [_Item(k, id_, obj, outdir / f"{stem}-{_short_hash(id_)}{tag}{ext}")
            for k, (id_, obj, stem) in enumerate(entries)]
