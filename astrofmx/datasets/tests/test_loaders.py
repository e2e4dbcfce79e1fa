import csv
import io
import tarfile
from collections import Counter

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astrofmx.datasets import (DATASET_SOURCES, GALAXY_MNIST_CLASSES, RGZ_CLASSES, LabeledImages,
                               load_galaxy_mnist, load_mgcls_cutouts, load_mirabest, load_rgz, rgz_regroup)



# ---------------------------------------------------------------------------------------------- GalaxyMNIST

def _write_gmnist(path, n, rng, labels=None):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=rng.integers(0, 255, size=(n, 64, 64, 3), dtype=np.uint8))
        f.create_dataset("labels", data=np.arange(n) % 4 if labels is None else labels)


def test_galaxy_mnist_folder_splits(tmp_path, rng):
    _write_gmnist(tmp_path / "train_dataset.hdf5", 8, rng)
    _write_gmnist(tmp_path / "test_dataset.hdf5", 4, rng)
    h5py = pytest.importorskip("h5py")
    train = load_galaxy_mnist(tmp_path, download=False)
    assert train.images.shape == (8, 3, 64, 64) and train.images.dtype == np.uint8
    assert train.class_names == GALAXY_MNIST_CLASSES
    np.testing.assert_array_equal(train.labels, np.arange(8) % 4)
    with h5py.File(tmp_path / "train_dataset.hdf5") as f:  # NHWC -> NCHW without changing pixels
        np.testing.assert_array_equal(train.images[1, 2], f["images"][1, :, :, 2])
    both = load_galaxy_mnist(tmp_path, split="all", download=False)
    assert len(both) == 12 and Counter(both.catalog["split"]) == {"train": 8, "test": 4}
    single = load_galaxy_mnist(tmp_path / "test_dataset.hdf5", download=False)
    assert len(single) == 4 and set(single.catalog["split"]) == {"test"}


def test_galaxy_mnist_bad_files(tmp_path, rng):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f.create_dataset("images", data=np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="missing datasets \\['labels'\\]"):
        load_galaxy_mnist(tmp_path / "bad.hdf5", download=False)
    _write_gmnist(tmp_path / "out_of_range.hdf5", 3, rng, labels=np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="labels must be in \\[0, 3\\]"):
        load_galaxy_mnist(tmp_path / "out_of_range.hdf5", download=False)
    with pytest.raises(ValueError, match="split must be"):
        load_galaxy_mnist(tmp_path, split="validation")


def test_galaxy_mnist_missing_path_says_where_to_download(tmp_path):
    target = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="Download http.*train_dataset.hdf5.gz.*put it at") as exc:
        load_galaxy_mnist(target, download=False)
    assert str(target / "train_dataset.hdf5") in str(exc.value)


# ---------------------------------------------------------------------------------------------- MiraBest

def _write_mirabest_fits(folder, names, shape=(40, 40)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        ra, dec = float(name[4:11]), float(name[11:18])
        w = WCS(naxis=2)
        w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
        w.wcs.crval = [ra, dec]
        w.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
        w.wcs.cdelt = [-0.0005, 0.0005]
        fits.PrimaryHDU(np.full(shape, int(name[0]), np.float32), header=w.to_header()).writeto(folder / name)


MB_NAMES = ["100_010.451-009.284_0.0529_0080.60.fits", "110_182.232+046.687_0.1010_0202.19.fits",
            "201_159.868+005.604_0.0908_0099.41.fits", "300_009.267-001.152_0.0735_0030.23.fits",
            "400_001.000+001.000_0.1000_0010.00.fits"]


def test_mirabest_npz_fixture(tmp_path, rng):
    path = tmp_path / "mb.npz"
    np.savez(path, images=rng.integers(0, 255, (6, 150, 150), dtype=np.uint8), labels=np.array([0, 1, 0, 1, 1, 0]),
             split=np.array(["train"] * 4 + ["test"] * 2),
             filenames=np.array([f"BestCat_proc/Cropped/{c}_159.613_+041.815.png" for c in
                                 (100, 200, 100, 200, 200, 100)]), label_names=np.array(["FRI", "FRII"]))
    data = load_mirabest(path)
    assert len(data) == 6 and data.class_names == ("FRI", "FRII")
    assert data.catalog["label_code"][1] == 200
    assert data.catalog["sky_centroid"][0].ra.deg == pytest.approx(159.613)
    test = load_mirabest(path, split="test")
    assert len(test) == 2 and list(test.catalog["split"]) == ["test", "test"]
    # a folder holding mirabest_confident.npz is read the same way
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "mirabest_confident.npz").write_bytes(path.read_bytes())
    assert len(load_mirabest(tmp_path / "folder")) == 6


