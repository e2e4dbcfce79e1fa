"""``astrofmx preview``: load, normalize and tile a FITS image; a PNG and a tile table."""

from pathlib import Path

from ._common import (UsageError, add_command, add_image_flags, add_output_flags, check_inputs, check_outputs,
                      plural, positive_int, require)

__all__ = []


def add_parser(sub, parents):
    p = add_command(sub, "preview", "load, normalize and tile a FITS image; write a PNG and a tile table",
                    "  astrofmx preview field.fits -o field.png\n"
                    "  astrofmx preview field.fits --preset optical --tile-size 128 --tiles tiles.ecsv\n",
                    parents=parents)
    p.add_argument("image", help="FITS file")
    p.add_argument("--preset", default="radio", help="normalization preset (default: %(default)s)")
    p.add_argument("--tile-size", type=positive_int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("-o", "--output", help="preview PNG to write")
    p.add_argument("--tiles", help="tile table to write (.ecsv, .fits, .vot)")
    add_image_flags(p)
    add_output_flags(p)
    p.set_defaults(func=run)


def _tile_table(image, normalizer, *, tile_size, overlap, progress):
    """One row per tile: its corner, size, valid fraction and median normalized value."""
    import numpy as np
    from astropy.table import QTable

    from ..preprocess import TileGrid, iter_tiles
    from ..utils import progress_bar

    grid = TileGrid(image.data.shape, tile_size=tile_size, overlap=overlap)
    rows = []
    for tile in progress_bar(iter_tiles(image, tile_size=tile_size, overlap=overlap), total=len(grid),
                             desc="tiles", enabled=progress):
        valid = ~tile.mask
        values = normalizer(tile.data, mask=tile.mask)[valid]
        rows.append((tile.x0, tile.y0, tile.data.shape[1], tile.data.shape[0], float(valid.mean()),
                     float(np.median(values)) if values.size else np.nan))
    import astropy.units as u

    table = QTable(rows=rows, names=("x0", "y0", "width", "height", "valid_fraction", "median_normalized"))
    for name in ("x0", "y0", "width", "height"):
        table[name] = table[name] * u.pix
    return table


def _write_preview_png(image, normalized, tiles, filename, *, title, overwrite):
    """The normalized model input with the tile outlines, drawn by `astrofmx.compare.plot_catalogs`."""
    from astropy.nddata import NDData
    from astropy.table import QTable

    from ..compare import plot_catalogs

    x0, y0, w, h = (tiles[n].value for n in ("x0", "y0", "width", "height"))
    outlines = QTable({"x_centroid": x0 + 0.5 * (w - 1), "y_centroid": y0 + 0.5 * (h - 1),
                       "bbox_xmin": x0 - 0.5, "bbox_ymin": y0 - 0.5, "width": w, "height": h})
    shown = NDData(normalized, mask=image.mask, wcs=image.wcs)
    plot_catalogs(shown, {"tiles": outlines}, stretch="linear", interval="minmax", filename=filename,
                  overwrite=overwrite, title=title)


def preview(image_path, *, preset, tile_size, overlap, png, tiles_out, overwrite, progress, image=None, note=None):
    """Load (unless ``image`` is given), normalize and tile ``image_path``; write the PNG and the tile table."""
    from ..io import annotate_table, load_image, write_catalog
    from ..preprocess import get_preset

    check_outputs([png, tiles_out], overwrite)
    if image is None:
        image = load_image(image_path)
    normalizer = get_preset(preset)
    table = _tile_table(image, normalizer, tile_size=tile_size, overlap=overlap, progress=progress)
    table = annotate_table(table, image=image_path, preset=repr(normalizer), tile_size=tile_size, overlap=overlap,
                           **({"note": note} if note else {}))
    if tiles_out is not None:
        write_catalog(table, tiles_out, overwrite=overwrite)
    if png is not None:
        _write_preview_png(image, normalizer(image.data, mask=image.mask), table, png,
                           title=f"{Path(str(image_path)).name} ({preset})", overwrite=overwrite)
    return image, table


def run(args):
    from ._common import read_image

    check_inputs([args.image])
    if not 0 <= args.overlap < args.tile_size:
        raise UsageError(f"--overlap must be at least 0 and smaller than --tile-size ({args.tile_size}), "
                         f"got {args.overlap}")
    check_outputs([args.output, args.tiles], args.overwrite)
    if args.output is not None:
        require(["matplotlib"], "-o PNG", extra="viz")
    image, table = preview(args.image, preset=args.preset, tile_size=args.tile_size, overlap=args.overlap,
                           png=args.output, tiles_out=args.tiles, overwrite=args.overwrite,
                           progress=not args.quiet, image=read_image(args.image, args))
    ny, nx = image.data.shape
    print(f"{args.image}: {nx} x {ny} pixels, unit {image.unit}, "
          f"{'celestial WCS' if image.wcs is not None else 'no WCS'}, {int(image.mask.sum())} blank pixels")
    print(f"{plural(len(table), 'tile')} of {args.tile_size} px (overlap {args.overlap})")
    for path in (args.output, args.tiles):
        if path is not None:
            print(f"wrote {path}")
