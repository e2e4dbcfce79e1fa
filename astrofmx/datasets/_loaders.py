"""Loaders for the labelled image sets of the paper: GalaxyMNIST, MiraBest, Radio Galaxy Zoo, MGCLS cutouts.

Each loader reads local files. Where a data set has a stable download
address (`DATASET_SOURCES`), a missing file is fetched with pooch when
``download=True`` and the machine is online; otherwise a `FileNotFoundError`
says where to download the data and where to put it. Nothing is ever
unpickled.
"""

import csv
import dataclasses
import io
import logging
import re
import tarfile
import warnings
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS
import astropy.units as u

from ..utils import get_cache_dir, get_meta

__all__ = [
    "LabeledImages",
    "DatasetSource",
    "DATASET_SOURCES",
    "GALAXY_MNIST_CLASSES",
    "MIRABEST_CLASSES",
    "RGZ_CLASSES",
    "load_galaxy_mnist",
    "load_mirabest",
    "load_rgz",
    "rgz_regroup",
    "load_mgcls_cutouts",
]

logger = logging.getLogger(__name__)

#: GalaxyMNIST classes, in the order of its integer labels.
GALAXY_MNIST_CLASSES = ("smooth_round", "smooth_cigar", "edge_on_disk", "unbarred_spiral")
#: MiraBest Fanaroff-Riley classes (label 0 = FRI, 1 = FRII; 2 = hybrid when requested).
MIRABEST_CLASSES = ("FRI", "FRII", "hybrid")
#: Radio Galaxy Zoo DR1 classes: number of components (C) x number of peaks (P).
RGZ_CLASSES = ("1C1P", "1C2P", "1C3P", "2C2P", "2C3P", "3C3P")


# ----------------------------------------------------------------------------------------------
# containers
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, eq=False)
class LabeledImages:
    """Images (or only labels) of a labelled data set.

    Attributes
    ----------
    images : `~numpy.ndarray` or None
        ``(N, H, W)`` for one band, ``(N, C, H, W)`` for several; None where
        the data set has labels only (Radio Galaxy Zoo catalogue).
    labels : `~numpy.ndarray` or None
        int64 class indices into ``class_names``; None for unlabelled cutouts.
    class_names : tuple of str
        Name of each class index.
    catalog : `~astropy.table.QTable` or None
        One row per item: file names, sky positions and other per-item metadata.
    meta : dict
        Provenance: data-set name, source path, download address, versions.
    """

    images: np.ndarray = None
    labels: np.ndarray = None
    class_names: tuple = ()
    catalog: QTable = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n_img = None if self.images is None else len(self.images)
        n_lab = None if self.labels is None else len(self.labels)
        if n_img is not None and n_lab is not None and n_img != n_lab:
            raise ValueError(f"images and labels must have the same length, got {n_img} and {n_lab}")
        if self.labels is not None and len(self.labels) and self.class_names:
            lo, hi = int(np.min(self.labels)), int(np.max(self.labels))
            if lo < 0 or hi >= len(self.class_names):
                raise ValueError(f"labels must be in [0, {len(self.class_names) - 1}], got values in [{lo}, {hi}]")

    def __repr__(self):
        images = "no images" if self.images is None else f"images {self.images.shape} {self.images.dtype}"
        name = self.meta.get("dataset") or self.meta.get("source") or ""
        return f"<LabeledImages {name!r}: {len(self)} items, {images}, classes {self.class_names}>"

    def __len__(self):
        if self.labels is not None:
            return len(self.labels)
        return 0 if self.images is None else len(self.images)

    @property
    def label_names(self):
        """Class name of each item (`~numpy.ndarray` of str), or None without labels."""
        if self.labels is None:
            return None
        return np.asarray(self.class_names)[self.labels]

    def subset(self, index):
        """A new `LabeledImages` with the items selected by ``index`` (integer array or boolean mask)."""
        index = np.asarray(index)
        return LabeledImages(images=None if self.images is None else self.images[index],
                             labels=None if self.labels is None else self.labels[index],
                             class_names=self.class_names,
                             catalog=None if self.catalog is None else self.catalog[index],
                             meta=dict(self.meta))


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """Where a data set comes from.

    Attributes
    ----------
    name : str
    url : str
        Download address of ``filename`` (or of the data set's landing page
        when there is no single file to fetch).
    filename : str
        Name of the local file the loader expects.
    known_hash : str or None
        ``'sha256:...'`` or ``'md5:...'`` checksum checked by pooch; None
        where the upstream publishes none.
    downloadable : bool
        Whether the loader can fetch ``url`` itself.
    description : str
    reference : str
    """

    name: str
    url: str
    filename: str
    known_hash: str = None
    downloadable: bool = True
    description: str = ""
    reference: str = ""


