"""MiraBest FR I / FR II radio galaxies, from an .npz file or a folder of FITS cutouts."""

import logging
import re
import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable

from ...utils import get_cache_dir, get_meta
from ._labeled import LabeledImages
from ._sources import DATASET_SOURCES, _missing_message

__all__ = ["MIRABEST_CLASSES", "load_mirabest"]

logger = logging.getLogger(__name__)

#: MiraBest Fanaroff-Riley classes (label 0 = FRI, 1 = FRII; 2 = hybrid when requested).
MIRABEST_CLASSES = ("FRI", "FRII", "hybrid")

#: MiraBest file-name scheme: class digit, confidence digit, morphology digit, then RA, Dec, z, size.
_MIRABEST_NAME = re.compile(r"^(?P<cls>\d)(?P<conf>\d)(?P<morph>\d)_(?P<ra>\d+(?:\.\d+)?)_?(?P<dec>[+-]\d+(?:\.\d+)?)"
                            r"(?:_(?P<z>\d+(?:\.\d+)?)_(?P<size>\d+(?:\.\d+)?))?$")
_MIRABEST_MORPH = {"0": "standard", "1": "double-double", "2": "wide-angle-tail", "3": "diffuse", "4": "head-tail"}
_MIRABEST_CONF = {"0": "confident", "1": "uncertain"}


def _parse_mirabest_name(name):
    stem = Path(str(name)).name
    for ext in (".fits", ".fit", ".png", ".npy"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    m = _MIRABEST_NAME.match(stem)
    if m is None:
        return None
    g = m.groupdict()
    return {"code": int(g["cls"] + g["conf"] + g["morph"]), "fr_digit": int(g["cls"]),
            "confidence": _MIRABEST_CONF.get(g["conf"], "unknown"),
            "morphology": _MIRABEST_MORPH.get(g["morph"], "unknown"),
            "ra": float(g["ra"]), "dec": float(g["dec"]),
            "redshift": float(g["z"]) if g["z"] else np.nan, "size": float(g["size"]) if g["size"] else np.nan}


def _mirabest_catalog(parsed, extra):
    cat = QTable()
    for key, col in extra.items():
        cat[key] = col
    cat["label_code"] = np.array([p["code"] if p else -1 for p in parsed], dtype=np.int64)
    cat["confidence"] = np.array([p["confidence"] if p else "unknown" for p in parsed])
    cat["morphology"] = np.array([p["morphology"] if p else "unknown" for p in parsed])
    ra = np.array([p["ra"] if p else np.nan for p in parsed])
    dec = np.array([p["dec"] if p else np.nan for p in parsed])
    cat["sky_centroid"] = SkyCoord(ra * u.deg, dec * u.deg, frame="fk5")
    cat["redshift"] = np.array([p["redshift"] if p else np.nan for p in parsed])
    cat["size"] = np.array([p["size"] if p else np.nan for p in parsed]) * u.arcsec
    return cat


def load_mirabest(path=None, *, kind="auto", split=None, include_hybrid=False, confident_only=False):
    """Load MiraBest FR I / FR II radio galaxies from an .npz file or a folder of FITS cutouts.

    Two layouts are read:

    - an ``.npz`` file (e.g. ``mirabest_confident.npz``, the 792 confident FR I /
      FR II images) with ``images`` (N, H, W), ``labels`` (0 = FRI, 1 = FRII)
      and optionally ``split`` ('train'/'test'), ``filenames`` and
      ``label_names``;
    - a folder of FITS cutouts named with the MiraBest scheme
      ``<class><confidence><morphology>_<RA>[+-]<Dec>_<z>_<size>.fits``
      (class 1 = FRI, 2 = FRII, 3 = hybrid, 4 = unclassifiable; confidence
      0 = confident, 1 = uncertain; morphology 0 standard, 1 double-double,
      2 wide-angle tail, 3 diffuse, 4 head-tail), as in the ``FITS/`` folder of
      github.com/fmporter/MiraBest.

    MiraBest is distributed upstream as pickled batches, which astrofmx does
    not read (see ``DATASET_SOURCES['mirabest']``), so there is no automatic
    download.

    Parameters
    ----------
    path : str or `pathlib.Path`, optional
        The .npz file, a folder containing ``mirabest_confident.npz`` and/or
        FITS cutouts (directly or in a ``FITS/`` subfolder). Default:
        ``<cache>/mirabest``.
    kind : {'auto', 'npz', 'fits'}, optional
        Which layout to read from a folder; 'auto' prefers the .npz.
    split : {None, 'train', 'test'}, optional
        Keep one split of the .npz (None: all).
    include_hybrid : bool, optional
        Keep hybrid sources of the FITS folder as class 2 ('hybrid').
    confident_only : bool, optional
        Keep only confidently classified FITS cutouts.

    Returns
    -------
    data : `LabeledImages`
        ``images`` (uint8 from the .npz, float32 Jy/beam from FITS),
        ``labels`` (0 = FRI, 1 = FRII, 2 = hybrid), ``class_names``, and a
        ``catalog`` with file names, MiraBest codes, confidence, morphology,
        ``sky_centroid``, redshift and angular size decoded from the names.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from astrofmx.datasets import load_mirabest
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "mb.npz"
    >>> np.savez(path, images=np.zeros((2, 150, 150), np.uint8), labels=np.array([0, 1]))
    >>> data = load_mirabest(path)
    >>> data.label_names.tolist()
    ['FRI', 'FRII']
    """
    if kind not in ("auto", "npz", "fits"):
        raise ValueError(f"kind must be 'auto', 'npz' or 'fits', got {kind!r}")
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', got {split!r}")
    source = DATASET_SOURCES["mirabest"]
    path = Path(path) if path is not None else get_cache_dir() / "mirabest"
    if path.suffix.lower() == ".npz" or (path.is_file() and kind != "fits"):
        if not path.is_file():
            raise FileNotFoundError(_missing_message(source, path))
        return _load_mirabest_npz(path, split)
    if not path.is_dir():
        raise FileNotFoundError(_missing_message(
            source, path, "Put mirabest_confident.npz or the MiraBest FITS cutouts in that folder."))
    npz = path / source.filename
    if kind in ("auto", "npz") and npz.is_file():
        return _load_mirabest_npz(npz, split)
    if kind == "npz":
        raise FileNotFoundError(_missing_message(source, npz))
    folder = path / "FITS" if (path / "FITS").is_dir() else path
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".fits", ".fit"))
    if not files:
        raise FileNotFoundError(_missing_message(source, path, "No .npz and no FITS cutouts were found there."))
    return _load_mirabest_fits(files, include_hybrid, confident_only)


