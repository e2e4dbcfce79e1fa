"""Outlier ranking, feedback re-ranking and the writers, on real indexes of seeded stamps and fields."""

import numpy as np
import pytest

from astrofmx.search import anomaly_scores, build_index, load_index

from .conftest import gaussian_stamps, ring_stamp

OPTIONS = dict(cutout_size=16, progress_bar=False, precision="fp32", catalog="center")


@pytest.fixture(scope="module")
def stamps_index(tmp_path_factory, vit):
    stamps = gaussian_stamps(30, seed=0) + [ring_stamp(seed=1)]
    return build_index(stamps, output=tmp_path_factory.mktemp("an") / "i", backbone=vit, **OPTIONS)


def test_anomaly_scores_find_the_odd_vector():
    rng = np.random.default_rng(2)
    vectors = np.vstack([rng.normal([1, 0, 0, 0], 0.05, (80, 4)), [[0.0, 0.0, 0.0, 1.0]]])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for method in ("iforest", "lof", "knn"):
        scores = anomaly_scores(vectors, method, n_neighbors=10)
        assert scores.shape == (81,) and np.argmax(scores) == 80
    with pytest.raises(ValueError, match="method must be one of"):
        anomaly_scores(vectors, "pca")
    with pytest.raises(ValueError, match="at least 2 sources"):
        anomaly_scores(vectors[:1])


def test_outliers_ranked_table(stamps_index):
    index = stamps_index
    for method in ("iforest", "lof", "knn"):
        ranked = index.outliers(n=5, method=method, n_neighbors=5)
        assert ranked["rank"].tolist() == [1, 2, 3, 4, 5] and len(set(ranked["row"])) == 5
        assert np.all(np.diff(ranked["score"]) <= 0) and ranked.meta["method"] == method
        assert np.all(ranked["label"] == -1) and np.all(np.isnan(ranked["relevance"]))
    # without projection (n_components >= dim), knn scores are the mean distance to the 5 nearest other sources
    ranked = index.outliers(n=3, method="knn", n_neighbors=5, n_components=64)
    v = np.asarray(index.vectors, dtype=np.float64)
    dist = np.sqrt(np.maximum(2 - 2 * v @ v.T, 0))
    np.fill_diagonal(dist, np.inf)
    expected = np.sort(dist, axis=1)[:, :5].mean(axis=1)
    np.testing.assert_allclose(ranked["anomaly_score"], expected[ranked["row"]], rtol=1e-4)
    assert ranked["row"][0] == int(np.argmax(expected))


def test_feedback_reranks_and_persists(tmp_path, vit):
    stamps = gaussian_stamps(30, seed=0) + [ring_stamp(seed=1)]
    index = build_index(stamps, output=tmp_path / "i", backbone=vit, **OPTIONS)
    before = index.outliers(n=len(index), method="knn", n_neighbors=5)
    low = int(before["row"][-3])  # one of the least anomalous: mark it interesting
    top = int(before["row"][0])   # the most anomalous: mark it boring
    labels = index.feedback([low, top], [1, 0])
    assert sorted(zip(labels["row"].tolist(), labels["label"].tolist())) == sorted([(low, 1), (top, 0)])
    after = load_index(tmp_path / "i").outliers(n=len(index), method="knn", n_neighbors=5)
    rank = {int(r): int(k) for r, k in zip(after["row"], after["rank"])}
    relevance = {int(r): float(v) for r, v in zip(after["row"], after["relevance"])}
    assert relevance[low] > relevance[top]
    assert rank[low] < len(index) - 2 and rank[top] > 1
    assert after["label"][after["row"] == low][0] == 1 and after.meta["n_labels"] == 2
    # a new label for the same row replaces the old one
    assert len(index.feedback([low], [False])) == 2
    with pytest.raises(ValueError, match="one label per row"):
        index.feedback([1, 2], [1])
    with pytest.raises(ValueError, match="labels must be"):
        index.feedback([1], ["yes"])
    with pytest.raises(ValueError, match="not in the index"):
        index.feedback([len(index)], [1])
    with pytest.raises(ValueError, match="feedback_weight"):
        index.outliers(feedback_weight=2.0)


def test_region_and_mosaic_writers(tmp_path, fields, vit):
    from matplotlib.image import imread
    from regions import Regions

    (file1, truth1), _ = fields
    index = build_index(file1, output=tmp_path / "i", catalog=truth1[:12], backbone=vit, cutout_size=32,
                        progress_bar=False, precision="fp32")
    hits = index.similar(2, k=4)
    regs = index.write_regions(hits, tmp_path / "hits.reg")
    read = Regions.read(tmp_path / "hits.reg", format="ds9")
    assert len(read) == 4 and len(regs) == 4
    sep = read[0].center.separation(hits["sky_centroid"][0])
    assert sep.arcsec < 0.01 and "#1" in read[0].meta["text"]
    with pytest.raises(FileExistsError):
        index.write_regions(hits, tmp_path / "hits.reg")
    index.write_mosaic(hits, tmp_path / "hits.png")
    png = imread(tmp_path / "hits.png")
    assert png.ndim == 3 and png.shape[1] > png.shape[0]  # one row: the query and four hits
    with pytest.raises(FileExistsError):
        index.write_mosaic(hits, tmp_path / "hits.png")
    # sources whose cutout runs off the image are left out of the ranking unless max_masked allows them
    masked = np.asarray(index.sources["masked_fraction"])
    assert masked.max() > 0.05 and masked.min() == 0
    ranked_all = index.outliers(n=len(index), max_masked=1.0)
    ranked = index.outliers(n=len(index))
    assert len(ranked_all) == len(index) and len(ranked) == int(np.sum(masked <= 0.05))
    assert ranked.meta["n_masked_out"] == len(index) - len(ranked) and np.all(masked[ranked["row"]] <= 0.05)
    ranked = ranked[:3]
    index.write_mosaic(ranked, tmp_path / "strange.png")
    index.write_regions(ranked, tmp_path / "strange.reg")
    assert len(Regions.read(tmp_path / "strange.reg", format="ds9")) == 3