#: Download addresses and checksums of the supported data sets.
DATASET_SOURCES = {
    "galaxy_mnist_train": DatasetSource(
        name="galaxy_mnist_train",
        url="http://www.jb.man.ac.uk/research/MiraBest/MiraBest_F/train_dataset.hdf5.gz",
        filename="train_dataset.hdf5", known_hash=None,
        description="GalaxyMNIST canonical train split: 8000 DECaLS galaxies, 64x64x3 uint8, HDF5 'images' "
                    "(NHWC) and 'labels' (0-3). Mirror listed by github.com/mwalmsley/galaxy_mnist, which "
                    "publishes no checksum.",
        reference="Walmsley et al. 2022, MNRAS 509, 3966 (Galaxy Zoo DECaLS)"),
    "galaxy_mnist_test": DatasetSource(
        name="galaxy_mnist_test",
        url="http://www.jb.man.ac.uk/research/MiraBest/MiraBest_F/test_dataset.hdf5.gz",
        filename="test_dataset.hdf5", known_hash=None,
        description="GalaxyMNIST canonical test split: 2000 galaxies (same layout as the train split).",
        reference="Walmsley et al. 2022, MNRAS 509, 3966"),
    "mirabest": DatasetSource(
        name="mirabest",
        url="http://www.jb.man.ac.uk/research/MiraBest/full_dataset/MiraBest_full_batches.tar.gz",
        filename="mirabest_confident.npz", known_hash="md5:965b5daa83b9d8622bb407d718eecb51",
        downloadable=False,
        description="MiraBest FR I / FR II radio galaxies (FIRST, 150x150). Upstream ships CIFAR-style pickles "
                    "(the checksum is that of the tarball), which astrofmx never unpickles: convert them once "
                    "in a trusted session to an .npz with 'images' (N, 150, 150), 'labels' (0=FRI, 1=FRII) "
                    "and optionally 'split', 'filenames', 'label_names'. FITS cutouts named with the MiraBest "
                    "scheme (github.com/fmporter/MiraBest, folder FITS/) are read directly.",
        reference="Porter & Scaife 2023, RASTI 2, 293; Zenodo doi:10.5281/zenodo.4288837"),
    "rgz": DatasetSource(
        name="rgz",
        url="https://github.com/chenwuperth/rgz_rcnn/raw/master/data/RGZdevkit2017/RGZ2017/ImageSets/Main/"
            "full_catalogue.csv.tgz",
        filename="full_catalogue.csv.tgz",
        known_hash="sha256:7723d9f42ed8331884b6aa5f04347d2161abae913218fe849a3ec8f4763b64ea",
        description="Radio Galaxy Zoo DR1 (FIRST) label catalogue used by ClaRAN: 11,836 sources with "
                    "num_cpnts, num_peaks, component positions, angular extent and consensus level; "
                    "no images.",
        reference="Wu et al. 2019, MNRAS 482, 1211 (ClaRAN); Banfield et al. 2015"),
    "mgcls": DatasetSource(
        name="mgcls",
        url="https://doi.org/10.48479/7epd-w356",
        filename="", known_hash=None, downloadable=False,
        description="MeerKAT Galaxy Cluster Legacy Survey DR1 images; cutouts are made by the user (e.g. with "
                    "astrofmx.preprocess.make_cutouts) and stored as FITS or .npz files.",
        reference="Knowles et al. 2022, A&A 657, A56"),
}


