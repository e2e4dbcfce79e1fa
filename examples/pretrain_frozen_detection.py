"""Frozen-backbone detection on simulated radio fields: astrofmx-radio (SSL) against the same net at random init.

A Faster R-CNN with a **frozen** backbone (only the feature pyramid, RPN and
RoI heads train) is trained on simulated radio fields
(`astrofmx.datasets.simulate_radio_field`, seeds 100..) twice, with the same
settings and seed: once on the self-supervised ``astrofmx-radio`` backbone,
once on the same architecture with random weights. Both are scored on other
simulated fields (seeds 200..) with COCO mAP@50 (`evaluate_detector`).
``--ship DIR`` saves the SSL detector there.

Usage::

    python examples/pretrain_frozen_detection.py --train-fields 6 --epochs 6
"""

import argparse
import time

import numpy as np


def fields(seeds):
    from astrofmx.datasets import simulate_radio_field

    kw = dict(n_sources=60, extended_fraction=0.15, double_fraction=0.05, flux_min_snr=6)
    return [simulate_radio_field((256, 256), seed=int(s), **kw) for s in seeds]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-fields", type=int, default=6)
    parser.add_argument("--test-fields", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps-per-epoch", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ship", help="save the SSL detector in this folder")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from astrofmx.detection import evaluate_detector, save_detector, train_detector

    train = fields(range(100, 100 + args.train_fields))
    test = fields(range(200, 200 + args.test_fields))
    config = dict(backbone="astrofmx-radio", mode="frozen", tile_size=128, normalizer="radio", pyramid_channels=64,
                  representation_size=128, anchor_sizes=(4, 8, 16, 32, 64))
    rows, detectors = [], {}
    for label, weights in (("astrofmx-radio (SSL)", "pretrained"), ("random init", None)):
        t0 = time.perf_counter()
        det = train_detector([f.to_nddata() for f in train], [f.truth for f in train], weights=weights,
                             epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, batch_size=4,
                             learning_rate=1e-3, seed=0, precision="fp32", device="cpu", register=False,
                             progress_bar=False, **config)
        seconds = time.perf_counter() - t0
        m = evaluate_detector(det, [(f.data, f.wcs) for f in test], [f.truth for f in test], device="cpu",
                              precision="fp32", progress_bar=False)
        rows.append((label, m["map_50"], m["completeness"], m["purity"], m["f1"], seconds))
        detectors[label] = det
    print(f"frozen backbone, {args.train_fields} training fields, {args.epochs} x {args.steps_per_epoch} steps; "
          f"scored on {args.test_fields} other fields")
    print(f"{'backbone':<22} {'mAP@50':>7} {'compl':>6} {'purity':>6} {'F1':>5} {'train s':>8}")
    for label, map50, comp, pur, f1, sec in rows:
        print(f"{label:<22} {map50:7.3f} {comp:6.2f} {pur:6.2f} {f1:5.2f} {sec:8.0f}")
    print(f"difference (SSL - random) mAP@50: {rows[0][1] - rows[1][1]:+.3f}")
    if args.ship:
        path = save_detector(detectors["astrofmx-radio (SSL)"], args.ship, overwrite=True)
        print(f"saved the SSL detector in {path}")
    return np.array([r[1] for r in rows])


if __name__ == "__main__":
    main()
