"""Train the embedded default source detector of astrofmx (reproducible).

The detector shipped in ``astrofmx/data/models/default/`` was made with this
script. It trains a compact Faster R-CNN (a one-block-per-stage, half-width
ResNet-18 from timm with a 64-channel feature pyramid) from scratch on
simulated radio continuum fields (`astrofmx.datasets.simulate_radio_field`)
drawn with random seeds over a range of noise levels, beam sizes (2.5-6
pixels FWHM), source densities, morphology mixes, with and without imaging
artefacts. About 40% of the fields are primary-beam corrected (the noise
rises toward the edges as 1 / PB, PB FWHM 0.6-1.5 times the field size, and
half of those are blanked (NaN) where PB < 0.2-0.4, as in real
MeerKAT/ASKAP/VLA maps); a third of the others have NaN outside a circle
like the edges of real mosaics. Images are normalized with the
``"radio-local"`` preset (signal-to-noise against a local background and
noise mesh), so a rising noise looks the same as a flat one. Sources with a
peak signal-to-noise ratio (against the local noise) of at least
``--min-snr`` are the training targets. The best epoch by validation mAP@50 (on fields with other
seeds) is kept; the weights are stored in fp16 and the training command, the
data settings and the final metrics are written to ``metadata.json`` beside
the model.

Usage::

    python scripts/train_default_detector.py --minutes 30 --out astrofmx/data/models/default --overwrite
    python scripts/train_default_detector.py --quick --out /tmp/default_try
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
    rpn_score_thresh=0.05, inference_tile_size=256, min_snr=5.0,
)


#: Settings used only by detect_sources; a second stage (--init) takes them from DEFAULT_CONFIG.
INFERENCE_ONLY = ("rpn_score_thresh", "inference_tile_size", "min_snr")


def random_field(seed, size):
    """One simulated field with random observing settings; returns (data, truth, settings)."""
    import astropy.units as u

    from astrofmx.datasets import simulate_radio_field

    rng = np.random.default_rng(seed)
    pix = 1.5
    beam_px = rng.uniform(2.5, 6.0)
    ell = rng.uniform(1.0, 1.4) if rng.random() < 0.4 else 1.0
    density = float(np.exp(rng.uniform(np.log(1500), np.log(15000))))
    settings = dict(
        seed=int(seed), shape=[size, size], beam_fwhm_px=[round(beam_px * ell, 3), round(beam_px, 3)],
        beam_pa=round(float(rng.uniform(0, 180)), 1), rms_jy=float(10 ** rng.uniform(-5.3, -3)),
        source_density=round(density, 1), flux_max_snr=float(10 ** rng.uniform(2.3, 4.3)),
        powerlaw_index=round(float(rng.uniform(2.0, 2.8)), 3),
        extended_fraction=round(float(rng.uniform(0.0, 0.3)), 3),
        double_fraction=round(float(rng.uniform(0.0, 0.12)), 3),
        artefacts=[None, None, "rings", "stripes"][int(rng.integers(4))],
        artefact_amplitude=round(float(rng.uniform(0.01, 0.05)), 4),
    )
    # primary-beam-corrected noise in ~40% of the fields (NaN below a PB cut in half of those);
    # NaN outside a circle in a third of the others
    use_pb = bool(rng.random() < 0.4)
    settings["pb_fwhm_px"] = round(float(rng.uniform(0.6, 1.5) * size), 1) if use_pb else None
    settings["pb_center"] = [round(float(c), 1) for c in (size - 1) / 2 + rng.uniform(-0.15, 0.15, 2) * size] \
        if use_pb else None
    settings["pb_cutoff"] = round(float(rng.uniform(0.2, 0.4)), 3) if use_pb and rng.random() < 0.5 else None
    settings["blank"] = bool(not use_pb and rng.random() < 0.35)
    field = simulate_radio_field(
        (size, size), seed=int(seed), pixel_scale=pix * u.arcsec,
        beam_fwhm=(settings["beam_fwhm_px"][0] * pix * u.arcsec, settings["beam_fwhm_px"][1] * pix * u.arcsec),
        beam_pa=settings["beam_pa"] * u.deg, rms=settings["rms_jy"] * u.Jy / u.beam,
        source_density=settings["source_density"], flux_max_snr=settings["flux_max_snr"],
        powerlaw_index=settings["powerlaw_index"], extended_fraction=settings["extended_fraction"],
        double_fraction=settings["double_fraction"], artefacts=settings["artefacts"],
        artefact_amplitude=settings["artefact_amplitude"],
        primary_beam_fwhm=None if not use_pb else settings["pb_fwhm_px"] * pix * u.arcsec,
        primary_beam_center=settings["pb_center"], pb_cutoff=settings["pb_cutoff"])
    data = np.array(field.data, dtype=np.float32)
    truth = field.truth
    if settings["blank"]:  # NaN outside a circle (as in a SIN-projected single-dish or mosaic image)
        yy, xx = np.mgrid[:size, :size]
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(0.4, 0.9) * size
        outside = (xx - cx) ** 2 + (yy - cy) ** 2 > r ** 2
        data[outside] = np.nan
        xi = np.clip(np.round(truth["x_centroid"]).astype(int), 0, size - 1)
        yi = np.clip(np.round(truth["y_centroid"]).astype(int), 0, size - 1)
        truth = truth[~outside[yi, xi]]
    return data, truth, settings


def make_fields(seeds, size, min_snr):
    images, boxes, settings = [], [], []
    for s in seeds:
        data, truth, st = random_field(s, size)
        keep = np.asarray(truth["snr"]) >= min_snr
        t = truth[keep]
        images.append(data)
        boxes.append(np.stack([np.asarray(t[c], float) for c in
                               ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")], axis=1).reshape(-1, 4))
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
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--init", default=None, metavar="DIR",
                   help="start from this saved detector instead of random weights (a second stage at a lower "
                        "--lr settles the weights of a first run)")
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
    config = DetectorConfig(**DEFAULT_CONFIG)
    t0 = time.time()
    tr_img, tr_box, tr_set = make_fields(range(*args.train_seeds), args.field_size, args.min_snr)
    va_img, va_box, va_set = make_fields(range(*args.val_seeds), args.field_size, args.min_snr)
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
        det = train_detector(tr_img, tr_box, config=None if init is not None else config, detector=init,
                             val_images=va_img, val_boxes=va_box,
                             epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=args.batch_size,
                             learning_rate=args.lr, seed=args.seed, checkpoint_dir=ckpt, resume=args.resume,
                             precision="fp32", progress_bar=False)
    train_time = time.time() - t0
    # inference-only settings (they change nothing in training) follow DEFAULT_CONFIG, also after --init
    det.config = config = dataclasses.replace(det.config, **{k: DEFAULT_CONFIG[k] for k in INFERENCE_ONLY})
    metrics = evaluate_detector(det, va_img, va_box, radius=None, progress_bar=False)
    metrics = {k: (float(v.value) if hasattr(v, "unit") else v) for k, v in metrics.items()}
    metadata = {
        "name": "astrofmx default radio source detector",
        "command": "python scripts/" + Path(__file__).name + " " + " ".join(
            a for a in (sys.argv[1:] if argv is None else argv) if a != "--finalize"),
        "finalized_from_checkpoint": bool(args.finalize),
        "epochs_run": len(det.history),
        "arguments": vars(args),
        "config": dataclasses.asdict(config) | {"augmentations": list(config.augmentations)},
        "data": {"simulator": "astrofmx.datasets.simulate_radio_field", "field_size": args.field_size,
                 "train_seeds": list(args.train_seeds), "val_seeds": list(args.val_seeds),
                 "targets": f"sources with peak S/N >= {args.min_snr}",
                 "ranges": "beam FWHM 2.5-6 px (40% elliptical up to 1.4:1), rms 5e-6 - 1e-3 Jy/beam, "
                           "1500-15000 sources/deg2 (1.5 arcsec pixels), max S/N 200-20000, extended 0-30%, "
                           "doubles 0-12%, artefacts none/rings/stripes; 40% primary-beam corrected (noise / PB, "
                           "PB FWHM 0.6-1.5 x field size, centre within 15% of the field centre, half of them "
                           "NaN where PB < 0.2-0.4), 35% of the others NaN outside a circle; targets S/N "
                           "against the local noise",
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
