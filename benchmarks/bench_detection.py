"""Benchmark of astrofmx source detection on simulated radio fields (CPU).

Measures, for a ResNet-18 and a ViT backbone in the three training modes
(frozen backbone, fine-tuned, from scratch):

- mAP@50 (pycocotools) and completeness / purity / F1 on a held-out simulated
  field after a fixed training budget,
- the mean training step time,
- the inference throughput of ``detect_sources`` in Mpix/s,

and the peak RSS of ``detect_sources`` on an 8192 x 8192 image (in a
separate process, reading a FITS file from disk).

Pretrained weights cannot be downloaded on the benchmark machine, so every
backbone starts from a random initialisation. "frozen" therefore freezes a
*random* backbone (only the pyramid, RPN and RoI heads learn), and
"finetune" and "scratch" both start from random weights (they differ only in
batch-norm handling: fine-tuning keeps the batch-norm statistics fixed). The
comparison shows how much the backbone must learn, not the benefit of
pretraining that the paper measured.

Usage::

    python benchmarks/bench_detection.py --quick     # ~5 minutes on 2 cores
    python benchmarks/bench_detection.py             # larger fields, more steps, ViT-Tiny
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np


def _fields(args):
    from astrofmx.datasets import simulate_radio_field

    kw = dict(extended_fraction=0.1, double_fraction=0.02, flux_min_snr=5)
    train = simulate_radio_field((args.train_size,) * 2, seed=1, source_density=6000, **kw)
    test = simulate_radio_field((args.test_size,) * 2, seed=2, source_density=6000, **kw)
    return train, test


def _run(backbone, mode, train, test, args):
    import torch

    from astrofmx.detection import detect_sources, evaluate_detector, train_detector

    kwargs = {} if backbone == "resnet18" else dict(args.vit)
    heads = dict(pyramid_channels=args.channels, representation_size=256, rpn_batch_size_per_image=128,
                 box_batch_size_per_image=128, rpn_pre_nms_top_n=300, rpn_post_nms_top_n=150,
                 anchor_sizes=(4, 8, 16, 32, 64))
    name = "msn" if backbone == "vit" else backbone
    # ViTs see tiles upscaled 2x, so that a 4-pixel beam covers half a 16-pixel patch (the paper's advice)
    tile, upscale = (args.tile, 1) if backbone == "resnet18" else (args.vit["img_size"] // 2, 2)
    t0 = time.perf_counter()
    det = train_detector(train.to_nddata(), train.truth, backbone=name, backbone_kwargs=kwargs, weights=None,
                         mode=mode, tile_size=tile, upscale=upscale, epochs=1, steps_per_epoch=args.steps,
                         batch_size=args.batch, learning_rate=1e-3, precision=args.precision, seed=0,
                         progress_bar=False, **heads)
    train_s = time.perf_counter() - t0
    step_s = det.history[0]["time_s"] / args.steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = evaluate_detector(det, test.to_nddata(), test.truth, precision=args.precision, progress_bar=False)
        t0 = time.perf_counter()
        detect_sources(test.to_nddata(), model=det, precision=args.precision, progress_bar=False)
        infer_s = time.perf_counter() - t0
        big_tile = 4 * tile  # inference on larger tiles amortises the per-tile cost (proposals scale with area)
        t0 = time.perf_counter()
        detect_sources(test.to_nddata(), model=det, tile_size=big_tile, precision=args.precision, progress_bar=False)
        infer_big_s = time.perf_counter() - t0
    counts = det.count_parameters()
    return {"backbone": backbone, "mode": mode, "trainable": counts["trainable"], "total": counts["total"],
            "map50": metrics["map_50"], "map": metrics["map"], "completeness": metrics["completeness"],
            "purity": metrics["purity"], "f1": metrics["f1"], "step_s": step_s, "train_s": train_s,
            "mpix_s": test.data.size / 1e6 / infer_s, "mpix_s_big": test.data.size / 1e6 / infer_big_s,
            "tile": tile, "big_tile": big_tile, "upscale": upscale}


_RSS_SCRIPT = textwrap.dedent("""
    import resource, sys, time, warnings
    import numpy as np
    import torch
    torch.set_num_threads(int(sys.argv[4]))
    from astrofmx.detection import build_detector, detect_sources
    det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=int(sys.argv[2]),
                         pyramid_channels=64, representation_size=256)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cat = detect_sources(sys.argv[1], model=det, tile_size=int(sys.argv[2]), overlap=int(sys.argv[3]),
                             score_threshold=0.5, progress_bar=False)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{base / 1024:.0f} {peak / 1024:.0f} {dt:.1f} {len(cat)} {cat.meta['n_tiles']}")
