"""Training a Faster R-CNN source detector on labelled images: `train_detector`."""

import copy
import dataclasses
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from ..utils import progress_bar as _progress_bar
from ._config import TrainingOptions, _resolve_config
from ._io import load_detector, save_detector
from ._model import FasterRCNNDetector
from ._train_cache import _body_returns, _cached_batch, _cached_tile_map, _feature_caches
from ._train_data import _batch, _prepare, _split_validation, _tile_map
from ._tiles import _scale

__all__ = ["train_detector"]

logger = logging.getLogger(__name__)

_STATE_NAME = "trainer_state.pt"
_OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(TrainingOptions))


def _resolve_settings(config, detector, options, kwargs):
    """``(DetectorConfig, TrainingOptions)`` from the arguments of `train_detector`."""
    opt_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _OPTION_NAMES}
    if options is None:
        options = TrainingOptions(**opt_kwargs)
    elif not isinstance(options, TrainingOptions):
        raise TypeError(f"options must be a TrainingOptions, got {type(options).__name__}")
    elif opt_kwargs:
        options = dataclasses.replace(options, **opt_kwargs)
    if detector is not None:
        if not isinstance(detector, FasterRCNNDetector):
            raise TypeError(f"detector must be a FasterRCNNDetector, got {type(detector).__name__}")
        if config is not None or kwargs:
            raise ValueError("give either detector= (its config is used) or config/config fields, not both")
        return detector.config, options
    return _resolve_config(config, kwargs), options


def _training_tiles(images, boxes, val_images, val_boxes, config, options):
    """``(training tiles, validation tiles or None)``."""
    overlap = options.tile_overlap(config.tile_size)
    prep = dict(config=config, overlap=overlap, min_visible=options.min_visible_fraction,
                label_column=options.label_column, progress_bar=options.progress_bar)
    tiles = _prepare(images, boxes, **prep)
    if val_images is not None:
        return tiles, _prepare(val_images, val_boxes, what="validation", **prep)
    if options.val_fraction > 0:
        return _split_validation(tiles, options.val_fraction, options.seed)
    return tiles, None


class _Run:
    """The mutable state of one training run: model, optimizer, schedule, RNG and early-stopping record."""

    def __init__(self, detector, options, steps, dev):
        import torch

        self.detector, self.options, self.dev = detector, options, dev
        self.params = [p for p in detector.parameters() if p.requires_grad]
        # the fused kernel: one pass over the weights (8x faster than the per-tensor loop on a CPU), same update
        fused = dev.type in ("cpu", "cuda")
        self.optimizer = torch.optim.AdamW(self.params, lr=options.learning_rate, weight_decay=options.weight_decay,
                                           fused=fused or None)
        warmup = max(1, steps // 10) if options.warmup_steps is None else int(options.warmup_steps)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.gen = torch.Generator().manual_seed(options.seed)
        self.start_epoch, self.best, self.best_epoch, self.bad_epochs, self.best_state = 0, -math.inf, None, 0, None
        self.history = list(detector.history)

    def resume(self, ckpt, config):
        """Continue from the trainer state and detectors saved in ``ckpt``."""
        import torch

        saved = load_detector(ckpt / "last", device=self.dev)
        if saved.config != config:
            raise ValueError(f"the checkpoint in {str(ckpt)!r} was made with another configuration; use a new "
                             "checkpoint_dir or the same settings")
        self.detector.model.load_state_dict(saved.model.state_dict())
        state = torch.load(ckpt / _STATE_NAME, map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.gen.set_state(state["gen"])
        self.start_epoch, self.best = int(state["epoch"]) + 1, float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.best_epoch = None if int(state["best_epoch"]) < 0 else int(state["best_epoch"])
        self.history = json.loads(state["history"])
        if self.best_epoch is not None and (ckpt / "best").exists():
            self.best_state = copy.deepcopy(load_detector(ckpt / "best", device="cpu").model.state_dict())
        logger.info("resuming from epoch %d of %s", self.start_epoch, ckpt)

    def save(self, ckpt, epoch):
        """Write ``last/`` and the trainer state (atomically) after ``epoch``."""
        import torch

        self.detector.history = self.history
        save_detector(self.detector, ckpt / "last", overwrite=True)
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.sched.state_dict(),
                 "rng": torch.get_rng_state(), "gen": self.gen.get_state(), "epoch": epoch,
                 "best": self.best if np.isfinite(self.best) else -1.0, "best_epoch": self.best_epoch or -1,
                 "bad_epochs": self.bad_epochs, "history": json.dumps(self.history)}
        tmp = ckpt / (_STATE_NAME + ".tmp")
        torch.save(state, tmp)
        os.replace(tmp, ckpt / _STATE_NAME)

    def train_epoch(self, tiles, steps, epoch, scale, precision, cache=None):
        """One epoch of ``steps`` optimizer steps (from cached backbone features with ``cache``); returns the
        list of step losses."""
        import torch

        det, opts, dev, cfg = self.detector, self.options, self.dev, self.detector.config
        det.train(True)
        order = torch.randperm(len(tiles), generator=self.gen).tolist()
        while len(order) < steps * opts.batch_size:  # more steps than tiles: draw further permutations
            order += torch.randperm(len(tiles), generator=self.gen).tolist()
        losses = []
        bar = _progress_bar(range(steps), desc=f"epoch {epoch + 1}/{opts.epochs}", unit="step",
                            enabled=opts.progress_bar)
        for step in bar:
            idx = order[step * opts.batch_size:(step + 1) * opts.batch_size]
            if cache is None:
                imgs, tgts = _batch(tiles, idx, cfg, scale, self.gen)
                imgs = [im.to(dev) for im in imgs]
                tgts = [{k: v.to(dev) for k, v in t.items()} for t in tgts]
                feats = None
            else:
                imgs, tgts, feats = _cached_batch(cache, tiles, idx, cfg, dev, self.gen)
            with det.autocast(precision, dev), _body_returns(det, feats):
                loss_dict = det.model(imgs, tgts)
            loss = sum(v.float() for v in loss_dict.values())
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"training loss became {float(loss.detach())} at epoch {epoch + 1}, step "
                                         f"{step + 1}; lower learning_rate (now {opts.learning_rate})")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, 10.0)
            self.optimizer.step()
            self.sched.step()
            losses.append(float(loss.detach()))
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        return losses

    def validate(self, val_tiles, record, precision, ckpt, cache=None):
        """Add the validation mAP to ``record``; keep (and save) the best epoch so far."""
        if cache is None:
            metrics = _tile_map(self.detector, val_tiles, self.options.batch_size, precision, self.dev)
        else:
            with self.detector.autocast(precision, self.dev):
                metrics = _cached_tile_map(self.detector, cache, val_tiles, self.options.batch_size, self.dev)
        record.update(val_map=metrics["map"], val_map_50=metrics["map_50"])
        score = metrics["map_50"] if np.isfinite(metrics["map_50"]) else -1.0
        if score > self.best:
            self.best, self.best_epoch, self.bad_epochs = score, record["epoch"], 0
            self.best_state = copy.deepcopy({k: v.detach().cpu()
                                             for k, v in self.detector.model.state_dict().items()})
            if ckpt is not None:
                self.detector.history = self.history + [record]
                save_detector(self.detector, ckpt / "best", overwrite=True)
        else:
            self.bad_epochs += 1


