"""Simulate a MeerKAT-like radio field, save it as FITS and cut detector training tiles from it.

Run::

    python examples/simulate_radio_field.py --output sim_out

It writes ``sim_out/field.fits`` (image + truth catalog), ``sim_out/tiles.npz``
(128 x 128 training tiles with their boxes and labels) and, when matplotlib is
installed, ``sim_out/field.png`` with the truth boxes drawn. Offline, a few
seconds.
"""

import argparse
import logging
from pathlib import Path

import astropy.units as u
import numpy as np

from astrofmx.datasets import (RADIO_MORPHOLOGIES, NoiseModel, SourcePopulation, simulate_radio_field,
                               truth_boxes_in_window)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="simulated_field", help="output folder")
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--tile", type=int, default=128, help="training tile side in pixels")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    # the settings groups; the flat keywords (rms=..., extended_fraction=...) give the same field
    population = SourcePopulation(extended_fraction=0.15, double_fraction=0.05)
    field = simulate_radio_field((args.size, args.size), seed=args.seed, population=population,
                                 noise=NoiseModel(rms=20 * u.uJy / u.beam), artefacts="rings")
    truth = field.truth
    field.write(out / "field.fits", overwrite=args.overwrite)
    counts = {m: int(np.sum(truth["morphology"] == m)) for m in RADIO_MORPHOLOGIES}
    print(f"{len(truth)} sources {counts}; measured rms in the 32x32 corner "
          f"{1e6 * np.std(field.data[:32, :32]):.1f} uJy/beam (target 20)")
    print(f"brightest source: {truth['peak_flux'].max().to(u.mJy / u.beam):.2f}, "
          f"{int(truth['has_artefact'].sum())} with ring artefacts")

    # training tiles: boxes of sources at least half inside and brighter than 5 sigma
    tiles, boxes, labels = [], [], []
    for y0 in range(0, args.size - args.tile + 1, args.tile):
        for x0 in range(0, args.size - args.tile + 1, args.tile):
            b, lab = truth_boxes_in_window(truth, x0, y0, args.tile, args.tile, min_visible_fraction=0.5, min_snr=5)
            tiles.append(field.data[y0:y0 + args.tile, x0:x0 + args.tile])
            boxes.append(b)
            labels.append(lab)
    n_boxes = sum(len(b) for b in boxes)
    np.savez(out / "tiles.npz", images=np.stack(tiles), boxes=np.concatenate(boxes),
             labels=np.concatenate(labels), n_per_tile=np.array([len(b) for b in boxes]))
    print(f"{len(tiles)} tiles of {args.tile}x{args.tile} px with {n_boxes} boxes -> {out / 'tiles.npz'}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        return
    rms = field.header["SIMRMS"]
    fig, ax = plt.subplots(figsize=(8, 8), subplot_kw={"projection": field.wcs})
    ax.imshow(field.data, origin="lower", cmap="gray", vmin=-3 * rms, vmax=20 * rms)
    colours = {"compact": "tab:red", "extended": "gold", "double": "cyan"}
    for row in truth[truth["snr"] >= 5]:
        ax.add_patch(Rectangle((row["bbox_xmin"], row["bbox_ymin"]), row["bbox_xmax"] - row["bbox_xmin"],
                               row["bbox_ymax"] - row["bbox_ymin"], fill=False, lw=0.6,
                               ec=colours[row["morphology"]]))
    ax.set_xlabel("RA")
    ax.set_ylabel("Dec")
    fig.savefig(out / "field.png", dpi=100, bbox_inches="tight")
    print(f"preview -> {out / 'field.png'}")


if __name__ == "__main__":
    main()
