"""The training loop shared by `LinearProbe` and `SupervisedClassifier`.

One loop runs the epochs: mini-batches, a class-weighted cross-entropy loss
(`torch.nn.CrossEntropyLoss` with ``weight=``), the optimizer step, the
training-loss curve and, with a validation set, early stopping that keeps the
best epoch's weights. The helpers beside it compute the class weights
(`sklearn.utils.class_weight.compute_class_weight`) and hold out a
stratified validation set (`sklearn.model_selection.train_test_split`).
Private to the subpackage.
"""

import contextlib
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from ..utils import progress_bar as _progress_bar

__all__ = []

logger = logging.getLogger(__name__)


def _class_weights(y, classes, class_weight):
    """Loss weight of each class in ``classes``: 'balanced' is ``n / (K * n_c)``, inverse to class frequency.

    Parameters
    ----------
    y : array-like, shape (N,)
        Training labels (values of ``classes``).
    classes : `~numpy.ndarray`, shape (K,)
        Sorted classes.
    class_weight : {'balanced', None} or dict

    Returns
    -------
    weights : `~numpy.ndarray`, float32, shape (K,)
    """
    from sklearn.utils.class_weight import compute_class_weight

    if isinstance(class_weight, str) and class_weight != "balanced":
        raise ValueError(f"class_weight must be 'balanced', None or a dict, got {class_weight!r}")
    if class_weight is not None and not isinstance(class_weight, (str, dict)):
        raise TypeError(f"class_weight must be 'balanced', None or a dict, got {type(class_weight).__name__}")
    if isinstance(class_weight, dict):
        missing = [c for c in classes.tolist() if c not in class_weight]
        if missing:
            raise ValueError(f"class_weight is missing classes {missing!r}")
        values = np.array([class_weight[c] for c in classes.tolist()], dtype=float)
        if np.any(values <= 0) or not np.all(np.isfinite(values)):
            raise ValueError(f"class_weight values must be positive and finite, got {class_weight!r}")
        class_weight = dict(zip(classes.tolist(), values.tolist()))
    return compute_class_weight(class_weight, classes=classes, y=y).astype(np.float32)


def _validation_split(y, fraction, random_state):
    """Indices (train, validation) with ``fraction`` of the samples held out, stratified by class.

    Raises
    ------
    ValueError
        If a class has a single sample or the set is too small to hold out
        one sample of every class.
    """
    from sklearn.model_selection import train_test_split

    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2:
        raise ValueError(f"class {classes[np.argmin(counts)].tolist()!r} has a single sample; cannot hold out a "
                         f"validation set for early stopping (pass validation_data or early_stopping=False)")
    n_val = min(max(math.ceil(fraction * y.size), classes.size), y.size - classes.size)
    if n_val < classes.size:
        raise ValueError(f"too few samples ({y.size}) to hold out a validation set with every one of "
                         f"{classes.size} classes for early stopping")
    train, val = train_test_split(np.arange(y.size), test_size=n_val, stratify=y, random_state=random_state)
    return np.sort(train), np.sort(val)


@contextlib.contextmanager
def _torch_threads(n):
    """Run the block with ``n`` torch intra-op threads, then restore the previous number.

    A linear probe's per-step tensors (a batch of 64 x 768) are far below the
    size at which intra-op parallelism pays; on a busy machine each parallel
    region instead waits for a descheduled worker thread (milliseconds per
    step), so the probe trains single-threaded.
    """
    import torch

    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class _History:
    """What `_fit_epochs` records: loss curves, epochs run and the epoch whose weights were kept."""

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    n_epochs: int = 0
    best_epoch: int = 0


def _fit_epochs(model, optimizer, criterion, batches, *, epochs, forward=None, validation_loss=None,
                n_iter_no_change=10, tol=1e-4, desc="training", progress_bar=False, step=None):
    """Train ``model`` for up to ``epochs`` epochs; early stopping when ``validation_loss`` is given.

    Parameters
    ----------
    model : `torch.nn.Module`
    optimizer : `torch.optim.Optimizer`
    criterion : `torch.nn.CrossEntropyLoss`
        The (class-weighted) training loss.
    batches : callable
        ``batches(epoch)`` yields ``(inputs, targets)`` tensors, on the
        model's device.
    epochs : int
        Maximum number of epochs.
    forward : callable, optional
        ``forward(model, inputs) -> logits`` (e.g. under autocast); default
        ``model(inputs)``.
    validation_loss : callable, optional
        ``validation_loss(model) -> float``, evaluated after every epoch. The
        loop stops when it has not improved by ``tol`` for
        ``n_iter_no_change`` epochs, and the best epoch's weights are loaded
        back into ``model``.
    n_iter_no_change : int, optional
    tol : float, optional
    desc : str, optional
        Progress-bar label.
    progress_bar : bool, optional
    step : callable, optional
        ``step(inputs, targets) -> loss`` performs one optimization step of
        ``model`` itself (the linear probe's closed-form gradient); default:
        ``criterion`` + autograd + ``optimizer.step()``.

    Returns
    -------
    history : `_History`
        ``loss_curve`` holds the class-weighted mean training loss of each
        epoch.
    """
    if forward is None:
        def forward(m, x):
            return m(x)
    class_w = criterion.weight
    hist = _History()
    best_loss, best_state, since_best = math.inf, None, 0
    bar = _progress_bar(range(int(epochs)), desc=desc, unit="epoch", enabled=progress_bar)
    for epoch in bar:
        model.train()
        total = weight = 0.0
        for xb, yb in batches(epoch):
            if step is not None:
                loss = step(xb, yb)
            else:
                loss = criterion(forward(model, xb).float(), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            w = float(class_w[yb].sum()) if class_w is not None else yb.numel()
            total += float(loss.detach()) * w
            weight += w
        hist.loss_curve.append(total / weight if weight > 0 else math.nan)
        hist.n_epochs = epoch + 1
        if validation_loss is None:
            continue
        val = float(validation_loss(model))
        hist.validation_loss_curve.append(val)
        if val < best_loss - tol:
            best_loss, hist.best_epoch, since_best = val, epoch + 1, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
            if since_best >= n_iter_no_change:
                logger.info("early stopping after epoch %d (best epoch %d, validation loss %.4f)",
                            epoch + 1, hist.best_epoch, best_loss)
                break
    if hasattr(bar, "close"):
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        hist.best_epoch = hist.n_epochs
    return hist
