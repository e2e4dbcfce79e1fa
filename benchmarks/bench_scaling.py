"""Time and peak memory of detection against image size, and the detector against its raw forward pass.

For each size (4096, 8192 and 16384 pixels square; ``--quick``: 1024, 2048,
4096) a FITS file is built by tiling one 2048 x 2048 simulated radio field
(`astrofmx.datasets.simulate_radio_field`, written block by block, so the
benchmark itself never holds the big image), then, each in its own process
(so peak RSS does not mix):

- ``detect``: ``detect_sources(path)`` with the embedded default detector.
  The file is memory-mapped and read tile by tile; normalization statistics
  come from the whole image up to 4096^2 and from a 2^22-pixel sample above.
- ``photutils``: ``find_sources_photutils(path)`` (the whole image in memory,
  as photutils needs), up to ``--photutils-max`` pixels a side.

The table gives wall time, Mpix/s, the time ratio against the smallest size
next to the pixel ratio (linear scaling gives equal ratios), peak RSS and
peak RSS minus the process's RSS after imports (the memory the run adds: it
should stay flat with size for ``detect``).

A second table compares end-to-end detection speed with the raw forward pass
of the same detector (the tiles of the smallest image, normalized and cut
beforehand, run through ``detector.model`` in the same batches and
precision): the ratio is the share of the time spent in the model.

Usage::

    python benchmarks/bench_scaling.py --quick     # 1k/2k/4k, ~2 minutes on 2 cores
    python benchmarks/bench_scaling.py             # 4k/8k/16k, ~10 minutes on 2 cores
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

_CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {here!r})
    from _memory import peak_rss_mib, proc_status_mib, reset_peak_rss
    {imports}
    base = proc_status_mib("VmRSS")
    reset_peak_rss()
    t0 = time.perf_counter()
    cat = {call}
    wall = time.perf_counter() - t0
    print(json.dumps(dict(n=len(cat), wall=wall, rss=peak_rss_mib(), base=base)))
""")

_RUNS = {
    "detect": ("import torch; torch.set_num_threads({threads}); from astrofmx.detection import detect_sources, "
               "get_default_detector; det = get_default_detector()",
               "detect_sources({path!r}, model=det, progress_bar=False)"),
    "photutils": ("from astrofmx.compare import find_sources_photutils",
                  "find_sources_photutils({path!r})"),
}


