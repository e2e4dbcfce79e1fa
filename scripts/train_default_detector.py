"""Train the embedded default source detector of astrofmx (reproducible).

The detector shipped in ``astrofmx/data/models/default/`` was made with this
script. It trains a compact Faster R-CNN (a one-block-per-stage, half-width
ResNet-18 from timm with a 64-channel feature pyramid) on simulated fields of
two kinds, drawn with random seeds over wide ranges of observing settings:

- radio continuum fields (`astrofmx.datasets.random_radio_field`): restoring
  beams 2-12 px FWHM, elongated up to 3:1 at any position angle, with
  beam-correlated noise; point, extended, double and FR I/FR II sources;
  rings, stripes and dirty-beam sidelobes around bright sources; unlabelled
  diffuse emission; primary-beam-corrected noise and blanked edges;
- optical/IR fields (`astrofmx.datasets.random_optical_field`): Moffat PSFs
  1.5-8 px FWHM with wings, stars (sparse and crowded) with saturation, bleed
  trails and diffraction spikes, Sersic galaxies of many sizes (one box each),
  structured skies, hot pixels and cosmic rays, Poisson plus read noise.

``detect_sources`` resamples an image whose beam/PSF lies outside the
detector's ``beam_range`` so that it falls inside, so each training field is
brought to the scale the detector works at in the same way: a field whose
beam/PSF (geometric mean of the FWHMs, from its header) lies outside
``--beam-range`` is simulated at ``field_size / f`` pixels and resampled by
``f`` (area averaging when shrinking) so that its beam becomes a random value
inside the range; the truth boxes are mapped with the same pixel mapping.
Images are normalized with the ``"radio-local"`` preset (signal-to-noise
against a local background and noise mesh), which serves both kinds. Sources
with a peak signal-to-noise ratio of at least ``--min-snr`` are the training
targets. The best epoch by validation mAP@50 (fields with other seeds) is
kept; the weights are stored in fp16, and the training command, the data
settings and the final metrics are written to ``metadata.json`` beside the
model. ``--init`` starts from a saved detector (a second stage at a lower
``--lr``, or fine-tuning the previous default on the wider domain).

``--backbone NAME`` builds the detector on a shipped or registered backbone
with its pretrained weights instead (``--mode frozen``: only the pyramid and
heads train, from cached backbone features; ``--mode finetune``: everything
trains; ``--heads-from DIR`` starts the pyramid and heads from another
detector's). The detector shipped beside the self-supervised
``astrofmx-radio`` backbone (``astrofmx/data/models/astrofmx-radio/detector/``)
was made with the last command below.

Usage::

    python scripts/train_default_detector.py --init astrofmx/data/models/default --epochs 30 \
        --out /tmp/new-default --overwrite
    python scripts/train_default_detector.py --quick --out /tmp/default_try
    python scripts/train_default_detector.py --backbone astrofmx-radio --mode finetune \
        --heads-from astrofmx/data/models/default --train-seeds 1000 1240 --val-seeds 5000 5016 \
        --epochs 24 --steps-per-epoch 50 --lr 5e-4 --out /tmp/radio-detector --overwrite
"""

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

#: The architecture of the default detector.
DEFAULT_CONFIG = dict(
    backbone="timm:resnet18",
    backbone_kwargs={"layers": [1, 1, 1, 1], "channels": [32, 64, 128, 256]},
    weights=None, mode="scratch", tile_size=128, upscale=1.0, normalizer="radio-local",
    pyramid_channels=64, representation_size=256, anchor_sizes=(6, 12, 24, 48, 96),
    rpn_pre_nms_top_n=600, rpn_post_nms_top_n=300, rpn_batch_size_per_image=256,
    box_batch_size_per_image=256, box_detections_per_img=300, box_score_thresh=0.05,
    box_nms_thresh=0.5, augmentations=("flip", "rot90", "contrast", "jitter"),
    # 384-px inference tiles: the same bench_finders F1 as 256 px, with 16% less CPU (less overlap)
    rpn_score_thresh=0.05, inference_tile_size=384, min_snr=5.0,
    # 64-px overlaps instead of a quarter of the tile (96): the same bench_finders F1, 18% less time on 4096^2
    inference_overlap=64,
    # one RoIAlign point per bin: the same bench_finders and bench_real F1, ~10% less CPU on 4096^2
    inference_roi_sampling=1,
)