""")


def _peak_rss(size, tile, overlap, threads):
    """Peak RSS (MiB) of detect_sources on a size x size float32 FITS image, in a fresh process."""
    from astropy.io import fits

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.fits")
        rng = np.random.default_rng(0)
        data = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
        for x, y in rng.integers(10, size - 10, (2000, 2)):
            data[y - 2:y + 3, x - 2:x + 3] += 20.0
        fits.PrimaryHDU(data).writeto(path)
        del data
        out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, path, str(tile), str(overlap), str(threads)],
                             capture_output=True, text=True, check=True)
    base, peak, secs, n, tiles = out.stdout.split()
    return {"size": size, "rss_before_mib": float(base), "peak_rss_mib": float(peak), "seconds": float(secs),
            "sources": int(n), "tiles": int(tiles), "image_mib": size * size * 4 / 2**20}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small fields, few steps, tiny ViT (~5 min)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--no-rss", action="store_true", help="skip the 8k x 8k peak-RSS run")
    parser.add_argument("--rss-size", type=int, default=8192)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if args.quick:
        args.train_size, args.test_size, args.steps, args.batch, args.tile, args.channels = 256, 256, 40, 4, 64, 64
        args.vit = {"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64}
        vit_name = "ViT depth 2, dim 64, patch 16"
    else:
        args.train_size, args.test_size, args.steps, args.batch, args.tile, args.channels = 512, 512, 300, 8, 128, 128
        args.vit = {"depth": 12, "embed_dim": 192, "num_heads": 3, "img_size": 128}
        vit_name = "ViT-Tiny/16 (depth 12, dim 192)"
    train, test = _fields(args)
    print(f"# fields: train {train.data.shape} ({len(train.truth)} sources), test {test.data.shape} "
          f"({len(test.truth)} sources); {args.steps} steps x batch {args.batch}; torch threads {args.threads}; "
          f"precision {args.precision}; ViT = {vit_name}; all backbones randomly initialised")
    rows = []
    for backbone in ("resnet18", "vit"):
        for mode in ("frozen", "finetune", "scratch"):
            rows.append(_run(backbone, mode, train, test, args))
            r = rows[-1]
            print(f"  done {backbone}/{mode}: mAP50 {r['map50']:.3f} in {r['train_s']:.0f} s", flush=True)
    header = (f"{'backbone':9s} {'mode':8s} {'trainable':>10s} {'total':>10s} {'mAP50':>6s} {'mAP':>6s} "
              f"{'compl':>6s} {'purity':>6s} {'F1':>6s} {'s/step':>7s} {'tile':>8s} {'Mpix/s':>7s} "
              f"{'tile x4':>7s} {'Mpix/s':>7s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backbone']:9s} {r['mode']:8s} {r['trainable']:10d} {r['total']:10d} {r['map50']:6.3f} "
              f"{r['map']:6.3f} {r['completeness']:6.3f} {r['purity']:6.3f} {r['f1']:6.3f} {r['step_s']:7.3f} "
              f"{str(r['tile']) + 'x' + str(r['upscale']):>8s} {r['mpix_s']:7.3f} {r['big_tile']:7d} "
              f"{r['mpix_s_big']:7.3f}")
    if not args.no_rss:
        tile, overlap = (512, 32) if args.quick else (256, 64)
        rss = _peak_rss(args.rss_size, tile, overlap, args.threads)
        print(f"\ndetect_sources on a {rss['size']}x{rss['size']} float32 FITS ({rss['image_mib']:.0f} MiB of data), "
              f"ResNet-18 detector, tile {tile}, overlap {overlap}: peak RSS {rss['peak_rss_mib']:.0f} MiB "
              f"(process before the call: {rss['rss_before_mib']:.0f} MiB), {rss['seconds']:.0f} s for "
              f"{rss['tiles']} tiles ({rss['size'] ** 2 / 1e6 / rss['seconds']:.2f} Mpix/s)")
    print(f"# max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
