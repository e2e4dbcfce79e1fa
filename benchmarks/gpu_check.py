"""GPU check: embed img/s per backbone, detection Mpix/s and frozen-training step time on an NVIDIA GPU.

A prepared script for a machine with a CUDA device (run it as one short job, under 10 minutes):

    python benchmarks/gpu_check.py                 # every built-in backbone, ~3-5 min on one H100/H200
    python benchmarks/gpu_check.py --quick         # resnet18 + msn only, small sizes; runs on a CPU too

For each built-in backbone (random weights: throughput does not depend on
them, and nothing is downloaded) it measures, on the GPU, in bf16:

- ``raw img/s``: the bare backbone forward on pre-made 224 px tensors already
  on the device;
- ``embed img/s``: `astrofmx.embed` on the same images given as numpy arrays
  (host normalization, transfer, batching);
- the ratio, and the cosine similarity of bf16 to fp32 features (>= 0.999).

Then `astrofmx.detect_sources` on a simulated 4096 x 4096 field written to
FITS (memory-mapped, read tile by tile) with a ResNet-18 Faster R-CNN
(untrained: speed only; 16 tiles per batch) and with the embedded default
detector and ``batch_size='auto'`` (the batch fitted to the free GPU memory
with a probe batch): Mpix/s and the batch size used. Last, frozen-backbone
training of a ViT-B (``msn``) detector at the default head sizes: seconds per
optimizer step with the backbone run at every step (``feature_cache=None``)
and from cached features, and the one-off cache build. It prints the tables
and writes ``benchmarks/results/gpu_check.json``. Without a GPU it exits with
status 3, unless ``--quick`` (or ``--allow-cpu``) runs it on the CPU.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bench_backbone(name, images, *, batch_size, device, precision="bf16"):
    import torch

    from astrofmx import embed, get_backbone
    from astrofmx.utils import autocast

    backbone = get_backbone(name, weights=None, device=device)
    spec = backbone.spec
    x = torch.randn(batch_size, 3, spec.input_size, spec.input_size, device=device)
    if spec.arch != "vit":  # embed runs CNNs in channels_last; time the raw forward the same way
        backbone = backbone.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(device, precision):
        backbone(x)  # warm-up (cuDNN autotune, lazy init)
        _sync()
        n_iter = max(1, len(images) // batch_size)
        start = time.perf_counter()
        for _ in range(n_iter):
            backbone(x)
        _sync()
        raw = n_iter * batch_size / (time.perf_counter() - start)
        f_bf16 = backbone(x[:8]).float()
    with torch.inference_mode():
        f_fp32 = backbone(x[:8]).float()
    cosine = torch.nn.functional.cosine_similarity(f_bf16, f_fp32, dim=1).min().item()

    embed(images[:batch_size], backbone=backbone, batch_size=batch_size, device=device, precision=precision,
          normalizer="radio", progress_bar=False)
    _sync()
    start = time.perf_counter()
    feats = embed(images, backbone=backbone, batch_size=batch_size, device=device, precision=precision,
                  normalizer="radio", progress_bar=False)
    _sync()
    emb = len(images) / (time.perf_counter() - start)
    return {"backbone": name, "raw_img_s": raw, "embed_img_s": emb, "ratio": emb / raw, "cosine_bf16": cosine,
            "feature_dim": int(feats.shape[1]),
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0}


def bench_detection(size, *, device, batch_size, model=None):
    import tempfile

    import torch

    from astrofmx import detect_sources
    from astrofmx.datasets import simulate_radio_field
    from astrofmx.detection import build_detector

    field = simulate_radio_field((size, size), seed=1)
    if model is None:
        model = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=512)
    model = model.to(device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "field.fits"
        field.write(path)
        del field
        detect_sources(path, model=model, device=device, batch_size=batch_size, progress_bar=False,
                       score_threshold=0.5)  # warm-up
        _sync()
        torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
        start = time.perf_counter()
        cat = detect_sources(path, model=model, device=device, batch_size=batch_size, progress_bar=False,
                             score_threshold=0.5)
        _sync()
        seconds = time.perf_counter() - start
    return {"image": f"{size}x{size}", "seconds": seconds, "mpix_s": size * size / 1e6 / seconds,
            "batch_size": cat.meta["batch_size"], "n_tiles": cat.meta["n_tiles"], "n_sources": len(cat),
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0}


def bench_frozen(*, device, quick, batch_size):
    """Seconds per step of frozen ViT-B detector training, uncached and from cached features."""
    from astrofmx.datasets import simulate_radio_field
    from astrofmx.detection import train_detector

    cpu = device == "cpu"
    size, n_fields, steps = (128, 1, 2) if quick and cpu else (512, 4, 10)
    config = dict(backbone="msn", weights=None, mode="frozen", tile_size=64 if quick and cpu else 256)
    if quick and cpu:  # a CPU smoke run: a 2-block ViT and small heads
        config.update(backbone_kwargs={"depth": 2, "embed_dim": 64, "num_heads": 2, "img_size": 64},
                      pyramid_channels=32, representation_size=128)
    fields = [simulate_radio_field((size, size), seed=s) for s in range(n_fields)]
    images, boxes = [f.to_nddata() for f in fields], [f.truth for f in fields]
    out = {}
    for label, cache in (("uncached", None), ("cached", "memory")):
        _sync()
        start = time.perf_counter()
        det = train_detector(images, boxes, feature_cache=cache, epochs=2, steps_per_epoch=steps,
                             batch_size=batch_size, precision="bf16" if not cpu else "auto", device=device,
                             progress_bar=False, register=False, **config)
        _sync()
        total = time.perf_counter() - start
        epochs = [h["time_s"] for h in det.history]
        out[label] = {"step_s": epochs[-1] / steps, "one_off_s": total - sum(epochs)}  # epoch 2: warm
    out["speedup"] = out["uncached"]["step_s"] / out["cached"]["step_s"]
    out["config"] = {"tile_size": config["tile_size"], "batch_size": batch_size, "steps": steps,
                     "tiny_vit": bool(quick and cpu)}
    return out


def main(argv=None):
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="resnet18 and msn only, 2k x 2k detection")
    parser.add_argument("-n", type=int, default=1024, help="images per backbone (default 1024)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--allow-cpu", action="store_true", help="run on the CPU when no GPU is visible (slow)")
    args = parser.parse_args(argv)

    if not torch.cuda.is_available() and not (args.allow_cpu or args.quick):
        print("no CUDA device is visible; this script is meant for a GPU machine (--quick or --allow-cpu to run "
              "it on the CPU)")
        return 3
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        print(f"no GPU: running on the CPU ({torch.get_num_threads()} threads), figures are not GPU figures")
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
        print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")

    from astrofmx.backbones import list_backbones
    from astrofmx.utils import resolve_precision

    names = (["resnet18"] if device == "cpu" else ["resnet18", "msn"]) if args.quick else list_backbones()
    # a CPU without native bf16 emulates it (tens of times slower): a CPU run times its own best precision
    precision = "bf16" if device == "cuda" else resolve_precision("auto", device)
    n = (16 if device == "cpu" else 128) if args.quick else args.n
    if device == "cpu":
        args.batch_size = min(args.batch_size, 8)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(n, 64, 64)).astype(np.float32)

    rows = []
    print(f"embed at {precision}")
    print(f"{'backbone':<10} {'raw img/s':>10} {'embed img/s':>12} {'ratio':>6} {'cos bf16':>9} {'GPU MiB':>8}")
    for name in names:
        r = bench_backbone(name, images, batch_size=args.batch_size, device=device, precision=precision)
        rows.append(r)
        print(f"{name:<10} {r['raw_img_s']:>10.1f} {r['embed_img_s']:>12.1f} {r['ratio']:>6.2f} "
              f"{r['cosine_bf16']:>9.5f} {r['peak_gpu_mib']:>8.0f}", flush=True)

    from astrofmx.detection import get_default_detector

    size = (512 if device == "cpu" else 2048) if args.quick else 4096
    dets = {"resnet18 Faster R-CNN, 512 px tiles, batch 16": bench_detection(size, device=device, batch_size=16),
            "default detector, batch 'auto'": bench_detection(size, device=device, batch_size="auto",
                                                              model=get_default_detector(device=device))}
    for label, det in dets.items():
        print(f"detect_sources {det['image']} ({label}): {det['seconds']:.1f} s, {det['mpix_s']:.2f} Mpix/s, "
              f"batch {det['batch_size']}, {det['n_tiles']} tiles, peak GPU {det['peak_gpu_mib']:.0f} MiB",
              flush=True)
    frozen = bench_frozen(device=device, quick=args.quick, batch_size=8 if device == "cuda" else 2)
    cfg = frozen["config"]
    print(f"frozen ViT-B detector training ({'tiny ViT, ' if cfg['tiny_vit'] else ''}{cfg['tile_size']} px tiles, "
          f"batch {cfg['batch_size']}): uncached {frozen['uncached']['step_s']:.3f} s/step, cached "
          f"{frozen['cached']['step_s']:.3f} s/step ({frozen['speedup']:.1f}x; cache build "
          f"{frozen['cached']['one_off_s']:.1f} s)", flush=True)
    out = Path(__file__).parent / "results" / ("gpu_check.json" if device == "cuda" else "gpu_check_cpu.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"device": device, "embed": rows, "detection": dets, "frozen": frozen}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