def write_tiled_field(path, size, block=2048, seed=920000):
    """A size x size FITS image made of copies of one simulated block, written through a memory map."""
    import astropy.units as u
    from astropy.io import fits

    from astrofmx.datasets import simulate_radio_field

    f = simulate_radio_field((block, block), seed=seed, pixel_scale=1.5 * u.arcsec, beam_fwhm=6 * u.arcsec,
                             rms=2e-5 * u.Jy / u.beam, return_truth=False)
    tile = np.asarray(f.data, dtype=np.float32)
    header = f.to_hdu().header
    header["NAXIS1"] = header["NAXIS2"] = size
    header["CRPIX1"], header["CRPIX2"] = size / 2 + 0.5, size / 2 + 0.5
    hdu = fits.PrimaryHDU(data=np.zeros((1, 1), np.float32), header=header)
    hdu.header["NAXIS1"] = hdu.header["NAXIS2"] = size
    shdu = fits.StreamingHDU(path, hdu.header)
    for y0 in range(0, size, block):
        rows = min(block, size - y0)
        strip = np.tile(tile[:rows], (1, -(-size // block)))[:, :size]
        shdu.write(strip)
    shdu.close()
    return path


def run_child(name, path, threads, timeout):
    imports, call = _RUNS[name]
    code = _CHILD.format(here=str(HERE), imports=imports.format(threads=threads), call=call.format(path=path))
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"did not finish in {timeout:.0f} s")
    if res.returncode != 0:
        return dict(error=(res.stderr.strip().splitlines() or ["?"])[-1][:100])
    return json.loads(res.stdout.strip().splitlines()[-1])


def raw_forward_ratio(path, threads):
    """End-to-end ``detect_sources`` time against the detector's forward pass alone on the same tiles."""
    import torch

    from astrofmx.detection import detect_sources, get_default_detector
    from astrofmx.detection._model import _inference_model
    from astrofmx.detection._tiles import _fit_normalizer, _iter_windows, _load, _to_model

    torch.set_num_threads(threads)
    det = get_default_detector()
    cfg = det.config
    tile = cfg.inference_tile_size or cfg.tile_size
    img = _load(path)
    tiles = [d for *_, d in _iter_windows(img, _fit_normalizer(img, cfg.normalizer), tile, tile // 4) if d is not None]
    batches = [_to_model(tiles[i:i + 8], tile, cfg.upscale) for i in range(0, len(tiles), 8)]
    det.train(False)
    model = _inference_model(det, tile)
    t0 = time.perf_counter()
    with torch.inference_mode(), det.autocast("auto", det.device):
        for x in batches:
            model(list(x))
    raw = time.perf_counter() - t0
    t0 = time.perf_counter()
    detect_sources(path, model=det, progress_bar=False)
    full = time.perf_counter() - t0
    npix = img.data.shape[0] * img.data.shape[1] / 1e6
    return dict(tiles=len(tiles), raw_s=raw, full_s=full, raw_mpix_s=npix / raw, full_mpix_s=npix / full,
                ratio=raw / full)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1k, 2k and 4k images")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="image sides (default 4096 8192 16384)")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--photutils-max", type=int, default=8192, help="largest side photutils is run on")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed to one run")
    p.add_argument("--tmp", default=None, help="folder for the test images (default: a temporary folder)")
    p.add_argument("--json", default=str(HERE / "results" / "bench_scaling.json"),
                   help="where the results are written as JSON (default benchmarks/results/bench_scaling.json)")
    args = p.parse_args(argv)
    sizes = args.sizes or ([1024, 2048, 4096] if args.quick else [4096, 8192, 16384])
    results = {"sizes": {}, "raw": None, "threads": args.threads}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        print(f"{'size':>6s} {'finder':9s} {'n':>8s} {'wall s':>8s} {'Mpix/s':>7s} {'t ratio':>7s} "
              f"{'px ratio':>8s} {'peak RSS MiB':>12s} {'added MiB':>9s} {'file MiB':>8s}", flush=True)
        first = {}
        for size in sizes:
            path = os.path.join(tmp, f"field{size}.fits")
            write_tiled_field(path, size)
            file_mib = os.path.getsize(path) / 2**20
            for name in _RUNS:
                if name == "photutils" and size > args.photutils_max:
                    continue
                r = run_child(name, path, args.threads, args.timeout)
                results["sizes"].setdefault(str(size), {})[name] = r
                if "error" in r:
                    print(f"{size:6d} {name:9s} failed: {r['error']}", flush=True)
                    continue
                first.setdefault(name, (size, r["wall"]))
                s0, w0 = first[name]
                print(f"{size:6d} {name:9s} {r['n']:8d} {r['wall']:8.1f} {size * size / 1e6 / r['wall']:7.2f} "
                      f"{r['wall'] / w0:7.1f} {(size / s0) ** 2:8.1f} {r['rss']:12.0f} {r['rss'] - r['base']:9.0f} "
                      f"{file_mib:8.0f}", flush=True)
            if size != sizes[0]:
                os.remove(path)
        raw = raw_forward_ratio(os.path.join(tmp, f"field{sizes[0]}.fits"), args.threads)
    results["raw"] = raw
    print(f"\ndetection vs raw forward pass ({sizes[0]}^2, {raw['tiles']} tiles of the default detector):")
    print(f"  raw forward {raw['raw_s']:.1f} s ({raw['raw_mpix_s']:.2f} Mpix/s), detect_sources {raw['full_s']:.1f} s "
          f"({raw['full_mpix_s']:.2f} Mpix/s), ratio {raw['ratio']:.2f}")
    print(f"torch threads {args.threads}; 'added' = peak RSS minus RSS after imports")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {args.json}")
    return results


if __name__ == "__main__":
    main()
