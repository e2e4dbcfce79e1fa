"""Radio Galaxy Zoo DR1: the ClaRAN label catalogue with its 6 component/peak classes."""

import csv
import io
import logging
import re
import tarfile
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import QTable

from ...utils import get_cache_dir, get_meta
from ._download import _fetch
from ._labeled import LabeledImages
from ._sources import DATASET_SOURCES

__all__ = ["RGZ_CLASSES", "load_rgz", "rgz_regroup"]

logger = logging.getLogger(__name__)

#: Radio Galaxy Zoo DR1 classes: number of components (C) x number of peaks (P).
RGZ_CLASSES = ("1C1P", "1C2P", "1C3P", "2C2P", "2C3P", "3C3P")


_RGZ_COLUMNS = ("catalog_id", "first_id", "num_cpnts", "num_peaks", "cpnts_ras", "cpnts_decs", "ang_extent", "cl",
                "training")


def _read_rgz_table(path):
    name = path.name.lower()
    if name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".csv")]
            if not members:
                raise ValueError(f"{str(path)!r} holds no .csv file")
            text = tar.extractfile(members[0]).read().decode("utf-8")
    else:
        text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ValueError(f"{str(path)!r} has no rows")
    missing = [c for c in _RGZ_COLUMNS if c not in rows[0]]
    if missing:
        raise ValueError(f"{str(path)!r} is not the RGZ label catalogue: missing columns {missing}")
    return rows


def load_rgz(path=None, *, single_galaxy=True, min_consensus=None, download=True):
    """Load the Radio Galaxy Zoo DR1 label catalogue with its 6 component/peak classes.

    Each source is labelled by its number of radio components (C) and of
    peaks (P): `RGZ_CLASSES` = 1C1P, 1C2P, 1C3P, 2C2P, 2C3P, 3C3P (Wu et al.
    2019). The catalogue has labels and positions, no images: cut the FIRST
    images around ``sky_centroid`` to classify them.

    Parameters
    ----------
    path : str or `pathlib.Path`, optional
        ``full_catalogue.csv.tgz`` (or the extracted ``.csv``), or a folder
        holding it. Default: ``<cache>/rgz/full_catalogue.csv.tgz``.
    single_galaxy : bool, optional
        Keep only sources that are alone in their FIRST subject image (their
        ``first_id`` appears once in the catalogue), so that each image holds
        exactly one labelled galaxy, as for the classification experiment of
        the paper; False keeps all 11,836 sources.
    min_consensus : float, optional
        Keep sources whose volunteer consensus level ``cl`` is at least this.
    download : bool, optional
        Fetch the catalogue with pooch when it is missing.

    Returns
    -------
    data : `LabeledImages`
        ``images`` None, ``labels`` 0-5, ``class_names`` = `RGZ_CLASSES`,
        ``catalog`` with ``catalog_id``, ``first_id``, ``num_cpnts``,
        ``num_peaks``, ``sky_centroid`` (mean of the component positions),
        ``ang_extent`` (arcsec), ``consensus`` and ``training`` (the
        ClaRAN train/test flag).

    See Also
    --------
    rgz_regroup : regroup the 6 classes by peaks or by components.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.datasets import load_rgz
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rgz.csv"
    >>> _ = path.write_text("catalog_id,first_id,num_cpnts,num_peaks,cpnts_ras,cpnts_decs,ang_extent,cl,training\\n"
    ...                     "1,FIRSTJ000007.0+081644,2,3,0.1;0.2,8.2;8.3,40.0,0.8,1\\n")
    >>> load_rgz(path).label_names.tolist()
    ['2C3P']
    """
    source = DATASET_SOURCES["rgz"]
    path = Path(path) if path is not None else get_cache_dir() / "rgz" / source.filename
    if path.is_dir():
        csv_path = path / source.filename[: -len(".tgz")]
        path = csv_path if csv_path.is_file() else path / source.filename
    path = _fetch(source, path, download)
    rows = _read_rgz_table(path)
    keep, labels = _select_rows(rows, single_galaxy, min_consensus)
    cat = _rgz_catalog(keep)
    meta = get_meta()
    meta.update(dataset="Radio Galaxy Zoo DR1 (ClaRAN label catalogue)", path=str(path), url=source.url,
                reference=source.reference, n_total=len(rows), single_galaxy=single_galaxy,
                min_consensus=min_consensus)
    return LabeledImages(images=None, labels=np.asarray(labels, dtype=np.int64), class_names=RGZ_CLASSES,
                         catalog=cat, meta=meta)


