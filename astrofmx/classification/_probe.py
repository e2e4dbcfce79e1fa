"""Linear probe on frozen features (Lastufka et al. 2024, Sect. 3.1).

The probe is one linear layer (``torch.nn.Linear(D, K)``) trained with a
class-weighted cross-entropy loss and Adam on features that were computed once
with `astrofmx.backbones.embed`, so that comparing backbones or label fractions
costs seconds rather than GPU hours.
"""

import logging
import math
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ..utils import progress_bar

__all__ = ["LinearProbe", "PAPER_PROBE_EPOCHS", "check_features_labels"]

logger = logging.getLogger(__name__)

#: Training epochs of the paper's linear probe: 100 for the optical galaxy
#: sets (GalaxyMNIST), 200 for the radio sets (MiraBest, Radio Galaxy Zoo).
PAPER_PROBE_EPOCHS = {"optical": 100, "radio": 200}


def check_features_labels(X, y=None, *, name="X", min_classes=2):
    """Validate a feature matrix (and labels) at a public boundary.

    Parameters
    ----------
    X : array-like, shape (N, D)
        Features; converted to float32.
    y : array-like, shape (N,), optional
        Class labels (any hashable type numpy can sort).
    name : str, optional
        Name used in error messages.
    min_classes : int, optional
        Smallest number of distinct labels accepted.

    Returns
    -------
    X : `~numpy.ndarray`, float32, shape (N, D)
    y : `~numpy.ndarray` or None

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, is empty, holds NaN/inf, if ``y`` has a different
        length, or if ``y`` has fewer than ``min_classes`` classes.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import check_features_labels
    >>> X, y = check_features_labels(np.zeros((4, 3)), [0, 1, 0, 1])
    >>> X.dtype, X.shape
    (dtype('float32'), (4, 3))
    """
    if hasattr(X, "unit"):  # Quantity
        X = X.value
    X = np.asarray(X)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"{name} must be a numeric array of features, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of features with shape (n_samples, n_features), "
                         f"got shape {X.shape}; reshape a single sample with X.reshape(1, -1)")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {X.shape}); at least one sample and one feature are needed")
    X = X.astype(np.float32, copy=False)
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])
        raise ValueError(f"{name} contains NaN or infinite values in {rows.size} of {X.shape[0]} rows "
                         f"(first: row {rows[0]}); remove those samples or fill them (e.g. replace blank pixels "
                         f"in the images before embedding)")
    if y is None:
        return X, None
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class labels, got shape {y.shape}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{name} and labels must have the same length: {name} has {X.shape[0]} rows, "
                         f"labels has {y.shape[0]}")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("labels contain NaN or infinite values")
    classes = np.unique(y)
    if classes.size < min_classes:
        raise ValueError(f"labels must contain at least {min_classes} classes to train a classifier, "
                         f"got {classes.size}: {classes.tolist()!r}")
    return X, y


def _class_weights(y_idx, n_classes, class_weight, classes):
    """Per-class loss weights: 'balanced' is n / (K * n_c), inverse to class frequency."""
    if class_weight is None:
        return np.ones(n_classes, np.float32)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")
        counts = np.bincount(y_idx, minlength=n_classes).astype(np.float64)
        return (y_idx.size / (n_classes * counts)).astype(np.float32)
    if isinstance(class_weight, dict):
        missing = [c for c in classes.tolist() if c not in class_weight]
        if missing:
            raise ValueError(f"class_weight is missing classes {missing!r}")
        w = np.array([class_weight[c] for c in classes.tolist()], dtype=np.float32)
        if np.any(w <= 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"class_weight values must be positive and finite, got {class_weight!r}")
        return w
    raise TypeError(f"class_weight must be 'balanced', None or a dict, got {type(class_weight).__name__}")


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def _stratified_holdout(y_idx, fraction, rng):
    """Indices (train, val) with ``fraction`` of each class (at least one) held out."""
    val = []
    for c in np.unique(y_idx):
        idx = np.flatnonzero(y_idx == c)
        n_val = int(round(fraction * idx.size))
        if idx.size >= 2:
            n_val = min(max(n_val, 1), idx.size - 1)
        else:
            n_val = 0
        val.append(rng.permutation(idx)[:n_val])
    val = np.sort(np.concatenate(val))
    train = np.setdiff1d(np.arange(y_idx.size), val)
    return train, val


