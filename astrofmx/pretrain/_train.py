"""`pretrain`: self-supervised pretraining (DINO or MSN) of any registered backbone on unlabeled images."""

import dataclasses
import json
import logging
import math
import time
from pathlib import Path

from ._augment import AugmentationConfig
from ._checkpoint import has_checkpoint, load_checkpoint, read_state, save_checkpoint
from ._stream import TilePlan

__all__ = ["PretrainOptions", "PretrainResult", "pretrain"]

logger = logging.getLogger(__name__)

#: The self-supervised objectives (lightly's losses).
OBJECTIVES = ("dino", "msn")


@dataclasses.dataclass(frozen=True)
class PretrainOptions:
    """Optimizer, schedule and head settings of `pretrain`.

    Parameters
    ----------
    lr : float, optional
        Peak AdamW learning rate (after a linear warm-up), decayed on a cosine
        to ``min_lr``.
    min_lr : float, optional
    warmup_fraction : float, optional
        Fraction of the steps spent warming up.
    weight_decay : float, optional
    momentum : (float, float), optional
        EMA momentum of the teacher, from the first to the last step on
        lightly's cosine schedule.
    out_dim, hidden_dim, bottleneck_dim : int, optional
        DINO head output / hidden / bottleneck sizes (MSN: hidden and output
        sizes of its head are ``hidden_dim`` and ``bottleneck_dim``).
    n_prototypes : int, optional
        MSN prototypes.
    teacher_temp, student_temp : float, optional
        Softmax temperatures (MSN uses ``student_temp`` as its temperature).
    grad_clip : float or None, optional
        Clip the gradient norm.
    checkpoint_every : int, optional
        Steps between checkpoints (and at the end).

    Examples
    --------
    >>> from astrofmx.pretrain import PretrainOptions
    >>> PretrainOptions(lr=1e-3).momentum
    (0.99, 1.0)
    """

    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_fraction: float = 0.05
    weight_decay: float = 0.04
    momentum: tuple = (0.99, 1.0)
    out_dim: int = 4096
    hidden_dim: int = 512
    bottleneck_dim: int = 128
    n_prototypes: int = 512
    teacher_temp: float = 0.04
    student_temp: float = 0.1
    grad_clip: float = 3.0
    checkpoint_every: int = 50

    def __post_init__(self):
        for name in ("lr", "teacher_temp", "student_temp"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if not (len(self.momentum) == 2 and 0 <= self.momentum[0] <= self.momentum[1] <= 1):
            raise ValueError(f"momentum must be (start, end) with 0 <= start <= end <= 1, got {self.momentum!r}")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be a positive integer, got {self.checkpoint_every!r}")


@dataclasses.dataclass
class PretrainResult:
    """What `pretrain` returns: the backbone (eval mode), where it was saved, and the loss per step."""

    backbone: object
    folder: Path
    losses: list
    steps: int
    seconds: float


def _lr_at(step, total, opts):
    warm = int(opts.warmup_fraction * total)
    if step < warm:
        return opts.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return opts.min_lr + 0.5 * (opts.lr - opts.min_lr) * (1 + math.cos(math.pi * t))


def _resolve_steps(steps, epochs, n_windows, batch_size):
    if (steps is None) == (epochs is None):
        raise ValueError("give exactly one of steps= and epochs=")
    if steps is not None:
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        return steps
    if not epochs > 0:
        raise ValueError(f"epochs must be > 0, got {epochs!r}")
    return max(1, math.ceil(epochs * n_windows / batch_size))


def _batches(plan, start, total, batch_size, sample_kwargs, num_workers):
    """Batches ``start..total-1``: ``(global (B, G, 3, S, S), local (B, L, 3, s, s))``, deterministic."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    class _Samples(Dataset):
        def __len__(self):
            return total * batch_size

        def __getitem__(self, i):
            return plan.sample(i, **sample_kwargs)

    loader = DataLoader(_Samples(), batch_size=batch_size, sampler=range(start * batch_size, total * batch_size),
                        num_workers=num_workers, persistent_workers=False,
                        pin_memory=torch.cuda.is_available() and num_workers > 0)
    yield from loader


def _diverged(objective, loss, step, precision, opts, ckpt):
    """The `FloatingPointError` of a loss that is not finite at ``step`` (0-based), naming what to do."""
    saved = read_state(ckpt)["step"] if has_checkpoint(ckpt) else 0
    where = (f"the checkpoint in {str(ckpt)!r} holds step {saved}; continue it with precision='fp32' (if this "
             f"ran in bf16), or" if saved else "no checkpoint was saved yet;")
    return FloatingPointError(f"the {objective} loss is {loss} at step {step + 1} (precision {precision!r}, lr "
                              f"{opts.lr}): pretraining diverged; {where} start afresh (overwrite=True) with a lower "
                              f"lr in PretrainOptions")


def pretrain(inputs, *, backbone="resnet18", objective="dino", weights=None, output, steps=None, epochs=None,
             batch_size=64, crop_size=64, tile_size=None, sampling="tiles", augmentation=None, options=None,
             arch_overrides=None, name=None, seed=0, resume=True, stop_after=None, device=None, precision="auto",
             num_workers=0, metadata=None, register=True, overwrite=False, progress_bar=True):
    """Self-supervised pretraining (DINO or MSN) of a backbone on unlabeled images; saves a named backbone.

    Windows of the input images are streamed (see `TilePlan`: a tile grid or
    cutouts around classical detections, one tile in memory at a time),
    turned into views by astronomy augmentations (`AugmentationConfig`:
    crops, rotations, flips, beam blur, noise re-draws, stretch and clipping
    changes; no colour jitter) and fed to lightly's DINO or MSN loss with an
    EMA teacher. The run checkpoints to ``output/checkpoint`` (safetensors +
    JSON) every ``options.checkpoint_every`` steps; called again with the same
    settings it continues from there, and the result is identical to an
    uninterrupted run. At the end the teacher backbone is saved to
    ``output/backbone`` and, with ``register=True``, in the cache, so that
    ``get_backbone(name)``, ``embed(..., backbone=name)``, `LinearProbe`
    studies and ``train_detector`` load it by name.

    Parameters
    ----------
    inputs : path, glob pattern, folder, array, NDData or a list of these
        The unlabeled images (see `TilePlan`).
    backbone : str, optional
        A registered backbone (ViT or ResNet, ``"timm:<name>"`` too).
    objective : {'dino', 'msn'}, optional
    weights : {None, 'pretrained'} or path, optional
        Start from random weights (None), the published (e.g. ImageNet)
        weights, or a weight file.
    output : path-like
        Run folder (checkpoint, saved backbone, ``log.json``).
    steps, epochs : int or float, optional
        Length of the run: exactly one of them (an epoch is one pass over
        the plan's windows).
    batch_size : int, optional
        Tiles per step.
    crop_size : int, optional
        Side of the global views; the saved backbone's input size.
    tile_size : int, optional
        Side of the windows (default ``2 * crop_size``).
    sampling : {'tiles', 'detections'}, optional
        See `TilePlan`.
    augmentation : `AugmentationConfig`, optional
    options : `PretrainOptions`, optional
    arch_overrides : dict, optional
        Architecture options of the backbone (e.g. ``{"layers": (1, 1, 1, 1)}``
        for a ResNet-10 from the ``"resnet18"`` entry).
    name : str, optional
        Name of the saved backbone (default ``"<backbone>-<objective>"``).
    seed : int, optional
        Seeds the initial weights, the window order and every augmentation.
    resume : bool, optional
        Continue from ``output/checkpoint`` when it exists.
    stop_after : int, optional
        Stop once this many steps of the run are done (a checkpoint is
        written there) and save the backbone as it is then: splits a run
        over several calls (time-limited jobs) or takes an early look. The
        schedules still follow the full ``steps``; call again without it to
        continue.
    device : None, str or `torch.device`, optional
        None picks CUDA when available.
    precision : {'auto', 'fp32', 'bf16'}, optional
        'auto': bf16 autocast on GPUs that support it, else fp32 (on CPUs
        too: there bf16 training gave non-finite gradients at random). A
        non-finite loss stops the run with `FloatingPointError`; the
        checkpoint keeps the last good step.
    num_workers : int, optional
        Processes that draw the views (0: in the main process).
    metadata : dict, optional
        Extra entries for the saved backbone's ``metadata.json``.
    register : bool, optional
        Register the result in the cache under ``name``.
    overwrite : bool, optional
        Start afresh in an ``output`` folder that holds a finished run or a
        checkpoint of other settings.
    progress_bar : bool, optional

    Returns
    -------
    result : `PretrainResult`

    Raises
    ------
    ValueError
        For a bad option, or a checkpoint in ``output`` made with other
        settings.
    FileExistsError
        For a checkpoint in ``output`` with ``resume=False``.
    FloatingPointError
        When the loss stops being finite (the run diverged).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from astrofmx.backbones import embed
    >>> from astrofmx.pretrain import AugmentationConfig, PretrainOptions, pretrain
    >>> images = np.random.default_rng(0).normal(size=(8, 48, 48)).astype(np.float32)
    >>> result = pretrain(images, backbone="resnet18", arch_overrides={"layers": (1, 1, 1, 1)}, steps=2,
    ...                   batch_size=4, crop_size=32, augmentation=AugmentationConfig(local_crops=2),
    ...                   options=PretrainOptions(out_dim=64, hidden_dim=32, bottleneck_dim=16),
    ...                   output=tempfile.mkdtemp(), name="doctest-radio", progress_bar=False, device="cpu")
    >>> len(result.losses)
    2
    >>> embed(images[:2], backbone="doctest-radio", progress_bar=False).shape
    (2, 512)
    """
    import torch

    from astrofmx.backbones import get_backbone, save_backbone
    from astrofmx.utils import autocast, progress_bar as make_bar, resolve_device, resolve_precision

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if not isinstance(batch_size, int) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2, got {batch_size!r}")
    if not isinstance(crop_size, int) or crop_size < 16:
        raise ValueError(f"crop_size must be an integer >= 16, got {crop_size!r}")
    aug = augmentation if augmentation is not None else AugmentationConfig()
    opts = options if options is not None else PretrainOptions()
    if not isinstance(aug, AugmentationConfig) or not isinstance(opts, PretrainOptions):
        raise TypeError("augmentation must be an AugmentationConfig and options a PretrainOptions")
    overrides = dict(arch_overrides or {})
    name = name or f"{backbone.replace(':', '-')}-{objective}"
    output = Path(output)
    plan = TilePlan(inputs, tile_size=tile_size or 2 * crop_size, sampling=sampling)
    total = _resolve_steps(steps, epochs, len(plan), batch_size)
    if stop_after is not None and (not isinstance(stop_after, int) or stop_after < 1):
        raise ValueError(f"stop_after must be None or a positive integer, got {stop_after!r}")
    end = total if stop_after is None else min(total, stop_after)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    prec = "fp32" if prec == "fp16" else prec  # fp16 would need a gradient scaler; bf16 or fp32 only
    if precision == "auto" and dev.type == "cpu":
        # bf16 autocast on a CPU gave non-finite gradients at random (the tiny test configuration: NaN loss
        # from step 2-4 in 9 of 10 runs, AMX on or off; torch 2.14.1 on a Xeon with AVX512-BF16), fp32 never did
        prec = "fp32"
    settings = dict(backbone=backbone, objective=objective, weights=None if weights is None else str(weights),
                    steps=total, batch_size=batch_size, crop_size=crop_size, tile_size=plan.tile_size,
                    sampling=sampling, augmentation=aug.to_dict(), options=dataclasses.asdict(opts),
                    arch_overrides={k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()},
                    seed=seed, windows=len(plan), name=name)
    settings = json.loads(json.dumps(settings))
    ckpt = output / "checkpoint"
    if has_checkpoint(ckpt) and not overwrite:
        if not resume:
            raise FileExistsError(f"{str(ckpt)!r} holds a checkpoint; pass resume=True to continue it or "
                                  f"overwrite=True to start afresh")
        if read_state(ckpt)["settings"] != settings:
            raise ValueError(f"the checkpoint in {str(ckpt)!r} was made with other settings; pass "
                             f"overwrite=True to start afresh or the same settings to continue")

    torch.manual_seed(seed)
    net = get_backbone(backbone, weights=weights, device="cpu", progress_bar=progress_bar, **overrides)
    import dataclasses as _dc

    net.spec = _dc.replace(net.spec, input_size=crop_size)
    from ._objectives import _Objective

    model = _Objective(net, objective=objective, out_dim=opts.out_dim, hidden_dim=opts.hidden_dim,
                       bottleneck_dim=opts.bottleneck_dim, n_prototypes=opts.n_prototypes,
                       teacher_temp=opts.teacher_temp, student_temp=opts.student_temp).to(dev)
    optimizer = torch.optim.AdamW(model.student_parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    start, losses, seconds = 0, [], 0.0
    if resume and has_checkpoint(ckpt) and not overwrite:
        state = load_checkpoint(ckpt, model, optimizer)
        start, losses, seconds = state["step"], state["losses"], state["seconds"]
        logger.info("resuming %s from step %d of %d", output, start, total)
    from lightly.utils.scheduler import cosine_schedule

    model.train()
    sample_kwargs = dict(seed=seed, crop_size=crop_size, config=aug, mean=net.spec.mean, std=net.spec.std)
    bar = make_bar(total=total, desc=f"pretrain {objective}", unit="step", enabled=progress_bar)
    bar.update(min(start, end))
    t0 = time.perf_counter()
    try:
        for step, (g, loc) in enumerate(_batches(plan, start, end, batch_size, sample_kwargs, num_workers),
                                        start=start):
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, total, opts)
            with autocast(dev, prec):
                loss = model.loss(g.to(dev, non_blocking=True), loc.to(dev, non_blocking=True))
            if not torch.isfinite(loss):
                raise _diverged(objective, float(loss.detach()), step, prec, opts, ckpt)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if objective == "dino":  # DINO freezes the last head layer during the first epoch
                model.student_head.cancel_last_layer_gradients(step * batch_size // len(plan))
            if opts.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.student_parameters(), opts.grad_clip)
            optimizer.step()
            model.update_teacher(cosine_schedule(step, total, opts.momentum[0], opts.momentum[1]))
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            done = step + 1
            if done % opts.checkpoint_every == 0 or done == end:
                save_checkpoint(ckpt, model, optimizer, dict(step=done, losses=losses, settings=settings,
                                                             seconds=seconds + time.perf_counter() - t0))
    finally:
        bar.close()
    seconds += time.perf_counter() - t0
    teacher = model.teacher_backbone.eval()
    done = max(start, 0) if not losses else len(losses)
    meta = dict(objective=objective, base=backbone, start_weights=settings["weights"], steps=done, total_steps=total,
                batch_size=batch_size, crop_size=crop_size, seconds=round(seconds, 1), device=str(dev),
                precision=prec, final_loss=losses[-1] if losses else None, data=plan.describe(),
                settings=settings, **(metadata or {}))
    folder = save_backbone(teacher, output / "backbone", name=name, base=backbone, arch_overrides=overrides,
                           metadata=meta, register=register, overwrite=True)
    (output / "log.json").write_text(json.dumps(dict(losses=losses, seconds=seconds), indent=1) + "\n")
    result_backbone = get_backbone(backbone, weights=folder / "model.safetensors", device=dev, **overrides)
    result_backbone.spec = _dc.replace(teacher.spec, name=name)
    return PretrainResult(backbone=result_backbone, folder=folder, losses=losses, steps=done, seconds=seconds)
