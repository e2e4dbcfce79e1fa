"""Calibrate the scores of a trained detector and choose its default threshold (reproducible).

Runs the detector on simulated validation fields that neither training nor any
benchmark uses (the same generator as ``train_default_detector.py``: radio
and optical/IR fields brought to the detector's beam range), matches every
detection one-to-one to the truth within one beam/PSF FWHM, and fits an
isotonic regression (`sklearn.isotonic.IsotonicRegression`) from the raw
score to the probability that a detection is real, *centred* (Oron & Flournoy
2017, "Centered Isotonic Regression", Stat. Biopharm. Res. 9, 258): one knot
per constant block of the fit, at the block's mean raw score, joined by
straight lines, so the map rises strictly between the first and last knots
and keeps the model's ranking of its detections (the plain fit's flat steps
gave every raw score above 0.67 one calibrated value). sklearn has no centred
variant; the centring is `centred_isotonic`, a few lines over its fit. The
knots go into the detector's ``config.json`` as ``score_calibration``, so that
`astrofmx.detect_sources` reports calibrated scores: among detections with
score close to s, a fraction close to s are real. The default
``score_threshold`` becomes the calibrated score that maximizes F1 on these
fields (completeness against the truth sources with peak S/N >= the
detector's ``min_snr``, purity against all truth sources, as in
``benchmarks/bench_finders.py``). A reliability diagram (PNG) and the figures
are written too, and the calibration is recorded in ``metadata.json`` with the
commit it ran at.

The scores calibrated are those `astrofmx.detect_sources` reports after all of
its cleaning (S/N cut, measured positions, duplicates removed), so any change
to that pipeline calls for a new calibration: a run of this script takes about
a minute on 2 CPU threads, and ``astrofmx/detection/tests/test_default.py``
checks the shipped map on fields of other seeds.

Usage::

    python scripts/calibrate_detector.py --model astrofmx/data/models/default \\
        --figure docs/_static/reliability.png
"""

import argparse
import dataclasses
import importlib.util
import json
import logging
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _training_module():
    spec = importlib.util.spec_from_file_location("train_default_detector", HERE / "train_default_detector.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def collect(det, seeds, size, beam_range, optical_fraction, min_snr):
    """(raw score, is real, field index) of every detection, and the per-field truth counts."""
    import astropy.units as u

    from astrofmx.compare import crossmatch
    from astrofmx.detection import detect_sources
    from astrofmx.io import make_source_catalog

    train = _training_module()
    scores, real, field_of, n_bright, bright_hits = [], [], [], [], []
    for k, seed in enumerate(seeds):
        kind = "optical" if np.random.default_rng([int(seed), 11]).random() < optical_fraction else "radio"
        data, boxes_all, snr, st = train.scaled_field(kind, seed, size, beam_range)
        bright_boxes = boxes_all[snr >= min_snr]
        radius = max(1.5, float(np.clip(st["native_beam_px"] * st["factor"], *beam_range))) * u.pix
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cat = detect_sources(data, model=det, score_threshold=0.05, progress_bar=False)
        truth = make_source_catalog(boxes_all, warn_empty=False)
        bright = make_source_catalog(bright_boxes, warn_empty=False)
        hit = np.zeros(len(cat), bool)
        if len(cat) and len(truth):
            hit[np.asarray(crossmatch(cat, truth, radius)["idx_catalog"], int)] = True
        s = np.asarray(cat["score"], float)
        scores.append(s)
        real.append(hit)
        field_of.append(np.full(len(s), k))
        # which bright truth sources each detection recovers (for completeness at a threshold)
        bright_hits.append(_bright_matches(cat, bright, radius))
        n_bright.append(len(bright))
        logging.info("field %d (%s, seed %d): %d detections, %d truth, %d bright", k, kind, seed, len(s),
                     len(truth), len(bright))
    return (np.concatenate(scores), np.concatenate(real), np.concatenate(field_of), n_bright, bright_hits)


def _bright_matches(cat, bright, radius):
    """For each detection, the index of the bright truth source it is matched to (-1: none)."""
    from astrofmx.compare import crossmatch

    out = np.full(len(cat), -1)
    if len(cat) and len(bright):
        m = crossmatch(cat, bright, radius)
        out[np.asarray(m["idx_catalog"], int)] = np.asarray(m["idx_reference"], int)
    return out


def f1_curve(calibrated, real, field_of, n_bright, bright_hits, thresholds):
    """Completeness, purity and F1 of the detections above each threshold, pooled over the fields."""
    hits = np.concatenate(bright_hits)
    rows = []
    for t in thresholds:
        keep = calibrated >= t
        n_found = int(keep.sum())
        purity = float(real[keep].mean()) if n_found else 0.0
        recovered = sum(len(set(hits[keep & (field_of == k)]) - {-1}) for k in range(len(n_bright)))
        completeness = recovered / max(sum(n_bright), 1)
        f1 = 2 * purity * completeness / (purity + completeness) if purity + completeness > 0 else 0.0
        rows.append((float(t), completeness, purity, f1))
    return np.array(rows)


def centred_isotonic(raw, real):
    """Knots ``(x, y)`` of the centred isotonic regression of ``real`` (0/1) on ``raw``: x strictly increasing.

    sklearn's `~sklearn.isotonic.IsotonicRegression` gives the pooled-adjacent-violators fit, a step function;
    each of its constant blocks becomes one knot at the mean raw score of the block's detections (Oron &
    Flournoy 2017), and `numpy.interp` between the knots is the calibrated map (constant beyond the ends).
    """
    from sklearn.isotonic import IsotonicRegression

    raw, real = np.asarray(raw, float), np.asarray(real, float)
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True).fit(raw, real).predict(raw)
    levels, block = np.unique(fitted, return_inverse=True)  # the blocks, in increasing value (and raw score)
    x = np.bincount(block, weights=raw) / np.bincount(block)
    return x, levels


