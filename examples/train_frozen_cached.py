"""Train a frozen-backbone detector from cached features, and compare with the backbone run at every step.

Offline and CPU-only (a few minutes on 2 cores): a small ViT with random weights stands in for a
pretrained one (``backbone="msn"`` with ``weights="pretrained"`` in real use). With ``mode="frozen"``
`train_detector` computes the backbone's features of every tile once, for each flip and rotation, and
trains the pyramid and heads from them (``feature_cache``); ``feature_cache=None`` runs the backbone
at every step.

    python examples/train_frozen_cached.py
"""

import torch

from astrofmx.datasets import simulate_radio_field
from astrofmx.detection import evaluate_detector, train_detector


def main():
    torch.set_num_threads(1)
    kw = dict(n_sources=60, extended_fraction=0.1, double_fraction=0.0, flux_min_snr=8)
    train = simulate_radio_field((192, 192), seed=1, **kw)
    test = simulate_radio_field((160, 160), seed=7, **kw)
    common = dict(backbone="msn", weights=None, mode="frozen", tile_size=64,
                  backbone_kwargs={"depth": 4, "embed_dim": 128, "num_heads": 4, "img_size": 64},
                  pyramid_channels=32, representation_size=128, anchor_sizes=(4, 8, 16, 32, 64),
                  epochs=3, batch_size=4, learning_rate=1e-3, precision="fp32", progress_bar=False, register=False)
    for cache in (None, "memory"):
        det = train_detector(train.to_nddata(), train.truth, feature_cache=cache, **common)
        m = evaluate_detector(det, test.to_nddata(), test.truth, precision="fp32", progress_bar=False)
        times = [h["time_s"] for h in det.history]
        print(f"feature_cache={cache!r}: {sum(times) / len(times):.1f} s per epoch, "
              f"held-out mAP@50 {m['map_50']:.3f}")


if __name__ == "__main__":
    main()
