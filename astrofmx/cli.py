"""The ``astrofmx`` command line.

Each sub-command is a thin layer over the library: it parses arguments, calls
the public API, writes files (never over existing ones without
``--overwrite``) and prints a short summary. Errors caused by the input end
with a one-line message and exit status 2.
"""

import argparse
import logging
import sys
import os
import warnings
from pathlib import Path

__all__ = ["main"]

EXAMPLES = """\
examples:
  astrofmx demo                                   # main job on the bundled Parkes radio image
  astrofmx preview field.fits --preset radio -o field.png --tiles tiles.ecsv
  astrofmx detect field.fits -o catalog.ecsv --regions catalog.reg --plot overlay.png
  astrofmx compare field.fits --reference aegean.fits --finders photutils sep -o scores.ecsv
  astrofmx simulate sim.fits --shape 512 512 --seed 1 --truth truth.ecsv
  astrofmx train-detector --simulate 20 --backbone resnet18 -o my_detector
  astrofmx embed cutouts/*.fits --backbone msn -o features.npy
  astrofmx backbones                              # registered backbones, with cached weights

"astrofmx COMMAND --help" shows the options and examples of each command.
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
    from .detection import detect_sources
    from .io import write_catalog, write_ds9

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    outputs = {"preview": out / "preview.png", "tiles": out / "tiles.ecsv", "catalog": out / "catalog.ecsv",
               "regions": out / "catalog.reg", "overlay": out / "overlay.png", "scores": out / "scores.ecsv"}
    _check_outputs(outputs.values(), args.overwrite)
    image_path = get_bundled_path("1904-66_SIN.fits")
    image, tiles = _preview(image_path, preset="radio", tile_size=64, overlap=16, png=outputs["preview"],
                            tiles_out=outputs["tiles"], overwrite=args.overwrite, progress=not args.quiet)

    # the main job: the embedded default detector (no model or backbone named), offline
    catalog = detect_sources(image, progress_bar=not args.quiet)
    write_catalog(catalog, outputs["catalog"], overwrite=args.overwrite)
    write_ds9(catalog, outputs["regions"], overwrite=args.overwrite)
    # side by side: the classical photutils finder, both scored against Aegean's catalog of the same map
    reference = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    radius = (0.5 * image.meta["BMAJ"] * u.deg).to(u.arcmin)  # half the 14.4 arcmin beam
    scores = compare_catalogs({"astrofmx default": catalog, "photutils": find_sources_photutils(image)},
                              reference, radius, image=image, plot=outputs["overlay"], overwrite=args.overwrite)
    scores.write(outputs["scores"], overwrite=args.overwrite)

    print(f"astrofmx demo on the bundled Parkes 1.4 GHz map {image_path.name} "
          f"({image.data.shape[1]} x {image.data.shape[0]} px, {image.unit}, {int(image.mask.sum())} blank pixels)")
    print(f"  {len(tiles)} preview tiles of 64 px with 16 px overlap, normalized with the 'radio' preset")
    print(f"  {len(catalog)} sources detected by the embedded default detector")
    print(f"  against the {len(reference)} Aegean components within {radius:.1f}:")
    for row in scores:
        print(f"    {row['finder']:<17} {row['n_sources']:>3} sources  completeness {row['completeness']:.2f}  "
              f"purity {row['purity']:.2f}  F1 {row['f1']:.2f}")
    for path in outputs.values():
        print(f"  wrote {path}")


# ----------------------------------------------------------------------------- shared helpers
_GLOB_CHARS = "*?["


def _expand_paths(patterns):
    """Command-line inputs -> paths: a quoted glob pattern (not an existing file) becomes its sorted matches."""
    import glob

    paths = []
    for pattern in patterns:
        if any(c in pattern for c in _GLOB_CHARS) and not os.path.exists(pattern):
            matches = sorted(p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p))
            if not matches:
                raise FileNotFoundError(f"the pattern {pattern!r} matches no file")
            paths.extend(matches)
        else:
            paths.append(pattern)
    return paths


def _quantity(text):
    """argparse type: '7.2arcmin', '20 uJy/beam', '3pix' -> Quantity; a plain number stays a float."""
    import astropy.units as u

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return u.Quantity(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a quantity such as '7.2arcmin'") from exc


def _weights_arg(text):
    """'pretrained' | 'none' (random initialisation, for testing) | a local weights file."""
    return None if text.lower() == "none" else text


def _parallel_arg(text):
    """argparse type of --parallel: 'no', an int or 'current-scheduler'."""
    if text.lower() in ("no", "false", "0"):
        return False
    if text == "current-scheduler":
        return text
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--parallel must be a number of worker processes or "
                                         f"'current-scheduler', got {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"--parallel must be at least 1, got {value}")
    return value


def _bounded(convert, what, low, high=None):
    """An argparse type: ``convert(text)`` within [low, high], else an error naming ``what`` was expected."""
    def parse(text):
        try:
            value = convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from exc
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _bounded(int, "a positive integer", 1)
_fraction = _bounded(float, "a number in [0, 1]", 0.0, 1.0)


def _parser(sub, name, help, examples, description=None):
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog="examples:\n" + examples, formatter_class=argparse.RawDescriptionHelpFormatter)


def _print_table(table, max_lines=40):
    for line in table.pformat(max_lines=max_lines, max_width=-1):
        print(line)


# ----------------------------------------------------------------------------- detect
def _detector_hint(exc, args):
    """Add the command-line spelling to the library's 'no detector' message."""
    text = _one_line(exc)
    if args.model is None and ("model=" in text or "detector" in text):
        return type(exc)(f"{text} (on the command line: --model PATH; make one with 'astrofmx train-detector')") \
            if type(exc) in (ValueError, FileNotFoundError, TypeError) else \
            ValueError(f"{text} (on the command line: --model PATH; make one with 'astrofmx train-detector')")
    return exc