def _missing_message(source, target, extra=""):
    lines = [f"{source.name} data not found at {str(target)!r}."]
    if source.downloadable:
        lines.append(f"Download {source.url} (checksum {source.known_hash or 'not published'})"
                     + (", decompress it" if source.url.endswith(".gz") and not source.url.endswith(".tgz")
                        else "")
                     + f" and put it at {str(target)!r}, or call the loader with download=True on a machine "
                       "with internet access.")
    else:
        lines.append(f"Get it from {source.url}. {source.description}")
    if extra:
        lines.append(extra)
    return " ".join(lines)


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


# ----------------------------------------------------------------------------------------------
# GalaxyMNIST
# ----------------------------------------------------------------------------------------------

def _read_galaxy_mnist_file(path):
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - h5py is a test dependency
        raise ImportError("load_galaxy_mnist needs h5py: pip install h5py") from exc
    with h5py.File(path, "r") as f:
        missing = [k for k in ("images", "labels") if k not in f]
        if missing:
            raise ValueError(f"{str(path)!r} is not a GalaxyMNIST file: missing datasets {missing} "
                             f"(found {sorted(f.keys())})")
        images = np.asarray(f["images"][:])
        labels = np.asarray(f["labels"][:]).astype(np.int64).reshape(-1)
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))  # NHWC -> NCHW
    elif images.ndim != 3:
        raise ValueError(f"GalaxyMNIST images must be (N, H, W, C) or (N, H, W), got shape {images.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{str(path)!r}: {len(images)} images but {len(labels)} labels")
    return images, labels


