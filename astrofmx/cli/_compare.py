"""``astrofmx compare``: run source finders on an image and score them against a reference catalog."""

from pathlib import Path

from ._common import (USER_ERRORS, UsageError, add_command, add_image_flags, add_output_flags, check_exists,
                      check_inputs, check_outputs, device_arg, installed, one_line, print_table, quantity, read_image,
                      require)

__all__ = []

_FINDERS = ("photutils", "sep", "pybdsf", "default", "model")
_DEFAULT_FINDERS = ("default", "photutils", "sep")
# finder -> (module it needs, pip package)
_NEEDS = {"photutils": ("photutils", "photutils"), "sep": ("sep", "sep"), "pybdsf": ("bdsf", "bdsf")}


def add_parser(sub, parents):
    p = add_command(sub, "compare", "run source finders on an image and score them against a reference catalog",
                    "  astrofmx compare field.fits --reference aegean.fits\n"
                    "  astrofmx compare field.fits --reference ref.vot --radius 7.2arcmin --finders photutils sep "
                    "pybdsf -o scores.ecsv --plot overlay.png\n"
                    "  astrofmx compare field.fits --reference ref.fits --finders photutils --model my_detector\n",
                    parents=parents)
    p.add_argument("image", help="FITS file")
    p.add_argument("--reference", required=True, help="reference catalog (Aegean, PyBDSF, SExtractor, generic)")
    p.add_argument("--reference-format", default="auto",
                   choices=("auto", "aegean", "pybdsf", "sextractor", "generic"))
    p.add_argument("--radius", type=quantity,
                   help="matching radius, e.g. 7.2arcmin, 10arcsec or 3pix (a number: arcsec; default: half the "
                        "beam BMAJ of the header)")
    p.add_argument("--finders", nargs="+", choices=_FINDERS,
                   help="finders to run (default: those of default, photutils and sep that are installed); "
                        "'default' is the embedded default detector, 'model' the detector of --model")
    p.add_argument("--model", help="also run this saved detector (finder 'model')")
    p.add_argument("--device", type=device_arg, help="device of the detectors")
    p.add_argument("-o", "--output", help="score table to write (.ecsv, .fits, .vot)")
    p.add_argument("--plot", help="overlay PNG of the catalogs and the reference on the image")
    p.add_argument("--catalog-dir", help="also write each finder's catalog as DIR/<finder>.ecsv")
    add_image_flags(p)
    add_output_flags(p)
    p.set_defaults(func=run)


def _finders(args):
    """The finders to run: those asked for (each must be installed), else the installed default ones."""
    if args.finders is None:
        finders = [f for f in _DEFAULT_FINDERS if f not in _NEEDS or installed(_NEEDS[f][0])]
    else:
        finders = list(dict.fromkeys(args.finders))
        for finder in finders:
            if finder in _NEEDS and not installed(_NEEDS[finder][0]):
                raise ImportError(f"finder {finder!r} needs the package {_NEEDS[finder][1]!r}, which is not "
                                  f"installed: pip install {_NEEDS[finder][1]} (or leave it out of --finders)")
    if args.model is not None and "model" not in finders:
        finders.append("model")
    if "model" in finders and args.model is None:
        raise UsageError("the 'model' finder needs --model PATH (a detector saved by 'astrofmx train-detector')")
    return finders


def _matching_radius(radius, image):
    """--radius as a Quantity (a number: arcsec); by default half the beam BMAJ of the header."""
    import astropy.units as u

    if radius is None:
        bmaj = image.meta.get("BMAJ") if hasattr(image, "meta") and image.meta else None
        if bmaj is None:
            raise ValueError("the image header has no BMAJ (beam) to set the matching radius from: pass --radius, "
                             "e.g. --radius 5arcsec or --radius 3pix")
        radius = (0.5 * float(bmaj) * u.deg).to(u.arcmin)
    elif not isinstance(radius, u.Quantity):
        radius = radius * u.arcsec
    if radius.unit.physical_type != "angle" and radius.unit != u.pix:
        raise UsageError(f"--radius must be an angle (e.g. 7.2arcmin) or pixels (3pix), got {radius}")
    return radius


def _run_finders(finders, image, args):
    """``{finder: catalog}``; a finder's error names the finder."""
    from ..compare import find_sources_photutils, find_sources_pybdsf, find_sources_sep
    from ..detection import detect_sources
    from ..utils import progress_bar

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
            raise ImportError(f"finder {name!r} is not available: {one_line(exc)}") from exc
        except USER_ERRORS as exc:
            message = f"finder {name!r}: {one_line(exc)}"
            if name == "default":
                message += " (run a saved detector with --model PATH instead)"
            raise (type(exc) if type(exc) in (ValueError, TypeError, FileNotFoundError) else ValueError)(message) \
                from exc
    return catalogs


def _check(args):
    """Everything that can be checked before an image is read or a finder runs."""
    import os

    check_inputs([args.image, args.reference])
    if args.radius is not None:
        _matching_radius(args.radius, None)  # its unit, before anything is read
    if args.model is not None and not os.path.exists(args.model):
        raise UsageError(f"--model {args.model!r}: no such file or folder")
    finders = _finders(args)
    catalog_files = {}
    if args.catalog_dir is not None:
        catalog_files = {f: Path(args.catalog_dir) / f"{f}.ecsv" for f in finders}
        check_outputs([], False, folders=[args.catalog_dir])
    check_outputs([args.output, args.plot], args.overwrite)
    check_exists(catalog_files.values(), args.overwrite)
    if args.plot is not None:
        require(["matplotlib"], "--plot", extra="viz")
    return finders, catalog_files


def run(args):
    finders, catalog_files = _check(args)
    image = read_image(args.image, args)
    from ..compare import compare_catalogs, read_reference_catalog
    from ..io import annotate_table, write_catalog

    reference = read_reference_catalog(args.reference, wcs=image.wcs, format=args.reference_format)
    if len(reference) == 0:
        raise ValueError(f"the reference catalog {args.reference!r} has no sources")
    radius = _matching_radius(args.radius, image)
    catalogs = _run_finders(finders, image, args)
    scores = compare_catalogs(catalogs, reference, radius, image=image, plot=args.plot, overwrite=args.overwrite)
    print(f"{args.image}: {len(reference)} reference sources, matching radius {radius:.3g}")
    print_table(scores)
    if args.output is not None:
        write_catalog(annotate_table(scores, reference=args.reference, finders=list(catalogs)), args.output,
                      overwrite=args.overwrite, image=args.image)
        print(f"wrote {args.output}")
    for name, path in catalog_files.items():
        Path(args.catalog_dir).mkdir(parents=True, exist_ok=True)
        write_catalog(catalogs[name], path, overwrite=args.overwrite, image=args.image)
        print(f"wrote {path}")
    if args.plot is not None:
        print(f"wrote {args.plot}")
