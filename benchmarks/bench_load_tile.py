"""Load a large float32 FITS image and normalize every tile of it: time and memory.

Writes an N x N float32 FITS image (noise plus Gaussian sources, a TAN WCS,
BUNIT Jy/beam) to a temporary folder in 16 MiB blocks with
`astropy.io.fits.StreamingHDU`, then measures, in this process:

- ``load``: `astrofmx.io.load_image` (memory-mapped read; FITS is big-endian,
  so one native float32 copy is made block by block, plus the bool mask);
- ``tiles``: `astrofmx.preprocess.iter_tiles` over the whole image
  (``--tile`` px, ``--overlap``), each tile normalized with the ``--preset``
  normalizer and its WCS built.

For each phase it prints the wall time, the peak resident set size of the
process during that phase (the kernel's high-water mark ``VmHWM``, reset before
the phase through ``/proc/self/clear_refs``), the anonymous / file-backed split
of the RSS after it, and the peak of Python-tracked allocations (tracemalloc,
which sees numpy buffers). Everything is compared with the file size. A float64
copy of the image alone would be twice the file size.

Usage::

    python benchmarks/bench_load_tile.py            # 16384 x 16384 (1 GiB file), 512 px tiles
    python benchmarks/bench_load_tile.py --quick    # 4096 x 4096
"""

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _memory import peak_rss_mib, proc_status_mib, reset_peak_rss

MIB = 1024 * 1024


def write_image(path, n, seed=0, rows_per_block=None):
    """Stream an n x n float32 image with a WCS to ``path`` without holding it in memory."""
    from astropy.io import fits
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [n / 2 + 0.5, n / 2 + 0.5]
    w.wcs.cdelt = [-1.0 / 3600, 1.0 / 3600]
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = n
    header["NAXIS2"] = n
    header.update(w.to_header())
    header["BUNIT"] = "JY/BEAM"
    rng = np.random.default_rng(seed)
    rows = rows_per_block or max(1, (16 * MIB) // (4 * n))
    stream = fits.StreamingHDU(path, header)
    for r0 in range(0, n, rows):
        block = rng.normal(0.0, 1e-4, (min(rows, n - r0), n)).astype(np.float32)
        # point sources (3 px Gaussians), drawn in 31 x 31 windows
        for x, y in zip(rng.integers(15, n - 15, 16), rng.integers(0, block.shape[0], 16)):
            y0, y1 = max(0, y - 15), min(block.shape[0], y + 16)
            yy, xx = np.mgrid[y0:y1, x - 15:x + 16]
            block[y0:y1, x - 15:x + 16] += 1e-2 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 18.0)
        stream.write(block)
    stream.close()
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=16384, help="image size in pixels (n x n)")
    parser.add_argument("--quick", action="store_true", help="a 4096 x 4096 image")
    parser.add_argument("--tile", type=int, default=512, help="tile size in pixels")
    parser.add_argument("--overlap", type=int, default=0, help="tile overlap in pixels")
    parser.add_argument("--preset", default="radio", help="normalization preset applied to each tile")
    parser.add_argument("--tmpdir", default=None, help="where to write the temporary FITS file")
    args = parser.parse_args(argv)
    n = 4096 if args.quick else args.n

    import torch

    torch.set_num_threads(1)
    from astrofmx.io import load_image
    from astrofmx.preprocess import get_preset, iter_tiles

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        path = Path(tmp) / f"big_{n}.fits"
        t0 = time.perf_counter()
        write_image(path, n)
        t_write = time.perf_counter() - t0
        size_mib = os.path.getsize(path) / MIB
        rows = []

        base = proc_status_mib("VmRSS")
        exact = reset_peak_rss()
        tracemalloc.start()
        t0 = time.perf_counter()
        image = load_image(path)
        t_load = time.perf_counter() - t0
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(("load", t_load, peak_rss_mib(), proc_status_mib("RssAnon"), proc_status_mib("RssFile"), traced / MIB, "-"))

        norm = get_preset(args.preset)
        reset_peak_rss()
        tracemalloc.start()
        t0 = time.perf_counter()
        n_tiles = 0
        checksum = 0.0
        for tile in iter_tiles(image, tile_size=args.tile, overlap=args.overlap):
            out = norm(tile.data, tile.mask)
            checksum += float(out[0, 0])
            _ = tile.wcs
            n_tiles += 1
        t_tiles = time.perf_counter() - t0
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(("tiles", t_tiles, peak_rss_mib(), proc_status_mib("RssAnon"), proc_status_mib("RssFile"), traced / MIB,
                     str(n_tiles)))

        print(f"image {n} x {n} float32, file {size_mib:.0f} MiB (written in {t_write:.1f} s); "
              f"tiles {args.tile} px, overlap {args.overlap}, preset {args.preset!r}; torch threads 1")
        print(f"RSS before loading (python, numpy, astropy, torch imported): {base:.0f} MiB; "
              "'peak - base' is what loading/tiling added")
        if not exact:
            print("note: /proc/self/clear_refs not writable: peak RSS is the process maximum so far")
        head = ("phase", "time s", "peak RSS MiB", "peak - base", "x file", "RSS anon MiB", "RSS file MiB",
                "traced MiB", "tiles")
        print("{:<6} {:>8} {:>13} {:>12} {:>7} {:>13} {:>13} {:>11} {:>6}".format(*head))
        for name, t, peak, anon, filed, traced, ntl in rows:
            print(f"{name:<6} {t:>8.2f} {peak:>13.0f} {peak - base:>12.0f} {(peak - base) / size_mib:>7.2f} "
                  f"{anon:>13.0f} {filed:>13.0f} {traced:>11.0f} {ntl:>6}")
        print(f"process peak RSS (ru_maxrss, includes writing the file): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
              f"tiles/s {n_tiles / t_tiles:.1f}; checksum {checksum:.3f}")
        del image


if __name__ == "__main__":
    main()
