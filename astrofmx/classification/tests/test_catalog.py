import warnings

import numpy as np
import pytest
from astropy.table import QTable

from astrofmx.classification import LinearProbe, classify_sources
from astrofmx.io import catalog_positions


@pytest.fixture(scope="module")
def tiny_backbone():
    from astrofmx.backbones import get_backbone

    return get_backbone("msn", weights=None, depth=2, embed_dim=64, num_heads=2, img_size=32)


def galaxy_field(rng, size=160):
    """A noisy image with compact and extended Gaussian sources at known positions."""
    yy, xx = np.mgrid[:size, :size]
    image = rng.normal(0, 0.02, (size, size))
    pos = np.array([[30, 30], [80, 40], [130, 30], [30, 120], [80, 110], [130, 130]], float)
    sig = np.array([1.5, 6, 1.5, 6, 1.5, 6])
    for (x, y), s in zip(pos, sig):
        image += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s ** 2))
    return image.astype(np.float32), pos, (sig > 3).astype(int)


def test_classify_sources_adds_columns(rng, tiny_backbone):
    from astrofmx.backbones import embed
    from astrofmx.preprocess import make_cutouts

    image, pos, truth = galaxy_field(rng)
    # train the probe on features of cutouts made the same way
    cutouts = make_cutouts(image, pos, 32)
    feats = embed(cutouts, backbone=tiny_backbone, progress_bar=False)
    probe = LinearProbe(epochs=300, lr=1e-2).fit(feats, truth)
    catalog = QTable({"id": np.arange(1, 7), "x_centroid": pos[:, 0], "y_centroid": pos[:, 1]})
    out = classify_sources(image, catalog, probe, backbone=tiny_backbone, cutout_size=32,
                           class_names=["compact", "extended"], progress_bar=False)
    assert out.colnames == ["id", "x_centroid", "y_centroid", "class_label", "class_score",
                            "class_prob_compact", "class_prob_extended"]
    assert "class_label" not in catalog.colnames  # the input is not modified
    np.testing.assert_allclose(out["class_prob_compact"] + out["class_prob_extended"], 1, rtol=1e-5)
    np.testing.assert_allclose(out["class_prob_extended"], probe.predict_proba(feats)[:, 1], rtol=1e-5)
    assert list(out["class_label"]) == list(np.array(["compact", "extended"])[probe.predict(feats)])
    assert out.meta["class_classifier"]["backbone"] == "msn"
    # a second classifier with another prefix; the same prefix needs overwrite=True
    out2 = classify_sources(image, out, probe, backbone=tiny_backbone, cutout_size=32, column_prefix="morph",
                            progress_bar=False)
    assert "morph_prob_0" in out2.colnames and "class_label" in out2.colnames
    with pytest.raises(ValueError, match="already has columns"):
        classify_sources(image, out, probe, backbone=tiny_backbone, cutout_size=32, progress_bar=False)


def test_skipped_sources_are_masked(rng, tiny_backbone):
    image, pos, truth = galaxy_field(rng)
    probe = LinearProbe(epochs=2).fit(rng.normal(size=(10, 64)), [0, 1] * 5)
    catalog = QTable({"xcentroid": [80.0, 2.0], "ycentroid": [40.0, 3.0]})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="skipping 1 of 2")
        out = classify_sources(image, catalog, probe, backbone=tiny_backbone, cutout_size=32, mode="skip",
                               progress_bar=False)
    assert not out["class_label"].mask[0] and out["class_label"].mask[1]
    assert out["class_prob_1"].mask.tolist() == [False, True]


def test_sky_positions_on_bundled_image(bundled_radio_image, tiny_backbone):
    from astrofmx.datasets import get_bundled_path

    catalog = QTable.read(get_bundled_path("1904_comp.fits"))[:5]
    pos = catalog_positions(catalog, wcs=__import__("astrofmx.io", fromlist=["load_image"]).load_image(
        bundled_radio_image).wcs)
    assert pos.shape == (5, 2) and np.all((pos > -1) & (pos < 192))
    probe = LinearProbe(epochs=2).fit(np.random.default_rng(0).normal(size=(10, 64)), ["FRI", "FRII"] * 5)
    out = classify_sources(bundled_radio_image, catalog, probe, backbone=tiny_backbone, cutout_size=32,
                           normalizer="radio", progress_bar=False)
    assert set(out["class_label"]) <= {"FRI", "FRII"} and len(out) == 5


def test_bad_inputs(rng, tiny_backbone):
    image, pos, truth = galaxy_field(rng)
    probe = LinearProbe(epochs=2).fit(rng.normal(size=(10, 64)), [0, 1] * 5)
    catalog = QTable({"x_centroid": pos[:, 0], "y_centroid": pos[:, 1]})
    with pytest.raises(ValueError, match="catalog is empty"):
        classify_sources(image, catalog[:0], probe, backbone=tiny_backbone)
    with pytest.raises(TypeError, match="fitted classifier with predict_proba"):
        classify_sources(image, catalog, object(), backbone=tiny_backbone)
    with pytest.raises(ValueError, match="no position columns"):
        classify_sources(image, QTable({"flux": [1.0]}), probe, backbone=tiny_backbone)
    with pytest.raises(ValueError, match="no celestial WCS"):
        classify_sources(image, QTable({"ra": [10.0], "dec": [-30.0]}), probe, backbone=tiny_backbone)
    wrong = LinearProbe(epochs=2).fit(rng.normal(size=(10, 5)), [0, 1] * 5)
    with pytest.raises(ValueError, match="64-dimensional features but the probe was trained on 5"):
        classify_sources(image, catalog, wrong, backbone=tiny_backbone, cutout_size=32, progress_bar=False)
    with pytest.raises(ValueError, match="class_names must have one name per probe class"):
        classify_sources(image, catalog, probe, backbone=tiny_backbone, class_names=["a"])
