import numpy as np
import pytest

from astrofmx.classification import (SupervisedClassifier, label_fraction_study, nested_stratified_subsets,
                                     plot_label_fraction, plot_per_class_f1, stratified_split)

TINY_VIT = dict(patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)


def clusters(rng, counts, n_features=16, separation=4.0):
    X, y = [], []
    for c, n in enumerate(counts):
        centre = np.zeros(n_features)
        centre[c] = separation
        X.append(rng.normal(centre, 1.0, (n, n_features)))
        y.append(np.full(n, c))
    return np.concatenate(X).astype(np.float32), np.concatenate(y)


def test_subsets_are_stratified_and_nested(rng):
    labels = rng.permutation(np.repeat([0, 1, 2], [500, 300, 100]))
    fractions = (0.1, 0.3, 0.5, 1.0)
    subsets = nested_stratified_subsets(labels, fractions, seed=0)
    assert list(subsets) == list(fractions)
    counts = {f: np.bincount(labels[idx], minlength=3) for f, idx in subsets.items()}
    np.testing.assert_array_equal(counts[0.1], [50, 30, 10])
    np.testing.assert_array_equal(counts[0.3], [150, 90, 30])
    np.testing.assert_array_equal(counts[0.5], [250, 150, 50])
    np.testing.assert_array_equal(subsets[1.0], np.arange(900))
    for small, large in zip(fractions[:-1], fractions[1:]):
        assert np.isin(subsets[small], subsets[large]).all()
        assert np.unique(subsets[small]).size == subsets[small].size
    # same seed: same subsets; another seed: another nested family
    again = nested_stratified_subsets(labels, fractions, seed=0)
    other = nested_stratified_subsets(labels, fractions, seed=1)
    np.testing.assert_array_equal(again[0.3], subsets[0.3])
    assert not np.array_equal(other[0.3], subsets[0.3])
    np.testing.assert_array_equal(np.bincount(labels[other[0.3]]), [150, 90, 30])


def test_tiny_classes_keep_one_sample():
    labels = np.array([0] * 40 + [1] * 3)
    sub = nested_stratified_subsets(labels, (0.1,), seed=0)[0.1]
    np.testing.assert_array_equal(np.bincount(labels[sub]), [4, 1])


@pytest.mark.parametrize("bad", [0, 0.0, -0.1, 1.5, (0.1, 0)])
def test_bad_fractions(bad):
    with pytest.raises(ValueError, match=r"fractions must be in \(0, 1\]"):
        nested_stratified_subsets([0, 1, 0, 1], bad)


def test_stratified_split(rng):
    labels = np.repeat([0, 1], [80, 20])
    train, test = stratified_split(labels, test_size=0.25, seed=3)
    np.testing.assert_array_equal(np.bincount(labels[test]), [20, 5])
    assert np.intersect1d(train, test).size == 0 and train.size + test.size == 100
    with pytest.raises(ValueError, match="test_size must be a fraction in"):
        stratified_split(labels, test_size=1.0)
    with pytest.raises(ValueError, match="class 2 has a single sample"):
        stratified_split([0, 0, 1, 1, 2])


def test_study_on_features(rng):
    X, y = clusters(rng, [200, 120, 80])
    noise = rng.normal(size=X.shape).astype(np.float32)
    table, runs = label_fraction_study({"good": X, "noise": noise}, y, seeds=(0, 1, 2), class_names=["a", "b", "c"],
                                       return_runs=True, progress_bar=False)
    assert len(table) == 8 and len(runs) == 24
    assert table.meta["class_names"] == ["a", "b", "c"] and table.meta["n_test"] == 80
    np.testing.assert_array_equal(table["n_train"][:4], [32, 96, 160, 320])
    for stat in ("f1_macro", "accuracy"):
        assert np.all(table[f"{stat}_min"] <= table[f"{stat}_median"])
        assert np.all(table[f"{stat}_median"] <= table[f"{stat}_max"])
    assert table["f1_class_median"].shape == (8, 3)
    good = table[table["model"] == "good"]
    noise_rows = table[table["model"] == "noise"]
    assert good["f1_macro_median"][-1] > 0.9
    assert np.all(noise_rows["f1_macro_max"] < 0.6)
    # more labels help the informative features
    assert good["f1_macro_median"][-1] > good["f1_macro_median"][0]
    # the study is reproducible
    again = label_fraction_study({"good": X, "noise": noise}, y, seeds=(0, 1, 2), progress_bar=False)
    np.testing.assert_array_equal(again["f1_macro_median"], table["f1_macro_median"])


