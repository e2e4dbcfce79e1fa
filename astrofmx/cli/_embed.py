"""``astrofmx embed``: feature vectors of images or cutouts, in one file or shard by shard for surveys."""

from pathlib import Path

import os

from ._common import (UsageError, add_command, add_image_flags, add_output_flags, batch_size_arg, check_outputs,
                      device_arg, expand_paths, image_options, one_line, parallel_arg, positive_int, read_image,
                      require, time_limit_arg, weights_arg)

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
    p.add_argument("--batch-size", type=batch_size_arg, default=32, help="images per forward pass, or 'auto'")
    p.add_argument("--pooling", default="cls", choices=("cls", "mean"))
    p.add_argument("--normalizer", help="normalization preset, e.g. radio or optical")
    p.add_argument("--device", type=device_arg)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    p.add_argument("--output-dir", help="survey mode: write features shard by shard to this folder (resumable)")
    p.add_argument("--parallel", type=parallel_arg, default=False,
                   help="survey mode: number of worker processes (local Dask cluster) or 'current-scheduler'")
    p.add_argument("--shard-size", type=positive_int, default=256, help="survey mode: images per shard")
    p.add_argument("--no-resume", action="store_true",
                   help="survey mode: recompute finished shards (needed after changing the backbone or options)")
    p.add_argument("--time-limit", type=time_limit_arg, metavar="SECONDS",
                   help="survey mode: stop a shard still running after this many seconds and report it failed")
    add_image_flags(p)
    add_output_flags(p)
    p.set_defaults(func=run)


def _embed_options(args):
    return dict(backbone=args.backbone, weights=args.weights, batch_size=args.batch_size, pooling=args.pooling,
                device=args.device, precision=args.precision, normalizer=args.normalizer)


# output suffix -> (modules it needs, pip extra)
_FORMATS = {".npy": ((), None), ".npz": ((), None), ".h5": (("h5py",), None), ".hdf5": (("h5py",), None),
            ".parquet": (("pyarrow", "pandas"), "parquet")}


def _check(images, args):
    """Everything that can be checked before the backbone is built (usage errors, missing packages)."""
    from ..backbones import list_backbones

    if args.output_dir is None and args.output is None:
        raise UsageError("give -o FEATURES (.npy, .npz, .h5, .parquet) or --output-dir DIR (survey mode)")
    if args.output_dir is not None and args.output is not None:
        raise UsageError("-o is not used with --output-dir: the features go to DIR/embed_combined.npy")
    if not args.backbone.startswith("timm:") and args.backbone not in list_backbones():
        raise UsageError(f"unknown backbone {args.backbone!r}: give one of {list_backbones()} (see 'astrofmx "
                         "backbones') or timm:<model name>")
    if args.backbone.startswith("timm:"):
        require(["timm"], f"--backbone {args.backbone}")
    if args.weights not in (None, "pretrained") and not os.path.exists(args.weights):
        raise UsageError(f"--weights {args.weights!r}: no such file (give 'pretrained', 'none' or a weights file)")
    if args.output_dir is not None:
        check_outputs([], False, folders=[args.output_dir])
        if args.parallel is not False:
            require(["distributed"], "--parallel")
        return
    for flag in ("parallel", "no_resume", "time_limit"):
        if getattr(args, flag) not in (False, None):
            raise UsageError(f"--{flag.replace('_', '-')} is for survey mode (--output-dir)")
    suffix = os.path.splitext(args.output)[1].lower()
    if suffix not in _FORMATS:
        raise UsageError(f"-o {args.output!r}: the features file must end in {', '.join(_FORMATS)}")
    check_outputs([args.output], args.overwrite)
    modules, extra = _FORMATS[suffix]
    require(modules, f"-o {args.output}", extra=extra)


def _run_survey(images, args):
    """--output-dir: `astrofmx.backbones.embed_survey`, shard by shard, resumable."""
    from ..backbones import embed_survey

    result = embed_survey(images, args.output_dir, parallel=args.parallel, resume=not args.no_resume,
                          shard_size=args.shard_size, progress_bar=not args.quiet, time_limit=args.time_limit,
                          **image_options(args), **_embed_options(args))
    print(f"{len(images)} images in {len(result.summary)} shards: {result.n_done} done, "
          f"{result.n_skipped} skipped, {result.n_failed} failed")
    if result.features is not None:
        print(f"features {result.features.shape} in {result.combined_path}")
    if not result.ok:
        raise RuntimeError(f"{result.n_failed} shards failed (see {Path(result.output_dir) / 'embed_summary.ecsv'}"
                           "); rerun the same command to retry them")


#: files checked before the backbone is built (`_check_first_files`); the others are checked as they are read
_CHECKED_FIRST = 16


def _check_first_files(images):
    """`astrofmx.io.check_fits_file` on the first `_CHECKED_FIRST` files (~1 ms each), so that a glob that
    names the wrong files fails in a fraction of a second, before torch is imported and the model built."""
    from ..io import FITSFileError, check_fits_file

    for path in images[:_CHECKED_FIRST]:
        try:
            check_fits_file(path)
        except FITSFileError as exc:
            raise ValueError(one_line(exc)) from exc


def run(args):
    images = expand_paths(args.images)
    _check(images, args)
    _check_first_files(images)
    if args.output_dir is not None:
        _run_survey(images, args)
        return
    from ..backbones import embed
    from ..utils import WeightsNotFoundError

    inputs, ids = images, None
    if args.hdu is not None or args.plane is not None:  # read each file's HDU/plane as it is embedded
        inputs, ids = (read_image(path, args) for path in images), [str(p) for p in images]
    try:
        features = embed(inputs, ids=ids, output=args.output, overwrite=args.overwrite,
                         progress_bar=not args.quiet, **_embed_options(args))
    except WeightsNotFoundError as exc:
        raise WeightsNotFoundError(f"{one_line(exc)} (on the command line: --weights FILE)") from exc
    print(f"{features.shape[0]} images -> {features.shape[1]}-dimensional features ({args.backbone}, "
          f"{_pooling_text(args)}); wrote {args.output}")


def _pooling_text(args):
    """The pooling actually used: CNNs always average over space (--pooling applies to ViTs)."""
    from ..backbones import get_backbone_spec

    try:
        arch = get_backbone_spec(args.backbone).arch
    except (ValueError, ImportError):
        arch = None
    if arch == "resnet":
        return "global average pooling"
    return f"pooling {args.pooling}"
