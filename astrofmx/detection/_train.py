"""Training a Faster R-CNN source detector on labelled images."""

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
from ._config import DetectorConfig

__all__ = ["train_detector"]

logger = logging.getLogger(__name__)

_STATE_NAME = "trainer_state.pt"


# -- labels -------------------------------------------------------------------------------------------
def _labels_from(table, n, config, label_column):
    if label_column is None:
        return np.ones(n, dtype=np.int64)
    if label_column not in table.colnames:
        raise ValueError(f"label_column {label_column!r} is not a column of the box table ({table.colnames})")
    names = list(config.class_names)
    values = [str(v) for v in np.asarray(table[label_column])]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ValueError(f"labels {unknown} in column {label_column!r} are not in class_names={tuple(names)}")
    return np.array([names.index(v) + 1 for v in values], dtype=np.int64)


def _boxes_for_image(boxes, img, config=None, label_column=None):
    """``(boxes (N, 4) in image pixels, labels (N,) 1-based)`` for one image from any accepted form."""
    from astropy.table import Table

    from ._labels import boxes_from_table, catalog_to_boxes

    config = config or DetectorConfig()
    shape = img.data.shape
    if boxes is None:
        return np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    if isinstance(boxes, Table):
        arr = boxes_from_table(boxes)
        if arr is None:  # a source catalog: boxes from Gaussian components or the beam
            arr = catalog_to_boxes(boxes, img, clip=True)
            if label_column is not None and len(arr) != len(boxes):
                raise ValueError(f"{len(boxes) - len(arr)} catalog sources lie outside the image, so their labels "
                                 "cannot be matched; select the sources inside the image first")
        labels = _labels_from(boxes, len(arr), config, label_column)
    else:
        arr = np.asarray(boxes, dtype=float)
        if arr.size == 0:
            arr = arr.reshape(0, 4)
        if arr.ndim != 2 or arr.shape[1] != 4:
            raise ValueError(f"boxes must be an (N, 4) array of (xmin, ymin, xmax, ymax), a Table, or a COCO file; "
                             f"got an array of shape {arr.shape}")
        labels = np.ones(len(arr), dtype=np.int64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("boxes contain NaN or infinite values")
    if np.any(arr[:, 2] <= arr[:, 0]) or np.any(arr[:, 3] <= arr[:, 1]):
        bad = int(np.sum((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])))
        raise ValueError(f"{bad} boxes have xmax <= xmin or ymax <= ymin; boxes are (xmin, ymin, xmax, ymax)")
    ny, nx = shape
    outside = (arr[:, 2] <= -0.5) | (arr[:, 0] >= nx - 0.5) | (arr[:, 3] <= -0.5) | (arr[:, 1] >= ny - 0.5)
    if outside.any():
        first = arr[outside][0].round(2).tolist()
        raise ValueError(f"{int(outside.sum())} boxes lie entirely outside the {ny}x{nx} image (e.g. {first}); "
                         "boxes must be in the image's 0-based pixel coordinates")
    arr = arr.copy()
    arr[:, [0, 2]] = np.clip(arr[:, [0, 2]], -0.5, nx - 0.5)
    arr[:, [1, 3]] = np.clip(arr[:, [1, 3]], -0.5, ny - 0.5)
    return arr, labels


def _read_coco(coco, images, config):
    """``[(image, boxes, labels)]`` from a COCO detection file (or dict)."""
    if isinstance(coco, (str, os.PathLike)):
        path = Path(coco)
        if not path.is_file():
            raise FileNotFoundError(f"COCO annotation file {str(path)!r} does not exist")
        data = json.loads(path.read_text())
        base = path.parent
    else:
        data, base = coco, Path(".")
    if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
        raise ValueError("a COCO file must hold 'images' and 'annotations' lists")
    cats = {c["id"]: c.get("name", str(c["id"])) for c in data.get("categories", [])}
    names = list(config.class_names)
    if cats and all(n in names for n in cats.values()):
        cat_to_label = {cid: names.index(n) + 1 for cid, n in cats.items()}
    elif len(names) == 1:
        cat_to_label = None  # class-agnostic
    else:
        raise ValueError(f"COCO categories {sorted(cats.values())} do not match class_names={tuple(names)}")
    entries = data["images"]
    if images is None:
        images = [base / e["file_name"] for e in entries]
    elif not isinstance(images, (list, tuple)) or len(images) != len(entries):
        raise ValueError(f"with a COCO file, images must be None (read the files it names) or a list of "
                         f"{len(entries)} images in the file's order")
    by_image = {e["id"]: [] for e in entries}
    for ann in data["annotations"]:
        if ann["image_id"] not in by_image:
            raise ValueError(f"COCO annotation {ann.get('id')} refers to unknown image_id {ann['image_id']}")
        by_image[ann["image_id"]].append(ann)
    out = []
    for entry, image in zip(entries, images):
        anns = by_image[entry["id"]]
        # COCO boxes are [x, y, w, h] with the image corner at (0, 0): shift to pixel centres at integers
        boxes = np.array([[a["bbox"][0] - 0.5, a["bbox"][1] - 0.5, a["bbox"][0] + a["bbox"][2] - 0.5,
                           a["bbox"][1] + a["bbox"][3] - 0.5] for a in anns], dtype=float).reshape(-1, 4)
        labels = np.array([1 if cat_to_label is None else cat_to_label[a["category_id"]] for a in anns],
                          dtype=np.int64)
        out.append((image, boxes, labels))
    return out


