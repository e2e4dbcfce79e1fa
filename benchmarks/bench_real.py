"""The default detector and the classical finders on real images with reference catalogs written by others.

Every image in ``../shared/data`` (the real-data folder beside the checkout,
see its README.md) that comes with a source catalog made by someone else is
searched, in one run, by

- ``default``: the embedded default detector, ``detect_sources(image, progress_bar=False)``,
- ``photutils``: ``astrofmx.compare.find_sources_photutils(image)``,
- ``sep``: ``astrofmx.compare.find_sources_sep(image)`` (SExtractor's algorithms),
- ``pybdsf``: ``astrofmx.compare.find_sources_pybdsf(image)`` (needs a
  celestial WCS; where it fails, e.g. on an optical image without one, the
  failure is a row of the table),

each with astrofmx's default settings, each in a process of its own (so wall
time and peak RSS are those of that finder alone), on the same image file.

Cases (``--only`` takes these keys)
-----------------------------------
``parkes``       Parkes 1.4 GHz map 1904-66 (``radio/aegean/1904-66_SIN.fits``, 192 x 192,
                 40% NaN) against Aegean's 51 components (``1904_comp.fits``).
``parkes_ait``   the same sky in Hammer-Aitoff projection (``1904-66_AIT.fits``) against the same
                 51 Aegean components (sky positions through that image's WCS); skipped by ``--quick``.
``pybdsf_srl``   PyBDSF's test image ``ch0_I`` (4-D, 129 x 129) against PyBDSF's source list (43).
``pybdsf_gaul``  the same image and the same finder runs against PyBDSF's Gaussian list (48).
``sep``          the SExtractor test image (``optical/sep/image.fits``, ESO NTT/EMMI R band,
                 256 x 256, no celestial WCS) against SExtractor's catalog ``image.cat`` (65).

Candidates considered and left out (no reference catalog of sources in the image):

- ``radio/rgz-atlas/S311.fits``, ``S999.fits``: the subject JSON names the ATLAS component
  ids (C0311 + C0311.1; C0999) and the host, but not the component positions (the ATLAS
  component catalogue is not in the folder), and a 3' ATLAS field holds more faint sources
  than the one or two of the subject, so neither completeness nor purity can be scored.
- ``radio/rgz-rcnn/full_catalogue.csv.tgz``: 11,836 RGZ (FIRST) sources, no images; 4 of the
  28 MiraBest FIRST cutouts hold 1-2 of its components, but RGZ lists a hand-picked subset of
  FIRST, so purity against it is meaningless.
- ``radio/mirabest/``: one labelled source per cutout (class labels, not a catalog of the field).
- ``radio/astroquery-magpis``, ``radio/astroquery-first``: images only.
- ``radio/pybdsf/*.ds9.reg``: the srl/gaul catalogs again; ``resid_gaus.fits`` is a residual image.
- ``optical/photutils-wheel/M51_table.fits``: isophotes of one galaxy, not sources.
- ``optical/statmorph/slice.fits``: one galaxy (segmap with a single label; morphology values
  in reference_values.json), likely a mock; ``optical/galsim`` COSMOS stamp: one galaxy, no catalog.
- M67 (``M6707HH.fits``), M13 (``m13.fits``), HorseHead, SDSS g/r/i, 2MASS Ks, UKIDSS,
  ``comp.fits`` (NGC 1316), the Hubble Deep Field JPEG, the zoobot PNGs (ring labels) and the
  ``regions/`` DS9 files (test shapes): no catalog of their sources.

Each reference comes from one of the classical tools (Aegean, PyBDSF, SExtractor), so the
matching finder has a home advantage (PyBDSF against its own srl/gaul is a consistency check).

Scoring
-------
- One-to-one matching (``astrofmx.compare.crossmatch``, Hungarian) within one beam/PSF FWHM:
  the restoring beam's major axis from the header (``radio_beam``, BMAJ) where there is one
  (Parkes 14.4', ch0_I 54"), matched on the sky through ``sky_centroid``; for the sep image,
  which has neither a beam nor a celestial WCS, 3.2 px, matched in pixels: the median
  ``photutils.psf.fit_fwhm`` (7 x 7 box) of the 31 unflagged sources of image.cat with
  FLUX_AUTO > 5000 that are > 8 px from the edge (the second-moment FWHM of the unflagged
  sources is 2.8 px). The radius is in the table.
- n, completeness, purity, F1 (``astrofmx.compare.catalog_scores`` of the match counts).
- offset: median separation of the matched pairs, in arcsec (sky matching; '-' for the sep
  image, whose pixel scale is not in its header) and in pixels.
- flux ratio: median over the matched pairs of the finder's ``flux`` column over the
  reference's integrated flux (Aegean ``int_flux``, PyBDSF ``Total_flux``, both Jy;
  SExtractor ``FLUX_AUTO``, counts; pairs whose reference flux is not positive are left out);
  '-' where the finder has no ``flux`` column. The finder's flux is taken as it reports it:
  a Quantity is converted to the reference's unit where it can be; a plain number is used as
  is, so a pixel sum on a Jy/beam image (Jy/beam x pixel) comes out about one beam area in
  pixels (printed below the table) times too high.
- wall: seconds of the first finder call in its process (the imports of ``_common.import_finder``
  are not timed, and the classical finders' processes never import torch; the default's model
  load and the finders' own lazy imports are timed, as a user's first call pays them); warm:
  a second call on the same image in the same process; peak RSS: the high-water mark, after
  the first call, of that process or of the largest process it waited for (PyBDSF runs in
  one), whichever is higher, imports included (torch's import forks ``ldconfig``, whose
  figure is the parent's RSS at the fork and so never raises the maximum); base: the RSS
  after the imports. The machine may be shared: timings are noisy.
- Each image is searched once per finder (PyBDSF with its default ``catalog_type='srl'``);
  ch0_I's runs are scored against both the srl and the gaul list.
- The last lines say, per case, whether the default meets issue 16's bar: F1 at least the
  best classical finder's, median offset at most photutils'.

Reference files are read with ``astrofmx.compare.read_reference_catalog``: sky positions of
Aegean/PyBDSF go through the image's WCS (PyBDSF's own Xposn/Yposn differ from that by up
to 0.4 px at the top of ch0_I, from PyBDSF's own projection code); SExtractor's 1-based
X_IMAGE/Y_IMAGE become 0-based pixels.

Usage::

    python benchmarks/bench_real.py                  # all cases (a few minutes on 2 cores)
    python benchmarks/bench_real.py --quick          # without the AIT copy of Parkes
    python benchmarks/bench_real.py --only sep parkes --finders default photutils

Writes ``benchmarks/results/bench_real.json`` (``--json`` to change).
"""

