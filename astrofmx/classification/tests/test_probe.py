import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score, recall_score
from sklearn.model_selection import cross_val_score

from astrofmx.classification import PAPER_PROBE_EPOCHS, LinearProbe


def gaussian_clusters(rng, n_per_class, n_features=64, n_classes=4, separation=4.0, scale=1.0):
    """Seeded Gaussian clusters: class c is centred at separation * e_c (plus a fixed random offset)."""
    offset = np.random.default_rng(0).normal(0, 5, n_features)
    X, y = [], []
    for c, n in enumerate(np.broadcast_to(n_per_class, (n_classes,))):
        centre = offset.copy()
        centre[c] += separation
        X.append(rng.normal(centre, scale, (n, n_features)))
        y.append(np.full(n, c))
    return np.concatenate(X).astype(np.float32), np.concatenate(y)


def test_separable_problem_near_perfect_f1(rng):
    X, y = gaussian_clusters(rng, 300, separation=6.0)
    perm = rng.permutation(len(y))
    X, y = X[perm], y[perm]
    probe = LinearProbe(random_state=0).fit(X[:800], y[:800])
    pred = probe.predict(X[800:])
    assert f1_score(y[800:], pred, average="macro") > 0.98
    proba = probe.predict_proba(X[800:])
    assert proba.shape == (400, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    # the training loss went down over the 100 default epochs
    assert probe.n_epochs_ == 100 and probe.loss_curve_[-1] < 0.5 * probe.loss_curve_[0]


def test_string_labels_and_class_order(rng):
    X, y = gaussian_clusters(rng, 50, n_classes=3, separation=6.0)
    names = np.array(["spiral", "cigar", "round"])[y]
    probe = LinearProbe(lr=5e-3).fit(X, names)
    assert probe.classes_.tolist() == ["cigar", "round", "spiral"]
    assert probe.score(X, names) > 0.95
    assert set(probe.predict(X[:5])) <= set(names)


def test_matches_torch_linear_adam_weighted_cross_entropy(rng):
    """The probe is nn.Linear + CrossEntropyLoss(weight) + optim.Adam, replayed here step by step."""
    torch = pytest.importorskip("torch")
    X, y = gaussian_clusters(rng, [70, 20, 10], n_features=16, n_classes=3, separation=2.0)
    probe = LinearProbe(epochs=3, batch_size=32, weight_decay=0.01, standardize=False, random_state=5).fit(X, y)

    # replay the probe's random stream: initial weights, then one permutation per epoch
    stream = np.random.default_rng(5)
    w0 = stream.normal(0.0, 0.01, size=(16, 3)).astype(np.float32)
    perms = [stream.permutation(len(y)) for _ in range(3)]
    counts = np.bincount(y)
    weight = torch.tensor(len(y) / (3 * counts), dtype=torch.float32)

    layer = torch.nn.Linear(16, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w0.T))
        layer.bias.zero_()
    opt = torch.optim.Adam(layer.parameters(), lr=5e-4, weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for perm in perms:
        for i in range(0, len(y), 32):
            idx = torch.from_numpy(perm[i:i + 32])
            opt.zero_grad()
            loss_fn(layer(Xt[idx]), yt[idx]).backward()
            opt.step()
    np.testing.assert_allclose(probe.coef_, layer.weight.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(probe.intercept_, layer.bias.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(probe.class_weight_, weight.numpy(), rtol=1e-6)
    # and the exported torch module gives the same probabilities
    module = probe.to_torch()
    with torch.no_grad():
        p_torch = torch.softmax(module(Xt), 1).numpy()
    np.testing.assert_allclose(p_torch, probe.predict_proba(X), atol=1e-5)


def test_class_weights_raise_minority_recall(rng):
    # two overlapping classes, 95% / 5%: unweighted, the probe favours the majority
    X, y = gaussian_clusters(rng, [950, 50], n_features=8, n_classes=2, separation=1.5)
    Xt, yt = gaussian_clusters(np.random.default_rng(1), [950, 50], n_features=8, n_classes=2, separation=1.5)
    plain = LinearProbe(class_weight=None).fit(X, y)
    weighted = LinearProbe(class_weight="balanced").fit(X, y)
    np.testing.assert_allclose(weighted.class_weight_, [1000 / (2 * 950), 1000 / (2 * 50)], rtol=1e-6)
    r_plain = recall_score(yt, plain.predict(Xt), pos_label=1)
    r_weighted = recall_score(yt, weighted.predict(Xt), pos_label=1)
    assert r_plain < 0.5
    assert r_weighted > r_plain + 0.3
    # and a dict of weights works the same way as 'balanced' with those values
    manual = LinearProbe(class_weight={0: 1000 / 1900, 1: 10.0}).fit(X, y)
    np.testing.assert_allclose(manual.coef_, weighted.coef_, atol=1e-6)


def test_seeds_reproduce(rng):
    X, y = gaussian_clusters(rng, 40, n_features=12, n_classes=3)
    a = LinearProbe(epochs=5, random_state=3).fit(X, y)
    b = LinearProbe(epochs=5, random_state=3).fit(X, y)
    c = LinearProbe(epochs=5, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.coef_, c.coef_)


def test_early_stopping_keeps_best_epoch(rng):
    X, y = gaussian_clusters(rng, 100, n_features=32, n_classes=2, separation=1.0, scale=2.0)
    probe = LinearProbe(epochs=300, lr=1e-2, early_stopping=True, n_iter_no_change=5, random_state=0).fit(X, y)
    assert probe.n_epochs_ < 300
    assert len(probe.validation_loss_curve_) == probe.n_epochs_
    assert probe.best_epoch_ == int(np.argmin(probe.validation_loss_curve_)) + 1
    assert probe.n_epochs_ - probe.best_epoch_ == 5
    # an explicit validation set turns early stopping on as well
    Xv, yv = gaussian_clusters(np.random.default_rng(2), 30, n_features=32, n_classes=2, separation=1.0, scale=2.0)
    probe2 = LinearProbe(epochs=300, lr=1e-2, n_iter_no_change=5).fit(X, y, validation_data=(Xv, yv))
    assert probe2.n_epochs_ < 300 and len(probe2.validation_loss_curve_) == probe2.n_epochs_


def test_full_batch_and_standardize_option(rng):
    X, y = gaussian_clusters(rng, 100, n_features=16, n_classes=2, separation=5.0)
    X = X * 1000.0  # badly scaled features
    full = LinearProbe(batch_size=None, epochs=200, lr=1e-2).fit(X, y)
    assert full.score(X, y) > 0.97
    raw = LinearProbe(standardize=False, epochs=2).fit(X, y)
    np.testing.assert_array_equal(raw.mean_, 0)
    np.testing.assert_allclose(full.mean_, X.mean(axis=0), rtol=1e-4)


@pytest.mark.parametrize("factor", [1e-30, 1e30])
def test_scale_invariant(rng, factor):
    """Features x 1e-30 or x 1e30 train exactly as x 1 (issue 12: x 1e-30 used to reach accuracy 0.49)."""
    X, y = gaussian_clusters(rng, 60, n_features=8, n_classes=2, separation=3.0)
    X[:, 5] = 2.5  # a constant feature stays harmless at every scale
    ref = LinearProbe(epochs=20, lr=1e-2).fit(X, y)
    assert ref.score(X, y) > 0.95
    scaled = LinearProbe(epochs=20, lr=1e-2).fit(X * factor, y)
    np.testing.assert_array_equal(scaled.predict(X * factor), ref.predict(X))
    np.testing.assert_allclose(scaled.predict_proba(X * factor), ref.predict_proba(X), atol=1e-4)
    with pytest.warns(RuntimeWarning, match="far from 1: with standardize=False"):
        LinearProbe(standardize=False, epochs=1).fit(X * factor, y)


def test_sklearn_api(rng):
    X, y = gaussian_clusters(rng, 30, n_features=8, n_classes=2, separation=6.0)
    probe = LinearProbe(epochs=50, lr=1e-2)
    params = probe.get_params()
    assert params["lr"] == 1e-2 and params["batch_size"] == 64 and params["class_weight"] == "balanced"
    assert clone(probe).set_params(epochs=PAPER_PROBE_EPOCHS["radio"]).epochs == 200
    scores = cross_val_score(probe, X, y, cv=3)
    assert scores.min() > 0.9


def test_bad_inputs(rng):
    X, y = gaussian_clusters(rng, 10, n_features=4, n_classes=2)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[20, 19\]"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes.*got 1"):
        LinearProbe().fit(X, np.zeros(20))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LinearProbe().fit(Xn, y)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        LinearProbe().fit(X[:, :, None], y)
    with pytest.raises(ValueError, match=r"0 sample\(s\)"):
        LinearProbe().fit(np.zeros((0, 4)), [])
    with pytest.raises(ValueError, match="lr must be a positive number, got -1"):
        LinearProbe(lr=-1).fit(X, y)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        LinearProbe(epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must be 'balanced', None or a dict, got 'inverse'"):
        LinearProbe(class_weight="inverse").fit(X, y)
    with pytest.raises(ValueError, match="missing classes"):
        LinearProbe(class_weight={0: 1.0}).fit(X, y)
    with pytest.raises(NotFittedError, match="not fitted"):
        LinearProbe().predict(X)
    probe = LinearProbe(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but this probe was fitted on 4"):
        probe.predict(X[:, :3])
    with pytest.raises(ValueError, match="do not occur in the training labels"):
        LinearProbe(epochs=1).fit(X, y, validation_data=(X, y + 5))


def test_early_stopping_split_is_stratified_and_checked(rng):
    from astrofmx.classification._fitting import _validation_split

    y = np.repeat([0, 1, 2], [90, 60, 30])
    train, val = _validation_split(y, 0.1, 0)
    np.testing.assert_array_equal(np.bincount(y[val]), [9, 6, 3])
    assert np.intersect1d(train, val).size == 0 and train.size + val.size == y.size
    X, y2 = gaussian_clusters(rng, [20, 1], n_features=4, n_classes=2)
    with pytest.raises(ValueError, match="class 1 has a single sample"):
        LinearProbe(early_stopping=True).fit(X, y2)