# -- tiles --------------------------------------------------------------------------------------------
def _cut_tiles(img, normalizer, boxes, labels, tile, overlap, min_visible):
    """Training tiles ``(tile_data, boxes in tile edge coordinates (unscaled), labels)``."""
    from ._inference import _fit_normalizer, _iter_windows

    out = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for y0, x0, h, w, data in _iter_windows(img, _fit_normalizer(img, normalizer), tile, overlap):
        if data is None:
            continue
        wx0, wy0, wx1, wy1 = x0 - 0.5, y0 - 0.5, x0 + w - 0.5, y0 + h - 0.5
        clipped = np.stack([np.maximum(boxes[:, 0], wx0), np.maximum(boxes[:, 1], wy0),
                            np.minimum(boxes[:, 2], wx1), np.minimum(boxes[:, 3], wy1)], axis=1)
        cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
        keep = (cw >= 1.0) & (ch >= 1.0) & (cw * ch >= min_visible * areas)
        tb = clipped[keep] - np.array([wx0, wy0, wx0, wy0])
        out.append((np.array(data, dtype=np.float32), tb.astype(np.float32), labels[keep]))
    return out


def _prepare(images, boxes, config, overlap, min_visible, label_column, progress_bar, what="training"):
    from ._inference import _load

    if isinstance(boxes, (str, os.PathLike)) or (isinstance(boxes, dict) and "annotations" in boxes):
        items = _read_coco(boxes, images, config)
    else:
        if boxes is None:
            raise ValueError(f"{what} boxes are missing: give one box table/array per image, or a COCO file")
        if not isinstance(images, list):
            images, boxes = [images], [boxes]
        if not isinstance(boxes, (list, tuple)) or len(boxes) != len(images):
            raise ValueError(f"give one box set per {what} image: {len(images)} images but "
                             f"{len(boxes) if isinstance(boxes, (list, tuple)) else 'not a list of'} box sets")
        items = [(im, b, None) for im, b in zip(images, boxes)]
    if not items:
        raise ValueError(f"no {what} images given")
    tiles = []
    for image, b, labels in _progress_bar(items, desc=f"preparing {what} tiles", unit="image",
                                          enabled=progress_bar):
        img = _load(image)
        arr, lab = _boxes_for_image(b, img, config, label_column)
        if labels is not None:
            lab = labels
        tiles.extend(_cut_tiles(img, config.normalizer, arr, lab, config.tile_size, overlap, min_visible))
    if not tiles:
        raise ValueError(f"the {what} images have no valid pixels")
    return tiles


# -- augmentation ---------------------------------------------------------------------------------------
def _augment(x, boxes, augmentations, gen):
    """Random flips, 90-degree rotations, blur, contrast and colour jitter of one square ``(3, S, S)`` tile."""
    import torch
    from torchvision.transforms import functional as TF

    size = x.shape[-1]
    r = torch.rand(8, generator=gen).tolist()
    if "flip" in augmentations:
        if r[0] < 0.5:
            x = x.flip(-1)
            boxes = torch.stack([size - boxes[:, 2], boxes[:, 1], size - boxes[:, 0], boxes[:, 3]], dim=1)
        if r[1] < 0.5:
            x = x.flip(-2)
            boxes = torch.stack([boxes[:, 0], size - boxes[:, 3], boxes[:, 2], size - boxes[:, 1]], dim=1)
    if "rot90" in augmentations:
        for _ in range(int(r[2] * 4) % 4):  # transpose then horizontal flip = 90-degree rotation
            x = x.transpose(-1, -2).flip(-1)
            boxes = torch.stack([size - boxes[:, 3], boxes[:, 0], size - boxes[:, 1], boxes[:, 2]], dim=1)
    if "blur" in augmentations and r[3] < 0.5:
        sigma = 0.1 + 1.4 * r[4]
        k = 2 * math.ceil(3 * sigma) + 1
        x = TF.gaussian_blur(x, [k, k], [sigma, sigma])
    if "contrast" in augmentations and r[5] < 0.5:
        x = TF.adjust_contrast(x, 0.7 + 0.6 * r[6])
    if "jitter" in augmentations and r[7] < 0.5:
        gains = 0.8 + 0.4 * torch.rand(3, 1, 1, generator=gen)
        x = x * gains
    return x.clamp(0.0, 1.0), boxes