def test_mirabest_fits_folder_fixture(tmp_path):
    _write_mirabest_fits(tmp_path / "FITS", MB_NAMES)
    data = load_mirabest(tmp_path)
    assert data.class_names == ("FRI", "FRII")
    assert list(data.labels) == [0, 0, 1]  # the hybrid and the unclassifiable are left out
    assert list(data.catalog["confidence"]) == ["confident", "uncertain", "confident"]
    assert data.catalog["morphology"][2] == "double-double"
    assert data.images.shape == (3, 40, 40) and data.images.dtype == np.float32
    assert data.catalog["size"][0] == 80.6 * u.arcsec
    hybrid = load_mirabest(tmp_path / "FITS", include_hybrid=True)
    assert list(hybrid.labels) == [0, 0, 1, 2] and hybrid.class_names[2] == "hybrid"
    assert list(load_mirabest(tmp_path, confident_only=True).labels) == [0, 1]


def test_mirabest_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mirabest data not found.*MiraBest_full_batches"):
        load_mirabest(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="No .npz and no FITS"):
        load_mirabest(tmp_path)
    np.savez(tmp_path / "bad.npz", pictures=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="missing arrays"):
        load_mirabest(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="kind must be"):
        load_mirabest(tmp_path, kind="png")


@pytest.mark.shared_data
def test_mirabest_real_npz(shared_data):
    data = load_mirabest(shared_data / "radio" / "mirabest")
    assert data.images.shape == (792, 150, 150) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(data.labels), [351, 441])
    assert data.class_names == ("FRI", "FRII")
    # the label in the MiraBest file name agrees with the stored label
    np.testing.assert_array_equal(data.catalog["label_code"] // 100 - 1, data.labels)
    assert len(load_mirabest(shared_data / "radio" / "mirabest", split="test")) == 88


@pytest.mark.shared_data
def test_mirabest_real_fits(shared_data):
    folder = shared_data / "radio" / "mirabest"
    data = load_mirabest(folder, kind="fits", include_hybrid=True)
    assert len(data) == 28 and data.images.shape == (28, 300, 300)
    with open(folder / "mirabest_fits_subset_labels.csv") as fh:
        truth = {r["file"]: r for r in csv.DictReader(fh)}
    for row, label in zip(data.catalog, data.labels):
        ref = truth[row["filename"]]
        assert data.class_names[label] == ref["fr_class"]
        assert row["confidence"] == ref["confidence"] and row["morphology"] == ref["morphology"]
        with fits.open(folder / "FITS" / row["filename"]) as hdul:
            assert row["sky_centroid"].ra.deg == pytest.approx(hdul[0].header["CRVAL1"], abs=1e-3)
    assert np.isfinite(data.images).any()
    default = load_mirabest(folder, kind="fits")
    assert len(default) == 22 and set(default.labels) == {0, 1}


# ---------------------------------------------------------------------------------------------- RGZ

RGZ_HEADER = "catalog_id,first_id,num_cpnts,num_peaks,cpnts_ras,cpnts_decs,ang_extent,cl,training\n"
RGZ_ROWS = ["1,FIRSTJ000001.0+000001,1,1,10.0,1.0,20.0,0.9,1",
            "2,FIRSTJ000002.0+000002,2,3,20.0;20.2,2.0;2.2,60.0,0.7,0",
            "3,FIRSTJ000003.0+000003,3,3,30.0;30.1;30.2,3.0;3.0;3.0,90.0,0.5,1",
            "4,FIRSTJ000003.0+000003,1,2,30.5,3.5,15.0,0.95,1",
            "5,FIRSTJ000005.0+000005,2,2,50.0;50.0,5.0;5.2,40.0,0.6,1"]


def test_rgz_csv_and_tgz_fixture(tmp_path):
    text = RGZ_HEADER + "\n".join(RGZ_ROWS) + "\n"
    csv_path = tmp_path / "cat.csv"
    csv_path.write_text(text)
    tgz = tmp_path / "full_catalogue.csv.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        info = tarfile.TarInfo("full_catalogue.csv")
        info.size = len(text.encode())
        tar.addfile(info, io.BytesIO(text.encode()))
    for path in (csv_path, tgz, tmp_path):
        data = load_rgz(path, download=False)
        assert data.images is None and data.class_names == RGZ_CLASSES
        # source 3 and 4 share a FIRST image: the single-galaxy selection drops both
        assert list(data.catalog["catalog_id"]) == [1, 2, 5]
        assert list(data.label_names) == ["1C1P", "2C3P", "2C2P"]
        assert data.catalog["sky_centroid"][1].ra.deg == pytest.approx(20.1)
        assert data.catalog["ang_extent"].unit == u.arcsec
    every = load_rgz(csv_path, single_galaxy=False, download=False)
    assert list(every.label_names) == ["1C1P", "2C3P", "3C3P", "1C2P", "2C2P"]
    confident = load_rgz(csv_path, single_galaxy=False, min_consensus=0.65, download=False)
    assert list(confident.catalog["catalog_id"]) == [1, 2, 4]


def test_rgz_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Download https://github.com/chenwuperth/rgz_rcnn.*sha256"):
        load_rgz(tmp_path / "missing.csv.tgz", download=False)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_rgz(tmp_path / "bad.csv", download=False)


@pytest.mark.shared_data
def test_rgz_real_catalogue(shared_data):
    path = shared_data / "radio" / "rgz-rcnn" / "full_catalogue.csv.tgz"
    every = load_rgz(path, single_galaxy=False, download=False)
    assert len(every) == 11836
    assert set(every.labels) == set(range(6))
    np.testing.assert_array_equal(every.catalog["num_cpnts"],
                                  [int(RGZ_CLASSES[k][0]) for k in every.labels])
    single = load_rgz(path, download=False)
    counts = Counter(every.catalog["first_id"])
    assert len(single) == sum(1 for c in counts.values() if c == 1)
    assert len(set(single.catalog["first_id"])) == len(single)
    assert (single.catalog["sky_centroid"].dec.deg > -20).all()  # FIRST is a northern survey


def test_rgz_regroup():
    labels, names = rgz_regroup(np.arange(6), by="peaks")
    assert names == ("1P", "2P", "3P") and labels.tolist() == [0, 1, 2, 1, 2, 2]
    labels, names = rgz_regroup(np.arange(6), by="components")
    assert names == ("1C", "2C", "3C") and labels.tolist() == [0, 0, 0, 1, 1, 2]
    assert rgz_regroup(["3C3P", "1C2P"], by="components")[0].tolist() == [2, 0]
    with pytest.raises(ValueError, match="by must be"):
        rgz_regroup([0], by="size")
    with pytest.raises(ValueError, match="labels must be in"):
        rgz_regroup([6])
    with pytest.raises(ValueError, match="component/peak names"):
        rgz_regroup(["FRII"])


# ---------------------------------------------------------------------------------------------- MGCLS

def _mgcls_fits(path, value, shape=(1, 1, 24, 24)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [44.0, -33.0]
    w.wcs.crpix = [shape[-1] / 2 + 0.5, shape[-2] / 2 + 0.5]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    fits.PrimaryHDU(np.full(shape, value, np.float32), header=w.to_header()).writeto(path)


def test_mgcls_class_folders(tmp_path):
    for cls, value in (("compact", 1.0), ("extended", 2.0)):
        (tmp_path / cls).mkdir()
        _mgcls_fits(tmp_path / cls / "a.fits", value)
        np.savez(tmp_path / cls / "b.npz", image=np.full((24, 24), value))
    data = load_mgcls_cutouts(tmp_path)
    assert data.images.shape == (4, 24, 24) and data.class_names == ("compact", "extended")
    assert list(data.labels) == [0, 0, 1, 1]
    np.testing.assert_array_equal(data.images[:, 0, 0], [1, 1, 2, 2])
    assert data.catalog["sky_centroid"][0].ra.deg == pytest.approx(44.0)
    assert np.isnan(data.catalog["sky_centroid"][1].ra.deg)  # npz cutouts carry no WCS
    reordered = load_mgcls_cutouts(tmp_path, class_names=("extended", "compact"))
    assert list(reordered.labels) == [1, 1, 0, 0]


def test_mgcls_flat_layouts(tmp_path):
    for i in range(3):
        _mgcls_fits(tmp_path / f"c{i}.fits", float(i))
    unlabelled = load_mgcls_cutouts(tmp_path)
    assert unlabelled.labels is None and len(unlabelled) == 3 and unlabelled.images.shape == (3, 24, 24)
    (tmp_path / "labels.csv").write_text("file,label\nc0.fits,halo\nc1.fits,relic\nc2.fits,halo\n")
    data = load_mgcls_cutouts(tmp_path)
    assert data.class_names == ("halo", "relic") and list(data.labels) == [0, 1, 0]
    (tmp_path / "labels.csv").write_text("file,label\nc0.fits,0\nc1.fits,1\n")
    with pytest.raises(ValueError, match="no label for"):
        load_mgcls_cutouts(tmp_path)


def test_mgcls_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mgcls data not found.*10.48479/7epd-w356"):
        load_mgcls_cutouts(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="No .fits or .npz cutouts"):
        load_mgcls_cutouts(tmp_path)
    _mgcls_fits(tmp_path / "a.fits", 1.0)
    _mgcls_fits(tmp_path / "b.fits", 1.0, shape=(30, 30))
    with pytest.raises(ValueError, match="share one shape"):
        load_mgcls_cutouts(tmp_path)


# ---------------------------------------------------------------------------------------------- common

def test_labeled_images_checks_and_subset():
    with pytest.raises(ValueError, match="same length"):
        LabeledImages(images=np.zeros((3, 4, 4)), labels=np.array([0, 1]), class_names=("a", "b"))
    data = LabeledImages(images=np.zeros((3, 4, 4)), labels=np.array([0, 1, 1]), class_names=("a", "b"))
    sub = data.subset(data.labels == 1)
    assert len(sub) == 2 and list(sub.label_names) == ["b", "b"]


def test_every_source_documents_an_address():
    for name, source in DATASET_SOURCES.items():
        assert source.url.startswith(("http://", "https://")), name
        assert source.known_hash is None or source.known_hash.split(":")[0] in ("md5", "sha256")
