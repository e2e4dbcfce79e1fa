"""The paper's Table 4 experiment in miniature: detection mAP@50 per backbone and training mode.

For each backbone (ResNet-18 and an MSN-style ViT) and each mode (frozen
backbone, fine-tuned) a Faster R-CNN detector is trained on one simulated
radio field and scored on another (mAP@50 with pycocotools, plus completeness,
purity and F1 at one beam FWHM).

Offline by default: ``--weights none`` starts every backbone from random
weights (so "frozen" freezes a random backbone and the table does not show the
benefit of pretraining the paper measured), and the ViT is shrunk so the run
takes a few minutes on 2 CPU cores. With the real weights in the cache
(``astrofmx backbones``) run ``--weights pretrained --full-vit`` for the
paper's setting (ViT-B/16 on tiles upscaled 2x, so that a source covers most
of a 16-pixel patch).

    python examples/table4_detection_map.py [--steps 60] [--weights none|pretrained] [--full-vit]
"""

import argparse
import warnings

import torch

from astrofmx.datasets import simulate_radio_field
from astrofmx.detection import evaluate_detector, train_detector


def run(backbone, mode, train, test, *, steps, weights, vit_kwargs):
    is_vit = backbone != "resnet18"
    detector = train_detector(
        train.to_nddata(), train.truth, backbone=backbone, weights=weights, mode=mode,
        backbone_kwargs=vit_kwargs if is_vit else {},
        tile_size=64 if is_vit else 128, upscale=2 if is_vit else 1,  # ViT tiles are upscaled 2x
        epochs=1, steps_per_epoch=steps, batch_size=4, learning_rate=1e-3, seed=0, progress_bar=False,
        pyramid_channels=64, representation_size=256, anchor_sizes=(4, 8, 16, 32, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a weak detector may find nothing in a tile
        metrics = evaluate_detector(detector, test.to_nddata(), test.truth, progress_bar=False)
    return detector.count_parameters()["trainable"], metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="training steps per run (default 60)")
    parser.add_argument("--weights", default="none", choices=("none", "pretrained"))
    parser.add_argument("--full-vit", action="store_true", help="ViT-B/16 instead of a 2-block ViT")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    weights = None if args.weights == "none" else "pretrained"
    vit_kwargs = {} if args.full_vit else dict(depth=2, embed_dim=64, num_heads=2, img_size=128)

    kw = dict(extended_fraction=0.1, double_fraction=0.02, flux_min_snr=5, source_density=6000)
    train = simulate_radio_field((256, 256), seed=1, **kw)
    test = simulate_radio_field((256, 256), seed=2, **kw)
    if weights is None:
        print("NOTE: random initial weights (no pretrained weights offline); see the docstring.")
    print(f"{'backbone':<10} {'mode':<9} {'trainable':>10} {'mAP@50':>7} {'compl':>6} {'purity':>6} {'F1':>5}")
    for backbone in ("resnet18", "msn"):
        for mode in ("frozen", "finetune"):
            trainable, m = run(backbone, mode, train, test, steps=args.steps, weights=weights,
                               vit_kwargs=vit_kwargs)
            print(f"{backbone:<10} {mode:<9} {trainable:>10,d} {m['map_50']:>7.3f} {m['completeness']:>6.2f} "
                  f"{m['purity']:>6.2f} {m['f1']:>5.2f}", flush=True)


if __name__ == "__main__":
    main()