def _batch(tiles, indices, config, scale, gen=None):
    import torch

    from ._inference import _to_model

    x = _to_model([tiles[i][0] for i in indices], config.tile_size, config.upscale)
    images, targets = [], []
    for j, i in enumerate(indices):
        boxes = torch.from_numpy(tiles[i][1] * scale).float().reshape(-1, 4)
        img = x[j]
        if gen is not None:
            img, boxes = _augment(img, boxes, config.augmentations, gen)
        images.append(img)
        targets.append({"boxes": boxes, "labels": torch.from_numpy(np.asarray(tiles[i][2], dtype=np.int64))})
    return images, targets


def _tile_map(detector, tiles, batch_size, precision, device):
    """mAP of a detector on prepared tiles (boxes in model-input coordinates)."""
    import torch

    from ._evaluate import mean_average_precision
    from ._inference import _scale

    cfg = detector.config
    scale = _scale(cfg.tile_size, cfg.upscale)
    preds, targets = [], []
    detector.train(False)
    for start in range(0, len(tiles), batch_size):
        idx = list(range(start, min(start + batch_size, len(tiles))))
        images, tgts = _batch(tiles, idx, cfg, scale)
        with torch.inference_mode(), detector.autocast(precision, device):
            out = detector.model([im.to(device) for im in images])
        preds.extend({k: v.float().cpu() if v.is_floating_point() else v.cpu() for k, v in o.items()} for o in out)
        targets.extend(tgts)
    return mean_average_precision(preds, targets)


