"""The supervised baseline against a plain hand-written ResNet-18, side by side on MiraBest (issue 14, item 4).

Runs, in one process and one after the other on the same data:

- ``astrofmx``: ``SupervisedClassifier("resnet18", weights=None)`` with its
  defaults (only ``epochs`` and ``random_state`` are set);
- ``plain``: torchvision's ``resnet18(num_classes=2)`` with a 1-channel
  ``conv1``, written out here as one would by hand: native 150 px images
  scaled by 1/255 and normalized with the training set's mean/std, a random
  flip and 90-degree rotation per image, AdamW (lr 1e-3, weight decay 0.01),
  batches of 64, constant learning rate, cross-entropy, ``model.eval()`` for
  the test predictions;
- optionally (``--ablations``) the plain loop with one of the old astrofmx
  choices switched on: ``resize224`` (bilinear to 224 px), ``rgb`` (grey
  repeated to 3 channels, 3-channel conv1), ``imagenet`` (per-image min-max to
  [0, 1], then ImageNet mean/std), ``wd1e-4`` (weight decay 1e-4),
  ``batchrot`` (one rotation per batch instead of per image) and ``old`` (all
  of them: the old astrofmx recipe).

All train on the MiraBest confident train split (704 images) and are scored
on its test split (88 images): macro F1, accuracy and wall time (fit +
predict). They are also scored on a small held-out set: the FR I / FR II FITS
cutouts in ``../shared/data/radio/mirabest/FITS`` that are not in the .npz
(raw FIRST Jy/beam images, centre 150 px, brought to MiraBest's format:
pixels below 3 sigma set to 0, min-max to 0-255), and ``astrofmx`` also on the
same cutouts raw (Jy/beam, unclipped), which its per-image standardization
accepts as they are.

``--probe-timing`` instead times a `LinearProbe` fit on 8,000 x 768 features
(10 classes; the paper's recipe: Adam lr 5e-4, batches of 64, 100 epochs)
against a plain torch loop of the same recipe (``nn.Linear`` +
``CrossEntropyLoss`` + ``optim.Adam(fused=True)``), alternating, one thread.

Examples::

    nohup nice -n 5 python benchmarks/bench_baseline.py > baseline.log 2>&1 &
    python benchmarks/bench_baseline.py --epochs 2 --n-train 128      # quick check
    python benchmarks/bench_baseline.py --ablations resize224 rgb imagenet old
    python benchmarks/bench_baseline.py --probe-timing --probe-epochs 20
"""

import argparse
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "radio" / "mirabest"
ABLATIONS = ("resize224", "rgb", "imagenet", "wd1e-4", "batchrot", "old")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="torch device of both models (e.g. cuda)")
    p.add_argument("--n-train", type=int, default=None, help="use only this many training images (quick runs)")
    p.add_argument("--ablations", nargs="*", default=[], choices=ABLATIONS)
    p.add_argument("--skip", nargs="*", default=[], choices=("astrofmx", "plain"))
    p.add_argument("--data", default=str(DATA), help="folder with mirabest_confident.npz and FITS/")
    p.add_argument("--probe-timing", action="store_true", help="time LinearProbe against a plain torch loop instead")
    p.add_argument("--probe-epochs", type=int, default=100)
    p.add_argument("--repeats", type=int, default=2)
    return p.parse_args()


def load_heldout(folder):
    """FR I / FR II FITS cutouts not in the .npz: (raw centre crops, MiraBest-style uint8, labels)."""
    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats

    npz = np.load(folder / "mirabest_confident.npz", allow_pickle=False)
    known = {round(float(Path(f).stem.split("_")[1]), 3) for f in npz["filenames"]}
    raw, fmt, labels = [], [], []
    for path in sorted((folder / "FITS").glob("*.fits")):
        code, ra = path.name[:3], round(float(path.name.split("_")[1][:7]), 3)
        if code[0] not in "12" or ra in known:
            continue
        img = np.nan_to_num(np.squeeze(fits.getdata(path)).astype(np.float64))
        c0, c1 = (img.shape[0] - 150) // 2, (img.shape[1] - 150) // 2
        img = img[c0:c0 + 150, c1:c1 + 150]
        _, med, std = sigma_clipped_stats(img, sigma=3.0)
        clipped = np.where(img > med + 3 * std, img, 0.0)
        lo, hi = clipped.min(), clipped.max()
        fmt.append(np.round(255 * (clipped - lo) / max(hi - lo, 1e-30)).astype(np.uint8))
        raw.append(img.astype(np.float32))
        labels.append(int(code[0]) - 1)
    return np.stack(raw), np.stack(fmt), np.array(labels)


