"""``astrofmx index``, ``astrofmx similar`` and ``astrofmx outliers``: similarity search and anomalies."""

from pathlib import Path

from ._common import UsageError, add_command, add_output_flags, check_outputs, expand_paths, parallel_arg, \
    positive_int, print_table

__all__ = []


def _backbone_args(p):
    p.add_argument("--backbone", help="registry name (see 'astrofmx backbones'); index: default msn")
    p.add_argument("--weights", default=None,
                   help="'pretrained' (default), a local weights file, or 'none' (random initialisation, seeded "
                        "with 0, for testing only)")


def _writers(p):
    p.add_argument("-o", "--output", help="the ranked table (.ecsv)")
    p.add_argument("--regions", help="DS9 region file of the sources")
    p.add_argument("--mosaic", help="PNG mosaic of the cutouts")
    add_output_flags(p)


def add_parser(sub, parents):
    p = add_command(sub, "index", "build a similarity-search index of the sources of FITS images (or add to one)",
                    "  astrofmx index 'survey/*.fits' -o survey.idx --backbone msn --normalizer radio\n"
                    "  astrofmx index new/*.fits -o survey.idx --add          # add sources (resumes a build)\n"
                    "  astrofmx index field.fits --catalog cat.ecsv -o f.idx --backbone resnet18 --weights none\n",
                    parents=parents)
    p.add_argument("images", nargs="+", help="FITS files or quoted glob patterns")
    p.add_argument("-o", "--output", required=True, help="the index folder")
    p.add_argument("--catalog", help="a source catalog (pixel or sky columns) for every image; default: detect")
    p.add_argument("--add", action="store_true", help="add to an existing index (same backbone)")
    _backbone_args(p)
    p.add_argument("--cutout-size", type=positive_int, default=64, help="cutout side in pixels (default 64)")
    p.add_argument("--normalizer", help="normalization preset, e.g. radio or optical")
    p.add_argument("--rotation-invariant", action="store_true",
                   help="embed each cutout as the mean of its 8 flips and rotations (8x the embedding time)")
    p.add_argument("--parallel", type=parallel_arg, default=False, help="Dask worker processes")
    add_output_flags(p)
    p.set_defaults(func=run_index)

    p = add_command(sub, "similar", "find the indexed sources most similar to a source, a position or a cutout",
                    "  astrofmx similar survey.idx --row 12 -k 10 --mosaic hits.png --regions hits.reg\n"
                    "  astrofmx similar survey.idx --ra 150.1 --dec 2.2 -o hits.ecsv\n"
                    "  astrofmx similar survey.idx --image cutout.fits\n", parents=parents)
    p.add_argument("index", help="an index folder from 'astrofmx index'")
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("--row", type=int, help="an index row")
    query.add_argument("--ra", type=float, help="right ascension in degrees (with --dec): the nearest source")
    query.add_argument("--image", help="a FITS cutout of the index's cutout size")
    p.add_argument("--dec", type=float, help="declination in degrees")
    p.add_argument("-k", type=positive_int, default=10, help="number of hits (default 10)")
    _backbone_args(p)
    _writers(p)
    p.set_defaults(func=run_similar)

    p = add_command(sub, "outliers", "rank the most anomalous sources of an index",
                    "  astrofmx outliers survey.idx -n 50 --method iforest --mosaic strange.png\n"
                    "  astrofmx outliers survey.idx --interesting 4 17 --boring 3   # feedback, then re-rank\n",
                    parents=parents)
    p.add_argument("index", help="an index folder from 'astrofmx index'")
    p.add_argument("-n", type=positive_int, default=50, help="number of sources (default 50)")
    p.add_argument("--method", default="iforest", choices=("iforest", "lof", "knn"))
    p.add_argument("--interesting", type=int, nargs="+", default=[], help="rows to mark interesting first")
    p.add_argument("--boring", type=int, nargs="+", default=[], help="rows to mark not interesting first")
    _writers(p)
    p.set_defaults(func=run_outliers)


def _model(name, weights):
    """A backbone by name; weights 'none' is a random initialisation seeded with 0 (the same on every call)."""
    if weights != "none":
        return name
    import torch

    from ..backbones import get_backbone

    torch.manual_seed(0)
    return get_backbone(name, weights=None, device="cpu", progress_bar=False)


def run_index(args):
    from ..io import read_catalog
    from ..search import build_index, load_index

    if not args.add and not args.overwrite and Path(args.output).exists():
        raise UsageError(f"the index {args.output!r} already exists; pass --add to add to it or --overwrite to "
                         "build it again")
    images = expand_paths(args.images)
    catalog = read_catalog(args.catalog) if args.catalog else None
    if args.add:
        index = load_index(args.output)
        backbone = None if args.backbone is None and args.weights is None else \
            _model(args.backbone or index.backbone, args.weights or "pretrained")
        added = index.add(images, catalog=catalog, backbone=backbone, parallel=args.parallel,
                          progress_bar=not args.quiet)
        print(f"added {added} sources from {len(images)} images; {len(index)} in {args.output}")
        return
    weights = args.weights or "pretrained"
    index = build_index(images, output=args.output, catalog=catalog, backbone=_model(args.backbone or "msn", weights),
                        weights=weights, cutout_size=args.cutout_size, normalizer=args.normalizer,
                        parallel=args.parallel, progress_bar=not args.quiet, overwrite=args.overwrite,
                        rotation_invariant=args.rotation_invariant)
    print(f"indexed {len(index)} sources from {len(images)} images ({index.backbone}, {index.dim} dimensions) "
          f"in {args.output}")


def _query_backbone(args, index):
    if args.backbone is None and args.weights is None:
        return None
    weights = args.weights or "pretrained"
    return index.check_backbone(_model(args.backbone or index.backbone, weights),
                                None if weights == "none" else weights)


def _write(index, table, args, query=None):
    check_outputs([p for p in (args.output, args.regions, args.mosaic) if p], args.overwrite)
    print_table(table["rank", "row", *[c for c in ("distance", "score") if c in table.colnames], "file",
                      "x_centroid", "y_centroid"])
    if args.output:
        table.write(args.output, format="ascii.ecsv", overwrite=args.overwrite)
        print(f"wrote {args.output}")
    if args.regions:
        index.write_regions(table, args.regions, overwrite=args.overwrite)
        print(f"wrote {args.regions}")
    if args.mosaic:
        index.write_mosaic(table, args.mosaic, query=query, backbone=getattr(args, "_model", None),
                           overwrite=args.overwrite)
        print(f"wrote {args.mosaic}")


def run_similar(args):
    from ..search import load_index

    index = load_index(args.index)
    if (args.ra is None) != (args.dec is None):
        raise ValueError("give both --ra and --dec (degrees)")
    args._model = None
    if args.row is not None:
        query = args.row
    elif args.ra is not None:
        import astropy.units as u
        from astropy.coordinates import SkyCoord

        query = SkyCoord(args.ra * u.deg, args.dec * u.deg)
    else:
        from ..io import load_image

        query = load_image(Path(args.image))
        args._model = _query_backbone(args, index)
    hits = index.similar(query, k=args.k, backbone=args._model)
    _write(index, hits, args, query=query if args.image else None)


def run_outliers(args):
    from ..search import load_index

    index = load_index(args.index)
    rows = list(args.interesting) + list(args.boring)
    if rows:
        index.feedback(rows, [1] * len(args.interesting) + [0] * len(args.boring))
    ranked = index.outliers(n=args.n, method=args.method)
    _write(index, ranked, args)
