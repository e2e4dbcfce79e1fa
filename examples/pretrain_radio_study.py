"""The astrofmx-radio study: linear probes on MiraBest (train split -> test split), SSL vs random init, UMAP.

Features of the 792 confident MiraBest FR I / FR II images
(``../shared/data/radio/mirabest/mirabest_confident.npz``) are computed once
with the frozen backbones

- ``astrofmx-radio``: the self-supervised radio backbone shipped with
  astrofmx (works offline, nothing is downloaded);
- ``random-init``: the same architecture (half-width ResNet-10) with random
  weights;

and `astrofmx.classification.label_fraction_study` trains a linear probe on
10, 30, 50 and 100% of the train split (nested stratified subsets, three
seeds) and scores macro F1 on the test split. ``--supervised`` adds the
supervised baseline from scratch (`SupervisedClassifier("resnet18",
weights=None)`, slow on a CPU). A UMAP of the SSL features of the test and
train images, coloured by class, is written to ``--umap``.

Usage::

    python examples/pretrain_radio_study.py --umap docs/_static/pretrain_umap.png
    HF_HUB_OFFLINE=1 ASTROFMX_CACHE=$(mktemp -d) python examples/pretrain_radio_study.py   # offline
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np


def mirabest_path():
    env = os.environ.get("ASTROFMX_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[1] / ".." / "shared" / "data"]:
        path = cand / "radio" / "mirabest" / "mirabest_confident.npz"
        if path.is_file():
            return path
    raise SystemExit("mirabest_confident.npz not found: set ASTROFMX_SHARED_DATA to the real-data folder")


def random_init_backbone():
    """The architecture of astrofmx-radio with random weights (seed 0)."""
    import torch

    from astrofmx.backbones import get_backbone

    torch.manual_seed(0)
    return get_backbone("astrofmx-radio", weights=None, device="cpu")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="astrofmx-radio")
    parser.add_argument("--normalizer", default="radio", help="preset for the images (astrofmx.preprocess)")
    parser.add_argument("--epochs", type=int, default=200, help="probe epochs (the paper's radio setting)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--supervised", action="store_true", help="also the supervised ResNet-18 from scratch")
    parser.add_argument("--umap", type=Path, help="write the UMAP figure here (PNG)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    from astrofmx.backbones import embed
    from astrofmx.classification import SupervisedClassifier, embed_umap, label_fraction_study, plot_latent
    from astrofmx.datasets import load_mirabest

    data = load_mirabest(mirabest_path())
    images, labels = data.images.astype(np.float32), data.labels
    test = np.asarray(data.catalog["split"]) == "test"
    print(f"MiraBest: {len(labels)} images, {int((~test).sum())} train / {int(test.sum())} test")
    features, times = {}, {}
    for name, backbone in ((args.backbone, args.backbone), ("random-init", random_init_backbone())):
        t0 = time.perf_counter()
        features[name] = embed(images, backbone=backbone, normalizer=args.normalizer, device="cpu",
                               precision="fp32", progress_bar=False)
        times[name] = time.perf_counter() - t0
        print(f"embedded with {name}: {features[name].shape} in {times[name]:.1f} s")
    baselines = [SupervisedClassifier("resnet18", weights=None)] if args.supervised else []
    study_input = features if not baselines else images
    kwargs = {} if not baselines else dict(backbones=[args.backbone], embed_params=dict(normalizer=args.normalizer))
    table = label_fraction_study(study_input, labels, baselines=baselines, test_indices=test, seeds=args.seeds,
                                 probe_params={"epochs": args.epochs}, class_names=list(data.class_names),
                                 progress_bar=False, **kwargs)
    table["f1_macro_min"].format = table["f1_macro_median"].format = table["f1_macro_max"].format = ".3f"
    print("\nmacro F1 on the MiraBest test split (min / median / max over seeds):")
    table["model", "kind", "fraction", "n_train", "f1_macro_min", "f1_macro_median", "f1_macro_max"].pprint(
        max_lines=-1, max_width=-1)
    if args.umap is not None:
        coords = embed_umap(features[args.backbone], seed=0)
        plot_latent(coords, np.asarray(data.class_names)[labels], balanced=False, filename=args.umap, overwrite=True,
                    title=f"{args.backbone}: MiraBest (UMAP)")
        print(f"wrote {args.umap}")
    return table


if __name__ == "__main__":
    main()
