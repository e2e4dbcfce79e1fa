"""Pretrain the shipped radio backbone ``astrofmx-radio`` (self-supervised, no labels; reproducible).

The backbone in ``astrofmx/data/models/astrofmx-radio/`` was made with this
script: DINO (`astrofmx.pretrain.pretrain`, lightly's loss, heads and EMA
teacher) on a half-width ResNet-10 (timm ``resnet18`` with one block per
stage and 32-64-128-256 channels, 1.2 M parameters) at 64-pixel crops, from
random weights, on unlabeled radio images only:

- simulated radio fields (`astrofmx.datasets.random_radio_field`, 256 x 256
  px, seeds ``--seed * 100000 + i``), written as FITS files and streamed from
  them in 150-pixel windows;
- the images (never the labels) of the MiraBest **train** split
  (``radio/mirabest/mirabest_confident.npz``, ``split == 'train'``, 704
  FIRST images of 150 x 150 px);
- the FIRST and VLA MAGPIS cutouts (``radio/astroquery-first``,
  ``radio/astroquery-magpis``) and the two RGZ ATLAS subjects
  (``radio/rgz-atlas``).

Nothing that a benchmark or a test split scores is used: not the MiraBest
test split, not the MiraBest FITS cutouts (they may overlap the test split),
not the Parkes 1904-66 image, not PyBDSF's ch0_I. The command, the data, the
device and the time are written to the backbone's ``metadata.json``.

The same script runs on a GPU (``--device cuda``, more ``--workers`` to draw
the views, a larger ``--batch-size``; ``--preset gpu`` picks settings sized to
finish within 10 minutes on one H200); it is device-agnostic.

Usage::

    python scripts/pretrain_radio_backbone.py --out /tmp/radio-run --ship          # CPU preset
    python scripts/pretrain_radio_backbone.py --preset gpu --out /tmp/radio-gpu --ship
    python scripts/pretrain_radio_backbone.py --preset quick --out /tmp/radio-quick  # a minute, a smoke test
    python scripts/pretrain_radio_backbone.py --out /tmp/radio-run --stop-after 150 --ship  # export step 150
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ARCH = dict(backbone="timm:resnet18", arch_overrides={"layers": [1, 1, 1, 1], "channels": [32, 64, 128, 256]})
PRESETS = {
    "cpu": dict(steps=2400, batch_size=32, n_fields=200, local_crops=2, workers=0, threads=2),
    "gpu": dict(steps=3000, batch_size=256, n_fields=2000, local_crops=6, workers=14, threads=2),
    "quick": dict(steps=6, batch_size=8, n_fields=4, local_crops=2, workers=0, threads=1),
}
SHIP_DIR = Path(__file__).resolve().parents[1] / "astrofmx" / "data" / "models" / "astrofmx-radio"


def shared_data():
    env = os.environ.get("ASTROFMX_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[1] / ".." / "shared" / "data"]:
        if (cand / "README.md").is_file():
            return cand.resolve()
    sys.exit("the real-data folder ../shared/data was not found (set ASTROFMX_SHARED_DATA)")


def write_fields(folder, n, seed):
    from astrofmx.datasets import random_radio_field

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"field_{i:05d}.fits"
        if not path.is_file():
            random_radio_field((256, 256), seed=seed * 100000 + i, return_truth=False).write(path)
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="run folder (checkpoint, fields, backbone)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--n-fields", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--objective", choices=("dino", "msn"), default="dino")
    parser.add_argument("--crop-size", type=int, default=64)
    parser.add_argument("--device", default=None, help="cpu, cuda (default: CUDA when present)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", help="start from these weights (a saved backbone's model.safetensors), e.g. a "
                        "second stage on top of a first run")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--stop-after", type=int, help="stop after this step (checkpointed); the backbone of that "
                        "step is saved; run again without it to continue")
    parser.add_argument("--ship", action="store_true", help=f"copy the result to {SHIP_DIR}")
    args = parser.parse_args(argv)
    cfg = {**PRESETS[args.preset], **{k: v for k, v in dict(
        steps=args.steps, batch_size=args.batch_size, n_fields=args.n_fields, workers=args.workers,
        threads=args.threads).items() if v is not None}}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import torch

    torch.set_num_threads(cfg["threads"])
    from astrofmx.pretrain import AugmentationConfig, PretrainOptions, pretrain

    data = shared_data()
    t0 = time.time()
    fields = write_fields(args.out / "fields", cfg["n_fields"], args.seed)
    with np.load(data / "radio" / "mirabest" / "mirabest_confident.npz", allow_pickle=False) as npz:
        mirabest_train = npz["images"][npz["split"] == "train"].astype(np.float32)  # images only, no labels
    real_files = [data / "radio" / "astroquery-first" / "image.fits",
                  data / "radio" / "astroquery-magpis" / "image.fits",
                  data / "radio" / "rgz-atlas" / "S311.fits", data / "radio" / "rgz-atlas" / "S999.fits"]
    print(f"{len(fields)} simulated fields written in {time.time() - t0:.0f} s; {len(mirabest_train)} MiraBest "
          f"train images; {len(real_files)} FIRST/MAGPIS/ATLAS images", flush=True)
    command = "python " + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if argv is None else str(argv)
    metadata = dict(
        command=command, license="BSD-3-Clause (astrofmx); trained on simulated fields and public FIRST/VLA/ATLAS "
        "images (MiraBest train split images, no labels)",
        paper="Caron et al. 2021, Emerging Properties in Self-Supervised Vision Transformers (DINO), "
              "arXiv:2104.14294; losses and heads from lightly",
        training_data=dict(
            simulated=f"{len(fields)} random_radio_field fields, 256x256 px, seeds {args.seed * 100000}.."
                      f"{args.seed * 100000 + len(fields) - 1}",
            mirabest=f"{len(mirabest_train)} images of the MiraBest train split (mirabest_confident.npz), "
                     "labels not used",
            real_files=[str(p.relative_to(data)) for p in real_files],
            excluded="MiraBest test split and FITS cutouts, Parkes 1904-66, PyBDSF ch0_I, everything bench_real "
                     "scores"),
        preset=args.preset, trained_on=("GPU " + torch.cuda.get_device_name(0)) if (
            args.device in (None, "cuda") and torch.cuda.is_available()) else "CPU (shared, %d torch threads)"
        % cfg["threads"], started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    result = pretrain(
        [*fields, mirabest_train, *real_files], **ARCH, objective=args.objective, weights=args.init, output=args.out,
        steps=cfg["steps"], batch_size=cfg["batch_size"], crop_size=args.crop_size, tile_size=150,
        augmentation=AugmentationConfig(local_crops=cfg["local_crops"]),
        options=PretrainOptions(checkpoint_every=25, lr=args.lr), name="astrofmx-radio", seed=args.seed,
        device=args.device, stop_after=args.stop_after,
        num_workers=cfg["workers"], metadata=metadata, register=False, progress_bar=True)
    meta_path = result.folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["wall_seconds_total"] = round(time.time() - t0, 1)
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    losses = result.losses
    meta["steps_done"] = result.steps
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"done: {result.steps} steps in {result.seconds:.0f} s; loss {losses[0]:.3f} -> "
          f"{np.mean(losses[-10:]):.3f} (mean of the last 10); backbone in {result.folder}")
    if args.ship:
        SHIP_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "backbone.json", "metadata.json"):
            shutil.copy2(result.folder / name, SHIP_DIR / name)
        print(f"shipped to {SHIP_DIR}")


if __name__ == "__main__":
    main()
