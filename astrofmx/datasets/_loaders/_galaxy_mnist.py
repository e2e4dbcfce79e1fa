"""GalaxyMNIST: 10,000 DECaLS galaxies in 4 morphology classes (HDF5)."""

from pathlib import Path

import numpy as np
from astropy.table import QTable

from ...utils import get_cache_dir, get_meta
from ._download import _fetch
from ._labeled import LabeledImages
from ._sources import DATASET_SOURCES

__all__ = ["GALAXY_MNIST_CLASSES", "load_galaxy_mnist"]

#: GalaxyMNIST classes, in the order of its integer labels.
GALAXY_MNIST_CLASSES = ("smooth_round", "smooth_cigar", "edge_on_disk", "unbarred_spiral")


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