def _load_mirabest_npz(path, split):
    with np.load(path, allow_pickle=False) as d:
        missing = [k for k in ("images", "labels") if k not in d.files]
        if missing:
            raise ValueError(f"{str(path)!r} is not a MiraBest .npz: missing arrays {missing} (found {d.files})")
        images = d["images"]
        labels = d["labels"].astype(np.int64).reshape(-1)
        splits = d["split"].astype(str) if "split" in d.files else None
        filenames = d["filenames"].astype(str) if "filenames" in d.files else None
        names = tuple(str(x) for x in d["label_names"]) if "label_names" in d.files else MIRABEST_CLASSES[:2]
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{str(path)!r}: images must be (N, H, W) with one label each, got {images.shape} "
                         f"and {labels.shape}")
    if split is not None:
        if splits is None:
            raise ValueError(f"{str(path)!r} has no 'split' array; use split=None")
        keep = splits == split
        images, labels, splits = images[keep], labels[keep], splits[keep]
        filenames = None if filenames is None else filenames[keep]
    extra = {}
    if filenames is not None:
        extra["filename"] = filenames
    if splits is not None:
        extra["split"] = splits
    parsed = [_parse_mirabest_name(f) for f in filenames] if filenames is not None else [None] * len(labels)
    meta = get_meta()
    meta.update(dataset="MiraBest", path=str(path), url=DATASET_SOURCES["mirabest"].url,
                reference=DATASET_SOURCES["mirabest"].reference)
    return LabeledImages(images=images, labels=labels, class_names=names,
                         catalog=_mirabest_catalog(parsed, extra), meta=meta)


def _load_mirabest_fits(files, include_hybrid, confident_only):
    images, labels, parsed, names = [], [], [], []
    skipped = 0
    for fpath in files:
        info = _parse_mirabest_name(fpath.name)
        if info is None or info["fr_digit"] not in (1, 2, 3) or (info["fr_digit"] == 3 and not include_hybrid) \
                or (confident_only and info["confidence"] != "confident"):
            skipped += 1
            continue
        with warnings.catch_warnings():
            # SkyView headers carry TAB characters in COMMENT cards
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            with fits.open(fpath) as hdul:
                data = np.asarray(hdul[0].data, dtype=np.float32)
        data = np.squeeze(data)
        if data.ndim != 2:
            raise ValueError(f"{str(fpath)!r}: expected a 2-D image, got shape {data.shape}")
        images.append(data)
        labels.append(info["fr_digit"] - 1)
        parsed.append(info)
        names.append(fpath.name)
    if skipped:
        logger.info("load_mirabest: skipped %d FITS files (hybrid/unclassifiable/uncertain or unknown name)",
                    skipped)
    if not images:
        raise ValueError("no MiraBest FITS cutout matched the selection (check include_hybrid/confident_only)")
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"MiraBest FITS cutouts must share one shape to be stacked, got {sorted(shapes)}")
    class_names = MIRABEST_CLASSES if include_hybrid else MIRABEST_CLASSES[:2]
    meta = get_meta()
    meta.update(dataset="MiraBest (FITS)", path=str(files[0].parent), url="https://github.com/fmporter/MiraBest",
                reference=DATASET_SOURCES["mirabest"].reference, unit="Jy/beam")
    return LabeledImages(images=np.stack(images), labels=np.asarray(labels, dtype=np.int64),
                         class_names=class_names, catalog=_mirabest_catalog(parsed, {"filename": np.array(names)}),
                         meta=meta)
