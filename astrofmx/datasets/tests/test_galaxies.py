import numpy as np
import pytest

from astrofmx.datasets import GALAXY_CLASSES, make_galaxy_image, simulate_galaxies


def _axis_ratio(img, threshold):
    """Minor/major axis ratio from the second moments of the pixels above ``threshold``."""
    w = np.where(img > threshold, img, 0.0)
    yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
    total = w.sum()
    mx, my = (w * xx).sum() / total, (w * yy).sum() / total
    cxx = (w * (xx - mx) ** 2).sum() / total
    cyy = (w * (yy - my) ** 2).sum() / total
    cxy = (w * (xx - mx) * (yy - my)).sum() / total
    evals = np.linalg.eigvalsh([[cxx, cxy], [cxy, cyy]])
    return np.sqrt(evals[0] / evals[1])


@pytest.fixture(scope="module")
def galaxies():
    return simulate_galaxies(240, seed=7)


def test_determinism():
    a = simulate_galaxies(12, size=32, seed=3)
    b = simulate_galaxies(12, size=32, seed=3)
    c = simulate_galaxies(12, size=32, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.images, c.images)
    np.testing.assert_array_equal(make_galaxy_image("spiral", seed=1), make_galaxy_image("spiral", seed=1))


def test_shapes_labels_and_catalog(galaxies):
    assert galaxies.images.shape == (240, 64, 64) and galaxies.images.dtype == np.float32
    assert galaxies.class_names == GALAXY_CLASSES
    np.testing.assert_array_equal(np.bincount(galaxies.labels), [60, 60, 60, 60])
    assert list(galaxies.label_names[:3]) == [GALAXY_CLASSES[k] for k in galaxies.labels[:3]]
    assert len(galaxies.catalog) == 240 and "axis_ratio" in galaxies.catalog.colnames
    three = simulate_galaxies(6, size=32, seed=0, bands=3, classes=("smooth_round", "spiral"), balanced=False)
    assert three.images.shape == (6, 3, 32, 32)
    assert set(three.labels) <= {0, 1} and three.class_names == ("smooth_round", "spiral")


def test_noise_level_and_brightness():
    img, params = make_galaxy_image("smooth_round", seed=2, noise=0.05, brightness=0.8, return_params=True)
    assert params["brightness"] == 0.8
    corner = img[:10, :10]
    assert corner.std() == pytest.approx(0.05, rel=0.25)
    clean = make_galaxy_image("smooth_round", seed=2, noise=0.0, brightness=0.8)
    assert clean.max() == pytest.approx(0.8, rel=1e-5)


def test_classes_separable_by_axis_ratio_but_not_trivially(galaxies):
    q = np.array([_axis_ratio(im, 0.1) for im in galaxies.images])
    by_class = {name: q[galaxies.labels == k] for k, name in enumerate(GALAXY_CLASSES)}
    assert np.median(by_class["smooth_round"]) > np.median(by_class["smooth_cigar"]) + 0.25
    assert np.median(by_class["edge_on_disk"]) < np.median(by_class["smooth_cigar"])
    # a single threshold separates round from cigar galaxies well
    round_vs_cigar = np.concatenate([by_class["smooth_round"] > 0.65, by_class["smooth_cigar"] <= 0.65])
    assert round_vs_cigar.mean() > 0.9
    # ... but the axis ratio alone cannot tell round galaxies from face-on spirals
    assert np.median(by_class["spiral"]) > 0.6
    spiral_vs_round = np.concatenate([by_class["smooth_round"] > 0.8, by_class["spiral"] <= 0.8])
    assert spiral_vs_round.mean() < 0.85


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(n=0), ValueError, "n must be a positive integer"),
    (dict(n=4, classes=("smooth_round", "elliptical")), ValueError, "classes must be distinct names"),
    (dict(n=4, bands=2), ValueError, "bands must be 1 or 3"),
    (dict(n=4, size=8), ValueError, "size must be at least 16"),
    (dict(n=4, noise=-1), ValueError, "noise must be >= 0"),
    (dict(n=4, psf_fwhm=-1), ValueError, "psf_fwhm must be >= 0"),
    (dict(n=4, seed=1.5), TypeError, "seed must be"),
])
def test_bad_inputs(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_galaxies(**kwargs)


def test_unknown_morphology():
    with pytest.raises(ValueError, match="morphology must be one of"):
        make_galaxy_image("irregular")
    with pytest.raises(ValueError, match="brightness must be positive"):
        make_galaxy_image("spiral", brightness=0)