def _cmd_detect(args):
    from .detection import detect_sources
    from .io import load_image, write_catalog, write_ds9

    images = _expand_paths(args.image)
    options = dict(model=args.model, backbone=args.backbone, tile_size=args.tile_size, overlap=args.overlap,
                   score_threshold=args.score_threshold, nms_threshold=args.nms_threshold,
                   batch_size=args.batch_size, device=args.device, precision=args.precision,
                   progress_bar=not args.quiet)
    if len(images) > 1 or args.output_dir is not None:
        if args.output_dir is None:
            raise ValueError(f"{len(images)} images need --output-dir DIR for the per-file catalogs, the summary "
                             "and the combined catalog")
        if args.regions or args.plot or args.output:
            raise ValueError("--output, --regions and --plot are for one image; with --output-dir the catalogs go "
                             "to that folder")
        if args.overwrite:
            raise ValueError("--overwrite does not apply to --output-dir: finished files are kept and skipped "
                             "(use --no-resume to recompute them)")
        try:
            result = detect_sources(images, output_dir=args.output_dir, parallel=args.parallel,
                                    resume=not args.no_resume, output_format=args.format, **options)
        except _USER_ERRORS as exc:
            raise _detector_hint(exc, args) from exc
        print(f"{len(images)} images: {result.n_done} done, {result.n_skipped} already finished (skipped), "
              f"{result.n_failed} failed")
        for row in result.failed:
            print(f"  failed: {row['input']}: {row['error']}")
        if result.catalog is not None:
            print(f"{len(result.catalog)} sources in {result.combined_path}")
        print(f"summary in {Path(result.output_dir) / 'detect_summary.ecsv'}")
        if not result.ok:
            raise RuntimeError(f"{result.n_failed} of {len(images)} images failed (see the summary); rerun the "
                               "same command to retry them")
        return
    _check_outputs([args.output, args.regions, args.plot], args.overwrite)
    image = load_image(images[0])
    try:
        catalog = detect_sources(image, **options)
    except _USER_ERRORS as exc:
        raise _detector_hint(exc, args) from exc
    print(f"{images[0]}: {len(catalog)} sources (detector {catalog.meta.get('model', '?')}, "
          f"backbone {catalog.meta.get('backbone', '?')}, score >= {args.score_threshold:g})")
    if args.output is not None:
        write_catalog(catalog, args.output, overwrite=args.overwrite)
        print(f"wrote {args.output}")
    if args.regions is not None:
        write_ds9(catalog, args.regions, overwrite=args.overwrite, wcs=image.wcs)
        print(f"wrote {args.regions}")
    if args.plot is not None:
        from .compare import plot_catalogs

        plot_catalogs(image, {"astrofmx": catalog}, filename=args.plot, overwrite=args.overwrite,
                      title=Path(images[0]).name)
        print(f"wrote {args.plot}")
    if args.output is None and args.regions is None and args.plot is None:
        _print_table(catalog[[c for c in ("id", "x_centroid", "y_centroid", "sky_centroid", "score", "label")
                              if c in catalog.colnames]])