def test_study_with_fixed_test_split(rng):
    X, y = clusters(rng, [60, 60])
    split = np.zeros(120, bool)
    split[::4] = True
    table, runs = label_fraction_study(X, y, backbones="feat", test_indices=split, fractions=(1.0,), seeds=(0,),
                                       probe_params={"epochs": 10}, return_runs=True, progress_bar=False)
    assert table["model"][0] == "feat" and table.meta["n_test"] == 30 and table["n_train"][0] == 90
    with pytest.raises(ValueError, match="boolean test_indices must have one value per sample"):
        label_fraction_study(X, y, test_indices=split[:10], progress_bar=False)
    with pytest.raises(ValueError, match=r"test_indices must be indices in \[0, 120\), got values in \[0, 200\]"):
        label_fraction_study(X, y, test_indices=[0, 200], progress_bar=False)


def test_study_bad_inputs(rng):
    X, y = clusters(rng, [30, 30])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        label_fraction_study(X, y[:-1], progress_bar=False)
    with pytest.raises(ValueError, match="at least 2 classes"):
        label_fraction_study(X, np.zeros(60), progress_bar=False)
    with pytest.raises(ValueError, match=r"fractions must be in \(0, 1\]"):
        label_fraction_study(X, y, fractions=(0, 0.5), progress_bar=False)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        label_fraction_study({"a": X_nan}, y, progress_bar=False)
    with pytest.raises(ValueError, match="supervised baselines need images"):
        label_fraction_study(X, y, baselines=["resnet18"], progress_bar=False)
    with pytest.raises(ValueError, match="nothing to train"):
        label_fraction_study(np.zeros((60, 8, 8)), y, progress_bar=False)
    with pytest.raises(ValueError, match="class_names must have one name per class"):
        label_fraction_study(X, y, fractions=(1.0,), seeds=(0,), class_names=["x"], progress_bar=False)


def test_study_with_images_backbone_and_baseline():
    from astrofmx.backbones import get_backbone
    from astrofmx.datasets import simulate_galaxies

    data = simulate_galaxies(64, size=32, seed=0, classes=("smooth_round", "spiral"))
    bb = get_backbone("msn", weights=None, depth=2, embed_dim=64, num_heads=2, img_size=32)
    tiny = SupervisedClassifier("vit_b_16", image_size=32, epochs=2, batch_size=16, arch_overrides=TINY_VIT)
    table = label_fraction_study(data.images, data.labels, backbones=[bb], baselines=[tiny], fractions=(0.5, 1.0),
                                 seeds=(0,), probe_params={"epochs": 5}, embed_params={"progress_bar": False},
                                 class_names=data.class_names, progress_bar=False)
    assert list(table["model"]) == ["msn", "msn", "vit_b_16 (scratch)", "vit_b_16 (scratch)"]
    assert list(table["kind"]) == ["probe", "probe", "supervised", "supervised"]
    assert np.all((table["f1_macro_median"] >= 0) & (table["f1_macro_median"] <= 1))


def test_plots(rng, tmp_path):
    X, y = clusters(rng, [40, 40, 40])
    table = label_fraction_study({"a": X, "b": X[:, ::-1].copy()}, y, fractions=(0.3, 1.0), seeds=(0, 1),
                                 probe_params={"epochs": 10}, class_names=["x", "y", "z"], progress_bar=False)
    ax = plot_label_fraction(table, filename=tmp_path / "fig3.png")
    assert (tmp_path / "fig3.png").stat().st_size > 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [30, 100])
    np.testing.assert_allclose(line.get_ydata(), table["f1_macro_median"][:2])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_label_fraction(table, filename=tmp_path / "fig3.png")
    plot_label_fraction(table, metric="accuracy", filename=tmp_path / "fig3.png", overwrite=True)
    ax = plot_per_class_f1(table, fraction=1.0)
    assert len(ax.patches) == 6
    heights = sorted(p.get_height() for p in ax.patches)
    np.testing.assert_allclose(heights, sorted(np.asarray(table["f1_class_median"][[1, 3]]).ravel()))
    with pytest.raises(ValueError, match="fraction 0.5 is not in the table"):
        plot_per_class_f1(table, fraction=0.5)
    with pytest.raises(ValueError, match="model 'c' is not in the table"):
        plot_label_fraction(table, models=["c"])
    with pytest.raises(ValueError, match="metric must be"):
        plot_label_fraction(table, metric="recall")