#: Settings used only by detect_sources; a second stage (--init) takes them from DEFAULT_CONFIG.
INFERENCE_ONLY = ("rpn_score_thresh", "inference_tile_size", "inference_overlap", "inference_roi_sampling", "min_snr")


#: The simulators of the two kinds of training field, and the header keyword giving the beam/PSF.
KINDS = ("radio", "optical")


def _simulator(kind):
    from astrofmx.datasets import random_optical_field, random_radio_field

    return {"radio": random_radio_field, "optical": random_optical_field}[kind]


def beam_pixels(header):
    """Geometric-mean FWHM of the beam (radio: BMAJ/BMIN) or PSF (optical: PSFFWPIX) in pixels."""
    if "BMAJ" in header:
        scale = abs(float(header["CDELT2"]))
        return float(np.sqrt(float(header["BMAJ"]) * float(header["BMIN"]))) / scale
    return float(header["PSFFWPIX"])


def scaled_field(kind, seed, size, beam_range):
    """One field of ``kind`` at the detector's scale: (data, truth boxes, truth peak S/N, settings)."""
    from astrofmx.preprocess import resample_image

    simulate = _simulator(kind)
    rng = np.random.default_rng([int(seed), 7])
    native = beam_pixels(simulate((32, 32), seed=int(seed), return_truth=False).header)
    lo, hi = beam_range
    factor = 1.0 if lo <= native <= hi else float(rng.uniform(lo, hi)) / native
    n = int(np.clip(round(size / factor), 96, 2048))
    field = simulate((n, n), seed=int(seed))
    truth = field.truth
    boxes = np.stack([np.asarray(truth[c], float) for c in ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")],
                     axis=1).reshape(-1, 4)
    data = np.asarray(field.data, dtype=np.float32)
    if factor != 1.0:
        data, mapping = resample_image(data, factor=factor, interpolation="area" if factor < 1 else "bilinear")
        boxes = np.asarray(mapping.boxes_to_model(boxes), float).reshape(-1, 4) if len(boxes) else boxes
    settings = {"kind": kind, "seed": int(seed), "native_beam_px": round(native, 3), "factor": round(factor, 4),
                "shape": list(data.shape)}
    return data, boxes, np.asarray(truth["snr"], float), settings


def training_field(kind, seed, size, beam_range, min_snr):
    """One field of ``kind`` at the detector's scale, targets of peak S/N >= ``min_snr``: (data, boxes, settings)."""
    data, boxes, snr, settings = scaled_field(kind, seed, size, beam_range)
    boxes = boxes[snr >= min_snr]
    return data, boxes, {**settings, "n_targets": int(len(boxes))}


def make_fields(seeds, size, min_snr, beam_range, optical_fraction):
    """Fields for the seeds; a seed's kind is optical for a fraction ``optical_fraction`` of the seeds."""
    images, boxes, settings = [], [], []
    for s in seeds:
        kind = "optical" if np.random.default_rng([int(s), 11]).random() < optical_fraction else "radio"
        data, b, st = training_field(kind, s, size, beam_range, min_snr)
        images.append(data)
        boxes.append(b)
        settings.append(st)
    return images, boxes, settings


def save_fp16(detector, out, metadata, overwrite):
    """Save with `save_detector`, then rewrite the weights in fp16 (load_detector casts them back)."""
    import torch
    from safetensors.torch import load_file, save_file

    from astrofmx.detection import save_detector

    out = save_detector(detector, out, overwrite=overwrite)
    wfile = Path(out) / "model.safetensors"
    state = load_file(str(wfile))
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    save_file(state, str(wfile), metadata={"format": "astrofmx-detector/1", "dtype": "float16"})
    (Path(out) / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
    for name in ("config.json", "model.safetensors", "metadata.json"):  # package data: world-readable
        os.chmod(Path(out) / name, 0o644)
    return out, torch


def backbone_config(backbone, mode):
    """`DEFAULT_CONFIG`, or the same detector on ``backbone``'s pretrained weights (``mode``: frozen/finetune)."""
    if backbone is None:
        return dict(DEFAULT_CONFIG)
    return {**DEFAULT_CONFIG, "backbone": backbone, "backbone_kwargs": {}, "weights": "pretrained", "mode": mode}


def with_heads_from(config, folder):
    """A detector of ``config`` (pretrained backbone) whose pyramid, RPN and RoI heads are those saved in
    ``folder``."""
    from astrofmx.detection import FasterRCNNDetector, load_detector

    det = FasterRCNNDetector(config)
    heads = {k: v for k, v in load_detector(folder).state_dict().items() if not k.startswith("model.backbone.body.")}
    missing, unexpected = det.load_state_dict(heads, strict=False)
    if unexpected or any(not k.startswith("model.backbone.body.") for k in missing):
        raise SystemExit(f"--heads-from {folder}: its heads do not fit ({unexpected or missing})")
    return det


def detector_name(backbone, mode):
    if backbone is None:
        return "astrofmx default source detector (radio and optical/IR)"
    how = "frozen" if mode == "frozen" else "fine-tuned"
    return f"astrofmx source detector on the {backbone} backbone ({how}; radio and optical/IR)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory of the detector")
    p.add_argument("--checkpoint-dir", default=None, help="checkpoints (default: <out>-ckpt)")
    p.add_argument("--train-seeds", type=int, nargs=2, default=(1000, 1120), metavar=("FIRST", "STOP"),
                   help="simulation seeds range(FIRST, STOP) of the training fields")
    p.add_argument("--val-seeds", type=int, nargs=2, default=(5000, 5008), metavar=("FIRST", "STOP"),
                   help="seeds of the validation fields (keep them apart from the training seeds)")
    p.add_argument("--field-size", type=int, default=384)
    p.add_argument("--min-snr", type=float, default=5.0, help="peak S/N of the training targets")
    p.add_argument("--beam-range", type=float, nargs=2, default=(2.0, 7.0), metavar=("LO", "HI"),
                   help="beam/PSF FWHM range (pixels) the fields are brought to")
    p.add_argument("--optical-fraction", type=float, default=0.45, help="fraction of optical/IR fields")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--init", default=None, metavar="DIR",
                   help="start from this saved detector instead of random weights (a second stage at a lower "
                        "--lr settles the weights of a first run)")
    p.add_argument("--backbone", default=None,
                   help="build on this shipped or registered backbone, with its pretrained weights (e.g. "
                        "astrofmx-radio), instead of the default's own from-scratch network")
    p.add_argument("--mode", choices=("frozen", "finetune"), default="frozen",
                   help="with --backbone: train only the pyramid and heads (from cached features), or all")
    p.add_argument("--heads-from", default=None, metavar="DIR",
                   help="with --backbone: start the pyramid, RPN and RoI heads from this saved detector of the "
                        "same head architecture (e.g. the default), the backbone from its pretrained weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--finalize", action="store_true",
                   help="do not train: export the best checkpoint of --checkpoint-dir (after stopping a run early)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quick", action="store_true", help="a few-minute smoke run")
    args = p.parse_args(argv)
    import torch

    from astrofmx.detection import DetectorConfig, evaluate_detector, load_detector, train_detector

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.quick:
        args.train_seeds, args.val_seeds, args.epochs, args.steps_per_epoch = (1000, 1010), (5000, 5002), 3, 20
    if set(range(*args.train_seeds)) & set(range(*args.val_seeds)):
        p.error(f"--train-seeds {args.train_seeds} and --val-seeds {args.val_seeds} overlap; keep them apart")
    config = DetectorConfig(**backbone_config(args.backbone, args.mode))
    t0 = time.time()
    fields = dict(size=args.field_size, min_snr=args.min_snr, beam_range=tuple(args.beam_range),
                  optical_fraction=args.optical_fraction)
    tr_img, tr_box, tr_set = make_fields(range(*args.train_seeds), **fields)
    va_img, va_box, va_set = make_fields(range(*args.val_seeds), **fields)
    logging.info("simulated %d training and %d validation fields in %.0f s", len(tr_img), len(va_img),
                 time.time() - t0)
    ckpt = args.checkpoint_dir or (str(args.out).rstrip("/") + "-ckpt")
    if args.finalize:
        det = load_detector(Path(ckpt) / "best")
        state = torch.load(Path(ckpt) / "trainer_state.pt", map_location="cpu", weights_only=True) \
            if (Path(ckpt) / "trainer_state.pt").is_file() else None
        if state is not None:
            det.history = json.loads(state["history"])
    else:
        init = load_detector(args.init) if args.init else None
        if init is not None:
            config = init.config
        elif args.heads_from:
            init = with_heads_from(config, args.heads_from)
        det = train_detector(tr_img, tr_box, config=None if init is not None else config, detector=init,
                             val_images=va_img, val_boxes=va_box,
                             epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                             learning_rate=args.lr, seed=args.seed, checkpoint_dir=ckpt, resume=args.resume,
                             precision="fp32", progress_bar=False, register=False)
    train_time = time.time() - t0
    # inference-only settings (they change nothing in training) follow DEFAULT_CONFIG, also after --init
    det.config = config = dataclasses.replace(det.config, **{k: DEFAULT_CONFIG[k] for k in INFERENCE_ONLY})
    metrics = evaluate_detector(det, va_img, va_box, radius=None, progress_bar=False)
    metrics = {k: (float(v.value) if hasattr(v, "unit") else v) for k, v in metrics.items()}
    metadata = {
        "name": detector_name(args.backbone, args.mode),
        "command": "python scripts/" + Path(__file__).name + " " + " ".join(
            a for a in (sys.argv[1:] if argv is None else argv) if a != "--finalize"),
        "finalized_from_checkpoint": bool(args.finalize),
        "epochs_run": len(det.history),
        "arguments": vars(args),
        "config": dataclasses.asdict(config) | {"augmentations": list(config.augmentations)},
        "data": {"simulators": ["astrofmx.datasets.random_radio_field", "astrofmx.datasets.random_optical_field"],
                 "field_size": args.field_size, "optical_fraction": args.optical_fraction,
                 "beam_range_px": list(args.beam_range),
                 "train_seeds": list(args.train_seeds), "val_seeds": list(args.val_seeds),
                 "targets": f"sources with peak S/N >= {args.min_snr}",
                 "ranges": "see the docstrings of random_radio_field and random_optical_field; fields whose "
                           "beam/PSF lies outside beam_range_px are resampled into it",
                 "train_settings": tr_set, "val_settings": va_set},
        "val_metrics": metrics,
        "history": det.history,
        "train_time_s": round(train_time, 1),
        "weights_dtype": "float16",
        "torch": torch.__version__,
    }
    out, _ = save_fp16(det, args.out, metadata, args.overwrite)
    reloaded = load_detector(out)
    logging.info("saved %s (%.2f MB); val metrics %s", out,
                 (Path(out) / "model.safetensors").stat().st_size / 1e6, metrics)
    assert reloaded.config == det.config
    return 0


if __name__ == "__main__":
    sys.exit(main())