def _select_rows(rows, single_galaxy, min_consensus):
    """The rows kept by the selection and their class indices into `RGZ_CLASSES`."""
    counts = {}
    for r in rows:
        counts[r["first_id"]] = counts.get(r["first_id"], 0) + 1
    keep, labels = [], []
    n_other = 0
    for r in rows:
        if single_galaxy and counts[r["first_id"]] != 1:
            continue
        if min_consensus is not None and float(r["cl"]) < float(min_consensus):
            continue
        name = f"{int(r['num_cpnts'])}C{int(r['num_peaks'])}P"
        if name not in RGZ_CLASSES:
            n_other += 1
            continue
        keep.append(r)
        labels.append(RGZ_CLASSES.index(name))
    if n_other:
        logger.info("load_rgz: dropped %d sources outside the 6 classes", n_other)
    return keep, labels


def _rgz_catalog(rows):
    """The catalog of the kept rows; ``sky_centroid`` is the mean of the component positions."""
    ras = [np.mean([float(v) for v in r["cpnts_ras"].split(";")]) for r in rows]
    decs = [np.mean([float(v) for v in r["cpnts_decs"].split(";")]) for r in rows]
    cat = QTable()
    cat["catalog_id"] = np.array([int(r["catalog_id"]) for r in rows], dtype=np.int64)
    cat["first_id"] = np.array([r["first_id"] for r in rows], dtype=str)
    cat["num_cpnts"] = np.array([int(r["num_cpnts"]) for r in rows], dtype=np.int64)
    cat["num_peaks"] = np.array([int(r["num_peaks"]) for r in rows], dtype=np.int64)
    cat["sky_centroid"] = SkyCoord(np.array(ras, dtype=float) * u.deg, np.array(decs, dtype=float) * u.deg,
                                   frame="icrs")
    cat["component_ras"] = np.array([r["cpnts_ras"] for r in rows], dtype=str)
    cat["component_decs"] = np.array([r["cpnts_decs"] for r in rows], dtype=str)
    cat["ang_extent"] = np.array([float(r["ang_extent"]) for r in rows]) * u.arcsec
    cat["consensus"] = np.array([float(r["cl"]) for r in rows])
    cat["training"] = np.array([r["training"].strip() == "1" for r in rows], dtype=bool)
    return cat


def rgz_regroup(labels, by="peaks", *, class_names=RGZ_CLASSES):
    """Regroup Radio Galaxy Zoo component/peak labels by number of peaks or of components.

    Parameters
    ----------
    labels : array-like of int or str
        Indices into ``class_names``, or names such as ``'2C3P'``.
    by : {'peaks', 'components'}, optional
        ``'peaks'`` gives classes 1P, 2P, 3P; ``'components'`` gives 1C, 2C, 3C.
    class_names : sequence of str, optional
        Names of the integer labels (default `RGZ_CLASSES`).

    Returns
    -------
    new_labels : `~numpy.ndarray` of int64
    new_class_names : tuple of str

    Examples
    --------
    >>> from astrofmx.datasets import rgz_regroup
    >>> labels, names = rgz_regroup(["1C1P", "2C3P", "3C3P"], by="peaks")
    >>> labels.tolist(), names
    ([0, 2, 2], ('1P', '2P', '3P'))
    >>> rgz_regroup([0, 4, 5], by="components")[0].tolist()
    [0, 1, 2]
    """
    if by not in ("peaks", "components"):
        raise ValueError(f"by must be 'peaks' or 'components', got {by!r}")
    arr = np.asarray(labels)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= len(class_names)):
            raise ValueError(f"labels must be in [0, {len(class_names) - 1}], got values in "
                             f"[{arr.min()}, {arr.max()}]")
        names = np.asarray(class_names)[arr] if arr.size else np.array([], dtype=str)
    elif arr.dtype.kind in "US":
        names = arr.astype(str)
    else:
        raise TypeError(f"labels must be integers or class-name strings, got dtype {arr.dtype}")
    pattern = re.compile(r"^(\d+)C(\d+)P$")
    values = []
    for name in names.reshape(-1):
        m = pattern.match(str(name))
        if m is None:
            raise ValueError(f"labels must be component/peak names like '2C3P', got {name!r}")
        values.append(int(m.group(2) if by == "peaks" else m.group(1)))
    letter = "P" if by == "peaks" else "C"
    groups = sorted({int(pattern.match(c).group(2 if by == "peaks" else 1)) for c in RGZ_CLASSES} | set(values))
    new_names = tuple(f"{g}{letter}" for g in groups)
    new_labels = np.array([groups.index(v) for v in values], dtype=np.int64).reshape(names.shape)
    return new_labels, new_names