# -- public ---------------------------------------------------------------------------------------------
def train_detector(images, boxes=None, *, config=None, detector=None, val_images=None, val_boxes=None,
                   val_fraction=0.0, epochs=10, steps_per_epoch=None, batch_size=4, learning_rate=1e-4,
                   weight_decay=1e-4, warmup_steps=None, overlap=None, min_visible_fraction=0.5,
                   label_column=None, checkpoint_dir=None, resume=False, patience=None, seed=0,
                   precision="auto", device=None, progress_bar=True, register=True, **config_kwargs):
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
    **config_kwargs
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
    from ._inference import _scale
    from ._io import load_detector, save_detector
    from ._model import FasterRCNNDetector

    # -- settings
    if detector is not None:
        if not isinstance(detector, FasterRCNNDetector):
            raise TypeError(f"detector must be a FasterRCNNDetector, got {type(detector).__name__}")
        if config is not None or config_kwargs:
            raise ValueError("give either detector= (its config is used) or config/config fields, not both")
        config = detector.config
    elif config is None:
        config = DetectorConfig(**config_kwargs)
    elif not isinstance(config, DetectorConfig):
        raise TypeError(f"config must be a DetectorConfig, got {type(config).__name__}")
    elif config_kwargs:
        config = dataclasses.replace(config, **config_kwargs)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if steps_per_epoch is not None and (not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0):
        raise ValueError(f"steps_per_epoch must be a positive integer or None, got {steps_per_epoch!r}")
    if patience is not None and (not isinstance(patience, int) or patience <= 0):
        raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    if not (learning_rate > 0):
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    overlap = config.tile_size // 4 if overlap is None else overlap
    if not isinstance(overlap, int) or not 0 <= overlap < config.tile_size:
        raise ValueError(f"overlap must be an integer in [0, tile_size={config.tile_size}), got {overlap!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir=")
    dev = resolve_device(device)
    precision = resolve_precision(precision, dev)
    scale = _scale(config.tile_size, config.upscale)

    # -- data
    tiles = _prepare(images, boxes, config, overlap, min_visible_fraction, label_column, progress_bar)
    val_tiles = None
    if val_images is not None:
        val_tiles = _prepare(val_images, val_boxes, config, overlap, min_visible_fraction, label_column,
                             progress_bar, what="validation")
    elif val_fraction > 0:
        order = np.random.default_rng(seed).permutation(len(tiles))
        n_val = max(1, int(round(val_fraction * len(tiles))))
        if n_val >= len(tiles):
            raise ValueError(f"val_fraction={val_fraction} leaves no training tile out of {len(tiles)}")
        val_tiles = [tiles[i] for i in order[:n_val]]
        tiles = [tiles[i] for i in order[n_val:]]
    n_batches = math.ceil(len(tiles) / batch_size)
    steps = n_batches if steps_per_epoch is None else steps_per_epoch
    warmup = max(1, steps // 10) if warmup_steps is None else int(warmup_steps)
    logger.info("training %s detector (%s) on %d tiles (%d validation), %d steps x %d epochs", config.backbone,
                config.mode, len(tiles), len(val_tiles or ()), steps, epochs)

    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        if detector is None:
            detector = FasterRCNNDetector(config)
        detector.to(dev)
        params = [p for p in detector.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))
        start_epoch, best, best_epoch, bad_epochs, best_state = 0, -math.inf, None, 0, None
        history = list(detector.history)
        if resume and ckpt is not None and (ckpt / _STATE_NAME).is_file():
            saved = load_detector(ckpt / "last", device=dev)
            if saved.config != config:
                raise ValueError(f"the checkpoint in {str(ckpt)!r} was made with another configuration; use a new "
                                 "checkpoint_dir or the same settings")
            detector.model.load_state_dict(saved.model.state_dict())
            state = torch.load(ckpt / _STATE_NAME, map_location="cpu", weights_only=True)
            optimizer.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng"])
            gen.set_state(state["gen"])
            start_epoch, best, bad_epochs = int(state["epoch"]) + 1, float(state["best"]), int(state["bad_epochs"])
            best_epoch = None if int(state["best_epoch"]) < 0 else int(state["best_epoch"])
            history = json.loads(state["history"])
            if best_epoch is not None and (ckpt / "best").exists():
                best_state = copy.deepcopy(load_detector(ckpt / "best", device="cpu").model.state_dict())
            logger.info("resuming from epoch %d of %s", start_epoch, ckpt)

        for epoch in range(start_epoch, epochs):
            if patience is not None and bad_epochs >= patience:
                break
            t0 = time.perf_counter()
            detector.train(True)
            order = torch.randperm(len(tiles), generator=gen).tolist()
            while len(order) < steps * batch_size:  # more steps than tiles: draw further permutations
                order += torch.randperm(len(tiles), generator=gen).tolist()
            losses = []
            bar = _progress_bar(range(steps), desc=f"epoch {epoch + 1}/{epochs}", unit="step", enabled=progress_bar)
            for step in bar:
                idx = order[step * batch_size:(step + 1) * batch_size]
                imgs, tgts = _batch(tiles, idx, config, scale, gen)
                imgs = [im.to(dev) for im in imgs]
                tgts = [{k: v.to(dev) for k, v in t.items()} for t in tgts]
                with detector.autocast(precision, dev):
                    loss_dict = detector.model(imgs, tgts)
                loss = sum(v.float() for v in loss_dict.values())
                if not torch.isfinite(loss.detach()):
                    raise FloatingPointError(f"training loss became {float(loss.detach())} at epoch {epoch + 1}, step "
                                             f"{step + 1}; lower learning_rate (now {learning_rate})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 10.0)
                optimizer.step()
                sched.step()
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "loss_first": losses[0],
                      "loss_last": losses[-1], "steps": steps, "lr": optimizer.param_groups[0]["lr"]}
            if val_tiles:
                metrics = _tile_map(detector, val_tiles, batch_size, precision, dev)
                record.update(val_map=metrics["map"], val_map_50=metrics["map_50"])
                score = metrics["map_50"] if np.isfinite(metrics["map_50"]) else -1.0
                if score > best:
                    best, best_epoch, bad_epochs = score, epoch + 1, 0
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in detector.model.state_dict().items()})
                    if ckpt is not None:
                        detector.history = history + [record]
                        save_detector(detector, ckpt / "best", overwrite=True)
                else:
                    bad_epochs += 1
            record["time_s"] = round(time.perf_counter() - t0, 3)
            history.append(record)
            logger.info("epoch %d: %s", epoch + 1, record)
            if ckpt is not None:
                detector.history = history
                save_detector(detector, ckpt / "last", overwrite=True)
                state = {"optimizer": optimizer.state_dict(), "scheduler": sched.state_dict(),
                         "rng": torch.get_rng_state(), "gen": gen.get_state(), "epoch": epoch,
                         "best": best if np.isfinite(best) else -1.0, "best_epoch": best_epoch or -1,
                         "bad_epochs": bad_epochs, "history": json.dumps(history)}
                tmp = ckpt / (_STATE_NAME + ".tmp")
                torch.save(state, tmp)
                os.replace(tmp, ckpt / _STATE_NAME)
        if best_state is not None:
            detector.model.load_state_dict(best_state)
    detector.history = history
    detector.train(False)
    if register:
        from ._zoo import register_trained

        register_trained(detector)
    return detector
