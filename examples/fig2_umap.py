"""Latent space of a backbone on galaxy images: PCA to 10 components, then UMAP (paper Fig. 2).

Runs offline in about a minute on a CPU: synthetic optical galaxies (four
morphologies) are embedded with the MSN backbone, reduced with
``embed_umap`` and plotted with ``plot_latent`` (a balanced random sample per
class). If the pretrained MSN weights are not in the cache (they cannot be
downloaded offline), a small randomly initialised ViT is used instead, and
the script says so: the picture then shows the pipeline, not the paper's
result.

    python examples/fig2_umap.py --output fig2_umap.png
"""

import argparse
import time

import numpy as np
import torch

from astrofmx.backbones import embed, get_backbone
from astrofmx.classification import embed_umap, plot_latent
from astrofmx.datasets import simulate_galaxies
from astrofmx.utils import WeightsNotFoundError, check_overwrite


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=600, help="number of synthetic galaxies")
    parser.add_argument("--backbone", default="msn")
    parser.add_argument("--output", default="fig2_umap.png")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)

    t0 = time.perf_counter()
    # an unbalanced set, as real catalogs are: drop most spirals
    data = simulate_galaxies(args.n, size=64, seed=0)
    keep = (data.labels != 3) | (np.arange(len(data)) % 4 == 0)
    images, labels = data.images[keep], data.labels[keep]
    print(f"{len(labels)} synthetic galaxies, per class: "
          + ", ".join(f"{n}={c}" for n, c in zip(data.class_names, np.bincount(labels))))

    try:
        backbone = get_backbone(args.backbone, weights="pretrained", progress_bar=False)
        note = f"{args.backbone} with its pretrained weights"
    except WeightsNotFoundError:
        backbone = get_backbone(args.backbone, weights=None, depth=2, embed_dim=64, num_heads=2, img_size=64)
        note = (f"pretrained {args.backbone} weights were NOT available (offline): using a small RANDOMLY "
                f"INITIALISED ViT, so this figure shows the pipeline, not the paper's result")
    print(f"backbone: {note}")

    features = embed(images, backbone=backbone, progress_bar=False)
    coords = embed_umap(features, n_pca=10, n_neighbors=15, seed=0)
    ax = plot_latent(coords, labels, class_names=data.class_names, balanced=True, seed=0,
                     title=f"{backbone.spec.name} features, PCA(10) + UMAP")
    ax.figure.text(0.01, 0.01, "random-init backbone" if "NOT" in note else "pretrained", fontsize=7)
    check_overwrite(args.output, args.overwrite)
    ax.figure.savefig(args.output, dpi=150)
    print(f"features {features.shape} -> UMAP {coords.shape}; wrote {args.output} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
