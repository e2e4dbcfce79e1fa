import numpy as np
import pytest

from astrofmx.classification import balanced_sample, embed_umap, plot_latent


@pytest.fixture(scope="module")
def three_clusters():
    rng = np.random.default_rng(7)
    centres = rng.normal(0, 6, (3, 48))
    y = np.repeat([0, 1, 2], [150, 40, 10])
    X = centres[y] + rng.normal(0, 1, (y.size, 48))
    return X.astype(np.float32), y


def test_umap_shape_seed_and_structure(three_clusters):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = three_clusters
    a = embed_umap(X, n_neighbors=10, seed=0)
    b = embed_umap(X, n_neighbors=10, seed=0)
    assert a.shape == (200, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    # clusters that are separate in feature space stay separate in 2-D (leave-one-out 3-NN)
    knn = KNeighborsClassifier(n_neighbors=4).fit(a, y)
    dist, idx = knn.kneighbors(a)
    votes = y[idx[:, 1:]]
    assert np.mean([np.bincount(v, minlength=3).argmax() == t for v, t in zip(votes, y)]) > 0.97


def test_umap_caps_and_errors(three_clusters):
    X, y = three_clusters
    # fewer features than n_pca, and n_neighbors larger than the sample: both capped
    small = embed_umap(X[:12, :5], n_neighbors=50, seed=1)
    assert small.shape == (12, 2)
    Xn = X.copy()
    Xn[5, 3] = np.inf
    with pytest.raises(ValueError, match="Input features contains infinity"):
        embed_umap(Xn)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        embed_umap(X[:, 0])
    with pytest.raises(ValueError, match="at least 4 samples, got 3"):
        embed_umap(X[:3])
    with pytest.raises(ValueError, match="n_pca must be an integer >= 2 or None, got 1"):
        embed_umap(X, n_pca=1)


def test_balanced_sample():
    labels = np.repeat(["a", "b", "c"], [100, 30, 7])
    idx = balanced_sample(labels, seed=0)
    _, counts = np.unique(labels[idx], return_counts=True)
    np.testing.assert_array_equal(counts, [7, 7, 7])
    capped = balanced_sample(labels, n_per_class=20, seed=0)
    _, counts = np.unique(labels[capped], return_counts=True)
    np.testing.assert_array_equal(counts, [20, 20, 7])
    np.testing.assert_array_equal(balanced_sample(labels, seed=3), balanced_sample(labels, seed=3))
    assert not np.array_equal(balanced_sample(labels, seed=3), balanced_sample(labels, seed=4))
    with pytest.raises(ValueError, match="n_per_class must be a positive integer, got 0"):
        balanced_sample(labels, n_per_class=0)


def test_plot_latent(tmp_path):
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(137, 2))
    labels = np.repeat([0, 1, 2], [100, 30, 7])
    ax = plot_latent(coords, labels, class_names={0: "round", 1: "cigar", 2: "spiral"},
                     filename=tmp_path / "fig2.png")
    assert (tmp_path / "fig2.png").stat().st_size > 0
    assert ax.collections[0].get_offsets().shape == (21, 2)  # balanced: 7 per class
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["round", "cigar", "spiral"]
    everything = plot_latent(coords, labels, balanced=False)
    assert everything.collections[0].get_offsets().shape == (137, 2)
    with pytest.raises(FileExistsError, match="already exists"):
        plot_latent(coords, labels, filename=tmp_path / "fig2.png")
    with pytest.raises(ValueError, match="same length"):
        plot_latent(coords, labels[:-1])
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\)"):
        plot_latent(np.zeros((137, 3)), labels)
