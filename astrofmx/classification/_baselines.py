"""Supervised baselines: networks trained end to end on the labeled images.

The paper compares the linear probes against ResNet-18, ResNet-50 and
ViT-B/16 trained from scratch on the same labeled subsets, and against a
pretrained backbone fine-tuned end to end. `SupervisedClassifier` does both
with the scikit-learn estimator API on arrays of images.
"""

import logging
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_consistent_length, column_or_1d
from sklearn.utils.validation import check_is_fitted

from ..utils import autocast, resolve_device
from ._checks import _check_n_classes
from ._fitting import _class_weights, _fit_epochs, _validation_split
from ._networks import (SUPERVISED_ARCHS, _as_nchw, _build_scratch, _FineTune, _images_to_tensor,
                        _recalibrate_batchnorm, _standardize_images, _vit_patch_size)

__all__ = ["SUPERVISED_ARCHS", "SupervisedClassifier", "train_supervised"]

logger = logging.getLogger(__name__)


class SupervisedClassifier(ClassifierMixin, BaseEstimator):
    """A network trained end to end on labeled images (the paper's baselines).

    Two modes:

    - ``arch`` in ``{'resnet18', 'resnet50', 'vit_b_16'}`` and
      ``backbone=None``: a torchvision network trained from scratch (random
      initialization), as the paper's supervised baselines;
    - ``backbone=<registry name or Backbone>``: an astrofmx backbone (loaded
      with ``weights``) plus a linear head, fine-tuned end to end.

    Inputs depend on the mode:

    - **from scratch**: the images keep their own size and number of channels
      (one for radio images: the first layer is built for it) and each image
      is standardized robustly (centred on its median, divided by its RMS
      about the median), so that units, scale and background offset do not
      matter. A ViT, which needs a fixed size, is resized to ``image_size``
      (default: the image size rounded up to a multiple of its patch size).
    - **fine-tuning**: as `astrofmx.backbones.embed` prepares them for the
      pretrained weights: scaled to [0, 1] per image, repeated to three
      channels, resized to the backbone's input size and normalized with its
      mean/std (ImageNet's).

    Training uses AdamW (learning rate 1e-3, weight decay 0.01), a
    cross-entropy loss weighted by inverse class frequency (as the probe;
    equal weights for balanced classes) and, per image, a random element of
    the eight flips and 90-degree rotations (source morphology does not
    depend on orientation): the recipe of a plain hand-written ResNet-18 on
    MiraBest (150 x 150 px, one channel), which ``benchmarks/bench_baseline.py``
    runs side by side with this class.

    Parameters
    ----------
    arch : str, optional
        Architecture trained from scratch (ignored with ``backbone``).
    backbone : str or `~astrofmx.backbones.Backbone`, optional
        Backbone to fine-tune instead.
    weights : str, None or path, optional
        Weights passed to `~astrofmx.backbones.get_backbone` with a named
        ``backbone`` (``'pretrained'`` by default). Networks given by ``arch``
        always start from random weights.
    image_size : int, optional
        Side length the images are resized to. Default: none for ResNets from
        scratch (they train at the images' own size), the image size rounded
        up to a multiple of the patch size for a ViT from scratch, the
        backbone's input size when fine-tuning. Smaller values train faster
        on CPU.
    epochs : int, optional
        Maximum number of training epochs.
    lr : float, optional
        AdamW learning rate.
    batch_size : int, optional
        Mini-batch size (a trailing batch of one image is dropped because
        batch normalization needs two).
    weight_decay : float, optional
        AdamW weight decay.
    class_weight : {'balanced', None} or dict, optional
        Loss weights per class, as in `LinearProbe`.
    augment : bool, optional
        A random flip and 90-degree rotation of each image (the 8 symmetries of
        the square; flips only for non-square images).
    early_stopping : bool, optional
        Hold out ``validation_fraction`` (stratified) and keep the epoch with
        the lowest validation loss, stopping after ``n_iter_no_change`` epochs
        without improvement.
    validation_fraction : float, optional
    n_iter_no_change : int, optional
    precise_bn : bool, optional
        After training, recompute the batch norm running statistics with one
        pass over the (unaugmented) training images, so that ``predict`` (in
        eval mode) uses the statistics of the final weights rather than an
        exponential average over the last steps, which with few steps per
        epoch still remembers the initialization.
    arch_overrides : dict, optional
        Keyword arguments for the architecture: torchvision's resnet builders
        or `~torchvision.models.vision_transformer.VisionTransformer`
        (``num_layers``, ``num_heads``, ``hidden_dim``, ``mlp_dim``,
        ``patch_size``), or `~astrofmx.backbones.get_backbone` overrides.
        Used for tiny test configurations.
    device : str, optional
        ``None`` picks CUDA when available.
    precision : {'fp32', 'bf16', 'fp16', 'auto'}, optional
        Autocast precision of the forward passes.
    random_state : int, optional
        Seed of initialization, batch order, augmentation and validation split.
    progress_bar : bool, optional
        Progress bar over epochs.

    Attributes
    ----------
    classes_ : `~numpy.ndarray`
    image_size_ : int or tuple of int
        Side length (or (height, width)) of the network input in training.
    n_channels_ : int
        Number of input channels of the network.
    model_ : `torch.nn.Module`
        The trained network (on CPU after ``fit``).
    loss_curve_, validation_loss_curve_ : list of float
    n_epochs_, best_epoch_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import SupervisedClassifier
    >>> rng = np.random.default_rng(0)
    >>> images = rng.normal(size=(8, 16, 16)).astype("float32")
    >>> clf = SupervisedClassifier("resnet18", image_size=16, epochs=1, batch_size=4).fit(images, [0, 1] * 4)
    >>> clf.predict_proba(images).shape
    (8, 2)
    """

    def __init__(self, arch="resnet18", *, backbone=None, weights="pretrained", image_size=None, epochs=30,
                 lr=1e-3, batch_size=64, weight_decay=1e-2, class_weight="balanced", augment=True,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=5, precise_bn=True,
                 arch_overrides=None, device=None, precision="fp32", random_state=0, progress_bar=False):
        self.arch = arch
        self.backbone = backbone
        self.weights = weights
        self.image_size = image_size
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.augment = augment
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.precise_bn = precise_bn
        self.arch_overrides = arch_overrides
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.progress_bar = progress_bar

    @property
    def name(self):
        """Short description used in study tables: ``'<arch> (scratch)'`` or ``'<backbone> (fine-tuned)'``.

        Examples
        --------
        >>> from astrofmx.classification import SupervisedClassifier
        >>> SupervisedClassifier("resnet50").name, SupervisedClassifier(backbone="msn").name
        ('resnet50 (scratch)', 'msn (fine-tuned)')
        """
        if self.backbone is None:
            return f"{self.arch} (scratch)"
        bname = self.backbone if isinstance(self.backbone, str) else self.backbone.spec.name
        return f"{bname} (fine-tuned)"

    def _check_params(self):
        if self.backbone is None and self.arch not in SUPERVISED_ARCHS:
            raise ValueError(f"arch must be one of {sorted(SUPERVISED_ARCHS)}, got {self.arch!r}")
        for pname in ("epochs", "batch_size", "n_iter_no_change"):
            val = getattr(self, pname)
            if not (isinstance(val, numbers.Integral) and val >= 1):
                raise ValueError(f"{pname} must be a positive integer, got {val!r}")
        if not (isinstance(self.lr, numbers.Real) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if self.image_size is not None and not (isinstance(self.image_size, numbers.Integral)
                                                and self.image_size >= 8):
            raise ValueError(f"image_size must be an integer >= 8 or None, got {self.image_size!r}")
        if not (0 < self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")

    @staticmethod
    def _augment(x, gen):
        """A random element of the dihedral group D4 (flip, then rotation by k x 90 degrees) for each image."""
        import torch

        n = x.shape[0]
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if x.shape[-1] != x.shape[-2]:  # non-square: a 180-degree rotation (both flips) only
            rot = torch.rand(n, generator=gen) < 0.5
            return torch.where(rot.view(-1, 1, 1, 1), x.flip(-1, -2), x)
        k = torch.randint(0, 4, (n,), generator=gen)
        out = x.clone()
        for r in (1, 2, 3):
            sel = torch.nonzero(k == r).flatten()
            if sel.numel():
                out[sel] = torch.rot90(x.index_select(0, sel), r, dims=(-2, -1))
        return out

    def _inputs(self, arr):
        """Network inputs of ``arr`` (N, C, H, W) for this mode, as in training."""
        if self.backbone is None:
            return _standardize_images(arr, image_size=self._resize_to)
        return _images_to_tensor(arr, image_size=self.image_size_, mean=self._mean, std=self._std)

    def _scratch_size(self, arr):
        """(network input size, size to resize to or None) for an arch trained from scratch."""
        h, w = arr.shape[-2:]
        if self.image_size is not None:
            return int(self.image_size), int(self.image_size)
        if self.arch != "vit_b_16":
            return (int(h) if h == w else (int(h), int(w))), None
        p = _vit_patch_size(self.arch_overrides)
        side = -(-max(h, w) // p) * p
        return side, (None if h == w == side else side)

    def _forward_all(self, model, x, device, batch_size):
        import torch

        outs = []
        model.eval()
        with torch.no_grad():
            for i in range(0, x.shape[0], batch_size):
                with autocast(device, self.precision):
                    outs.append(model(x[i:i + batch_size].to(device)).float().cpu())
        return torch.cat(outs)

    def fit(self, images, y):
        """Train on ``images`` with labels ``y``.

        Parameters
        ----------
        images : array-like, shape (N, H, W), (N, C, H, W) or (N, H, W, C)
        y : array-like, shape (N,)

        Returns
        -------
        self : `SupervisedClassifier`

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import SupervisedClassifier
        >>> images = np.random.default_rng(0).normal(size=(8, 16, 16))
        >>> clf = SupervisedClassifier("resnet18", image_size=16, epochs=2, batch_size=4).fit(images, [0, 1] * 4)
        >>> clf.n_epochs_, len(clf.loss_curve_)
        (2, 2)
        """
        import torch
        import torch.nn.functional as F

        self._check_params()
        arr = _as_nchw(images)
        y = column_or_1d(np.asarray(y).reshape(-1))
        check_consistent_length(arr, y)
        _check_n_classes(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        n_classes = self.classes_.size
        device = resolve_device(self.device)
        rng = np.random.default_rng(self.random_state)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if self.random_state is None else int(self.random_state))
            if self.backbone is None:  # native size and channels, robust per-image standardization
                size, self._resize_to = self._scratch_size(arr)
                self.n_channels_ = int(arr.shape[1])
                model = _build_scratch(self.arch, n_classes, size, self.arch_overrides, in_chans=self.n_channels_)
                self._mean = self._std = None
            else:  # pretrained weights: three channels, their normalization and input size
                model, spec = _FineTune.build(self.backbone, self.weights, n_classes, self.arch_overrides)
                size = self._resize_to = int(self.image_size or spec.input_size)
                self.n_channels_ = 3
                self._mean, self._std = tuple(spec.mean), tuple(spec.std)
        self.image_size_ = size
        x_all = self._inputs(arr)

        tr, va = np.arange(y_idx.size), None
        if self.early_stopping:
            tr, va = _validation_split(y_idx, self.validation_fraction, self.random_state)
        weights = torch.from_numpy(_class_weights(self.classes_[y_idx[tr]], self.classes_, self.class_weight))
        y_t = torch.from_numpy(y_idx.astype(np.int64))
        model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        gen = torch.Generator().manual_seed(0 if self.random_state is None else int(self.random_state))

        def batches(epoch):
            perm = tr[rng.permutation(tr.size)]
            for i in range(0, perm.size, self.batch_size):
                idx = torch.from_numpy(perm[i:i + self.batch_size])
                if idx.numel() < 2:
                    continue  # batch norm cannot train on one image
                xb = x_all.index_select(0, idx)
                xb = self._augment(xb, gen) if self.augment else xb
                yield xb.to(device), y_t.index_select(0, idx).to(device)

        def forward(net, xb):
            with autocast(device, self.precision):
                return net(xb)

        validation_loss = None
        if va is not None:
            x_va, y_va = x_all[torch.from_numpy(va)], y_t[torch.from_numpy(va)]

            def validation_loss(net):
                logits = self._forward_all(net, x_va, device, self.batch_size)
                return float(F.cross_entropy(logits, y_va, weight=weights))

        hist = _fit_epochs(model, opt, torch.nn.CrossEntropyLoss(weight=weights.to(device)), batches,
                           epochs=self.epochs, forward=forward, validation_loss=validation_loss,
                           n_iter_no_change=self.n_iter_no_change, desc=f"training {self.name}",
                           progress_bar=self.progress_bar)
        if self.precise_bn:
            _recalibrate_batchnorm(model, x_all.index_select(0, torch.from_numpy(tr)),
                                   lambda net, xb: forward(net, xb.to(device)), self.batch_size)
        self.loss_curve_, self.validation_loss_curve_ = hist.loss_curve, hist.validation_loss_curve
        self.n_epochs_, self.best_epoch_ = hist.n_epochs, hist.best_epoch
        self.model_ = model.cpu().eval()
        return self

    def predict_proba(self, images):
        """Class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        images : array-like
            As for `fit`.

        Returns
        -------
        proba : `~numpy.ndarray`, shape (N, K)

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import SupervisedClassifier
        >>> images = np.random.default_rng(0).normal(size=(8, 16, 16))
        >>> clf = SupervisedClassifier("resnet18", image_size=16, epochs=1, batch_size=4).fit(images, [0, 1] * 4)
        >>> clf.predict_proba(images[:2]).sum(axis=1).round(5).tolist()
        [1.0, 1.0]
        """
        import torch

        check_is_fitted(self, "model_")
        arr = _as_nchw(images)
        if self.backbone is None and arr.shape[1] != self.n_channels_:
            raise ValueError(f"images have {arr.shape[1]} channels, but this classifier was trained on "
                             f"{self.n_channels_}-channel images")
        x = self._inputs(arr)
        device = resolve_device(self.device)
        model = self.model_.to(device)
        logits = self._forward_all(model, x, device, self.batch_size)
        self.model_ = model.cpu()
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, images):
        """Most probable class of each image.

        Parameters
        ----------
        images : array-like
            As for `fit`.

        Returns
        -------
        labels : `~numpy.ndarray`, shape (N,)
            Values from ``classes_``.

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.classification import SupervisedClassifier
        >>> images = np.random.default_rng(0).normal(size=(8, 16, 16))
        >>> clf = SupervisedClassifier("resnet18", image_size=16, epochs=1, batch_size=4).fit(images, ["a", "b"] * 4)
        >>> set(clf.predict(images)) <= {"a", "b"}
        True
        """
        return self.classes_[np.argmax(self.predict_proba(images), axis=1)]


def train_supervised(images, labels, *, arch="resnet18", **kwargs):
    """Train a `SupervisedClassifier` and return it (a functional shortcut).

    Parameters
    ----------
    images : array-like
        Images, as for `SupervisedClassifier.fit`.
    labels : array-like, shape (N,)
    arch : str, optional
        ``'resnet18'``, ``'resnet50'`` or ``'vit_b_16'``.
    **kwargs
        Any other `SupervisedClassifier` parameter.

    Returns
    -------
    classifier : `SupervisedClassifier`
        Fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.classification import train_supervised
    >>> images = np.random.default_rng(1).random((6, 16, 16))
    >>> tiny_vit = dict(patch_size=8, num_layers=1, num_heads=2, hidden_dim=16, mlp_dim=32)
    >>> clf = train_supervised(images, [0, 1, 2] * 2, arch="vit_b_16", image_size=16, epochs=1,
    ...                        arch_overrides=tiny_vit)
    >>> clf.classes_.tolist()
    [0, 1, 2]
    """
    return SupervisedClassifier(arch, **kwargs).fit(images, labels)