import argparse
import json
import math
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import FINDERS

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
SEP_FWHM_PIX = 3.2  # see the module docstring


@dataclass(frozen=True)
class Case:
    """One image scored against one reference catalog."""

    key: str
    label: str
    image: str  # relative to DATA
    reference: str  # relative to DATA
    ref_flux_unit: str | None  # unit of the reference's integrated flux, None where unitless (counts)
    fwhm_pix: float | None = None  # documented FWHM where the header has no beam
    quick: bool = True


_PB = "radio/pybdsf/tbdsf_process_image.in_fits.pybdsf."
CASES = (
    Case("parkes", "Parkes 1904-66 SIN vs Aegean", "radio/aegean/1904-66_SIN.fits",
         "radio/aegean/1904_comp.fits", "Jy"),
    Case("parkes_ait", "Parkes 1904-66 AIT vs Aegean", "radio/aegean/1904-66_AIT.fits",
         "radio/aegean/1904_comp.fits", "Jy", quick=False),
    Case("pybdsf_srl", "PyBDSF ch0_I vs srl", _PB + "ch0_I.fits", _PB + "srl.FITS", "Jy"),
    Case("pybdsf_gaul", "PyBDSF ch0_I vs gaul", _PB + "ch0_I.fits", _PB + "gaul.FITS", "Jy"),
    Case("sep", "SExtractor image vs image.cat", "optical/sep/image.fits", "optical/sep/image.cat", None,
         fwhm_pix=SEP_FWHM_PIX),
)


