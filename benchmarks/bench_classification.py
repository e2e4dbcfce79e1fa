"""Benchmark of the classification layer (Lastufka et al. 2024, Sect. 3.1, Figs. 3-4).

Prints:

1. the time to fit a `LinearProbe` on 8,000 x 768 cached features (the paper's
   recipe: 100 epochs, batch 64, Adam lr 5e-4; the paper reports 10-45 s on
   two GPUs), with a plain PyTorch autograd loop of the same recipe for
   reference;
2. the time to embed images with each backbone (images per second);
3. label-fraction F1 tables (median [min, max] over seeds) on MiraBest (real
   FIRST radio galaxies, FR I / FR II, the 792-image confident subset, its own
   train/test split) and on synthetic optical galaxies, for linear probes on
   the built-in backbones and for supervised baselines trained from scratch.

Pretrained weights cannot be downloaded on an offline machine: backbones whose
weights are not in the cache are used with RANDOM initialisation, and the
output says so next to every figure. Random-init features measure the
pipeline, not the foundation models.

Examples::

    python benchmarks/bench_classification.py --quick
    python benchmarks/bench_classification.py --backbones msn resnet18 resnet50 --baselines resnet18
"""

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small run (~2 min on 2 CPU cores): tiny ViT, few images")
    p.add_argument("--backbones", nargs="+", default=["msn", "resnet18", "resnet50"],
                   help="registry names (default: msn resnet18 resnet50; dino/dinov2/mae share msn's ViT-B)")
    p.add_argument("--baselines", nargs="*", default=["resnet18"],
                   help="supervised baselines from scratch: resnet18 resnet50 vit_b_16 (default resnet18)")
    p.add_argument("--n-synthetic", type=int, default=800, help="synthetic galaxies (4 classes)")
    p.add_argument("--mirabest", default=None, help="MiraBest .npz (default ../shared/data/radio/mirabest/"
                                                     "mirabest_confident.npz)")
    p.add_argument("--embed-size", type=int, default=None,
                   help="ViT input size override for random-init ViTs (default: native 224); CPU time saver")
    p.add_argument("--baseline-size", type=int, default=64, help="input size of the supervised baselines")
    p.add_argument("--baseline-epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--baseline-seeds", type=int, nargs="+", default=[0])
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5, 1.0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default=None)
    p.add_argument("--skip-probe-timing", action="store_true")
    return p.parse_args()


def time_probe(n=8000, d=768, k=10, repeats=3):
    import torch

    from astrofmx.classification import LinearProbe

    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    X = (rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y]).astype(np.float32)
    print(f"\n== Linear probe fit on {n} x {d} cached features, {k} classes (CPU, {torch.get_num_threads()} threads)")
    rows = []
    for label, kw in [("paper recipe: 100 epochs, batch 64, lr 5e-4", {}),
                      ("radio recipe: 200 epochs, batch 64", {"epochs": 200}),
                      ("early stopping (10% val, patience 10)", {"early_stopping": True}),
                      ("full batch, 100 epochs", {"batch_size": None})]:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            probe = LinearProbe(**kw).fit(X, y)
            times.append(time.perf_counter() - t0)
        rows.append((label, min(times), np.median(times), probe.score(X, y), probe.n_epochs_))
    print(f"{'configuration':45s} {'best [s]':>9s} {'median [s]':>10s} {'train acc':>9s} {'epochs':>6s}")
    for label, best, med, acc, ep in rows:
        print(f"{label:45s} {best:9.2f} {med:10.2f} {acc:9.3f} {ep:6d}")


def load_backbone(name, args, quick):
    from astrofmx.backbones import get_backbone
    from astrofmx.utils import WeightsNotFoundError

    try:
        bb = get_backbone(name, weights="pretrained", device=args.device, progress_bar=False)
        return bb, "pretrained"
    except (WeightsNotFoundError, OSError, RuntimeError) as exc:
        logging.getLogger("bench").debug("no pretrained weights for %s: %s", name, exc)
    over = {}
    spec_arch = __import__("astrofmx.backbones", fromlist=["get_backbone_spec"]).get_backbone_spec(name).arch
    if spec_arch == "vit":
        if quick:
            over = dict(depth=2, embed_dim=64, num_heads=2, img_size=64)
        elif args.embed_size:
            over = dict(img_size=args.embed_size)
    bb = get_backbone(name, weights=None, device=args.device, **over)
    tag = "RANDOM INIT" + (" (tiny ViT, 64 px)" if quick and over else f" ({over['img_size']} px)" if over else "")
    return bb, tag


def embed_all(dataset_name, images, backbones, args, normalizer):
    from astrofmx.backbones import embed

    feats, rows = {}, []
    for name, (bb, tag) in backbones.items():
        t0 = time.perf_counter()
        feats[name] = embed(images, backbone=bb, batch_size=32, device=args.device, normalizer=normalizer,
                            progress_bar=False)
        dt = time.perf_counter() - t0
        rows.append((name, tag, bb.spec.input_size, feats[name].shape[1], len(images) / dt, dt))
    print(f"\n== Embedding time, {dataset_name} ({len(images)} images)")
    print(f"{'backbone':10s} {'weights':28s} {'input':>5s} {'dim':>5s} {'img/s':>7s} {'total [s]':>9s}")
    for name, tag, size, dim, rate, dt in rows:
        print(f"{name:10s} {tag:28s} {size:5d} {dim:5d} {rate:7.1f} {dt:9.1f}")
    return feats


