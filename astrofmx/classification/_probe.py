"""Linear probe on frozen features (Lastufka et al. 2024, Sect. 3.1).

The probe is one linear layer (``torch.nn.Linear(D, K)``) trained with a
class-weighted cross-entropy loss and Adam on features that were computed once
with `astrofmx.backbones.embed`, so that comparing backbones or label fractions
costs seconds rather than GPU hours.
"""

import logging
import math
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ._checks import _check_features
from ._fitting import _class_weights, _fit_epochs, _torch_threads, _validation_split

__all__ = ["LinearProbe", "PAPER_PROBE_EPOCHS"]

logger = logging.getLogger(__name__)

#: Training epochs of the paper's linear probe: 100 for the optical galaxy
#: sets (GalaxyMNIST), 200 for the radio sets (MiraBest, Radio Galaxy Zoo).
PAPER_PROBE_EPOCHS = {"optical": 100, "radio": 200}


def _adam_linear_step(layer, class_weight, *, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
    """One step of `torch.optim.Adam` on a linear layer under the class-weighted cross-entropy, as a closure.

    The same update as ``CrossEntropyLoss(weight=w)(layer(x), y).backward()``
    followed by ``Adam(lr, betas, eps, weight_decay).step()``, with the
    gradient of the loss written out (``dL/dz = w_y (softmax(z) - onehot(y))
    / sum(w_y)``): no autograd graph and no optimizer bookkeeping per step,
    which for a linear probe's small tensors is most of the time. Weight and
    bias are stored as one (K, D + 1) matrix (``layer.weight`` and
    ``layer.bias`` become views of it), so the closure takes inputs with a
    trailing column of ones and makes one matrix product each way and one
    Adam update per step.
    """
    import torch

    d = layer.in_features
    wa = torch.cat([layer.weight.data, layer.bias.data[:, None]], dim=1).contiguous()
    layer.weight.data, layer.bias.data = wa[:, :d], wa[:, d]
    m, v = torch.zeros_like(wa), torch.zeros_like(wa)
    b1, b2 = betas
    t = [0]
    rows = torch.arange(1 << 16)

    def step(xb, yb):
        """One step on ``xb`` (B, D + 1: the features, then ones) and ``yb``; returns the loss."""
        with torch.no_grad():
            logp = torch.log_softmax(xb @ wa.T, dim=1)
            wy = class_weight.index_select(0, yb)
            wy = wy / wy.sum()
            loss = -(logp.gather(1, yb[:, None]).squeeze(1) * wy).sum()
            g = logp.exp_()
            g[rows[:yb.numel()] if yb.numel() <= rows.numel() else torch.arange(yb.numel()), yb] -= 1.0
            grad = g.mul_(wy[:, None]).T @ xb
            if weight_decay:
                grad.add_(wa, alpha=weight_decay)
            t[0] += 1
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            denom = v.sqrt().div_(math.sqrt(1 - b2 ** t[0])).add_(eps)
            wa.addcdiv_(m, denom, value=-lr / (1 - b1 ** t[0]))
        return loss

    return step


def _softmax(z):
    from scipy.special import softmax

    return softmax(z, axis=1)


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
        scales, and makes the probe invariant to the features' scale (features
        x 1e-30 or x 1e30 give the predictions of x 1). It does not change
        what a linear model can represent. With ``standardize=False``, features
        whose typical standard deviation is outside [1e-4, 1e4] raise a
        `RuntimeWarning`.
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
    mean_ : `~numpy.ndarray`, shape (D,)
        Feature means subtracted before the layer (zeros if not ``standardize``).
    scale_ : `~numpy.ndarray`, shape (D,)
        Feature standard deviations divided out (ones if not ``standardize``;
        the largest absolute value for a constant feature).
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
    Training runs on the CPU, single-threaded (the per-step tensors are too
    small for intra-op threads to pay), in the loop that
    `SupervisedClassifier` shares. Each step is the update of
    `torch.optim.Adam` on a `torch.nn.Linear` under
    `torch.nn.CrossEntropyLoss` (``weight=class_weight_``), with the
    gradient of that loss written out instead of autograd (the tests replay
    it step by step with torch's modules): about 2x faster for a probe's
    small tensors. The
    initial weights and the batch order come from
    ``numpy.random.default_rng(random_state)``; the early-stopping split from
    `sklearn.model_selection.train_test_split` (stratified, same seed).
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

    def _transform(self, X):
        check_is_fitted(self, "coef_")
        X, _ = _check_features(X, estimator=self)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but this probe was fitted on {self.n_features_in_} "
                             f"features; use the same backbone and pooling as for fit")
        return (X - self.mean_) / self.scale_

    def _validation_set(self, X, y_idx, validation_data):
        """Return (X_train, y_train, X_val or None, y_val or None) as class indices."""
        if validation_data is not None:
            if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
                raise TypeError("validation_data must be a tuple (X_val, y_val)")
            Xv, yv = _check_features(*validation_data, estimator=self, min_classes=1)
            if Xv.shape[1] != X.shape[1]:
                raise ValueError(f"X_val has {Xv.shape[1]} features but X has {X.shape[1]}")
            unknown = np.setdiff1d(np.unique(yv), self.classes_)
            if unknown.size:
                raise ValueError(f"validation labels {unknown.tolist()!r} do not occur in the training labels")
            return X, y_idx, Xv, np.searchsorted(self.classes_, yv)
        if not self.early_stopping:
            return X, y_idx, None, None
        tr, va = _validation_split(y_idx, self.validation_fraction, self.random_state)
        return X[tr], y_idx[tr], X[va], y_idx[va]

    def _set_scaling(self, X):
        """Per-feature mean and scale; scale-invariant, so that features x 1e-30 or x 1e30 train as x 1."""
        d = X.shape[1]
        if self.standardize:
            x64 = X.astype(np.float64)
            mean = x64.mean(axis=0)
            std = x64.std(axis=0)
            # a feature is constant when its spread is at float32 round-off of its own magnitude (a relative
            # test: an absolute threshold would call every feature of a tiny-valued backbone constant)
            peak = np.abs(x64).max(axis=0)
            constant = std <= 1e-6 * peak
            std[constant] = np.where(peak[constant] > 0, peak[constant], 1.0)
            self.mean_ = mean.astype(np.float32)
            self.scale_ = std.astype(np.float32)
        else:
            self.mean_ = np.zeros(d, np.float32)
            self.scale_ = np.ones(d, np.float32)
            spread = float(np.median(X.std(axis=0, dtype=np.float64)))
            if not 1e-4 <= spread <= 1e4:
                warnings.warn(f"the features' typical standard deviation is {spread:.3g}, far from 1: with "
                              f"standardize=False the fixed learning rate (lr={self.lr:g}) can neither train nor "
                              f"converge on them; pass standardize=True (the default)", RuntimeWarning,
                              stacklevel=3)

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

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import LinearProbe
        >>> X = np.random.default_rng(0).normal(size=(200, 4)) + np.repeat([[0.0], [3.0]], 100, axis=0)
        >>> probe = LinearProbe(epochs=100, early_stopping=True, n_iter_no_change=3).fit(X, [0] * 100 + [1] * 100)
        >>> probe.best_epoch_ <= probe.n_epochs_ <= 100
        True
        """
        import torch
        from torch import nn

        self._check_params()
        X, y = _check_features(X, y, estimator=self)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        X, y_idx, Xv, yv = self._validation_set(X, y_idx, validation_data)
        self.class_weight_ = _class_weights(self.classes_[y_idx], self.classes_, self.class_weight)
        n, d = X.shape
        self.n_features_in_ = d
        self._set_scaling(X)

        # initialization of the linear evaluation of DINO/MSN: weight ~ N(0, 0.01^2), bias 0, so that
        # the probe starts from (nearly) uniform probabilities whatever the feature dimension
        rng = np.random.default_rng(self.random_state)
        layer = nn.utils.skip_init(nn.Linear, d, self.classes_.size)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(rng.normal(0.0, 0.01, size=(d, self.classes_.size)).T))
            layer.bias.zero_()
        criterion = nn.CrossEntropyLoss(weight=torch.from_numpy(self.class_weight_))
        step = _adam_linear_step(layer, criterion.weight, lr=float(self.lr), weight_decay=float(self.weight_decay))
        x_t = torch.from_numpy(np.hstack([(X - self.mean_) / self.scale_, np.ones((n, 1), np.float32)]))
        y_t = torch.from_numpy(y_idx.astype(np.int64))
        bs = n if self.batch_size is None else int(self.batch_size)

        def batches(epoch):
            if bs >= n:  # full batch: the order does not matter
                yield x_t, y_t
                return
            perm = torch.from_numpy(rng.permutation(n))
            for i in range(0, n, bs):  # gather each batch (index_select: far cheaper than x_t[idx])
                idx = perm[i:i + bs]
                yield x_t.index_select(0, idx), y_t.index_select(0, idx)

        validation_loss = None
        if Xv is not None:
            xv_t = torch.from_numpy((Xv - self.mean_) / self.scale_)
            yv_t = torch.from_numpy(yv.astype(np.int64))

            def validation_loss(model):
                with torch.no_grad():
                    return float(criterion(model(xv_t), yv_t))

        with _torch_threads(1):
            hist = _fit_epochs(layer, None, criterion, batches, epochs=self.epochs, step=step,
                               validation_loss=validation_loss, n_iter_no_change=self.n_iter_no_change,
                               tol=self.tol, desc="linear probe", progress_bar=self.progress_bar)
        self.loss_curve_, self.validation_loss_curve_ = hist.loss_curve, hist.validation_loss_curve
        self.n_epochs_, self.best_epoch_ = hist.n_epochs, hist.best_epoch
        self.coef_ = layer.weight.detach().numpy().copy()
        self.intercept_ = layer.bias.detach().numpy().copy()
        if not (np.all(np.isfinite(self.coef_)) and np.all(np.isfinite(self.intercept_))):
            raise FloatingPointError("the probe weights diverged to NaN/inf; lower lr or use standardize=True")
        return self

    # ------------------------------------------------------------- inference
    def decision_function(self, X):
        """Logits ``x W^T + b``, shape (N, K) (or (N,) for two classes, as scikit-learn).

        Parameters
        ----------
        X : array-like, shape (N, D)

        Returns
        -------
        scores : `~numpy.ndarray`, shape (N, K) or (N,)

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import LinearProbe
        >>> X = np.array([[-1.0], [1.0]] * 10)
        >>> probe = LinearProbe(epochs=50, lr=1e-2).fit(X, [0, 1] * 10)
        >>> (probe.decision_function(X[:2]) > 0).tolist()
        [False, True]
        """
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

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import LinearProbe
        >>> X = np.array([[-1.0], [1.0]] * 10)
        >>> probe = LinearProbe(epochs=5).fit(X, ["a", "b"] * 10)
        >>> probe.predict_proba(X[:3]).sum(axis=1).round(6).tolist()
        [1.0, 1.0, 1.0]
        """
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

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import LinearProbe
        >>> X = np.array([[-1.0], [1.0]] * 10)
        >>> LinearProbe(epochs=50, lr=1e-2).fit(X, ["a", "b"] * 10).predict([[-2.0], [2.0]]).tolist()
        ['a', 'b']
        """
        check_is_fitted(self, "coef_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def to_torch(self):
        """The trained probe as a `torch.nn.Sequential` (standardization, then `torch.nn.Linear`).

        Returns
        -------
        module : `torch.nn.Sequential`
            Maps raw features ``(N, D)`` to logits ``(N, K)``.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from astrofmx.classification import LinearProbe
        >>> X = np.random.default_rng(0).normal(size=(20, 3)).astype("float32")
        >>> probe = LinearProbe(epochs=2).fit(X, [0, 1] * 10)
        >>> probe.to_torch()(torch.from_numpy(X)).shape
        torch.Size([20, 2])
        """
        import torch
        from torch import nn

        check_is_fitted(self, "coef_")

        class _Standardize(nn.Module):
            def __init__(self, mean, scale):
                super().__init__()
                self.register_buffer("mean", torch.as_tensor(mean))
                self.register_buffer("scale", torch.as_tensor(scale))

            def forward(self, x):
                return (x - self.mean) / self.scale

        linear = nn.utils.skip_init(nn.Linear, self.n_features_in_, self.classes_.size)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(self.coef_))
            linear.bias.copy_(torch.as_tensor(self.intercept_))
        return nn.Sequential(_Standardize(self.mean_, self.scale_), linear)
