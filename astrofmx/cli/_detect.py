"""``astrofmx detect``: sources of one image (catalog, regions, overlay), or a resumable batch of many."""

from pathlib import Path

from ._common import (USER_ERRORS, UsageError, add_command, add_image_flags, add_output_flags, batch_size_arg,
                      check_outputs, device_arg, expand_paths, fraction, image_options, one_line, parallel_arg,
                      non_negative_int, positive_int, print_table, read_image, require, time_limit_arg)

__all__ = []


def add_parser(sub, parents):
    p = add_command(
        sub, "detect", "detect sources in FITS images with a Faster R-CNN detector",
        "  astrofmx detect field.fits -o catalog.ecsv --regions catalog.reg --plot overlay.png\n"
        "  astrofmx detect field.fits --model my_detector -o catalog.vot --score-threshold 0.3\n"
        "  astrofmx detect 'survey/*.fits' --model my_detector --output-dir catalogs --parallel 4\n",
        parents=parents,
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
    p.add_argument("--tile-size", type=positive_int, help="tile side in pixels (default: the detector's)")
    p.add_argument("--overlap", type=non_negative_int, help="tile overlap in pixels (default: the detector's "
                   "inference_overlap, 64 for the embedded default, else a quarter of the tile)")
    p.add_argument("--score-threshold", type=fraction, default=None,
                   help="minimum score (default: the detector's own, 0.5 if it has none)")
    p.add_argument("--nms-threshold", type=fraction, default=0.5, help="IoU of duplicates (default: %(default)s)")
    p.add_argument("--batch-size", type=batch_size_arg, default="auto",
                   help="tiles per forward pass, or 'auto' (from the free memory; default: %(default)s)")
    p.add_argument("--device", type=device_arg, help="cpu, cuda, cuda:1... (default: CUDA when available)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--beam", type=_beam_arg, default="auto",
                   help="beam/PSF FWHM: 'auto' (header beam, else estimated from the image), 'none' (no "
                        "resampling) or a FWHM in arcsec (default: %(default)s)")
    p.add_argument("--kind", default="auto", choices=("auto", "radio", "optical"),
                   help="image kind, which picks the default detector (default: from the header)")
    p.add_argument("--output-dir", help="batch mode: folder for per-file catalogs, summary and combined catalog")
    p.add_argument("--parallel", type=parallel_arg, default=False,
                   help="batch mode: number of worker processes (local Dask cluster) or 'current-scheduler'")
    p.add_argument("--format", default="ecsv", choices=("ecsv", "fits", "parquet"), help="batch mode: catalog format")
    p.add_argument("--no-resume", action="store_true",
                   help="batch mode: recompute files already finished (needed after changing options that "
                        "change the catalogs, or the detector)")
    p.add_argument("--time-limit", type=time_limit_arg, metavar="SECONDS",
                   help="batch mode: stop a file still running after this many seconds and report it failed")
    add_image_flags(p)
    add_output_flags(p)
    p.set_defaults(func=run)


def _beam_arg(text):
    """--beam: 'auto', 'none' or a FWHM in arcsec (a Quantity)."""
    import argparse

    import astropy.units as u

    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--beam must be 'auto', 'none' or a FWHM in arcsec, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--beam must be a positive FWHM in arcsec, got {text!r}")
    return value * u.arcsec


def _scale_line(meta):
    """The kind and beam of a catalog, as printed after each image."""
    line = f"  kind {meta.get('kind', '?')} ({meta.get('kind_reason', '?')}); beam {meta.get('beam', '?')}"
    if meta.get("beam_source") not in (None, "none"):
        line += f" ({meta['beam_source']})"
    factor = meta.get("resample_factor", 1.0)
    return line + (f"; resampled x{factor:.3g} for the detector" if factor != 1.0 else "; no resampling")


#: phrases of the library's 'no detector' messages (`_no_detector_message`, the zoo's and loading's)
_NO_DETECTOR = ("model=", "no trained detector", "the detector for backbone", "no detector at")


def _detector_hint(exc, args):
    """Add the command-line spelling to the library's 'no detector' and beam messages."""
    text = one_line(exc)
    hint = None
    if args.model is None and any(phrase in text for phrase in _NO_DETECTOR):
        hint = f"{text} (on the command line: --model PATH; make one with 'astrofmx train-detector')"
    elif "beam=None" in text:
        hint = f"{text} (on the command line: --beam none, or --beam <FWHM in arcsec>)"
    if hint is None:
        return exc
    return type(exc)(hint) if type(exc) in (ValueError, FileNotFoundError, TypeError) else ValueError(hint)


def _detect_options(args):
    return dict(model=args.model, backbone=args.backbone, tile_size=args.tile_size, overlap=args.overlap,
                score_threshold=args.score_threshold, nms_threshold=args.nms_threshold,
                batch_size=args.batch_size, device=args.device, precision=args.precision, beam=args.beam,
                kind=args.kind)


def _check(images, args):
    """Everything that can be checked before the detector is loaded (usage errors, missing packages)."""
    import os

    if args.model is not None and not os.path.exists(args.model):
        raise UsageError(f"--model {args.model!r}: no such file or folder (a detector saved by "
                         "'astrofmx train-detector')")
    if args.backbone is not None:
        from ..backbones import list_backbones

        if not args.backbone.startswith("timm:") and args.backbone not in list_backbones():
            raise UsageError(f"unknown backbone {args.backbone!r}: give one of {list_backbones()} (see "
                             "'astrofmx backbones') or timm:<model name>, or a detector with --model PATH")
    if args.tile_size is not None and args.overlap is not None and args.overlap >= args.tile_size:
        raise UsageError(f"--overlap {args.overlap} must be smaller than --tile-size {args.tile_size}")
    batch = len(images) > 1 or args.output_dir is not None
    if batch:
        if args.output_dir is None:
            raise UsageError(f"{len(images)} images need --output-dir DIR for the per-file catalogs, the summary "
                             "and the combined catalog")
        if args.regions or args.plot or args.output:
            raise UsageError("--output, --regions and --plot are for one image; with --output-dir the catalogs "
                             "go to that folder")
        if args.overwrite:
            raise UsageError("--overwrite does not apply to --output-dir: finished files are kept and skipped "
                             "(use --no-resume to recompute them)")
        check_outputs([], False, folders=[args.output_dir])
        if args.format == "parquet":
            require(["pyarrow", "pandas"], "--format parquet", extra="parquet")
        if args.parallel is not False:
            require(["distributed"], "--parallel")
    else:
        for flag in ("parallel", "no_resume", "time_limit"):
            if getattr(args, flag) not in (False, None):
                raise UsageError(f"--{flag.replace('_', '-')} is for batch mode (several images, or --output-dir)")
        check_outputs([args.output, args.regions, args.plot], args.overwrite)
        if args.plot is not None:
            require(["matplotlib"], "--plot", extra="viz")
    return batch


def _run_batch(images, args):
    """Many images (or --output-dir): `astrofmx.detection.detect_survey`, resumable."""
    from ..detection import detect_survey

    try:
        result = detect_survey(images, args.output_dir, parallel=args.parallel, resume=not args.no_resume,
                               output_format=args.format, progress_bar=not args.quiet, time_limit=args.time_limit,
                               **image_options(args), **_detect_options(args))
    except USER_ERRORS as exc:
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


def _run_one(path, args):
    """One image: the catalog, and the region file and overlay asked for (else the catalog is printed)."""
    image = read_image(path, args)
    from ..detection import detect_sources
    from ..io import write_catalog, write_ds9

    try:
        catalog = detect_sources(image, progress_bar=not args.quiet, **_detect_options(args))
    except USER_ERRORS as exc:
        raise _detector_hint(exc, args) from exc
    threshold = catalog.meta.get("score_threshold", args.score_threshold)
    print(f"{path}: {len(catalog)} sources (detector {catalog.meta.get('model', '?')}, "
          f"backbone {catalog.meta.get('backbone', '?')}, score >= {threshold:g})")
    print(_scale_line(catalog.meta))
    if args.output is not None:
        write_catalog(catalog, args.output, overwrite=args.overwrite, image=path)
        print(f"wrote {args.output}")
    if args.regions is not None:
        write_ds9(catalog, args.regions, overwrite=args.overwrite, wcs=image.wcs)
        print(f"wrote {args.regions}")
    if args.plot is not None:
        from ..compare import plot_catalogs

        plot_catalogs(image, {"astrofmx": catalog}, filename=args.plot, overwrite=args.overwrite,
                      title=Path(path).name)
        print(f"wrote {args.plot}")
    if args.output is None and args.regions is None and args.plot is None:
        print_table(catalog[[c for c in ("id", "x_centroid", "y_centroid", "sky_centroid", "score", "label")
                             if c in catalog.colnames]])


def run(args):
    images = expand_paths(args.image)
    if _check(images, args):
        _run_batch(images, args)
    else:
        _run_one(images[0], args)
