"""Run every benchmark script in this folder and summarise them (``tox -e bench``).

Each ``bench_*.py`` runs as its own process (so peak-RSS figures do not mix),
its table is echoed as it is printed, and a summary table of wall times and
exit statuses is printed at the end and written to
``benchmarks/results/summary.json`` together with each script's output.

Usage::

    python benchmarks/run_all.py              # full sizes (long: tens of minutes on 2 cores)
    python benchmarks/run_all.py --quick      # every script with --quick
    python benchmarks/run_all.py --only embed detection --quick
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", nargs="+", default=None, metavar="NAME",
                        help="run only bench_NAME.py for these names")
    args = parser.parse_args(argv)

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {f"bench_{name}.py" for name in args.only}
        unknown = wanted - {s.name for s in scripts}
        if unknown:
            parser.error(f"no such benchmark(s): {sorted(unknown)}; available: {[s.stem[6:] for s in scripts]}")
        scripts = [s for s in scripts if s.name in wanted]

    results = []
    for script in scripts:
        cmd = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        print(f"\n=== {script.name} {'--quick' if args.quick else ''}", flush=True)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE.parent)
        lines = []
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)
        rc = proc.wait()
        results.append({"script": script.name, "seconds": round(time.perf_counter() - start, 1), "exit": rc,
                        "output": "".join(lines)})

    print("\nbenchmark                     seconds  exit")
    for r in results:
        print(f"{r['script']:<28} {r['seconds']:>8.1f}  {r['exit']:>4}")
    out = HERE / "results" / "summary.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"quick": args.quick, "results": results}, indent=2))
    print(f"wrote {out}")
    return max((r["exit"] for r in results), default=0)


if __name__ == "__main__":
    sys.exit(main())