# -- public ---------------------------------------------------------------------------------------------
def train_detector(images, boxes=None, *, config=None, detector=None, options=None, val_images=None,
                   val_boxes=None, **kwargs):
    """Train a Faster R-CNN source detector on labelled images.

    Each image is normalized as a whole (``config.normalizer``), cut into
    tiles of ``config.tile_size`` pixels and resampled by ``config.upscale``;
    the training tiles get the configured augmentations (the paper's random
    blur, contrast and colour jitter, plus flips and 90-degree rotations).
    Training is seeded and deterministic on CPU (the global torch RNG is used
    inside a forked RNG state, so the caller's is untouched). A checkpoint is
    written after each epoch, and training resumes from it with
    ``resume=True``. With a validation set, mAP@50 is computed after every
    epoch, the best epoch is kept, and training stops early after
    ``patience`` epochs without improvement.

    Parameters
    ----------
    images : image or list of images
        Anything `~astrofmx.io.load_image` accepts (a `list` for several).
        With a COCO file as ``boxes``, a list in the file's image order, or
        `None` to read the files it names.
    boxes : table, array, COCO file, or list of them
        Per image: an ``(N, 4)`` array of ``(xmin, ymin, xmax, ymax)`` in
        0-based pixels (pixel centres at integers), an astropy table with box
        columns (``bbox_xmin``... as in simulated truth catalogs or
        photutils segment catalogs), or a source catalog with Gaussian
        components (PyBDSF, Aegean) turned into boxes by `catalog_to_boxes`.
        Or one COCO JSON file (path or dict) for all images.
    config : `DetectorConfig`, optional
        Detector settings; ``**config_kwargs`` override its fields.
    options : `TrainingOptions`, optional
        How to train; the training keyword arguments below (``epochs`` to
        ``register``) override its fields (each defaults to the
        `TrainingOptions` default).
    detector : `FasterRCNNDetector`, optional
        Continue training this detector (its config is used).
    val_images, val_boxes : optional
        Validation images and boxes, in the same forms.
    val_fraction : float, optional
        Without ``val_images``: the fraction of training tiles held out for
        validation.
    epochs : int, optional
        Number of passes over the training tiles.
    steps_per_epoch : int, optional
        Optimizer steps per epoch (default: enough to see every tile once).
    batch_size : int, optional
        Tiles per step.
    learning_rate, weight_decay : float, optional
        AdamW settings (after a linear warm-up of ``warmup_steps``, default a
        tenth of the first epoch).
    overlap : int, optional
        Overlap of the training tiles (default a quarter of the tile).
    min_visible_fraction : float, optional
        A box cut by a tile edge is kept if at least this fraction of its area
        is in the tile.
    label_column : str, optional
        Column of the box tables holding class names (``config.class_names``);
        default: every box is class 1.
    checkpoint_dir : str or `~pathlib.Path`, optional
        Where to write ``last/`` (and ``best/``) detectors and the trainer
        state after each epoch.
    resume : bool, optional
        Continue from the checkpoint in ``checkpoint_dir``.
    patience : int, optional
        Early stopping: epochs without a better validation mAP@50.
    seed : int, optional
        Seed of the initialisation, shuffling, sampling and augmentation.
    precision : {'auto', 'fp32', 'bf16'}, optional
        'auto' runs the backbone and pyramid under bf16 autocast on CPUs with
        native bf16 support (the detection heads and losses stay in fp32).
    device : None, str or `torch.device`, optional
        None picks CUDA when available.
    progress_bar : bool, optional
        Show progress bars.
    register : bool, optional
        Save the trained detector into the cache
        (``<cache>/detectors/local/<backbone>/<time>/``) as the newest local
        detector for its backbone, so that
        ``detect_sources(image, backbone=...)`` uses it (see
        `register_detector`).
    feature_cache : {'auto', 'memory', 'disk', None}, optional
        With ``mode='frozen'``: run the backbone once per tile (and per
        flip/rotation the augmentations draw) and train the pyramid and heads
        from its cached features, in memory or memory-mapped in
        ``feature_cache_dir`` ('auto': memory up to 4 GiB). The photometric
        augmentations are then not applied; None runs the backbone at every
        step.
    feature_cache_dir : str or `~pathlib.Path`, optional
        Folder of a 'disk' feature cache (default: the temporary folder).
    **kwargs
        `TrainingOptions` fields (``epochs``, ``batch_size``, ``learning_rate``, ...; see above) and
        `DetectorConfig` fields (``backbone``, ``mode``, ``tile_size``, ...).

    Returns
    -------
    detector : `FasterRCNNDetector`
        In eval mode (the best validation epoch when there is a validation
        set); ``detector.history`` lists per epoch the mean training loss,
        the validation mAP and mAP@50, steps and time.

    Raises
    ------
    ValueError
        Mismatched images and boxes, boxes outside their image, bad
        settings, or a checkpoint made with another configuration.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.detection import train_detector
    >>> image = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    >>> image[20:26, 30:36] += 20
    >>> det = train_detector(image, np.array([[19.5, 19.5, 25.5, 25.5]]), backbone="resnet18", weights=None,
    ...                      mode="scratch", tile_size=64, pyramid_channels=16, representation_size=32,
    ...                      epochs=1, batch_size=1, precision="fp32", progress_bar=False)
    >>> len(det.history), det.config.mode
    (1, 'scratch')
    """
    import torch

    from ..utils import resolve_device, resolve_precision

    config, opts = _resolve_settings(config, detector, options, kwargs)
    dev = resolve_device(opts.device)
    precision = resolve_precision(opts.precision, dev)
    scale = _scale(config.tile_size, config.upscale)
    if val_images is not None or opts.val_fraction > 0:  # checked before any work, not after the first epoch
        from ._evaluate import _require_pycocotools

        _require_pycocotools("train_detector with validation (val_images= or val_fraction > 0)")
    tiles, val_tiles = _training_tiles(images, boxes, val_images, val_boxes, config, opts)
    steps = math.ceil(len(tiles) / opts.batch_size) if opts.steps_per_epoch is None else opts.steps_per_epoch
    logger.info("training %s detector (%s) on %d tiles (%d validation), %d steps x %d epochs", config.backbone,
                config.mode, len(tiles), len(val_tiles or ()), steps, opts.epochs)

    ckpt = Path(opts.checkpoint_dir) if opts.checkpoint_dir is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(opts.seed)
        if detector is None:
            detector = FasterRCNNDetector(config)
        detector.to(dev)
        run = _Run(detector, opts, steps, dev)
        if opts.resume and (ckpt / _STATE_NAME).is_file():
            run.resume(ckpt, config)
        with _feature_caches(detector, tiles, val_tiles, opts, precision, dev,
                             epochs_left=opts.epochs - run.start_epoch) as (cache, val_cache):
            for epoch in range(run.start_epoch, opts.epochs):
                if opts.patience is not None and run.bad_epochs >= opts.patience:
                    break
                t0 = time.perf_counter()
                losses = run.train_epoch(tiles, steps, epoch, scale, precision, cache)
                record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "loss_first": losses[0],
                          "loss_last": losses[-1], "steps": steps, "lr": run.optimizer.param_groups[0]["lr"]}
                if val_tiles:
                    run.validate(val_tiles, record, precision, ckpt, val_cache)
                record["time_s"] = round(time.perf_counter() - t0, 3)
                run.history.append(record)
                logger.info("epoch %d: %s", epoch + 1, record)
                if ckpt is not None:
                    run.save(ckpt, epoch)
        if run.best_state is not None:
            detector.model.load_state_dict(run.best_state)
    detector.history = run.history
    detector.train(False)
    if opts.register:
        from ._zoo import register_trained

        register_trained(detector)
    return detector