# ---------------------------------------------------------------- the finder, in its own process

def _child(name, image, out, threads):
    """Run one finder on one image (twice: first call, warm call); pickle the catalog, times and memory to ``out``."""
    from _common import import_finder, run_finder
    from _memory import peak_rss_mib, proc_status_mib

    import_finder(name, threads=threads)  # not timed; torch only for the default
    base = proc_status_mib("VmRSS")
    t0 = time.perf_counter()
    cat = run_finder(name, image)
    wall = time.perf_counter() - t0
    own = peak_rss_mib()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # PyBDSF's process
    t0 = time.perf_counter()
    run_finder(name, image)  # again, without first-call costs (model load, lazy imports)
    warm = time.perf_counter() - t0
    with open(out, "wb") as fh:
        pickle.dump({"catalog": cat, "wall": wall, "wall_warm": warm, "base_rss": base,
                     "peak_rss": max(own, children), "own_rss": own, "children_rss": children}, fh)


def run_in_process(name, image, tmp, threads, timeout):
    """The child's result dict, or ``{'error': ...}`` when the finder fails or times out."""
    out = os.path.join(tmp, f"{name}-{Path(image).stem}.pkl")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, str(image), out,
           "--threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {timeout:g} s"}
    if proc.returncode != 0 or not os.path.exists(out):
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        return {"error": (lines[-1] if lines else f"exit status {proc.returncode}")[:160]}
    with open(out, "rb") as fh:
        return pickle.load(fh)


# ---------------------------------------------------------------- references and scoring

def image_geometry(path):
    """``(wcs, header)`` of an image: its celestial WCS (or None) and the header of its data HDU."""
    from astropy.io import fits

    from astrofmx.io import load_image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nd = load_image(path)
    wcs = nd.wcs
    wcs = wcs.celestial if wcs is not None and getattr(wcs, "has_celestial", False) else None
    header = nd.meta if isinstance(nd.meta, fits.Header) else fits.Header()
    if isinstance(nd.meta, dict) and isinstance(nd.meta.get("header"), fits.Header):
        header = nd.meta["header"]
    return wcs, header


def matching_radius(case, wcs, header):
    """One beam/PSF FWHM: ``(radius Quantity, where it came from)``."""
    import astropy.units as u

    if case.fwhm_pix is not None:
        return case.fwhm_pix * u.pix, "documented PSF FWHM"
    try:
        from radio_beam import Beam

        return Beam.from_fits_header(header).major.to(u.arcsec), "header beam (BMAJ)"
    except ImportError:
        return (float(header["BMAJ"]) * u.deg).to(u.arcsec), "header BMAJ"


def read_reference(case, wcs):
    """The reference catalog of a case, in pixels of its image (and on the sky where it has a WCS)."""
    from astrofmx.compare import read_reference_catalog

    return read_reference_catalog(DATA / case.reference, wcs=wcs)


def _values(column, unit=None):
    """Plain float values of a column, converted to ``unit`` where it is a Quantity that can be."""
    import astropy.units as u

    if isinstance(column, u.Quantity):
        if unit is not None and column.unit.is_equivalent(unit):
            return np.asarray(column.to_value(unit), dtype=float)
        return np.asarray(column.value, dtype=float)
    return np.asarray(column, dtype=float)


def _reference_flux(reference):
    for name in ("int_flux", "flux"):
        if name in reference.colnames:
            return _values(reference[name])
    return None


