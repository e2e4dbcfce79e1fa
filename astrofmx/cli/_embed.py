"""``astrofmx embed``: feature vectors of images or cutouts, in one file or shard by shard for surveys."""

from pathlib import Path

from ._common import add_command, add_output_flags, expand_paths, one_line, parallel_arg, positive_int, weights_arg

__all__ = []


def add_parser(sub, parents):
    p = add_command(sub, "embed", "turn images or cutouts into feature vectors with a backbone",
                    "  astrofmx embed cutouts/*.fits --backbone msn -o features.npy\n"
                    "  astrofmx embed 'cutouts/*.fits' --backbone dinov2 --pooling mean -o features.parquet\n"
                    "  astrofmx embed 'survey/**/*.fits' --backbone msn --output-dir feats --parallel 4\n"
                    "  astrofmx embed a.fits --backbone resnet18 --weights none -o f.npy   # random weights: testing\n",
                    parents=parents)
    p.add_argument("images", nargs="+", help="FITS files or quoted glob patterns")
    p.add_argument("--backbone", required=True, help="registry name (see 'astrofmx backbones') or timm:<name>")
    p.add_argument("-o", "--output", help="features file: .npy (ids in <stem>_ids.npy), .npz, .h5 or .parquet")
    p.add_argument("--weights", type=weights_arg, default="pretrained",
                   help="'pretrained' (default), a local weights file, or 'none' (random initialisation, for "
                        "testing only)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    p.add_argument("--normalizer", help="normalization preset, e.g. radio or optical")
    p.add_argument("--device")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--output-dir", help="survey mode: write features shard by shard to this folder (resumable)")
    p.add_argument("--parallel", type=parallel_arg, default=False,
                   help="survey mode: number of worker processes (local Dask cluster) or 'current-scheduler'")
    p.add_argument("--shard-size", type=positive_int, default=256, help="survey mode: images per shard")
    p.add_argument("--no-resume", action="store_true", help="survey mode: recompute finished shards")
    add_output_flags(p)
    p.set_defaults(func=run)


def _embed_options(args):
    return dict(backbone=args.backbone, weights=args.weights, batch_size=args.batch_size, pooling=args.pooling,
                device=args.device, precision=args.precision, normalizer=args.normalizer)


def _run_survey(images, args):
    """--output-dir: `astrofmx.backbones.embed_survey`, shard by shard, resumable."""
    from ..backbones import embed_survey

    if args.output is not None:
        raise ValueError("-o is not used with --output-dir: the features go to DIR/embed_combined.npy")
    result = embed_survey(images, args.output_dir, parallel=args.parallel, resume=not args.no_resume,
                          shard_size=args.shard_size, progress_bar=not args.quiet, **_embed_options(args))
    print(f"{len(images)} images in {len(result.summary)} shards: {result.n_done} done, "
          f"{result.n_skipped} skipped, {result.n_failed} failed")
    if result.features is not None:
        print(f"features {result.features.shape} in {result.combined_path}")
    if not result.ok:
        raise RuntimeError(f"{result.n_failed} shards failed (see {Path(result.output_dir) / 'embed_summary.ecsv'}"
                           "); rerun the same command to retry them")


def run(args):
    images = expand_paths(args.images)
    if args.output_dir is None and args.output is None:
        raise ValueError("give -o FEATURES (.npy, .npz, .h5, .parquet) or --output-dir DIR (survey mode)")
    if args.output_dir is not None:
        _run_survey(images, args)
        return
    from ..backbones import embed
    from ..utils import WeightsNotFoundError

    try:
        features = embed(images, output=args.output, overwrite=args.overwrite, progress_bar=not args.quiet,
                         **_embed_options(args))
    except WeightsNotFoundError as exc:
        raise WeightsNotFoundError(f"{one_line(exc)} (on the command line: --weights FILE)") from exc
    print(f"{features.shape[0]} images -> {features.shape[1]}-dimensional features ({args.backbone}, "
          f"pooling {args.pooling}); wrote {args.output}")
