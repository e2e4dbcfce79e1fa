"""Start-up: ``astrofmx backbones`` and usage/input errors against ``python -c "import torch"``, in one run.

The goal (issue 13): listing the backbones, and every usage or input error
of every command, takes under half the time of ``import torch``, since none
of them imports torch (nor timm, torchvision, matplotlib, umap or dask).

Each command runs as a fresh subprocess (wall time, from the process start
to its exit), ``--repeats`` times, interleaved (one round runs every command
once), so that the load of a shared machine affects them alike; the table
gives the median and its ratio to the median of ``import torch``.

Usage::

    python benchmarks/bench_startup.py             # 7 rounds
    python benchmarks/bench_startup.py --repeats 3

Writes ``benchmarks/results/bench_startup.json``.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _commands(folder):
    """``{label: (argv, expected exit status)}``."""
    fits_file = folder / "field.fits"
    existing = folder / "catalog.ecsv"
    if not fits_file.exists():
        import numpy as np
        from astropy.io import fits

        fits.PrimaryHDU(np.zeros((64, 64), np.float32)).writeto(fits_file)
        existing.write_text("x")
    py = [sys.executable]
    cli = py + ["-m", "astrofmx"]
    return {
        "import torch": (py + ["-c", "import torch"], 0),
        "astrofmx --help": (cli + ["--help"], 0),
        "astrofmx backbones": (cli + ["backbones"], 0),
        "detect missing.fits": (cli + ["detect", str(folder / "missing.fits")], 2),
        "detect -o existing": (cli + ["detect", str(fits_file), "-o", str(existing)], 2),
        "detect --backbone nope": (cli + ["detect", str(fits_file), "--backbone", "nope"], 2),
        "embed --backbone nope": (cli + ["embed", str(fits_file), "--backbone", "nope", "-o",
                                         str(folder / "f.npy")], 2),
        "embed -o f.txt": (cli + ["embed", str(fits_file), "--backbone", "msn", "-o", str(folder / "f.txt")], 2),
        "compare missing reference": (cli + ["compare", str(fits_file), "--reference",
                                             str(folder / "missing.fits")], 2),
        "train-detector no inputs": (cli + ["train-detector", "--backbone", "resnet18", "-o",
                                            str(folder / "det")], 2),
        "simulate x.png": (cli + ["simulate", str(folder / "x.png")], 2),
        "preview --tile-size 0 (argparse)": (cli + ["preview", str(fits_file), "--tile-size", "0"], 2),
    }


def _time(argv, expected, env):
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.perf_counter() - start
    if proc.returncode != expected:
        raise RuntimeError(f"{argv[2:]} exited {proc.returncode} (expected {expected}): {proc.stderr[-500:]}")
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds (each command once per round)")
    args = parser.parse_args(argv)
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    with tempfile.TemporaryDirectory() as tmp:
        commands = _commands(Path(tmp))
        times = {label: [] for label in commands}
        for _ in range(args.repeats):
            for label, (cmd, expected) in commands.items():
                times[label].append(_time(cmd, expected, env))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    torch_median = statistics.median(times["import torch"])
    rows = [(label, statistics.median(t), min(t), statistics.median(t) / torch_median) for label, t in times.items()]
    print(f"start-up, {args.repeats} rounds, median wall time of a fresh process (1-min load {load:.1f})")
    print(f"{'command':<34} {'median s':>9} {'min s':>7} {'/ import torch':>15}")
    for label, median, low, ratio in rows:
        print(f"{label:<34} {median:9.3f} {low:7.3f} {ratio:15.2f}")
    worst = max(ratio for label, _, _, ratio in rows if label != "import torch")
    print(f"worst ratio {worst:.2f} (goal: < 0.5)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_startup.json").write_text(json.dumps(
        {"repeats": args.repeats, "load_1min": load,
         "rows": [{"command": label, "median_s": median, "min_s": low, "ratio_to_import_torch": ratio}
                  for label, median, low, ratio in rows]}, indent=1))
    return 0 if worst < 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
