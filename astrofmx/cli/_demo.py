"""``astrofmx demo``: the main job, offline, on the image bundled with the package."""

from pathlib import Path

from ._common import add_command, add_output_flags, check_outputs, plural
from ._preview import preview

__all__ = []

_OUTPUTS = {"preview": "preview.png", "tiles": "tiles.ecsv", "catalog": "catalog.ecsv", "regions": "catalog.reg",
            "overlay": "overlay.png", "scores": "scores.ecsv"}


def add_parser(sub, parents):
    p = add_command(sub, "demo", "run the main job offline on the image bundled with the package",
                    "  astrofmx demo --output-dir demo-out\n  astrofmx demo --overwrite --quiet\n",
                    parents=parents)
    p.add_argument("--output-dir", default="astrofmx-demo", help="where to write the outputs (default: %(default)s)")
    add_output_flags(p)
    p.set_defaults(func=run)


#: why the preview's tiles are not the detector's (written into tiles.ecsv)
_TILING_NOTE = ("preview tiles (64 px, 'radio' preset) show how an embedding model (astrofmx embed) cuts and "
                "normalizes the map; detect_sources uses the detector's own tiling and normalizer instead "
                "(catalog.ecsv meta 'preprocessing'), so these tiles are not the detection tiles")


def _detect_tile(catalog):
    """The tile size recorded in a detect_sources catalog's ``preprocessing`` metadata."""
    for part in str(catalog.meta.get("preprocessing", "")).split(";"):
        if part.strip().startswith("tile_size="):
            return part.strip()[len("tile_size="):]
    return "?"


def _score(image, catalog, outputs, overwrite):
    """The default detector and the photutils finder, scored against Aegean's catalog of the same map."""
    import astropy.units as u

    from ..compare import compare_catalogs, find_sources_photutils, read_reference_catalog
    from ..datasets import get_bundled_path
    from ..io import annotate_table, write_catalog

    reference = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    radius = (0.5 * image.meta["BMAJ"] * u.deg).to(u.arcmin)  # half the 14.4 arcmin beam
    scores = compare_catalogs({"astrofmx default": catalog, "photutils": find_sources_photutils(image)},
                              reference, radius, image=image, plot=outputs["overlay"], overwrite=overwrite)
    write_catalog(annotate_table(scores, reference="1904_comp.fits (Aegean components)",
                                 finders=list(scores["finder"])),
                  outputs["scores"], overwrite=overwrite, image=get_bundled_path("1904-66_SIN.fits"))
    return reference, radius, scores


def run(args):
    from ..datasets import get_bundled_path
    from ..detection import detect_sources
    from ..io import write_catalog, write_ds9

    out = Path(args.output_dir)
    check_outputs([], False, folders=[out])
    out.mkdir(parents=True, exist_ok=True)
    outputs = {key: out / name for key, name in _OUTPUTS.items()}
    check_outputs(outputs.values(), args.overwrite)
    image_path = get_bundled_path("1904-66_SIN.fits")
    image, tiles = preview(image_path, preset="radio", tile_size=64, overlap=16, png=outputs["preview"],
                           tiles_out=outputs["tiles"], overwrite=args.overwrite, progress=not args.quiet,
                           note=_TILING_NOTE)

    # the main job: the embedded default detector (no model or backbone named), offline
    catalog = detect_sources(image, progress_bar=not args.quiet)
    write_catalog(catalog, outputs["catalog"], overwrite=args.overwrite, image=image_path)
    write_ds9(catalog, outputs["regions"], overwrite=args.overwrite)
    reference, radius, scores = _score(image, catalog, outputs, args.overwrite)

    print(f"astrofmx demo on the bundled Parkes 1.4 GHz map {image_path.name} "
          f"({image.data.shape[1]} x {image.data.shape[0]} px, {image.unit}, {int(image.mask.sum())} blank pixels)")
    print(f"  {plural(len(tiles), 'preview tile')} of 64 px with 16 px overlap, normalized with the 'radio' preset: "
          "the tiling of an embedding model")
    print(f"  {plural(len(catalog), 'source')} detected by the embedded default detector, on its own tiling: "
          f"{plural(catalog.meta['n_tiles'], 'tile')} of {_detect_tile(catalog)} px with the 'radio-local' normalizer")
    print(f"  against the {len(reference)} Aegean components within {radius:.1f}:")
    for row in scores:
        print(f"    {row['finder']:<17} {row['n_sources']:>3} sources  completeness {row['completeness']:.2f}  "
              f"purity {row['purity']:.2f}  F1 {row['f1']:.2f}")
    for path in outputs.values():
        print(f"  wrote {path}")
