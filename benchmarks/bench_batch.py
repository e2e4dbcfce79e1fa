"""Survey batches: speed-up of `astrofmx.survey.run_batch` on a Dask LocalCluster with 1 vs 2 workers.

Simulates ``-n`` radio fields of ``--size`` x ``--size`` pixels (seeded,
`astrofmx.datasets.simulate_radio_field`) as FITS files, then runs the
photutils finder (`astrofmx.compare.find_sources_photutils`, CPU-bound:
background map, segmentation, deblending, source catalog) over all of them
with `run_batch`, writing one ECSV catalog per file plus the combined
catalog, in these configurations:

- ``serial``: ``parallel=False`` (no Dask at all);
- ``cluster-1`` / ``cluster-2``: a `distributed.LocalCluster` of 1 or 2
  single-threaded worker processes passed as ``parallel=client``; the
  cluster is started and warmed up (imports done) before the clock starts;
- ``parallel=2``: ``parallel=2``, so the cluster start-up is included.

Each configuration writes to a fresh folder (``resume=False``). The speed-up
is relative to ``cluster-1``. The 1-minute load average is printed before and
after: on a shared machine other processes compete for the same cores, and
the measured speed-up understates the one on an idle machine.

Usage::

    python benchmarks/bench_batch.py            # 32 files of 1024 x 1024
    python benchmarks/bench_batch.py --quick    # 8 files

Writes ``benchmarks/results/bench_batch.json``.
"""

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path


def _simulate(folder, n, size):
    from astrofmx.datasets import simulate_radio_field

    paths = []
    for seed in range(n):
        path = Path(folder) / f"field_{seed:03d}.fits"
        simulate_radio_field((size, size), seed=seed).write(path)
        paths.append(path)
    return paths


def _warm_up(path):
    from astrofmx.compare import find_sources_photutils

    find_sources_photutils(path)
    return os.getpid()


def _timed(files, outdir, parallel):
    from astrofmx.compare import find_sources_photutils
    from astrofmx.survey import run_batch

    start = time.perf_counter()
    result = run_batch(find_sources_photutils, files, output_dir=outdir, parallel=parallel, resume=False,
                       progress_bar=False)
    wall = time.perf_counter() - start
    if not result.ok:
        raise RuntimeError(f"{result.n_failed} inputs failed: {result.failed['error'][:3].tolist()}")
    return wall, len(result.catalog)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=32, help="number of FITS files (default 32)")
    parser.add_argument("--quick", action="store_true", help="8 files")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels (default 1024)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="cluster sizes (default 1 2)")
    parser.add_argument("--output", default=Path(__file__).parent / "results" / "bench_batch.json", type=Path)
    args = parser.parse_args(argv)
    n = 8 if args.quick else args.n

    from distributed import Client, LocalCluster

    rows = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="astrofmx-bench-batch-") as tmp:
        t0 = time.perf_counter()
        files = _simulate(Path(tmp) / "fields", n, args.size)
        print(f"# simulated {n} fields of {args.size} x {args.size} in {time.perf_counter() - t0:.1f} s; "
              f"{os.cpu_count()} CPUs, load average {load_before:.1f}", flush=True)
        _warm_up(files[0])
        wall, n_sources = _timed(files, Path(tmp) / "serial", False)
        rows.append({"config": "serial", "workers": 0, "startup_s": 0.0, "wall_s": wall, "n_sources": n_sources})
        print(f"  serial: {wall:.1f} s", flush=True)
        for workers in args.workers:
            t0 = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
                client.wait_for_workers(workers)
                client.run(_warm_up, files[0])  # imports done on every worker
                startup = time.perf_counter() - t0
                wall, n_sources = _timed(files, Path(tmp) / f"cluster-{workers}", client)
            rows.append({"config": f"cluster-{workers}", "workers": workers, "startup_s": startup, "wall_s": wall,
                         "n_sources": n_sources})
            print(f"  cluster-{workers}: {wall:.1f} s (+{startup:.1f} s start-up)", flush=True)
        top = max(args.workers)
        wall, n_sources = _timed(files, Path(tmp) / f"parallel-{top}", top)
        rows.append({"config": f"parallel={top}", "workers": top, "startup_s": float("nan"), "wall_s": wall,
                     "n_sources": n_sources})
    load_after = os.getloadavg()[0]

    base = next((r["wall_s"] for r in rows if r["config"] == "cluster-1"), rows[0]["wall_s"])
    print(f"\n{n} files of {args.size} x {args.size}, photutils finder; load average {load_before:.1f} before, "
          f"{load_after:.1f} after, on {os.cpu_count()} CPUs")
    header = "| config      | workers | start-up s | wall s | files/s | speed-up vs 1 worker | sources |"
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    for r in rows:
        r["files_per_s"] = n / r["wall_s"]
        r["speedup"] = base / r["wall_s"]
        start = "incl." if r["startup_s"] != r["startup_s"] else f"{r['startup_s']:.1f}"
        print(f"| {r['config']:<11} | {r['workers']:>7} | {start:>10} | {r['wall_s']:>6.1f} | "
              f"{r['files_per_s']:>7.2f} | {r['speedup']:>20.2f} | {r['n_sources']:>7} |")
    same = len({r["n_sources"] for r in rows}) == 1
    print(f"every configuration found the same number of sources: {same}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "bench_batch", "n_files": n, "size": args.size, "cpu_count": os.cpu_count(),
              "load_average_before": load_before, "load_average_after": load_after,
              "platform": platform.platform(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "rows": rows}
    args.output.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
