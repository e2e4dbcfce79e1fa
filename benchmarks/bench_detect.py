"""`detect_sources` against the raw detector forward on the same tiles, with the time of each step.

On a simulated radio field written to FITS (read memory-mapped, tile by tile, as users run it), with the
default detector (or ``--backbone`` for an untrained Faster R-CNN of that backbone, speed only):

- ``detect_sources`` wall time, end to end (load, normalizer fit, tiles, forward, merge, peaks and
  photutils measurement);
- the raw forward: the same model inputs, made beforehand, through the same inference model in the same
  batches, precision and threads;
- the ratio raw / detect (1.0: the library adds nothing to the model; target >= 0.85), with the next
  batch of tiles prepared in a thread while the model runs and serially, and as the default picks (serially
  on a CPU whose every core runs torch's threads, else prefetched);
- each step of the pipeline timed on its own (the private steps `detect_sources` runs, in its order).

Runs alternate and the best of ``--repeats`` counts (the machine may be shared: compare the ratio). The CPU
seconds (process time, all threads) are what each run cost, which other jobs on a shared machine disturb
less than wall time; the prefetch thread overlaps work, so it shows in wall time only.

Usage::

    python benchmarks/bench_detect.py --quick          # 1024 x 1024
    python benchmarks/bench_detect.py --size 4096
"""

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def _field(size, seed=1):
    from astrofmx.datasets import simulate_radio_field

    return simulate_radio_field((size, size), seed=seed)


def steps(path, det, batch_size, precision, threshold):
    """``({step: seconds}, model inputs)`` running the steps of `detect_sources` one by one."""
    import numpy as np
    import torch

    from astrofmx.detection._model import _inference_model
    from astrofmx.detection._pipeline import _merge, _run_tiles
    from astrofmx.detection._postprocess import _local_mesh, _measure_peaks, _same_source
    from astrofmx.detection._measure import _measure_detections
    from astrofmx.detection._resolve import _budget_tile, _check_options
    from astrofmx.detection._tiles import _fit_normalizer, _iter_windows, _load, _to_model

    cfg = det.config
    out, t = {}, time.perf_counter()

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        out[name] = now - t
        t = now

    img = _load(path)
    lap("load")
    tile_size, overlap, _ = _check_options(cfg, int(det.spec.patch_size), None, None, threshold, 0.5, None)
    fitted = _fit_normalizer(img, cfg.normalizer)
    lap("normalizer fit")
    windows = [(y0, x0, data) for y0, x0, _, _, data in _iter_windows(img, fitted, tile_size, overlap)
               if data is not None]
    lap("tiles: read + normalize")
    inputs = [_to_model([w[2] for w in windows[i:i + batch_size]], tile_size, cfg.upscale)
              for i in range(0, len(windows), batch_size)]
    lap("tiles: to model input")
    model = _inference_model(det, _budget_tile(cfg, tile_size, cfg.upscale))
    with torch.inference_mode(), det.autocast(precision, "cpu"):
        for x in inputs:
            model(list(x))
    lap("forward (raw)")
    found = _run_tiles(det, model, img, fitted, tile_size=tile_size, overlap=overlap, batch_size=batch_size,
                       dev=torch.device("cpu"), precision=precision, score_threshold=threshold, progress_bar=False)
    lap("_run_tiles (tiles + forward + per-tile boxes)")
    boxes, scores, labels = _merge(img, found, 0.5)
    lap("merge (core mask + NMS)")
    mesh = _local_mesh(img, fitted)
    lap("local background mesh")
    peaks, snr, py, px = _measure_peaks(img, boxes, mesh)
    keep = _same_source(boxes, py, px)
    if cfg.min_snr:
        keep &= snr >= cfg.min_snr
    lap("peaks + same-source")
    _measure_detections(img, boxes[keep], mesh, "auto")
    lap(f"photutils measurement ({int(np.sum(keep))} sources)")
    return out, inputs, model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 1024 x 1024 field")
    parser.add_argument("--size", type=int, default=2048, help="field side in pixels (default 2048)")
    parser.add_argument("--backbone", default=None, help="an untrained detector of this backbone (default: the "
                                                         "default detector)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    size = 1024 if args.quick else args.size

    import torch

    from astrofmx.detection import build_detector, detect_sources, get_default_detector
    from astrofmx.utils import resolve_precision

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    det = get_default_detector(device="cpu") if args.backbone is None else build_detector(
        backbone=args.backbone, weights=None, mode="scratch")
    precision = resolve_precision(args.precision, torch.device("cpu"))
    threshold = det.config.score_threshold if det.config.score_threshold is not None else 0.5
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "field.fits"
        _field(size).write(path)
        # warm-up (oneDNN kernels, allocator, lazy imports)
        detect_sources(path, model=det, batch_size=args.batch_size, precision=precision, progress_bar=False)
        laps, inputs, model = steps(path, det, args.batch_size, precision, threshold)
        from astrofmx.detection import _pipeline

        modes = (("auto", "default: " + ("prefetched" if _pipeline._use_prefetch(torch.device("cpu")) else "serial")
                  + " here"), (True, "prefetched"), (False, "serial"))
        wall, cpu = {m: [] for m, _ in modes}, {m: [] for m, _ in modes}
        raw_s, cpu_raw = [], []
        for _ in range(args.repeats):
            for flag, _ in modes:
                _pipeline._PREFETCH = flag
                t, c = time.perf_counter(), time.process_time()
                cat = detect_sources(path, model=det, batch_size=args.batch_size, precision=precision,
                                     progress_bar=False)
                wall[flag].append(time.perf_counter() - t)
                cpu[flag].append(time.process_time() - c)
            _pipeline._PREFETCH = "auto"
            t, c = time.perf_counter(), time.process_time()
            with torch.inference_mode(), det.autocast(precision, "cpu"):
                for x in inputs:
                    model(list(x))
            raw_s.append(time.perf_counter() - t)
            cpu_raw.append(time.process_time() - c)
    n_tiles = sum(len(x) for x in inputs)
    best_raw = min(raw_s)
    print(f"# detect_sources on a {size} x {size} simulated field ({n_tiles} tiles, batch {args.batch_size}, "
          f"{precision}, {args.threads} threads, {det.config.backbone} {'default detector' if args.backbone is None else 'untrained'}"
          f"), {len(cat)} sources; best of {args.repeats}, alternating; the machine may be shared")
    print("| tiles | detect_sources s | raw forward s | raw/detect | Mpix/s | CPU s detect | CPU s raw | CPU raw/detect |")
    print("|---|---|---|---|---|---|---|---|")
    raw_cpu = min(cpu_raw)
    for flag, label in modes:
        best, c = min(wall[flag]), min(cpu[flag])
        print(f"| {label} | {best:.2f} | {best_raw:.2f} | {best_raw / best:.2f} | {size * size / 1e6 / best:.2f} | "
              f"{c:.2f} | {raw_cpu:.2f} | {raw_cpu / c:.2f} |")
    print("\n| step (run one by one) | s |")
    print("|---|---|")
    for name, seconds in laps.items():
        print(f"| {name} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