def print_study(title, table, tags):
    print(f"\n== {title}: macro F1 on the test set, median [min, max] over seeds")
    fr = sorted(set(table["fraction"]))
    print(f"{'model':22s} {'weights / kind':28s} " + " ".join(f"{100 * f:>19.0f}%" for f in fr))
    for name in dict.fromkeys(table["model"]):
        r = table[table["model"] == name]
        tag = tags.get(name, "supervised")
        cells = []
        for f in fr:
            row = r[r["fraction"] == f][0]
            cells.append(f"{row['f1_macro_median']:.3f} [{row['f1_macro_min']:.3f},{row['f1_macro_max']:.3f}]")
        print(f"{name:22s} {tag:28s} " + " ".join(f"{c:>20s}" for c in cells))
    r = table[table["fraction"] == max(fr)]
    names = table.meta["class_names"]
    print("per-class F1 (median) at 100%: " + "; ".join(
        f"{m}: " + ", ".join(f"{n}={v:.2f}" for n, v in zip(names, row)) for m, row in zip(r["model"], r["f1_class_median"])))


def run_study(title, images, labels, class_names, feats, tags, args, *, test_indices=None, probe_epochs=100):
    from astrofmx.classification import SupervisedClassifier, label_fraction_study

    t0 = time.perf_counter()
    probes = label_fraction_study(feats, labels, fractions=args.fractions, seeds=args.seeds,
                                  test_indices=test_indices, probe_params={"epochs": probe_epochs},
                                  class_names=class_names, progress_bar=False)
    t_probe = time.perf_counter() - t0
    tables = [probes]
    t_base = 0.0
    if args.baselines:
        overrides = dict(patch_size=8, num_layers=2, num_heads=2, hidden_dim=64, mlp_dim=128) if args.quick else None
        base = [SupervisedClassifier(a, image_size=args.baseline_size, epochs=args.baseline_epochs, batch_size=64,
                                     device=args.device, arch_overrides=overrides if a == "vit_b_16" else None)
                for a in args.baselines]
        t0 = time.perf_counter()
        sup = label_fraction_study(images, labels, baselines=base, fractions=args.fractions, seeds=args.baseline_seeds,
                                   test_indices=test_indices, class_names=class_names, progress_bar=False)
        t_base = time.perf_counter() - t0
        tables.append(sup)
    from astropy.table import vstack

    table = vstack(tables, metadata_conflicts="silent")
    table.meta["class_names"] = list(class_names)
    print_study(title, table, tags)
    print(f"(probes: {len(feats)} backbones x {len(args.fractions)} fractions x {len(args.seeds)} seeds in "
          f"{t_probe:.1f} s; baselines: {len(args.baselines)} x {len(args.fractions)} x {len(args.baseline_seeds)} "
          f"seeds, {args.baseline_epochs} epochs at {args.baseline_size} px, in {t_base:.1f} s)")
    return table


def main():
    args = parse_args()
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if args.quick:
        args.n_synthetic = min(args.n_synthetic, 240)
        args.baseline_epochs = min(args.baseline_epochs, 3)
        args.baseline_size = min(args.baseline_size, 32)
        args.backbones = [b for b in args.backbones if b in ("msn", "resnet18")] or ["msn"]
        args.baselines = ["resnet18"] if args.baselines else []
    print(f"astrofmx classification benchmark ({'quick' if args.quick else 'full'} run), torch "
          f"{torch.__version__}, device {args.device or ('cuda' if torch.cuda.is_available() else 'cpu')}, "
          f"{args.threads} CPU threads, {os.cpu_count()} cores visible")

    if not args.skip_probe_timing:
        time_probe(repeats=1 if args.quick else 3)

    backbones = {name: load_backbone(name, args, args.quick) for name in args.backbones}
    tags = {name: tag for name, (_, tag) in backbones.items()}
    if any(tag != "pretrained" for tag in tags.values()):
        print("\nNOTE: pretrained weights were not available on this machine (offline); the backbones marked "
              "RANDOM INIT use random weights, so their F1 scores measure the pipeline, not the foundation "
              "models of the paper.")

    # --- MiraBest (real)
    from astrofmx.datasets import load_mirabest, simulate_galaxies

    mb_path = Path(args.mirabest) if args.mirabest else (
        Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "radio" / "mirabest" / "mirabest_confident.npz")
    if mb_path.exists():
        mb = load_mirabest(mb_path)
        images, labels = mb.images, mb.labels
        split = None
        if mb.catalog is not None and "split" in mb.catalog.colnames:
            split = np.asarray(mb.catalog["split"]) == "test"
        if args.quick:
            keep = np.sort(np.random.default_rng(0).permutation(len(labels))[:200])
            images, labels = images[keep], labels[keep]
            split = None if split is None else split[keep]
        feats = embed_all("MiraBest", images, backbones, args, normalizer="radio")
        run_study(f"MiraBest confident ({len(labels)} FIRST images, "
                  f"{'own test split' if split is not None else 'stratified 20% test'})",
                  images, labels, mb.class_names, feats, tags, args, test_indices=split, probe_epochs=200)
    else:
        print(f"\nMiraBest not found at {mb_path}; skipping the real-data table")

    # --- synthetic optical galaxies
    syn = simulate_galaxies(args.n_synthetic, size=64, seed=0)
    feats = embed_all("synthetic galaxies", syn.images, backbones, args, normalizer=None)
    run_study(f"Synthetic galaxies ({args.n_synthetic}, 4 classes, stratified 20% test)", syn.images, syn.labels,
              syn.class_names, feats, tags, args, probe_epochs=100)


if __name__ == "__main__":
    main()
