"""Simulate an optical CCD field of stars and galaxies, save it as FITS and draw it with its truth boxes.

Run::

    python examples/simulate_optical_field.py --output sim_optical

It writes ``sim_optical/optical_field.fits`` (image + truth catalog) and,
when matplotlib is installed, ``sim_optical/optical_field.png``: the image
with an arcsinh stretch, stars boxed in cyan, galaxies in orange. With
``--random`` the settings are drawn by `random_optical_field`. Offline, a
second or two.
"""

import argparse
import logging
from pathlib import Path

import numpy as np

from astrofmx.datasets import (GalaxyPopulation, OpticalDetector, OpticalPSF, SkyBackground, StarPopulation,
                               random_optical_field, simulate_optical_field)


def _plot(field, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        print("matplotlib is not installed: no PNG")
        return
    sky, sigma = field.header["SIMSKY"], field.header["SIMSIGMA"]
    shown = np.arcsinh((field.data - sky) / (3.0 * sigma))
    fig, ax = plt.subplots(figsize=(9, 9))
    ax.imshow(shown, origin="lower", cmap="gray", vmin=-1.0, vmax=np.percentile(shown, 99.7))
    for row in field.truth:
        colour = "cyan" if row["kind"] == "star" else "orange"
        ax.add_patch(Rectangle((row["bbox_xmin"], row["bbox_ymin"]), row["bbox_xmax"] - row["bbox_xmin"],
                               row["bbox_ymax"] - row["bbox_ymin"], fill=False, ec=colour, lw=0.6))
    ax.set_title(f"{len(field.truth)} sources, PSF FWHM {field.header['PSF_FWHM']:.2f} arcsec "
                 f"(cyan: stars, orange: galaxies)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="simulated_optical", help="output folder")
    parser.add_argument("--size", type=int, default=512, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--random", action="store_true", help="draw the settings with random_optical_field")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    shape = (args.size, args.size)
    if args.random:
        field = random_optical_field(shape, seed=args.seed)
    else:
        field = simulate_optical_field(shape, seed=args.seed, psf=OpticalPSF(fwhm=3.5, beta=3.0),
                                       stars=StarPopulation(density=15), galaxies=GalaxyPopulation(density=12),
                                       sky=SkyBackground(level=300, gradient=0.05, nebulosity=8),
                                       detector=OpticalDetector(saturation=30000))
    field.write(out / "optical_field.fits", overwrite=args.overwrite)
    truth = field.truth
    print(f"{int((truth['kind'] == 'star').sum())} stars ({int(truth['saturated'].sum())} saturated), "
          f"{int((truth['kind'] == 'galaxy').sum())} galaxies; background noise {field.sigma:.1f}")
    _plot(field, out / "optical_field.png")


if __name__ == "__main__":
    main()