def score(catalog, reference, radius, *, pixel_scale_arcsec=None, ref_flux_unit=None):
    """Counts, completeness/purity/F1, median offset and median flux ratio of ``catalog`` against ``reference``.

    ``radius`` is an angle (sky matching) or pixels; ``pixel_scale_arcsec`` converts offsets
    between the two (None: only the unit matched in is reported).
    """
    import astropy.units as u

    from astrofmx.compare import catalog_scores, crossmatch

    matches = crossmatch(catalog, reference, radius)
    n_match = matches.meta["n_matched"]
    row = {"n": len(catalog), "n_ref": len(reference), "n_matched": n_match,
           **catalog_scores(n_match, len(catalog), len(reference))}
    sep = matches["separation"]
    median = float(np.median(sep.value)) if n_match else math.nan
    if matches.meta["coordinates"] == "sky":
        row["offset_arcsec"] = median
        row["offset_pix"] = median / pixel_scale_arcsec if pixel_scale_arcsec else math.nan
    else:
        row["offset_pix"] = median
        row["offset_arcsec"] = median * pixel_scale_arcsec if pixel_scale_arcsec else math.nan
    ref_flux = _reference_flux(reference)
    row["flux_ratio"] = math.nan
    row["has_flux"] = "flux" in catalog.colnames and ref_flux is not None
    if row["has_flux"] and n_match:
        unit = u.Unit(ref_flux_unit) if ref_flux_unit else None
        mine = _values(catalog["flux"], unit)[matches["idx_catalog"]]
        theirs = ref_flux[matches["idx_reference"]]
        good = np.isfinite(mine) & np.isfinite(theirs) & (theirs > 0)  # SExtractor writes FLUX_AUTO = 0 at times
        ratio = mine[good] / theirs[good]
        row["flux_ratio"] = float(np.median(ratio)) if len(ratio) else math.nan
    return row


def beam_area_pix(header, wcs):
    """Gaussian beam area in pixels (1.1331 BMAJ BMIN / pixel area), or None without a beam."""
    if wcs is None or "BMAJ" not in header:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = proj_plane_pixel_scales(wcs)
    return float(1.1331 * header["BMAJ"] * header.get("BMIN", header["BMAJ"]) / (scales[0] * scales[1]))


# ---------------------------------------------------------------- the run

def _fmt(value, spec, missing="-"):
    return missing if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value,
                                                                                                         spec)


_ARCSEC = '"'
HEADER = (f"{'image (n ref)':36s} {'radius':>9s} {'finder':9s} {'n':>4s} {'F1':>6s} {'compl':>6s} {'purity':>6s} "
          f"{'off ' + _ARCSEC:>7s} {'off px':>6s} {'flux':>7s} {'wall s':>7s} {'warm s':>7s} {'peak MiB':>8s} "
          f"{'base':>5s}")


def _print_row(label, radius, name, row):
    if "error" in row:
        print(f"{label:36s} {radius:>9s} {name:9s} failed: {row['error']}")
        return
    print(f"{label:36s} {radius:>9s} {name:9s} {row['n']:4d} {row['f1']:6.3f} {row['completeness']:6.3f} "
          f"{row['purity']:6.3f} {_fmt(row['offset_arcsec'], '7.1f'):>7s} {_fmt(row['offset_pix'], '6.2f'):>6s} "
          f"{_fmt(row['flux_ratio'], '7.3f'):>7s} {row['wall']:7.2f} {row['wall_warm']:7.2f} {row['peak_rss']:8.0f} "
          f"{row['base_rss']:5.0f}",
          flush=True)


def _verdict(rows):
    """The issue's bar on one case: default F1 >= best classical F1, default offset <= photutils'."""
    ok = {k: v for k, v in rows.items() if "error" not in v}
    if "default" not in ok:
        return None
    classical = [v["f1"] for k, v in ok.items() if k != "default"]
    best = max(classical) if classical else math.nan
    off = "offset_arcsec" if math.isfinite(ok["default"]["offset_arcsec"]) else "offset_pix"
    phot = ok.get("photutils", {}).get(off, math.nan)
    return {"default_f1": ok["default"]["f1"], "best_classical_f1": best,
            "f1_at_least_best": bool(ok["default"]["f1"] >= best) if classical else None,
            "default_offset": ok["default"][off], "photutils_offset": phot, "offset_unit": off[7:],
            "offset_at_most_photutils": bool(ok["default"][off] <= phot) if math.isfinite(phot) else None}


def _yes_no(flag, no):
    return "n/a" if flag is None else ("ok" if flag else no)


