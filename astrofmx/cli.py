"""The ``astrofmx`` command line.

Each sub-command is a thin layer over the library: it parses arguments, calls
the public API, writes files (never over existing ones without
``--overwrite``) and prints a short summary. Errors caused by the input end
with a one-line message and exit status 2.
"""

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main"]

EXAMPLES = """\
examples:
  astrofmx demo                                   # main job on the bundled Parkes radio image
  astrofmx preview field.fits --preset radio -o field.png --tiles tiles.ecsv
"""

# exceptions that mean "bad input", reported as one line rather than a traceback
_USER_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, ImportError, OSError, KeyError)


def _add_output_flags(parser):
    parser.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def _check_outputs(paths, overwrite):
    from .utils import check_overwrite

    for path in paths:
        if path is not None:
            check_overwrite(path, overwrite)


# ----------------------------------------------------------------------------- preview
def _write_preview_png(data, mask, wcs, filename, *, title, tiles=()):
    """The normalized model input on WCSAxes (pixel axes without a WCS), blank pixels grey, tile outlines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    fig = plt.figure(figsize=(7, 6.5))
    ax = fig.add_subplot(projection=wcs) if wcs is not None else fig.add_subplot()
    cmap = matplotlib.colormaps["inferno"].with_extremes(bad="0.8")
    shown = np.where(mask, np.nan, data)
    im = ax.imshow(shown, origin="lower", cmap=cmap, vmin=0.0, vmax=1.0)
    for x0, y0, w, h in tiles:
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, lw=0.6, ec="cyan", alpha=0.7))
    if wcs is not None:
        ax.coords[0].set_axislabel("Right ascension" if "RA" in wcs.wcs.ctype[0] else wcs.wcs.ctype[0])
        ax.coords[1].set_axislabel("Declination" if "DEC" in wcs.wcs.ctype[1] else wcs.wcs.ctype[1])
    else:
        ax.set_xlabel("x [pix]")
        ax.set_ylabel("y [pix]")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="normalized value (model input)")
    fig.savefig(filename, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _preview(image_path, *, preset, tile_size, overlap, png, tiles_out, overwrite, progress):
    import numpy as np
    from astropy.table import QTable

    from .io import load_image
    from .preprocess import TileGrid, get_preset, iter_tiles

    _check_outputs([png, tiles_out], overwrite)
    image = load_image(image_path)
    normalizer = get_preset(preset)
    normalized = normalizer(image.data, mask=image.mask)

    grid = TileGrid(image.data.shape, tile_size=tile_size, overlap=overlap)
    rows = []
    from .utils import progress_bar

    for tile in progress_bar(iter_tiles(image, tile_size=tile_size, overlap=overlap), total=len(grid),
                             desc="tiles", enabled=progress):
        valid = ~tile.mask
        values = normalizer(tile.data, mask=tile.mask)[valid]
        rows.append((tile.x0, tile.y0, tile.data.shape[1], tile.data.shape[0], float(valid.mean()),
                     float(np.median(values)) if values.size else np.nan))
    table = QTable(rows=rows, names=("x0", "y0", "width", "height", "valid_fraction", "median_normalized"))
    table.meta["image"] = str(image_path)
    table.meta["preset"] = repr(normalizer)
    if tiles_out is not None:
        table.write(tiles_out, overwrite=overwrite)
    if png is not None:
        _write_preview_png(normalized, image.mask, image.wcs, png, title=f"{Path(str(image_path)).name} ({preset})",
                           tiles=[(r[0], r[1], r[2], r[3]) for r in rows])
    return image, table


def _cmd_preview(args):
    image, table = _preview(args.image, preset=args.preset, tile_size=args.tile_size, overlap=args.overlap,
                            png=args.output, tiles_out=args.tiles, overwrite=args.overwrite,
                            progress=not args.quiet)
    ny, nx = image.data.shape
    print(f"{args.image}: {nx} x {ny} pixels, unit {image.unit}, "
          f"{'celestial WCS' if image.wcs is not None else 'no WCS'}, {int(image.mask.sum())} blank pixels")
    print(f"{len(table)} tiles of {args.tile_size} px (overlap {args.overlap})")
    for path in (args.output, args.tiles):
        if path is not None:
            print(f"wrote {path}")


# ----------------------------------------------------------------------------- demo
def _cmd_demo(args):
    import astropy.units as u

    from .compare import compare_catalogs, find_sources_photutils, read_reference_catalog
    from .datasets import get_bundled_path
    from .io import write_catalog, write_ds9

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = {"preview": out / "preview.png", "tiles": out / "tiles.ecsv", "catalog": out / "catalog.ecsv",
               "regions": out / "catalog.reg", "overlay": out / "overlay.png", "scores": out / "scores.ecsv"}
    _check_outputs(outputs.values(), args.overwrite)
    image_path = get_bundled_path("1904-66_SIN.fits")
    image, tiles = _preview(image_path, preset="radio", tile_size=64, overlap=16, png=outputs["preview"],
                            tiles_out=outputs["tiles"], overwrite=args.overwrite, progress=not args.quiet)

    catalog = find_sources_photutils(image)
    write_catalog(catalog, outputs["catalog"], overwrite=args.overwrite)
    write_ds9(catalog, outputs["regions"], overwrite=args.overwrite)
    reference = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    radius = 0.5 * image.meta["BMAJ"] * u.deg  # half the 14.4 arcmin beam
    scores = compare_catalogs({"photutils": catalog}, reference, radius.to(u.arcmin), image=image,
                              plot=outputs["overlay"], overwrite=args.overwrite)
    scores.write(outputs["scores"], overwrite=args.overwrite)

    row = scores[0]
    print(f"astrofmx demo on the bundled Parkes 1.4 GHz map {image_path.name} "
          f"({image.data.shape[1]} x {image.data.shape[0]} px, {image.unit}, {int(image.mask.sum())} blank pixels)")
    print(f"  {len(tiles)} tiles of 64 px with 16 px overlap, normalized with the 'radio' preset")
    print(f"  {len(catalog)} sources found (photutils); against the {len(reference)} Aegean components within "
          f"{radius.to(u.arcmin):.1f}: completeness {row['completeness']:.2f}, purity {row['purity']:.2f}, "
          f"F1 {row['f1']:.2f}")
    for path in outputs.values():
        print(f"  wrote {path}")


# ----------------------------------------------------------------------------- entry point
def build_parser():
    """The argument parser of the ``astrofmx`` command (exposed for the docs and tests)."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="astrofmx", description="Vision foundation models for FITS images.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"astrofmx {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log messages (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("demo", help="run the main job offline on the image bundled with the package")
    p.add_argument("--output-dir", default="astrofmx-demo", help="where to write the outputs (default: %(default)s)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("preview", help="load, normalize and tile a FITS image; write a PNG and a tile table")
    p.add_argument("image", help="FITS file")
    p.add_argument("--preset", default="radio", help="normalization preset (default: %(default)s)")
    p.add_argument("--tile-size", type=int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("-o", "--output", help="preview PNG to write")
    p.add_argument("--tiles", help="tile table to write (.ecsv, .fits, .vot)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_preview)
    return parser


def main(argv=None):
    """Run the ``astrofmx`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        args.func(args)
    except _USER_ERRORS as exc:
        print(f"astrofmx {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