# ----------------------------------------------------------------------------- compare
_FINDERS = ("photutils", "sep", "pybdsf", "default", "model")


def _cmd_compare(args):
    import astropy.units as u

    from .compare import (compare_catalogs, find_sources_photutils, find_sources_pybdsf, find_sources_sep,
                          read_reference_catalog)
    from .io import load_image, write_catalog

    finders = list(dict.fromkeys(args.finders))
    if args.model is not None and "model" not in finders:
        finders.append("model")
    if "model" in finders and args.model is None:
        raise ValueError("the 'model' finder needs --model PATH (a detector saved by 'astrofmx train-detector')")
    catalog_files = {}
    if args.catalog_dir is not None:
        catalog_files = {f: Path(args.catalog_dir) / f"{f}.ecsv" for f in finders}
    _check_outputs([args.output, args.plot, *catalog_files.values()], args.overwrite)
    image = load_image(args.image)
    reference = read_reference_catalog(args.reference, wcs=image.wcs, format=args.reference_format)
    if len(reference) == 0:
        raise ValueError(f"the reference catalog {args.reference!r} has no sources")
    radius = args.radius
    if radius is None:
        bmaj = image.meta.get("BMAJ") if hasattr(image, "meta") and image.meta else None
        if bmaj is None:
            raise ValueError("the image header has no BMAJ (beam) to set the matching radius from: pass --radius, "
                             "e.g. --radius 5arcsec or --radius 3pix")
        radius = (0.5 * float(bmaj) * u.deg).to(u.arcmin)
    elif not isinstance(radius, u.Quantity):
        radius = radius * u.arcsec
    if radius.unit.physical_type != "angle" and radius.unit != u.pix:
        raise ValueError(f"--radius must be an angle (e.g. 7.2arcmin) or pixels (3pix), got {radius}")

    from .detection import detect_sources
    from .utils import progress_bar

    runners = {
        "photutils": lambda: find_sources_photutils(image),
        "sep": lambda: find_sources_sep(image),
        "pybdsf": lambda: find_sources_pybdsf(image),
        "default": lambda: detect_sources(image, progress_bar=False, device=args.device),
        "model": lambda: detect_sources(image, model=args.model, progress_bar=False, device=args.device),
    }
    catalogs = {}
    for name in progress_bar(finders, desc="finders", unit="finder", enabled=not args.quiet):
        try:
            catalogs[name] = runners[name]()
        except ImportError as exc:
            raise ImportError(f"finder {name!r} is not available: {_one_line(exc)}") from exc
        except _USER_ERRORS as exc:
            message = f"finder {name!r}: {_one_line(exc)}"
            if name == "default":
                message += " (run a saved detector with --model PATH instead)"
            raise (type(exc) if type(exc) in (ValueError, TypeError, FileNotFoundError) else ValueError)(message) \
                from exc
    scores = compare_catalogs(catalogs, reference, radius, image=image, plot=args.plot, overwrite=args.overwrite)
    print(f"{args.image}: {len(reference)} reference sources, matching radius {radius:.3g}")
    _print_table(scores)
    if args.output is not None:
        scores.write(args.output, overwrite=args.overwrite)
        print(f"wrote {args.output}")
    for name, path in catalog_files.items():
        Path(args.catalog_dir).mkdir(parents=True, exist_ok=True)
        write_catalog(catalogs[name], path, overwrite=args.overwrite)
        print(f"wrote {path}")
    if args.plot is not None:
        print(f"wrote {args.plot}")


