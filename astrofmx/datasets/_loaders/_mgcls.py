"""MeerKAT Galaxy Cluster Legacy Survey (MGCLS) cutouts made by the user, from a folder."""

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS

from ...utils import get_meta
from ._labeled import LabeledImages
from ._sources import DATASET_SOURCES, _missing_message

__all__ = ["load_mgcls_cutouts"]


def _read_cutout(fpath):
    if fpath.suffix.lower() == ".npz":
        with np.load(fpath, allow_pickle=False) as d:
            key = "image" if "image" in d.files else ("data" if "data" in d.files else None)
            if key is None:
                raise ValueError(f"{str(fpath)!r}: a cutout .npz must hold an 'image' (or 'data') array, "
                                 f"found {d.files}")
            data = np.asarray(d[key], dtype=np.float32)
        header = None
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            with fits.open(fpath) as hdul:
                hdu = next((h for h in hdul if h.data is not None and h.data.ndim >= 2), None)
                if hdu is None:
                    raise ValueError(f"{str(fpath)!r} has no image HDU")
                data = np.asarray(hdu.data, dtype=np.float32)
                header = hdu.header.copy()
    data = np.squeeze(data)
    if data.ndim != 2:
        raise ValueError(f"{str(fpath)!r}: expected a 2-D cutout (after dropping length-1 axes), got {data.shape}")
    return data, header


def _centre_sky(header, shape):
    if header is None:
        return np.nan, np.nan
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs = WCS(header).celestial
        if not wcs.has_celestial:
            return np.nan, np.nan
        sky = wcs.pixel_to_world((shape[1] - 1) / 2, (shape[0] - 1) / 2)
        icrs = sky.icrs
        return float(icrs.ra.deg), float(icrs.dec.deg)
    except Exception:  # a broken or missing WCS leaves the position unknown
        return np.nan, np.nan


def load_mgcls_cutouts(path, *, class_names=None, labels_file="labels.csv"):
    """Load MeerKAT Galaxy Cluster Legacy Survey (MGCLS) cutouts from a folder.

    MGCLS DR1 images (``DATASET_SOURCES['mgcls'].url``) are whole cluster
    fields; cutouts are made by the user and stored in one of these layouts:

    - **class folders**: ``path/<class_name>/*.fits`` (or ``*.npz``), the
      label being the folder name (sorted alphabetically unless
      ``class_names`` gives the order);
    - **flat folder with a labels file**: ``path/*.fits`` plus
      ``path/labels.csv`` with columns ``file`` and ``label`` (a class name or
      an integer index into ``class_names``);
    - **flat folder without labels**: ``labels`` is None.

    A FITS cutout is the first HDU with at least 2 axes, length-1 axes
    dropped (MGCLS images are ``(1, 1, ny, nx)``); an ``.npz`` cutout holds an
    ``image`` array. All cutouts must have the same shape.

    Parameters
    ----------
    path : str or `pathlib.Path`
        The folder.
    class_names : sequence of str, optional
        Class order (default: sorted folder names or sorted labels).
    labels_file : str, optional
        Name of the labels file of the flat layout.

    Returns
    -------
    data : `LabeledImages`
        ``images`` float32 ``(N, H, W)``, ``labels`` (or None),
        ``class_names``, ``catalog`` with ``filename`` and ``sky_centroid`` (the
        cutout centre from its WCS; NaN without one).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from astrofmx.datasets import load_mgcls_cutouts
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls in ("compact", "extended"):
    ...     (root / cls).mkdir()
    ...     np.savez(root / cls / "a.npz", image=np.zeros((32, 32)))
    >>> data = load_mgcls_cutouts(root)
    >>> data.images.shape, data.class_names
    ((2, 32, 32), ('compact', 'extended'))
    """
    source = DATASET_SOURCES["mgcls"]
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(_missing_message(
            source, path, "Make cutouts from the MGCLS images and put them in that folder as <class>/*.fits, "
                          "or *.fits with a labels.csv (columns file,label)."))
    files, text_labels = _find_cutouts(path, labels_file)
    if not files:
        raise FileNotFoundError(_missing_message(source, path, "No .fits or .npz cutouts were found there."))
    images, ras, decs = [], [], []
    for f in files:
        data, header = _read_cutout(f)
        images.append(data)
        ra, dec = _centre_sky(header, data.shape)
        ras.append(ra)
        decs.append(dec)
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        raise ValueError(f"cutouts must share one shape to be stacked, got {sorted(shapes)}")
    labels, names = _label_indices(text_labels, class_names)
    cat = QTable()
    cat["filename"] = np.array([str(f.relative_to(path)) for f in files])
    cat["sky_centroid"] = SkyCoord(np.array(ras) * u.deg, np.array(decs) * u.deg, frame="icrs")
    meta = get_meta()
    meta.update(dataset="MGCLS cutouts", path=str(path), url=source.url, reference=source.reference)
    return LabeledImages(images=np.stack(images), labels=labels, class_names=names, catalog=cat, meta=meta)


def _cutout_files(folder):
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".fits", ".fit", ".npz"))


def _find_cutouts(path, labels_file):
    """Cutout files and their text labels (None without labels): class folders first, else a flat folder."""
    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and _cutout_files(p))
    if subdirs:
        files, text_labels = [], []
        for d in subdirs:
            for f in _cutout_files(d):
                files.append(f)
                text_labels.append(d.name)
        return files, text_labels
    files = _cutout_files(path)
    if not (path / labels_file).is_file():
        return files, None
    table = Table.read(path / labels_file, format="ascii.csv")
    if not {"file", "label"} <= set(table.colnames):
        raise ValueError(f"{labels_file} must have columns 'file' and 'label', got {table.colnames}")
    mapping = {str(r["file"]): str(r["label"]) for r in table}
    missing = [f.name for f in files if f.name not in mapping]
    if missing:
        raise ValueError(f"{labels_file} has no label for {missing[:5]}")
    return files, [mapping[f.name] for f in files]


def _label_indices(text_labels, class_names):
    """Integer labels (None without labels) and the class names: names, or indices into ``class_names``."""
    names = tuple(class_names) if class_names is not None else ()
    if text_labels is None:
        return None, names
    if not names:
        if all(t.lstrip("-").isdigit() for t in text_labels):
            raise ValueError("integer labels need class_names to name them")
        names = tuple(sorted(set(text_labels)))
    index = {n: i for i, n in enumerate(names)}
    labels = []
    for t in text_labels:
        if t in index:
            labels.append(index[t])
        elif t.lstrip("-").isdigit() and 0 <= int(t) < len(names):
            labels.append(int(t))
        else:
            raise ValueError(f"label {t!r} is not one of class_names {names}")
    return np.asarray(labels, dtype=np.int64), names
