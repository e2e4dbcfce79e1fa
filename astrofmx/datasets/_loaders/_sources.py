"""Where each supported data set comes from, and the message that says so when its files are missing."""

import dataclasses

__all__ = ["DatasetSource", "DATASET_SOURCES"]


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

    Examples
    --------
    >>> from astrofmx.datasets import DATASET_SOURCES
    >>> source = DATASET_SOURCES["rgz"]
    >>> source.filename, source.known_hash.split(":")[0], source.downloadable
    ('full_catalogue.csv.tgz', 'sha256', True)
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


def _is_gzipped_file(url):
    """A single gzip-compressed file (decompressed after the download), not a ``.tar.gz``/``.tgz`` archive."""
    return url.endswith(".gz") and not url.endswith((".tar.gz", ".tgz"))


def _missing_message(source, target, extra=""):
    lines = [f"{source.name} data not found at {str(target)!r}."]
    if source.downloadable:
        lines.append(f"Download {source.url} (checksum {source.known_hash or 'not published'})"
                     + (", decompress it" if _is_gzipped_file(source.url) else "")
                     + f" and put it at {str(target)!r}, or call the loader with download=True on a machine "
                       "with internet access.")
    else:
        lines.append(f"Get it from {source.url}. {source.description}")
    if extra:
        lines.append(extra)
    return " ".join(lines)
