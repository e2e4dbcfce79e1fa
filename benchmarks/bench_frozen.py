"""Frozen-backbone detector training: per-epoch time and mAP from cached features against the backbone run
at every step.

Two parts, in one process:

1. **Timing at real size** (default ViT-B ``msn``, random weights, the default `DetectorConfig` heads and
   256-px tiles): ``train_detector(mode='frozen')`` with ``feature_cache=None`` (the backbone runs at every
   step, all augmentations) and with ``feature_cache='memory'`` (the backbone runs once per tile and flip/
   rotation, then the pyramid and heads train from the cache). Per-epoch seconds (the mean over epochs, from
   ``detector.history``), the one-off cache build, and the ratio.
2. **mAP** with a small configuration trained long enough to learn (a frozen random ResNet-18, small heads): mAP@50 on a
   held-out simulated field for ``feature_cache=None`` with every augmentation, with the geometric ones only,
   and cached, over ``--seeds`` seeds (mean and spread: the noise the cached result is compared against).

The machine this runs on may be shared: the two timings of part 1 run back to back, alternating, and the
ratio is what counts.

Usage::

    python benchmarks/bench_frozen.py --quick        # tiny sizes, ~2 min on 2 cores
    python benchmarks/bench_frozen.py                # ViT-B at real size (long on a CPU, minutes on a GPU)
    python benchmarks/bench_frozen.py --backbone resnet50 --device cuda
"""

import argparse
import os
import time
import warnings

import numpy as np

TINY_VIT = {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64}
SMALL_HEADS = dict(pyramid_channels=32, representation_size=128, rpn_batch_size_per_image=64,
                   box_batch_size_per_image=64, rpn_pre_nms_top_n=200, rpn_post_nms_top_n=100,
                   anchor_sizes=(4, 8, 16, 32, 64))


def _field(shape, seed, n):
    from astrofmx.datasets import simulate_radio_field

    return simulate_radio_field(shape, seed=seed, n_sources=n, extended_fraction=0.1, double_fraction=0.0,
                                flux_min_snr=8)


def time_epochs(args):
    """``{label: (seconds per epoch, one-off seconds)}`` for uncached and cached frozen training."""
    from astrofmx.detection import train_detector

    if args.quick:
        config = dict(backbone="msn", backbone_kwargs=TINY_VIT, tile_size=64, **SMALL_HEADS)
        fields = [_field((128, 128), seed=s, n=25) for s in range(2)]
    else:
        config = dict(backbone=args.backbone, tile_size=args.tile_size)
        fields = [_field((args.field_size,) * 2, seed=s, n=40) for s in range(args.fields)]
    common = dict(mode="frozen", weights=None, epochs=args.epochs, steps_per_epoch=args.steps,
                  batch_size=args.batch_size, precision=args.precision, device=args.device, progress_bar=False,
                  register=False, seed=0, **config)
    images, boxes = [f.to_nddata() for f in fields], [f.truth for f in fields]
    out = {}
    for label, cache in (("uncached", None), ("cached", "memory")):
        start = time.perf_counter()
        det = train_detector(images, boxes, feature_cache=cache, **common)
        total = time.perf_counter() - start
        epochs = [h["time_s"] for h in det.history]
        out[label] = (float(np.mean(epochs)), total - sum(epochs))
    return out, common


def map_study(args):
    """``{label: [mAP@50 per seed]}`` of a small configuration trained to learn."""
    from astrofmx.detection import evaluate_detector, train_detector

    train = _field((192, 192), seed=1, n=60)
    test = _field((160, 160), seed=7, n=40)
    # a frozen random ResNet-18 keeps enough of the image for the heads to learn (a random ViT does not)
    common = dict(mode="frozen", weights=None, backbone="resnet18", tile_size=64, epochs=args.map_epochs,
                  steps_per_epoch=15, batch_size=4, learning_rate=1e-3, precision="fp32", device=args.device,
                  progress_bar=False, register=False, **SMALL_HEADS)
    runs = {"uncached, all augmentations": dict(feature_cache=None),
            "uncached, flips/rotations only": dict(feature_cache=None, augmentations=("flip", "rot90")),
            "cached (flips/rotations)": dict(feature_cache="memory")}
    out = {k: [] for k in runs}
    for seed in range(args.seeds):
        for label, extra in runs.items():
            det = train_detector(train.to_nddata(), train.truth, seed=seed, **common, **extra)
            m = evaluate_detector(det, test.to_nddata(), test.truth, precision="fp32", progress_bar=False)
            out[label].append(m["map_50"])
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny ViT and heads for the timing too")
    parser.add_argument("--backbone", default="msn", help="timing backbone (default msn: ViT-B/16)")
    parser.add_argument("--tile-size", type=int, default=256)
    parser.add_argument("--fields", type=int, default=2, help="simulated training fields for the timing")
    parser.add_argument("--field-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="steps per epoch (default: every tile once)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--device", default=None)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the mAP study (0 skips it)")
    parser.add_argument("--map-epochs", type=int, default=3)
    parser.add_argument("--map-only", action="store_true", help="only the mAP study")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.map_epochs = min(args.seeds, 2), min(args.map_epochs, 3)

    import torch

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    if not args.map_only:
        timing, common = time_epochs(args)
        name = "tiny ViT (2 blocks, 64 dims)" if args.quick else f"{args.backbone} (random weights)"
        print(f"# frozen training, {name}, tile {common['tile_size']}, batch {args.batch_size}, {args.epochs} "
              f"epochs, torch {torch.__version__}, {args.threads} threads; the machine may be shared")
        print("| training | s/epoch | one-off s (cache build) | epoch speed-up |")
        print("|---|---|---|---|")
        base = timing["uncached"][0]
        for label, (epoch, once) in timing.items():
            print(f"| {label} | {epoch:.2f} | {once:.2f} | {base / epoch:.1f}x |", flush=True)
    if args.seeds:
        maps = map_study(args)
        print(f"\n# mAP@50 on a held-out field, frozen random ResNet-18, small heads, {args.map_epochs} x 15 steps, "
              f"seeds 0..{args.seeds - 1}")
        print("| training | mAP@50 mean | std | per seed |")
        print("|---|---|---|---|")
        for label, values in maps.items():
            print(f"| {label} | {np.mean(values):.3f} | {np.std(values):.3f} | "
                  f"{' '.join(f'{v:.3f}' for v in values)} |")


if __name__ == "__main__":
    main()