class LinearProbe(ClassifierMixin, BaseEstimator):
    """Linear classifier trained on frozen backbone features (the paper's probe).

    One linear layer ``z = x W^T + b`` (`torch.nn.Linear`) is trained with the
    cross-entropy loss, weighted per class by the inverse class frequency
    (``torch.nn.CrossEntropyLoss(weight=w)``, ``w_c = n / (K n_c)``), and the
    Adam optimizer with the paper's defaults: learning rate 5e-4, mini-batches
    of 64, 100 epochs (the paper used 200 for the radio sets: pass
    ``epochs=200`` or ``epochs=PAPER_PROBE_EPOCHS["radio"]``).

    The estimator follows the scikit-learn API (``fit``, ``predict``,
    ``predict_proba``, ``score``, ``get_params``/``set_params``), so it works
    with `sklearn.model_selection` and pipelines.

    Parameters
    ----------
    lr : float, optional
        Adam learning rate.
    batch_size : int or None, optional
        Mini-batch size; the last batch of an epoch may be smaller (as a
        `torch.utils.data.DataLoader` with ``drop_last=False``). `None`
        trains full-batch (one step per epoch: much faster, but different
        optimization dynamics from the paper's).
    epochs : int, optional
        Maximum number of passes over the training data.
    weight_decay : float, optional
        L2 penalty added to the gradient, as in `torch.optim.Adam`.
    class_weight : {'balanced', None} or dict, optional
        ``'balanced'`` weights each class by ``n / (K * n_c)`` (the paper);
        `None` weights all classes equally; a dict maps class -> weight.
    standardize : bool, optional
        Subtract the per-feature mean and divide by the standard deviation of
        the training features before the linear layer (stored in ``mean_`` and
        ``scale_``). The paper fed raw features; standardizing makes the fixed
        learning rate work for backbones whose features have very different
        scales. It does not change what a linear model can represent.
    early_stopping : bool, optional
        Hold out ``validation_fraction`` of the training data (stratified),
        stop when the validation loss has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and keep the best epoch's weights.
        ``fit(..., validation_data=(X_val, y_val))`` supplies the validation
        set explicitly instead.
    validation_fraction : float, optional
        Fraction held out for early stopping, in (0, 1).
    n_iter_no_change : int, optional
        Patience of early stopping, in epochs.
    tol : float, optional
        Smallest decrease of the validation loss that counts as improvement.
    random_state : int or None, optional
        Seed of the weight initialization, the batch order and the
        validation split. The same seed gives bit-identical results.
    progress_bar : bool, optional
        Show a progress bar over epochs.

    Attributes
    ----------
    classes_ : `~numpy.ndarray`
        Class labels in the order of the probability columns.
    coef_ : `~numpy.ndarray`, shape (K, D)
        Weights of the linear layer (on standardized features if
        ``standardize``).
    intercept_ : `~numpy.ndarray`, shape (K,)
        Bias of the linear layer.
    class_weight_ : `~numpy.ndarray`, shape (K,)
        Loss weight of each class.
    mean_, scale_ : `~numpy.ndarray`, shape (D,)
        Standardization of the features (zeros/ones if not ``standardize``).
    loss_curve_ : list of float
        Weighted training loss per epoch.
    validation_loss_curve_ : list of float
        Validation loss per epoch (early stopping only).
    n_epochs_ : int
        Epochs actually run.
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    n_features_in_ : int
        Feature dimension seen in ``fit``.

    Notes
    -----
    The weights start from ``N(0, 0.01^2)`` and the bias from zero, as in the
    linear evaluation of DINO and MSN (PyTorch's default uniform
    initialization can start a small probe far from uniform probabilities,
    which the small learning rate then takes hundreds of steps to undo).
    Training is exactly the PyTorch recipe above (same loss, same Adam
    update), but the
    forward pass, the analytic gradient of the weighted cross-entropy and the
    Adam step are written out in NumPy: for a ``768 x K`` layer the per-step
    dispatch overhead of PyTorch dominates, and the NumPy loop is several
    times faster on a CPU (8,000 x 768 features, 100 epochs of batch 64:
    1-3 s on two cores). The test suite checks step-by-step agreement with
    `torch.nn.Linear` + `torch.nn.CrossEntropyLoss` + `torch.optim.Adam`.
    `to_torch` returns the trained probe as a torch module.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import LinearProbe
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-2, 1, (50, 8)), rng.normal(2, 1, (50, 8))])
    >>> y = np.repeat(["smooth", "spiral"], 50)
    >>> probe = LinearProbe(epochs=20, random_state=0).fit(X, y)
    >>> probe.score(X, y)
    1.0
    >>> probe.predict_proba(X[:1]).shape
    (1, 2)
    """

    def __init__(self, *, lr=5e-4, batch_size=64, epochs=100, weight_decay=0.0, class_weight="balanced",
                 standardize=True, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 tol=1e-4, random_state=0, progress_bar=False):
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.standardize = standardize
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.progress_bar = progress_bar

    # ----------------------------------------------------------------- checks
    def _check_params(self):
        if not (isinstance(self.lr, numbers.Real) and self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.batch_size is not None and not (isinstance(self.batch_size, numbers.Integral)
                                                and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer or None (full batch), got {self.batch_size!r}")
        if not (isinstance(self.epochs, numbers.Integral) and self.epochs >= 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not (isinstance(self.weight_decay, numbers.Real) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 < self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not (isinstance(self.n_iter_no_change, numbers.Integral) and self.n_iter_no_change >= 1):
            raise ValueError(f"n_iter_no_change must be a positive integer, got {self.n_iter_no_change!r}")

    def _check_fitted(self):
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this LinearProbe is not fitted yet; call fit(features, labels) first")

    def _transform(self, X):
        X, _ = check_features_labels(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this probe was fitted on {self.n_features_in_} "
                             f"features; use the same backbone and pooling as for fit")
        return (X - self.mean_) / self.scale_

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y, *, validation_data=None):
        """Train the probe on features ``X`` with labels ``y``.

        Parameters
        ----------
        X : array-like, shape (N, D)
            Frozen features, e.g. from `astrofmx.backbones.embed`.
        y : array-like, shape (N,)
            Class labels; at least two classes.
        validation_data : tuple (X_val, y_val), optional
            Validation set for early stopping (turns early stopping on); by
            default ``validation_fraction`` of ``X`` is held out when
            ``early_stopping=True``.

        Returns
        -------
        self : `LinearProbe`
        """
        self._check_params()
        X, y = check_features_labels(X, y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        rng = np.random.default_rng(self.random_state)

        Xv = yv = None
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            Xv, yv_raw = check_features_labels(validation_data[0], validation_data[1], name="X_val", min_classes=1)
            if Xv.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {Xv.shape[1]} features but X has {X.shape[1]}")
            unknown = np.setdiff1d(np.unique(yv_raw), self.classes_)
            if unknown.size:
                raise ValueError(f"validation labels {unknown.tolist()!r} do not occur in the training labels")
            yv = np.searchsorted(self.classes_, yv_raw)
        elif self.early_stopping:
            tr, va = _stratified_holdout(y_idx, self.validation_fraction, rng)
            if va.size == 0:
                raise ValueError("too few samples per class to hold out a validation set for early stopping")
            X, Xv, yv, y_idx = X[tr], X[va], y_idx[va], y_idx[tr]
            if np.unique(y_idx).size < n_classes:
                raise ValueError("a class has a single sample; cannot hold out a validation set for early "
                                 "stopping (pass validation_data or early_stopping=False)")

        self.class_weight_ = _class_weights(y_idx, n_classes, self.class_weight, self.classes_)
        n, d = X.shape
        self.n_features_in_ = d
        if self.standardize:
            self.mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
            std = X.std(axis=0, dtype=np.float64)
            std[std < 1e-12] = 1.0
            self.scale_ = std.astype(np.float32)
        else:
            self.mean_ = np.zeros(d, np.float32)
            self.scale_ = np.ones(d, np.float32)

        # augmented design matrix [x, 1] so weight and bias update as one (D+1, K) matrix
        Xa = np.empty((n, d + 1), np.float32)
        np.subtract(X, self.mean_, out=Xa[:, :d])
        Xa[:, :d] /= self.scale_
        Xa[:, d] = 1.0
        Y = np.zeros((n, n_classes), np.float32)
        Y[np.arange(n), y_idx] = 1.0
        sw = self.class_weight_[y_idx]
        if Xv is not None:
            Xva = np.concatenate([(Xv - self.mean_) / self.scale_, np.ones((Xv.shape[0], 1), np.float32)], axis=1)

        # initialization of the linear evaluation of DINO/MSN: weight ~ N(0, 0.01^2), bias 0, so that
        # the probe starts from (nearly) uniform probabilities whatever the feature dimension
        W = np.zeros((d + 1, n_classes), np.float32)
        W[:d] = rng.normal(0.0, 0.01, size=(d, n_classes))
        m = np.zeros_like(W)
        v = np.zeros_like(W)
        b1, b2, eps, lr, wd = 0.9, 0.999, 1e-8, float(self.lr), float(self.weight_decay)
        bs = n if self.batch_size is None else int(self.batch_size)

        use_val = Xv is not None
        self.loss_curve_, self.validation_loss_curve_ = [], []
        best_loss, best_W, best_epoch, since_best = np.inf, W.copy(), 0, 0
        step = 0
        bar = progress_bar(range(int(self.epochs)), desc="linear probe", unit="epoch", enabled=self.progress_bar)
        epoch = 0
        for epoch in bar:
            if bs >= n:  # full batch: the order does not matter
                Xp, Yp, swp = Xa, Y, sw
            else:
                perm = rng.permutation(n)
                Xp, Yp, swp = Xa[perm], Y[perm], sw[perm]
            epoch_loss, epoch_w = 0.0, 0.0
            for i in range(0, n, bs):
                xb, yb, wb = Xp[i:i + bs], Yp[i:i + bs], swp[i:i + bs]
                p = _softmax(xb @ W)
                wsum = wb.sum()
                epoch_loss -= float(np.dot(wb, np.log(np.maximum((p * yb).sum(axis=1), 1e-30))))
                epoch_w += float(wsum)
                p -= yb
                p *= (wb / wsum)[:, None]
                g = xb.T @ p
                if wd:
                    g += wd * W
                step += 1
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * (g * g)
                bc1 = 1 - b1 ** step
                bc2 = 1 - b2 ** step
                # torch.optim.Adam: W -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
                W -= (lr * math.sqrt(bc2) / bc1) * m / (np.sqrt(v) + eps * math.sqrt(bc2))
            self.loss_curve_.append(epoch_loss / epoch_w)
            if use_val:
                pv = _softmax(Xva @ W)
                wv = self.class_weight_[yv]
                val_loss = -float(np.dot(wv, np.log(np.maximum(pv[np.arange(yv.size), yv], 1e-30))) / wv.sum())
                self.validation_loss_curve_.append(val_loss)
                if val_loss < best_loss - self.tol:
                    best_loss, best_W, best_epoch, since_best = val_loss, W.copy(), epoch + 1, 0
                else:
                    since_best += 1
                    if since_best >= self.n_iter_no_change:
                        logger.info("early stopping after epoch %d (best epoch %d, validation loss %.4f)",
                                    epoch + 1, best_epoch, best_loss)
                        break
        if hasattr(bar, "close"):
            bar.close()
        self.n_epochs_ = epoch + 1
        if use_val:
            W = best_W
            self.best_epoch_ = best_epoch
        else:
            self.best_epoch_ = self.n_epochs_
        if not np.all(np.isfinite(W)):
            raise FloatingPointError("the probe weights diverged to NaN/inf; lower lr or use standardize=True")
        self.coef_ = np.ascontiguousarray(W[:d].T)
        self.intercept_ = W[d].copy()
        return self

    # ------------------------------------------------------------- inference
    def decision_function(self, X):
        """Logits ``x W^T + b``, shape (N, K) (or (N,) for two classes, as scikit-learn)."""
        self._check_fitted()
        z = self._transform(X) @ self.coef_.T + self.intercept_
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like, shape (N, D)

        Returns
        -------
        proba : `~numpy.ndarray`, shape (N, K)
        """
        self._check_fitted()
        return _softmax(self._transform(X) @ self.coef_.T + self.intercept_)

    def predict(self, X):
        """Most probable class of each sample.

        Parameters
        ----------
        X : array-like, shape (N, D)

        Returns
        -------
        labels : `~numpy.ndarray`, shape (N,)
            Values from ``classes_``.
        """
        self._check_fitted()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def to_torch(self):
        """The trained probe as a `torch.nn.Sequential` (standardization, then `torch.nn.Linear`).

        Returns
        -------
        module : `torch.nn.Sequential`
            Maps raw features ``(N, D)`` to logits ``(N, K)``.
        """
        import torch
        from torch import nn

        self._check_fitted()

        class _Standardize(nn.Module):
            def __init__(self, mean, scale):
                super().__init__()
                self.register_buffer("mean", torch.as_tensor(mean))
                self.register_buffer("scale", torch.as_tensor(scale))

            def forward(self, x):
                return (x - self.mean) / self.scale

        linear = nn.Linear(self.n_features_in_, self.classes_.size)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(self.coef_))
            linear.bias.copy_(torch.as_tensor(self.intercept_))
        return nn.Sequential(_Standardize(self.mean_, self.scale_), linear)