def _breakpoints(x, y, decimals=5):
    """The knots as ``[[raw, calibrated], ...]`` rounded, raw strictly increasing (knots that round alike
    merge into one, at their mean)."""
    rx, ry = np.round(np.asarray(x, float), decimals), np.asarray(y, float)
    keys, start = np.unique(rx, return_index=True)
    ends = list(start[1:]) + [len(rx)]
    return [[float(k), round(float(ry[a:b].mean()), decimals)] for k, a, b in zip(keys, start, ends)]


def reliability(calibrated, real, n_bins=10):
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(calibrated, edges) - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        sel = which == b
        if sel.any():
            out.append((float(calibrated[sel].mean()), float(real[sel].mean()), int(sel.sum())))
    return out


def plot(raw_bins, cal_bins, curve, threshold, filename):
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.5, 4.2))
    ax1.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    for bins, label, marker in ((raw_bins, "raw score", "s"), (cal_bins, "calibrated (held-out fields)", "o")):
        x, y, n = (np.array(v) for v in zip(*bins))
        ax1.plot(x, y, marker=marker, mfc="none", label=label)
    ax1.set_xlabel("score (bin mean)")
    ax1.set_ylabel("fraction of detections that are real")
    ax1.set_title("Reliability on validation fields")
    ax1.legend(loc="upper left", fontsize=8)
    ax2.plot(curve[:, 0], curve[:, 1], label="completeness")
    ax2.plot(curve[:, 0], curve[:, 2], label="purity")
    ax2.plot(curve[:, 0], curve[:, 3], label="F1", lw=2)
    ax2.axvline(threshold, color="k", ls=":", label=f"default threshold {threshold:.2f}")
    ax2.set_xlabel("calibrated score threshold")
    ax2.set_title("Catalog quality against the threshold")
    ax2.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    Path(filename).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(filename, dpi=110)
    plt.close(fig)