def plain_resnet18(x_train, y_train, *, epochs, seed, ablation=None, device="cpu"):
    """A hand-written ResNet-18 training loop; returns a predict(uint8 images) -> labels function."""
    import torch
    import torch.nn.functional as F
    import torchvision

    old = ablation == "old"
    resize = 224 if ablation == "resize224" or old else None
    chans = 3 if ablation == "rgb" or old else 1
    imagenet = ablation == "imagenet" or old
    wd = 1e-4 if ablation == "wd1e-4" or old else 1e-2
    batch_rot = ablation == "batchrot" or old
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    xt = torch.from_numpy(x_train.astype(np.float32) / 255.0)[:, None]
    mean, std = float(xt.mean()), float(xt.std())

    def prep(u8):
        x = torch.from_numpy(u8.astype(np.float32) / 255.0)[:, None]
        if imagenet:  # per-image min-max to [0, 1], then ImageNet's mean/std (grey: their channel means)
            lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
            x = (x - lo) / (hi - lo).clamp_min(1e-12)
            m = torch.tensor([0.485, 0.456, 0.406] if chans == 3 else [0.449]).view(1, -1, 1, 1)
            s = torch.tensor([0.229, 0.224, 0.225] if chans == 3 else [0.226]).view(1, -1, 1, 1)
            x = (x.expand(-1, chans, -1, -1) - m) / s
        else:
            x = ((x - mean) / std).expand(-1, chans, -1, -1)
        if resize:
            x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False, antialias=True)
        return x.contiguous()

    model = torchvision.models.resnet18(num_classes=2)
    if chans == 1:
        model.conv1 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        torch.nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=wd)
    model.to(device)
    x_all, y_all = prep(x_train).to(device), torch.from_numpy(y_train.astype(np.int64)).to(device)
    n = len(y_all)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            if len(idx) < 2:
                continue
            xb, yb = x_all[idx], y_all[idx]
            if batch_rot:
                xb = torch.rot90(xb, int(torch.randint(0, 4, (1,), generator=gen)), dims=(2, 3))
            else:
                k = torch.randint(0, 4, (len(idx),), generator=gen).tolist()
                xb = torch.stack([torch.rot90(im, int(r), dims=(1, 2)) for im, r in zip(xb, k)])
            flip = (torch.rand(len(idx), generator=gen) < 0.5).to(device)
            xb = torch.where(flip.view(-1, 1, 1, 1), xb.flip(-1), xb)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()

    def predict(u8):
        with torch.no_grad():
            return torch.cat([model(b.to(device)).argmax(1).cpu() for b in prep(u8).split(64)]).numpy()

    return predict