def load_galaxy_mnist(path=None, *, split="train", download=True):
    """Load GalaxyMNIST (10,000 DECaLS galaxies in 4 morphology classes).

    Parameters
    ----------
    path : str or `pathlib.Path`, optional
        An HDF5 file with datasets ``images`` (N, 64, 64, 3 uint8, NHWC) and
        ``labels`` (N,), or a folder holding ``train_dataset.hdf5`` and
        ``test_dataset.hdf5`` (default: ``<cache>/galaxy_mnist``, see
        `~astrofmx.utils.get_cache_dir`).
    split : {'train', 'test', 'all'}, optional
        Which canonical split to read from a folder (ignored for a file).
    download : bool, optional
        Fetch missing split files with pooch from
        ``DATASET_SOURCES['galaxy_mnist_train'].url`` (and ``..._test``).

    Returns
    -------
    data : `LabeledImages`
        ``images`` uint8 ``(N, 3, H, W)``, ``labels`` 0-3, ``class_names`` =
        `GALAXY_MNIST_CLASSES`, ``catalog`` with the ``split`` of each item.

    Raises
    ------
    FileNotFoundError
        If the file is missing and cannot be downloaded (the message gives the
        address and where to put the file).

    Examples
    --------
    >>> import tempfile, pathlib, h5py, numpy as np
    >>> from astrofmx.datasets import load_galaxy_mnist
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "test_dataset.hdf5"
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("images", data=np.zeros((4, 64, 64, 3), np.uint8))
    ...     _ = f.create_dataset("labels", data=np.array([0, 1, 2, 3]))
    >>> data = load_galaxy_mnist(path)
    >>> data.images.shape, data.class_names[3]
    ((4, 3, 64, 64), 'unbarred_spiral')
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    path = Path(path) if path is not None else get_cache_dir() / "galaxy_mnist"
    if path.suffix.lower() in (".hdf5", ".h5"):
        source = DATASET_SOURCES["galaxy_mnist_test" if "test" in path.name else "galaxy_mnist_train"]
        files = [("file", _fetch(source, path, download))]
    else:
        splits = ("train", "test") if split == "all" else (split,)
        files = [(s, _fetch(DATASET_SOURCES[f"galaxy_mnist_{s}"], path / DATASET_SOURCES[f"galaxy_mnist_{s}"]
                            .filename, download)) for s in splits]
    images, labels, splits = [], [], []
    for name, fpath in files:
        img, lab = _read_galaxy_mnist_file(fpath)
        images.append(img)
        labels.append(lab)
        splits.append(np.full(len(lab), name if name != "file" else fpath.stem.split("_")[0]))
    images = np.concatenate(images)
    labels = np.concatenate(labels)
    catalog = QTable({"split": np.concatenate(splits)})
    meta = get_meta()
    meta.update(dataset="GalaxyMNIST", path=[str(f) for _, f in files], url=DATASET_SOURCES["galaxy_mnist_train"].url,
                reference=DATASET_SOURCES["galaxy_mnist_train"].reference)
    return LabeledImages(images=images, labels=labels, class_names=GALAXY_MNIST_CLASSES, catalog=catalog, meta=meta)


# ----------------------------------------------------------------------------------------------
# MiraBest
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# Radio Galaxy Zoo
# ----------------------------------------------------------------------------------------------

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
    n_total = len(rows)
    first_ids = [r["first_id"] for r in rows]
    counts = {}
    for fid in first_ids:
        counts[fid] = counts.get(fid, 0) + 1
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
    ras = [np.mean([float(v) for v in r["cpnts_ras"].split(";")]) for r in keep]
    decs = [np.mean([float(v) for v in r["cpnts_decs"].split(";")]) for r in keep]
    cat = QTable()
    cat["catalog_id"] = np.array([int(r["catalog_id"]) for r in keep], dtype=np.int64)
    cat["first_id"] = np.array([r["first_id"] for r in keep], dtype=str)
    cat["num_cpnts"] = np.array([int(r["num_cpnts"]) for r in keep], dtype=np.int64)
    cat["num_peaks"] = np.array([int(r["num_peaks"]) for r in keep], dtype=np.int64)
    cat["sky_centroid"] = SkyCoord(np.array(ras, dtype=float) * u.deg, np.array(decs, dtype=float) * u.deg,
                                   frame="icrs")
    cat["component_ras"] = np.array([r["cpnts_ras"] for r in keep], dtype=str)
    cat["component_decs"] = np.array([r["cpnts_decs"] for r in keep], dtype=str)
    cat["ang_extent"] = np.array([float(r["ang_extent"]) for r in keep]) * u.arcsec
    cat["consensus"] = np.array([float(r["cl"]) for r in keep])
    cat["training"] = np.array([r["training"].strip() == "1" for r in keep], dtype=bool)
    meta = get_meta()
    meta.update(dataset="Radio Galaxy Zoo DR1 (ClaRAN label catalogue)", path=str(path), url=source.url,
                reference=source.reference, n_total=n_total, single_galaxy=single_galaxy,
                min_consensus=min_consensus)
    return LabeledImages(images=None, labels=np.asarray(labels, dtype=np.int64), class_names=RGZ_CLASSES,
                         catalog=cat, meta=meta)


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


# ----------------------------------------------------------------------------------------------
# MGCLS cutouts
# ----------------------------------------------------------------------------------------------

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

    def _cutouts(folder):
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".fits", ".fit", ".npz"))

    subdirs = sorted(p for p in path.iterdir() if p.is_dir() and _cutouts(p))
    files, text_labels = [], None
    if subdirs:
        text_labels = []
        for d in subdirs:
            for f in _cutouts(d):
                files.append(f)
                text_labels.append(d.name)
    else:
        files = _cutouts(path)
        if (path / labels_file).is_file():
            table = Table.read(path / labels_file, format="ascii.csv")
            if not {"file", "label"} <= set(table.colnames):
                raise ValueError(f"{labels_file} must have columns 'file' and 'label', got {table.colnames}")
            mapping = {str(r["file"]): str(r["label"]) for r in table}
            missing = [f.name for f in files if f.name not in mapping]
            if missing:
                raise ValueError(f"{labels_file} has no label for {missing[:5]}")
            text_labels = [mapping[f.name] for f in files]
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

    labels = None
    names = tuple(class_names) if class_names is not None else ()
    if text_labels is not None:
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
        labels = np.asarray(labels, dtype=np.int64)
    cat = QTable()
    cat["filename"] = np.array([str(f.relative_to(path)) for f in files])
    cat["sky_centroid"] = SkyCoord(np.array(ras) * u.deg, np.array(decs) * u.deg, frame="icrs")
    meta = get_meta()
    meta.update(dataset="MGCLS cutouts", path=str(path), url=source.url, reference=source.reference)
    return LabeledImages(images=np.stack(images), labels=labels, class_names=names, catalog=cat, meta=meta)