def _commit():
    """The checkout's commit (None outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="detector folder; its config.json and metadata.json are updated")
    p.add_argument("--seeds", type=int, nargs=2, default=(7000, 7200), metavar=("FIRST", "STOP"),
                   help="simulation seeds of the calibration fields (apart from training, validation, benchmarks)")
    p.add_argument("--field-size", type=int, default=384)
    p.add_argument("--figure", default=None, help="write the reliability diagram to this PNG")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dry-run", action="store_true", help="print the figures, change no file")
    args = p.parse_args(argv)
    import torch

    from astrofmx.detection import load_detector

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model_dir = Path(args.model)
    meta = json.loads((model_dir / "metadata.json").read_text())
    data = meta.get("data", {})
    beam_range = tuple(data.get("beam_range_px", (2.0, 7.0)))
    optical_fraction = float(data.get("optical_fraction", 0.45))
    det = load_detector(model_dir)
    if getattr(det.config, "score_calibration", None) is not None:  # calibrate the raw scores
        det.config = dataclasses.replace(det.config, score_calibration=None)
    min_snr = float(det.config.min_snr or 0.0)
    t0 = time.time()
    raw, real, field_of, n_bright, bright_hits = collect(det, range(*args.seeds), args.field_size, beam_range,
                                                         optical_fraction, min_snr)
    def fit(sel):
        return centred_isotonic(raw[sel], real[sel])

    # held-out reliability: fit on the even fields, apply to the odd ones and the other way round
    held_out = np.empty_like(raw)
    for part in (0, 1):
        x, y = fit(field_of % 2 != part)
        held_out[field_of % 2 == part] = np.interp(raw[field_of % 2 == part], x, y)
    x, y = fit(np.ones(len(raw), bool))  # the shipped calibration uses every field
    calibrated = np.interp(raw, x, y)
    thresholds = np.round(np.arange(0.05, 0.96, 0.01), 2)
    curve = f1_curve(calibrated, real, field_of, n_bright, bright_hits, thresholds)
    best = curve[int(np.argmax(curve[:, 3]))]
    raw_curve = f1_curve(raw, real, field_of, n_bright, bright_hits, [0.5])[0]
    raw_bins, cal_bins = reliability(raw, real), reliability(held_out, real)
    print(f"{len(raw)} detections on {len(n_bright)} fields ({sum(n_bright)} bright truth sources), "
          f"{time.time() - t0:.0f} s")
    print("reliability (bin mean score, fraction real, n): raw", [tuple(round(v, 3) for v in b) for b in raw_bins])
    print("                            calibrated (held-out halves)", [tuple(round(v, 3) for v in b) for b in cal_bins])
    print(f"raw score >= 0.50: completeness {raw_curve[1]:.3f} purity {raw_curve[2]:.3f} F1 {raw_curve[3]:.3f}")
    print(f"best calibrated threshold {best[0]:.2f}: completeness {best[1]:.3f} purity {best[2]:.3f} "
          f"F1 {best[3]:.3f}")
    if args.figure:
        plot(raw_bins, cal_bins, curve, best[0], args.figure)
    if args.dry_run:
        return 0
    config = json.loads((model_dir / "config.json").read_text())
    config["config"]["score_calibration"] = _breakpoints(x, y)
    config["config"]["score_threshold"] = float(best[0])
    (model_dir / "config.json").write_text(json.dumps(config, indent=2))
    meta["calibration"] = {
        "command": "python scripts/" + Path(__file__).name + " " + " ".join(sys.argv[1:] if argv is None else argv),
        "method": "centred isotonic regression (sklearn IsotonicRegression, one knot per block at its mean raw "
                  "score) of match (one-to-one within one beam FWHM) on raw score",
        "commit": _commit(),
        "seeds": list(args.seeds), "n_detections": int(len(raw)), "n_fields": len(n_bright),
        "reliability_raw": raw_bins, "reliability_calibrated": cal_bins,
        "score_threshold": float(best[0]),
        "f1_at_threshold": {"completeness": best[1], "purity": best[2], "f1": best[3]},
        "f1_raw_0.5": {"completeness": raw_curve[1], "purity": raw_curve[2], "f1": raw_curve[3]},
    }
    (model_dir / "metadata.json").write_text(json.dumps(meta, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
