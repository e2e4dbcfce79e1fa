"""Quality bar of the embedded default detector against the classical source finders.

Measures, side by side in one run, completeness, purity and F1 (one-to-one
matching within one beam FWHM), wall time and, for the large field, peak RSS
for: the embedded default detector (``detect_sources(image)``), photutils
(``find_sources_photutils``), SExtractor through sep (``find_sources_sep``)
and PyBDSF (``find_sources_pybdsf``), each with astrofmx's default settings
(5 sigma thresholds), on

(a) simulated fields the detector never saw (seeds 900000+, several noise
    levels, beam sizes, source densities, with and without artefacts).
    Completeness counts the truth sources with peak S/N >= 5; a detection
    counts as pure when it matches any truth source (even fainter);
(b) the real radio images with reference catalogs: the bundled Parkes map
    ``1904-66_SIN.fits`` against its Aegean catalog (51 components), and the
    PyBDSF test image ``ch0_I`` (4-D) against PyBDSF's source list (43);
(c) a 4096 x 4096 simulated field (8192 x 8192 without ``--quick`` is not
    run: 4k is what the issue asks) for the wall time and peak RSS, each
    finder in its own process reading the FITS file.

Usage::

    python benchmarks/bench_finders.py --quick     # ~3 minutes on 2 cores
    python benchmarks/bench_finders.py             # larger simulated fields, 4k timing field
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FINDERS, run_finder  # noqa: E402  (the finders, each importing only what it needs)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "radio" / "pybdsf"


def _f1(c, p):
    return 2 * c * p / (c + p) if c + p > 0 else 0.0


def score_simulated(cat, truth, radius, min_snr=5.0):
    from astrofmx.compare import match_metrics

    bright = truth[np.asarray(truth["snr"]) >= min_snr]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = match_metrics(cat, bright, radius)["completeness"] if len(cat) else 0.0
        p = match_metrics(cat, truth, radius)["purity"] if len(cat) else 0.0
    return dict(completeness=c, purity=p, f1=_f1(c, p), n=len(cat), n_ref=len(bright))


def simulated_suite(quick):
    import astropy.units as u

    from astrofmx.datasets import simulate_radio_field

    size = 256 if quick else 512
    grid = [  # (rms Jy/beam, beam FWHM px, density deg-2, artefacts)
        (2e-5, 4.0, 4000, None), (2e-4, 3.0, 10000, None), (5e-5, 5.0, 2000, "rings"),
        (1e-4, 3.5, 8000, "stripes"), (1e-5, 4.5, 14000, None), (3e-4, 4.0, 6000, "rings"),
    ]
    if quick:
        grid = grid[:3]
    fields = []
    for k, (rms, beam, dens, art) in enumerate(grid):
        f = simulate_radio_field((size, size), seed=900000 + k, pixel_scale=1.5 * u.arcsec,
                                 beam_fwhm=beam * 1.5 * u.arcsec, rms=rms * u.Jy / u.beam,
                                 source_density=dens, artefacts=art)
        label = f"sim rms={rms:g} beam={beam}px n={dens}/deg2 {art or ''}".strip()
        fields.append((label, f.to_hdu(), f.truth, beam * u.pix))  # the HDU carries the WCS and the beam
    return fields


def optical_suite(quick):
    """Simulated optical/IR fields (`simulate_optical_field`) of several PSFs and crowding, unseen in training."""
    import astropy.units as u

    from astrofmx.datasets import OpticalPSF, simulate_optical_field

    size = 256 if quick else 512
    grid = [(2.5, 60, 20), (3.5, 150, 30), (4.5, 40, 15), (3.0, 300, 40), (5.5, 80, 25), (2.8, 120, 10)]
    if quick:
        grid = grid[:3]
    fields = []
    for k, (fwhm, n_stars, n_galaxies) in enumerate(grid):
        f = simulate_optical_field((size, size), seed=900100 + k, psf=OpticalPSF(fwhm=fwhm), n_stars=n_stars,
                                   n_galaxies=n_galaxies)
        label = f"optical psf={fwhm}px stars={n_stars} galaxies={n_galaxies}"
        fields.append((label, f.to_hdu(), f.truth, fwhm * u.pix))
    return fields


def real_suite():
    import astropy.units as u
    from astropy.io import fits

    from astrofmx.compare import read_reference_catalog
    from astrofmx.datasets import get_bundled_path
    from astrofmx.io import load_image

    out = []
    img = get_bundled_path("1904-66_SIN.fits")
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=load_image(img).wcs)
    out.append(("Parkes 1904-66 vs Aegean", img, ref, fits.getheader(img)["BMAJ"] * u.deg))
    pimg = SHARED / "tbdsf_process_image.in_fits.pybdsf.ch0_I.fits"
    if pimg.is_file():
        ref = read_reference_catalog(SHARED / "tbdsf_process_image.in_fits.pybdsf.srl.FITS",
                                     wcs=load_image(pimg).wcs)
        out.append(("PyBDSF ch0_I vs srl", pimg, ref, fits.getheader(pimg)["BMAJ"] * u.deg))
    return out


_CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {bench_dir!r})
    from _common import import_finder, run_finder
    import_finder({name!r}, threads={threads})  # imports are not timed
    t0 = time.perf_counter()
    cat = run_finder({name!r}, {path!r})
    wall = time.perf_counter() - t0
    hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM")][0].split()[1]
    print(json.dumps(dict(n=len(cat), wall=wall, rss=int(hwm) / 1024)))
""")