def probe_timing(args, n=8000, d=768, k=10):
    import torch

    from astrofmx.classification import LinearProbe

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    X = (rng.normal(size=(n, d)) + 1.5 * np.eye(k, d)[y]).astype(np.float32)

    def plain():
        xt, yt = torch.from_numpy((X - X.mean(0)) / X.std(0)), torch.from_numpy(y)
        layer = torch.nn.Linear(d, k)
        opt = torch.optim.Adam(layer.parameters(), lr=5e-4, fused=True)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(args.probe_epochs):
            perm = torch.randperm(n)
            for i in range(0, n, 64):
                idx = perm[i:i + 64]
                loss = loss_fn(layer(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return float((layer(xt).argmax(1) == yt).float().mean())

    def probe():
        return LinearProbe(epochs=args.probe_epochs).fit(X, y).score(X, y)

    times = {"LinearProbe": [], "plain torch loop": []}
    accs = {}
    for _ in range(args.repeats):
        for name, fn in (("LinearProbe", probe), ("plain torch loop", plain)):
            t0 = time.perf_counter()
            accs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    print(f"LinearProbe fit, {n} x {d} features, {k} classes, {args.probe_epochs} epochs of batch 64, 1 thread "
          f"(shared machine: read the ratio)")
    print(f"{'fit':18s} {'best [s]':>9s} {'median [s]':>10s} {'train acc':>9s} {'time/plain':>10s}")
    ref = min(times["plain torch loop"])
    for name, t in times.items():
        print(f"{name:18s} {min(t):9.2f} {np.median(t):10.2f} {accs[name]:9.3f} {min(t) / ref:10.2f}")


def main():
    args = parse_args()
    if args.probe_timing:
        probe_timing(args)
        return
    import torch
    from sklearn.metrics import accuracy_score, f1_score

    from astrofmx.classification import SupervisedClassifier
    from astrofmx.datasets import load_mirabest

    torch.set_num_threads(args.threads)
    folder = Path(args.data)
    train = load_mirabest(folder / "mirabest_confident.npz", split="train")
    test = load_mirabest(folder / "mirabest_confident.npz", split="test")
    xtr, ytr = train.images, train.labels
    if args.n_train:
        keep = np.random.default_rng(0).permutation(len(ytr))[:args.n_train]
        xtr, ytr = xtr[keep], ytr[keep]
    h_raw, h_fmt, h_y = load_heldout(folder)
    print(f"MiraBest train {len(ytr)} -> test {len(test.labels)} images ({xtr.shape[1]} px), held-out FITS "
          f"{len(h_y)} ({np.bincount(h_y).tolist()} FRI/FRII); {args.epochs} epochs, seeds {args.seeds}; torch "
          f"{torch.__version__}, {args.threads} threads, {os.cpu_count()} cores visible (shared machine: compare "
          f"times as ratios within this run)", flush=True)

    def score(pred, y):
        return f1_score(y, pred, average="macro"), accuracy_score(y, pred)

    variants = [v for v in ("astrofmx", "plain") if v not in args.skip] + [f"plain+{a}" for a in args.ablations]
    rows = []
    for seed in args.seeds:
        for name in variants:
            t0 = time.perf_counter()
            if name == "astrofmx":
                clf = SupervisedClassifier("resnet18", weights=None, epochs=args.epochs, random_state=seed,
                                           device=args.device)
                clf.fit(xtr, ytr)
                pred = clf.predict
            else:
                pred = plain_resnet18(xtr, ytr, epochs=args.epochs, seed=seed, device=args.device,
                                      ablation=name.partition("+")[2] or None)
            f1, acc = score(pred(test.images), test.labels)
            wall = time.perf_counter() - t0
            hf1, _ = score(pred(h_fmt), h_y)
            hraw = score(clf.predict(h_raw), h_y)[0] if name == "astrofmx" else np.nan
            rows.append((name, seed, f1, acc, hf1, hraw, wall))
            print(f"  {name:18s} seed {seed}: test F1 {f1:.3f}  acc {acc:.3f}  held-out F1 {hf1:.3f}  "
                  f"raw {hraw:.3f}  {wall:.0f} s", flush=True)

    ref = {s: w for n, s, *_, w in rows if n == "plain"}
    print(f"\n{'model':18s} {'seed':>4s} {'test F1':>8s} {'test acc':>8s} {'held-out F1':>11s} {'raw FITS F1':>11s} "
          f"{'wall [s]':>9s} {'time/plain':>10s}")
    for name, seed, f1, acc, hf1, hraw, wall in rows:
        ratio = f"{wall / ref[seed]:10.2f}" if seed in ref else f"{'-':>10s}"
        print(f"{name:18s} {seed:4d} {f1:8.3f} {acc:8.3f} {hf1:11.3f} {hraw:11.3f} {wall:9.0f} {ratio}")


if __name__ == "__main__":
    main()
