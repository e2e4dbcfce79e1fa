"""Macro F1 against the fraction of labels used, and per-class F1 (paper Figs. 3 and 4).

Runs offline in about a minute on a CPU: synthetic optical galaxies are
embedded with two backbones, linear probes are trained on nested stratified
10/30/50/100% subsets of the labels (three seeds each), and a supervised
network is trained from scratch on the same subsets (one seed). If pretrained weights
are not in the cache (they cannot be downloaded offline), small randomly
initialised ViTs are used instead and the script says so: the figures then
show the pipeline, not the paper's result.

    python examples/fig3_fig4_label_fractions.py --output-prefix labelfrac
"""

import argparse
import time

import torch
from astropy.table import vstack

from astrofmx.backbones import get_backbone
from astrofmx.classification import (SupervisedClassifier, label_fraction_study, plot_label_fraction,
                                     plot_per_class_f1)
from astrofmx.datasets import simulate_galaxies
from astrofmx.utils import WeightsNotFoundError

TINY_VIT = dict(depth=2, embed_dim=64, num_heads=2, img_size=64)


def backbone_or_tiny(name, notes):
    try:
        bb = get_backbone(name, weights="pretrained", progress_bar=False)
        notes.append(f"{name}: pretrained weights")
    except WeightsNotFoundError:
        bb = get_backbone(name, weights=None, **TINY_VIT)
        notes.append(f"{name}: pretrained weights NOT available (offline) -> small RANDOMLY INITIALISED ViT")
    return bb


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=320, help="number of synthetic galaxies")
    parser.add_argument("--output-prefix", default="labelfrac")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()

    data = simulate_galaxies(args.n, size=64, seed=1)
    notes = []
    backbones = [backbone_or_tiny("msn", notes), backbone_or_tiny("dino", notes)]
    for line in notes:
        print(line)
    if any("NOT" in line for line in notes):
        print("NOTE: F1 scores below come from random-init backbones; they show the pipeline, not the paper's result")

    fractions = (0.1, 0.3, 0.5, 1.0)
    probes = label_fraction_study(data.images, data.labels, backbones=backbones, fractions=fractions,
                                  seeds=(0, 1, 2), test_size=0.25, embed_params={"progress_bar": False},
                                  class_names=data.class_names, progress_bar=False)
    # a small ResNet-18 trained from scratch on the same test split and nested subsets (one seed: CPU time)
    scratch = SupervisedClassifier("resnet18", image_size=32, epochs=5, batch_size=32)
    supervised = label_fraction_study(data.images, data.labels, baselines=[scratch], fractions=fractions,
                                      seeds=(0,), test_size=0.25, class_names=data.class_names, progress_bar=False)
    table = vstack([probes, supervised], metadata_conflicts="silent")
    table.meta["class_names"] = list(data.class_names)
    for col in ("f1_macro_min", "f1_macro_median", "f1_macro_max"):
        table[col].info.format = ".3f"
    table["model", "kind", "fraction", "n_train", "f1_macro_min", "f1_macro_median", "f1_macro_max"].pprint(
        max_width=120)
    plot_label_fraction(table, title="synthetic galaxies", filename=f"{args.output_prefix}_fig3.png",
                        overwrite=args.overwrite)
    plot_per_class_f1(table, fraction=1.0, filename=f"{args.output_prefix}_fig4.png", overwrite=args.overwrite)
    print(f"wrote {args.output_prefix}_fig3.png and {args.output_prefix}_fig4.png in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
