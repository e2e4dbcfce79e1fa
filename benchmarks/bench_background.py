"""The background mesh against photutils' Background2D and sep's Background, side by side in one run.

The table `astrofmx.preprocess._background`'s docstring quotes: median wall time of 3 runs and
`tracemalloc` peak memory (sep allocates in C, which tracemalloc does not see) on float32 noise plus a
gradient and point sources, 64-pixel boxes, a 3 x 3 filter, sigma-clipped median and MAD std for photutils.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_background.py            # 2048^2 and 4096^2
    OMP_NUM_THREADS=1 python benchmarks/bench_background.py --quick    # 1024^2
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np


def image(n, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 1.0, (n, n)).astype(np.float32)
    data += (np.arange(n, dtype=np.float32) / n * 3.0)[None, :]
    idx = rng.integers(0, n, (n * n // 2000, 2))
    data[idx[:, 0], idx[:, 1]] += 50.0
    return data


def finders():
    import sep
    from astropy.stats import SigmaClip
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground

    from astrofmx.preprocess import estimate_background_mesh

    return {
        "mesh grid": lambda d: estimate_background_mesh(d, box_size=64),
        "Background2D": lambda d: Background2D(d, 64, filter_size=3, sigma_clip=SigmaClip(3.0),
                                               bkg_estimator=MedianBackground(),
                                               bkg_rms_estimator=MADStdBackgroundRMS()),
        "sep": lambda d: sep.Background(np.ascontiguousarray(d), bw=64, bh=64, fw=3, fh=3),
    }


def measure(function, data, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        function(data)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    function(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="image sides (default 2048 4096)")
    p.add_argument("--quick", action="store_true", help="1024 x 1024 only")
    args = p.parse_args(argv)
    sizes = args.sizes or ([1024] if args.quick else [2048, 4096])
    print("| size | method | time s | x mesh | peak MiB (tracemalloc) | x mesh |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        data = image(n)
        results = {name: measure(f, data) for name, f in finders().items()}
        t0, m0 = results["mesh grid"]
        for name, (t, m) in results.items():
            print(f"| {n} | {name} | {t:.2f} | {t / t0:.2f} | {m:.1f} | {m / m0:.2g} |")


if __name__ == "__main__":
    main()