def timing_field(size, threads, tmp, timeout):
    import astropy.units as u

    from astrofmx.datasets import simulate_radio_field

    f = simulate_radio_field((size, size), seed=910000, pixel_scale=1.5 * u.arcsec, beam_fwhm=6 * u.arcsec,
                             rms=2e-5 * u.Jy / u.beam, return_truth=False)
    path = os.path.join(tmp, "big.fits")
    f.to_hdu().writeto(path)
    rows = {}
    for name in FINDERS:
        code = _CHILD.format(bench_dir=str(Path(__file__).parent), name=name, path=path, threads=threads)
        try:
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            rows[name] = dict(error=f"did not finish in {timeout} s")
            continue
        if res.returncode != 0:
            rows[name] = dict(error=res.stderr.strip().splitlines()[-1][:100])
        else:
            rows[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return rows


def _score_fields(fields):
    """Every finder on simulated fields, scored against their truth; prints rows and the mean per finder."""
    out, totals = {}, {f: [] for f in FINDERS}
    for label, img, truth, radius in fields:
        for name in FINDERS:
            t0 = time.perf_counter()
            try:
                cat = run_finder(name, img)
            except Exception as exc:  # a finder failing is a result, not a crash of the benchmark
                print(f"{label:44s} {name:9s} failed: {exc!s:.60}")
                continue
            wall = time.perf_counter() - t0
            m = score_simulated(cat, truth, radius) | {"wall": wall}
            totals[name].append(m)
            out.setdefault(label, {})[name] = m
            print(f"{label:44s} {name:9s} {m['n']:5d} {m['completeness']:6.3f} {m['purity']:6.3f} {m['f1']:6.3f} "
                  f"{wall:7.2f}")
    print("-" * 90)
    for name in FINDERS:
        if totals[name]:
            mean = {k: float(np.mean([m[k] for m in totals[name]])) for k in ("completeness", "purity", "f1", "wall")}
            out.setdefault("mean", {})[name] = mean
            print(f"{'mean (' + str(len(totals[name])) + ' fields)':44s} {name:9s} {'':5s} "
                  f"{mean['completeness']:6.3f} {mean['purity']:6.3f} {mean['f1']:6.3f} {mean['wall']:7.2f}")
    print("-" * 90)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small simulated fields and a 2k timing field")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--timing-size", type=int, default=None, help="side of the timing field (4096; quick 2048)")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed to each finder on the timing field")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = {"simulated": {}, "optical": {}, "real": {}, "timing": {}}

    print(f"{'image':44s} {'finder':9s} {'n':>5s} {'compl':>6s} {'purity':>6s} {'F1':>6s} {'wall s':>7s}")
    for key, fields in (("simulated", simulated_suite(args.quick)), ("optical", optical_suite(args.quick))):
        results[key] = _score_fields(fields)

    from astrofmx.compare import match_metrics

    for label, img, ref, radius in real_suite():
        for name in FINDERS:
            t0 = time.perf_counter()
            try:
                cat = run_finder(name, img)
            except Exception as exc:
                print(f"{label:44s} {name:9s} failed: {exc!s:.60}")
                continue
            wall = time.perf_counter() - t0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = match_metrics(cat, ref, radius) if len(cat) else dict(completeness=0.0, purity=0.0, f1=0.0)
            row = dict(n=len(cat), n_ref=len(ref), completeness=m["completeness"], purity=m["purity"],
                       f1=m["f1"], wall=wall)
            results["real"].setdefault(label, {})[name] = row
            print(f"{label + f' ({len(ref)})':44s} {name:9s} {len(cat):5d} {row['completeness']:6.3f} "
                  f"{row['purity']:6.3f} {row['f1']:6.3f} {wall:7.2f}")
    print("-" * 90)

    size = args.timing_size or (2048 if args.quick else 4096)
    with tempfile.TemporaryDirectory() as tmp:
        rows = timing_field(size, args.threads, tmp, args.timeout)
    print(f"{'timing field':44s} {'finder':9s} {'n':>5s} {'wall s':>7s} {'peak RSS MiB':>12s}")
    for name, r in rows.items():
        results["timing"][name] = r
        if "error" in r:
            print(f"{f'{size} x {size} simulated (own process)':44s} {name:9s} failed: {r['error']}")
        else:
            print(f"{f'{size} x {size} simulated (own process)':44s} {name:9s} {r['n']:5d} {r['wall']:7.2f} "
                  f"{r['rss']:12.0f}")
    print(f"\npeak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; "
          f"torch threads {args.threads}; matching radius one beam FWHM")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    return results


if __name__ == "__main__":
    main()