# ----------------------------------------------------------------------------- simulate
def _cmd_simulate(args):
    from .datasets import simulate_radio_field

    if not str(args.output).lower().endswith((".fits", ".fit", ".fts", ".fits.gz")):
        raise ValueError(f"the output must be a FITS file (.fits), got {args.output!r}")
    _check_outputs([args.output, args.truth], args.overwrite)
    kwargs = {}
    for name in ("rms", "beam_fwhm", "pixel_scale", "n_sources", "artefacts", "primary_beam_fwhm", "pb_cutoff"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    field = simulate_radio_field(tuple(args.shape), seed=args.seed, **kwargs)
    field.write(args.output, overwrite=args.overwrite)
    ny, nx = field.data.shape
    import astropy.units as u

    print(f"simulated a {nx} x {ny} radio field with {len(field.truth)} sources "
          f"(rms {field.rms.to(u.uJy / u.beam):.3g}, beam {field.beam[0].to(u.arcsec):.3g}) -> {args.output}")
    if args.truth is not None:
        from .io import write_catalog

        try:
            write_catalog(field.truth, args.truth, overwrite=args.overwrite)
        except (TypeError, ValueError, KeyError):
            field.truth.write(args.truth, overwrite=args.overwrite)
        print(f"wrote {args.truth}")


# ----------------------------------------------------------------------------- train-detector
def _read_table(path, what):
    from astropy.table import QTable

    try:
        return QTable.read(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise ValueError(f"cannot read the {what} table {path!r}: {exc}") from exc


def _cmd_train_detector(args):
    from .detection import catalog_to_boxes, save_detector, train_detector
    from .io import load_image

    images = _expand_paths(args.images)
    if args.boxes and args.catalogs:
        raise ValueError("give --boxes or --catalogs, not both")
    labels = args.boxes or args.catalogs
    if images and labels is None:
        raise ValueError(f"{len(images)} images need labels: --boxes TABLE... (bounding-box columns) or --catalogs "
                         "CATALOG... (source catalogs), one per image")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"give one {'--boxes' if args.boxes else '--catalogs'} file per image: {len(images)} "
                         f"images, {len(labels)} files")
    if not images and not args.simulate:
        raise ValueError("nothing to train on: give IMAGES with --boxes/--catalogs, or --simulate N")
    if args.resume and args.checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir DIR (the folder of the interrupted run)")
    _check_outputs([args.output], args.overwrite)

    train_images, train_boxes = [], []
    for k, path in enumerate(images):
        image = load_image(path)
        if args.boxes:
            train_boxes.append(_read_table(args.boxes[k], "box"))
        else:
            from .compare import read_reference_catalog

            table = _read_table(args.catalogs[k], "catalog")
            try:
                boxes = catalog_to_boxes(table, image)
            except (ValueError, KeyError):
                boxes = catalog_to_boxes(read_reference_catalog(args.catalogs[k], wcs=image.wcs), image)
            train_boxes.append(boxes)
        train_images.append(image)
    if args.simulate:
        from .datasets import simulate_radio_field

        for i in range(args.simulate):
            field = simulate_radio_field(tuple(args.sim_shape), seed=args.seed + i)
            train_images.append(field.to_nddata())
            train_boxes.append(field.truth)

    config = dict(backbone=args.backbone, weights=args.weights, mode=args.mode, tile_size=args.tile_size)
    for name in ("upscale", "pyramid_channels", "representation_size", "normalizer"):
        value = getattr(args, name)
        if value is not None:
            config[name] = value
    detector = train_detector(train_images, train_boxes, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              val_fraction=args.val_fraction, checkpoint_dir=args.checkpoint_dir,
                              resume=args.resume, seed=args.seed, precision=args.precision, device=args.device,
                              progress_bar=not args.quiet, **config)
    save_detector(detector, args.output, overwrite=args.overwrite)
    last = detector.history[-1] if detector.history else {}
    loss = last.get("loss", last.get("train_loss"))
    print(f"trained a {args.backbone} detector ({args.mode}) on {len(train_images)} images for "
          f"{len(detector.history)} epochs" + (f"; last training loss {loss:.4g}" if loss is not None else ""))
    print(f"wrote {args.output}")


# ----------------------------------------------------------------------------- embed
def _cmd_embed(args):
    from .backbones import embed

    images = _expand_paths(args.images)
    if args.output_dir is None and args.output is None:
        raise ValueError("give -o FEATURES (.npy, .npz, .h5, .parquet) or --output-dir DIR (survey mode)")
    common = dict(backbone=args.backbone, weights=args.weights, batch_size=args.batch_size, pooling=args.pooling,
                  device=args.device, precision=args.precision, normalizer=args.normalizer,
                  progress_bar=not args.quiet)
    if args.output_dir is not None:
        if args.output is not None:
            raise ValueError("-o is not used with --output-dir: the features go to DIR/embed_combined.npy")
        result = embed(images, output_dir=args.output_dir, parallel=args.parallel, resume=not args.no_resume,
                       shard_size=args.shard_size, **common)
        print(f"{len(images)} images in {len(result.summary)} shards: {result.n_done} done, "
              f"{result.n_skipped} skipped, {result.n_failed} failed")
        if result.features is not None:
            print(f"features {result.features.shape} in {result.combined_path}")
        if not result.ok:
            raise RuntimeError(f"{result.n_failed} shards failed (see {Path(result.output_dir) / 'embed_summary.ecsv'}"
                               "); rerun the same command to retry them")
        return
    from .utils import WeightsNotFoundError

    try:
        features = embed(images, output=args.output, overwrite=args.overwrite, **common)
    except WeightsNotFoundError as exc:
        raise WeightsNotFoundError(f"{_one_line(exc)} (on the command line: --weights FILE)") from exc
    print(f"{features.shape[0]} images -> {features.shape[1]}-dimensional features ({args.backbone}, "
          f"pooling {args.pooling}); wrote {args.output}")


# ----------------------------------------------------------------------------- backbones
def _weights_cached(spec, cache_dir):
    """'yes', 'no' or 'n/a' (no pretrained weights source): is a weight file in the local cache?"""
    from .backbones._pretrained import _sources, weights_cache_dir

    try:
        sources = _sources(spec)
    except (ValueError, ImportError):
        return "n/a"
    folder = weights_cache_dir(spec.name, cache_dir)
    return "yes" if any((folder / fname).is_file() for fname, *_ in sources) else "no"


def _cmd_backbones(args):
    from astropy.table import Table

    from .backbones import get_backbone_spec, list_backbones, weights_cache_dir

    names = list_backbones(args.pattern)
    if not names:
        raise ValueError(f"no registered backbone matches {args.pattern!r}; the registered ones are "
                         f"{list_backbones()}")
    rows = []
    for name in names:
        spec = get_backbone_spec(name)
        licence = spec.license if args.long else spec.license.split(" (")[0].split(";")[0].strip()
        rows.append((name, spec.arch, spec.input_size, spec.patch_size, spec.feature_dim, licence,
                     _weights_cached(spec, args.cache_dir)))
    table = Table(rows=rows, names=("name", "arch", "input_size", "patch", "feature_dim", "licence", "cached"))
    for col in ("name", "arch", "licence"):
        table[col].format = "<"
    _print_table(table, max_lines=-1)
    print(f"weights cache: {weights_cache_dir('NAME', args.cache_dir).parent}/<name>; "
          "any timm model is also available as 'timm:<name>'")


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

    p = _parser(sub, "demo", "run the main job offline on the image bundled with the package",
                "  astrofmx demo --output-dir demo-out\n  astrofmx --quiet demo --overwrite\n")
    p.add_argument("--output-dir", default="astrofmx-demo", help="where to write the outputs (default: %(default)s)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_demo)

    p = _parser(sub, "preview", "load, normalize and tile a FITS image; write a PNG and a tile table",
                "  astrofmx preview field.fits -o field.png\n"
                "  astrofmx preview field.fits --preset optical --tile-size 128 --tiles tiles.ecsv\n")
    p.add_argument("image", help="FITS file")
    p.add_argument("--preset", default="radio", help="normalization preset (default: %(default)s)")
    p.add_argument("--tile-size", type=int, default=256)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("-o", "--output", help="preview PNG to write")
    p.add_argument("--tiles", help="tile table to write (.ecsv, .fits, .vot)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_preview)

    # detect
    p = _parser(sub, "detect", "detect sources in FITS images with a Faster R-CNN detector",
                "  astrofmx detect field.fits -o catalog.ecsv --regions catalog.reg --plot overlay.png\n"
                "  astrofmx detect field.fits --model my_detector -o catalog.vot --score-threshold 0.3\n"
                "  astrofmx detect 'survey/*.fits' --model my_detector --output-dir catalogs --parallel 4\n",
                description="Detect sources in a FITS image with a trained Faster R-CNN detector (--model, saved "
                            "by 'astrofmx train-detector'; without it, the default detector) and write a "
                            "catalog, a DS9 region file and an overlay PNG. Several images (or a quoted glob "
                            "pattern) with --output-dir run as a resumable batch.")
    p.add_argument("image", nargs="+", help="FITS file(s) or a quoted glob pattern")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="a detector saved by 'astrofmx train-detector' (folder or .safetensors)")
    which.add_argument("--backbone", help="registry name of a backbone with a trained detector")
    p.add_argument("-o", "--output", help="catalog to write (.ecsv, .fits or .vot)")
    p.add_argument("--regions", help="DS9 region file to write (.reg)")
    p.add_argument("--plot", help="overlay PNG to write")
    p.add_argument("--tile-size", type=_positive_int, help="tile side in pixels (default: the detector's)")
    p.add_argument("--overlap", type=int, help="tile overlap in pixels (default: a quarter of the tile)")
    p.add_argument("--score-threshold", type=_fraction, default=0.5, help="minimum score (default: %(default)s)")
    p.add_argument("--nms-threshold", type=_fraction, default=0.5, help="IoU of duplicates (default: %(default)s)")
    p.add_argument("--batch-size", type=_positive_int, default=8, help="tiles per forward pass")
    p.add_argument("--device", help="cpu, cuda, cuda:1... (default: CUDA when available)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--output-dir", help="batch mode: folder for per-file catalogs, summary and combined catalog")
    p.add_argument("--parallel", type=_parallel_arg, default=False,
                   help="batch mode: number of worker processes (local Dask cluster) or 'current-scheduler'")
    p.add_argument("--format", default="ecsv", choices=("ecsv", "fits", "parquet"), help="batch mode: catalog format")
    p.add_argument("--no-resume", action="store_true", help="batch mode: recompute files already finished")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_detect)

    # compare
    p = _parser(sub, "compare", "run source finders on an image and score them against a reference catalog",
                "  astrofmx compare field.fits --reference aegean.fits\n"
                "  astrofmx compare field.fits --reference ref.vot --radius 7.2arcmin --finders photutils sep pybdsf"
                " -o scores.ecsv --plot overlay.png\n"
                "  astrofmx compare field.fits --reference ref.fits --finders photutils --model my_detector\n")
    p.add_argument("image", help="FITS file")
    p.add_argument("--reference", required=True, help="reference catalog (Aegean, PyBDSF, SExtractor, generic)")
    p.add_argument("--reference-format", default="auto",
                   choices=("auto", "aegean", "pybdsf", "sextractor", "generic"))
    p.add_argument("--radius", type=_quantity,
                   help="matching radius, e.g. 7.2arcmin, 10arcsec or 3pix (a number: arcsec; default: half the "
                        "beam BMAJ of the header)")
    p.add_argument("--finders", nargs="+", default=["default", "photutils", "sep"], choices=_FINDERS,
                   help="finders to run (default: default photutils sep); 'default' is the embedded default "
                        "detector, 'model' the detector of --model")
    p.add_argument("--model", help="also run this saved detector (finder 'model')")
    p.add_argument("--device", help="device of the detectors")
    p.add_argument("-o", "--output", help="score table to write (.ecsv, .fits, .vot)")
    p.add_argument("--plot", help="overlay PNG of the catalogs and the reference on the image")
    p.add_argument("--catalog-dir", help="also write each finder's catalog as DIR/<finder>.ecsv")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_compare)

    # simulate
    p = _parser(sub, "simulate", "simulate a radio continuum field with a truth catalog",
                "  astrofmx simulate sim.fits\n"
                "  astrofmx simulate sim.fits --shape 1024 1024 --seed 3 --rms '10 uJy/beam' --beam-fwhm 6arcsec "
                "--artefacts rings --truth truth.ecsv\n")
    p.add_argument("output", help="FITS file to write (image, plus the truth catalog in a TRUTH table HDU)")
    p.add_argument("--shape", type=_positive_int, nargs=2, default=[512, 512], metavar=("NY", "NX"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rms", type=_quantity, help="noise rms, e.g. '20 uJy/beam' (a number: Jy/beam)")
    p.add_argument("--beam-fwhm", type=_quantity, help="beam FWHM, e.g. 6arcsec (a number: arcsec)")
    p.add_argument("--pixel-scale", type=_quantity, help="pixel size, e.g. 1.5arcsec (a number: arcsec)")
    p.add_argument("--n-sources", type=int, help="exact number of sources")
    p.add_argument("--artefacts", choices=("rings", "stripes"), help="imaging artefacts around bright sources")
    p.add_argument("--primary-beam-fwhm", type=_quantity,
                   help="primary-beam-corrected noise: FWHM of the primary beam, e.g. 1deg (a number: arcsec)")
    p.add_argument("--pb-cutoff", type=float, help="blank (NaN) where the primary beam response is below this")
    p.add_argument("--truth", help="also write the truth catalog (.ecsv, .fits, .vot)")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_simulate)

    # train-detector
    p = _parser(sub, "train-detector", "train a Faster R-CNN source detector on labelled images or simulations",
                "  astrofmx train-detector --simulate 20 --backbone resnet18 -o my_detector\n"
                "  astrofmx train-detector a.fits b.fits --catalogs a_comp.fits b_comp.fits --backbone msn "
                "--mode frozen --upscale 2 -o msn_detector\n"
                "  astrofmx train-detector --simulate 50 --backbone resnet18 --checkpoint-dir ckpt --resume "
                "-o my_detector\n")
    p.add_argument("images", nargs="*", help="labelled FITS images")
    p.add_argument("--boxes", nargs="+", help="one table of boxes per image (bbox_xmin... or xmin... columns)")
    p.add_argument("--catalogs", nargs="+",
                   help="one source catalog per image (Aegean, PyBDSF, photutils...), turned into boxes")
    p.add_argument("--simulate", type=int, default=0, metavar="N", help="also train on N simulated radio fields")
    p.add_argument("--sim-shape", type=_positive_int, nargs=2, default=[256, 256], metavar=("NY", "NX"))
    p.add_argument("--backbone", required=True, help="registry name (see 'astrofmx backbones')")
    p.add_argument("--weights", type=_weights_arg, default="pretrained",
                   help="'pretrained' (default), a local weights file, or 'none' (random initialisation, for "
                        "testing only)")
    p.add_argument("-o", "--output", required=True, help="folder to save the detector in")
    p.add_argument("--mode", default="finetune", choices=("frozen", "finetune", "scratch"))
    p.add_argument("--epochs", type=_positive_int, default=10)
    p.add_argument("--steps-per-epoch", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int, default=4)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--tile-size", type=_positive_int, default=256)
    p.add_argument("--upscale", type=float)
    p.add_argument("--normalizer", help="normalization preset (default: radio)")
    p.add_argument("--pyramid-channels", type=_positive_int)
    p.add_argument("--representation-size", type=_positive_int)
    p.add_argument("--val-fraction", type=_fraction, default=0.0)
    p.add_argument("--checkpoint-dir", help="write a checkpoint after every epoch here")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--device")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_train_detector)

    # embed
    p = _parser(sub, "embed", "turn images or cutouts into feature vectors with a backbone",
                "  astrofmx embed cutouts/*.fits --backbone msn -o features.npy\n"
                "  astrofmx embed 'cutouts/*.fits' --backbone dinov2 --pooling mean -o features.parquet\n"
                "  astrofmx embed 'survey/**/*.fits' --backbone msn --output-dir feats --parallel 4\n"
                "  astrofmx embed a.fits --backbone resnet18 --weights none -o f.npy   # random weights: testing\n")
    p.add_argument("images", nargs="+", help="FITS files or quoted glob patterns")
    p.add_argument("--backbone", required=True, help="registry name (see 'astrofmx backbones') or timm:<name>")
    p.add_argument("-o", "--output", help="features file: .npy (ids in <stem>_ids.npy), .npz, .h5 or .parquet")
    p.add_argument("--weights", type=_weights_arg, default="pretrained",
                   help="'pretrained' (default), a local weights file, or 'none' (random initialisation, for "
                        "testing only)")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    p.add_argument("--normalizer", help="normalization preset, e.g. radio or optical")
    p.add_argument("--device")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--output-dir", help="survey mode: write features shard by shard to this folder (resumable)")
    p.add_argument("--parallel", type=_parallel_arg, default=False,
                   help="survey mode: number of worker processes (local Dask cluster) or 'current-scheduler'")
    p.add_argument("--shard-size", type=_positive_int, default=256, help="survey mode: images per shard")
    p.add_argument("--no-resume", action="store_true", help="survey mode: recompute finished shards")
    _add_output_flags(p)
    p.set_defaults(func=_cmd_embed)

    # backbones
    p = _parser(sub, "backbones", "list the registered backbones and whether their weights are cached",
                "  astrofmx backbones\n  astrofmx backbones 'resnet*'\n")
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'dino*'")
    p.add_argument("--cache-dir", help="cache root (default: $ASTROFMX_CACHE or ~/.cache/astrofmx)")
    p.add_argument("--long", action="store_true", help="full licence notes")
    p.set_defaults(func=_cmd_backbones)
    return parser


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Run the ``astrofmx`` command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose == 0:
        # PyBDSF logs every step at DEBUG level and its records reach our handler; it prints warnings itself
        logging.getLogger("PyBDSF").propagate = False
    # astropy's logger takes over warnings.showwarning when it is first imported: import it before recording
    import astropy.logger  # noqa: F401

    status = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            args.func(args)
        except _USER_ERRORS as exc:
            print(f"astrofmx {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            status = 2
        except RuntimeError as exc:  # a batch finished with failed inputs (reported above)
            print(f"astrofmx {args.command}: error: {_one_line(exc)}", file=sys.stderr)
            status = 1
    for w in caught:
        print(f"astrofmx {args.command}: warning: {_one_line(w.message)}", file=sys.stderr)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