def selected_cases(only, quick):
    keys = [c.key for c in CASES]
    if only:
        unknown = sorted(set(only) - set(keys))
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; available: {keys}")
        return [c for c in CASES if c.key in only]
    return [c for c in CASES if c.quick or not quick]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="See the module docstring.")
    p.add_argument("--quick", action="store_true", help="skip the AIT copy of the Parkes map (all finders kept)")
    p.add_argument("--only", nargs="+", metavar="CASE", help=f"cases to run: {[c.key for c in CASES]}")
    p.add_argument("--finders", nargs="+", default=list(FINDERS), choices=FINDERS, help="finders to run")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the default detector")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed to each finder on each image")
    p.add_argument("--json", default=str(HERE / "results" / "bench_real.json"), help="where to write the results")
    p.add_argument("--child", nargs=3, metavar=("FINDER", "IMAGE", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(*args.child, args.threads)
    if not DATA.is_dir():
        raise SystemExit(f"the real-data folder {DATA} does not exist (it sits beside the checkout)")

    cases = selected_cases(args.only, args.quick)
    results = {"quick": args.quick, "threads": args.threads, "finders": args.finders, "cpus": os.cpu_count(),
               "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "note": "each finder in its own process; the machine may be shared, so timings are noisy",
               "cases": {}}
    runs = {}  # image -> finder -> child result: images shared by cases are searched once
    footnotes = []
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        for case in cases:
            image = DATA / case.image
            wcs, header = image_geometry(image)
            radius, radius_from = matching_radius(case, wcs, header)
            reference = read_reference(case, wcs)
            scale = None
            if wcs is not None:
                from astropy.wcs.utils import proj_plane_pixel_scales

                scale = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600
            label = f"{case.label} ({len(reference)})"
            rtext = f"{radius.value:.1f}{'px' if radius.unit.to_string() == 'pix' else _ARCSEC}"
            entry = {"label": case.label, "image": case.image, "reference": case.reference,
                     "n_reference": len(reference), "radius": f"{radius:.2f}", "radius_from": radius_from,
                     "pixel_scale_arcsec": scale, "beam_area_pix": beam_area_pix(header, wcs), "finders": {}}
            for name in args.finders:
                res = runs.setdefault(str(image), {})
                if name not in res:
                    res[name] = run_in_process(name, image, tmp, args.threads, args.timeout)
                child = res[name]
                if "error" in child:
                    row = {"error": child["error"]}
                else:
                    try:
                        row = score(child["catalog"], reference, radius, pixel_scale_arcsec=scale,
                                    ref_flux_unit=case.ref_flux_unit)
                    except Exception as exc:  # a catalog that cannot be scored is a result too
                        row = {"error": f"scoring failed: {exc!s:.120}"}
                    row.update({k: child[k] for k in ("wall", "wall_warm", "peak_rss", "base_rss", "own_rss",
                                                       "children_rss")})
                entry["finders"][name] = row
                _print_row(label, rtext, name, row)
            entry["verdict"] = _verdict(entry["finders"])
            results["cases"][case.key] = entry
            if entry["beam_area_pix"]:
                footnotes.append(f"{case.label}: beam area {entry['beam_area_pix']:.1f} px")
            print("-" * len(HEADER))
    print("radius: one beam major-axis FWHM (header) or the documented PSF FWHM; off: median offset of the matched "
          "pairs; flux: median finder flux / reference integrated flux")
    if footnotes:
        print("flux as each finder reports it; plain pixel sums on Jy/beam images are high by the beam area: "
              + "; ".join(footnotes))
    for key, entry in results["cases"].items():
        v = entry["verdict"]
        if v:
            print(f"{key:12s} default F1 {v['default_f1']:.3f} vs best classical {v['best_classical_f1']:.3f}: "
                  f"{_yes_no(v['f1_at_least_best'], 'below')}; offset {_fmt(v['default_offset'], '.2f')} vs "
                  f"photutils {_fmt(v['photutils_offset'], '.2f')} {v['offset_unit']}: "
                  f"{_yes_no(v['offset_at_most_photutils'], 'above')}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
