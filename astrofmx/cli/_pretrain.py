"""``astrofmx pretrain``: self-supervised pretraining (DINO or MSN) of a backbone on unlabeled FITS images."""

from ._common import add_command, device_arg, expand_paths, positive_int

__all__ = []


def add_parser(sub, parents):
    p = add_command(sub, "pretrain", "self-supervised pretraining (DINO or MSN) of a backbone on unlabeled FITS "
                    "images; the result loads by name",
                    "  astrofmx pretrain 'survey/*.fits' --backbone resnet18 --steps 2000 -o run --name my-radio\n"
                    "  astrofmx pretrain fields/ --backbone dino --weights pretrained --objective msn --epochs 5 "
                    "-o run\n"
                    "  astrofmx pretrain 'survey/*.fits' --sampling detections --crop-size 64 --steps 500 -o run "
                    "# again: resumes\n", parents=parents)
    p.add_argument("inputs", nargs="+", help="FITS files, quoted glob patterns or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, help="run folder: checkpoint, log and the saved backbone")
    p.add_argument("--backbone", default="resnet18", help="registry name to start from (see 'astrofmx backbones')")
    p.add_argument("--weights", default="none",
                   help="'none' (random initialisation, default), 'pretrained' (e.g. ImageNet) or a weight file")
    p.add_argument("--objective", choices=("dino", "msn"), default="dino")
    p.add_argument("--name", help="name of the saved backbone (default <backbone>-<objective>)")
    length = p.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=positive_int)
    length.add_argument("--epochs", type=float)
    p.add_argument("--stop-after", type=positive_int, help="stop after this step (checkpointed); run again to go on")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--crop-size", type=positive_int, default=64, help="global view size = the backbone's input")
    p.add_argument("--tile-size", type=positive_int, help="window size (default 2 x crop size)")
    p.add_argument("--sampling", choices=("tiles", "detections"), default="tiles",
                   help="a tile grid, or cutouts around sources a classical finder detects")
    p.add_argument("--local-crops", type=int, default=4)
    p.add_argument("--layers", type=positive_int, nargs=4, metavar="N",
                   help="ResNet blocks per stage (e.g. 1 1 1 1 for a ResNet-10)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="processes drawing the views")
    p.add_argument("--no-resume", action="store_true", help="refuse to continue an existing checkpoint")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--device", type=device_arg, help="cpu or cuda (default: CUDA when present)")
    p.add_argument("--overwrite", action="store_true", help="start afresh in an output folder with a checkpoint")
    p.set_defaults(func=run)


def run(args):
    from ..pretrain import AugmentationConfig, PretrainOptions, pretrain

    weights = {"none": None, "pretrained": "pretrained"}.get(args.weights.lower(), args.weights)
    overrides = {"layers": tuple(args.layers)} if args.layers else {}
    result = pretrain(expand_paths(args.inputs), backbone=args.backbone, objective=args.objective, weights=weights,
                      output=args.output, steps=args.steps, epochs=args.epochs, batch_size=args.batch_size,
                      crop_size=args.crop_size, tile_size=args.tile_size, sampling=args.sampling,
                      augmentation=AugmentationConfig(local_crops=args.local_crops),
                      options=PretrainOptions(lr=args.lr), arch_overrides=overrides, name=args.name,
                      seed=args.seed, resume=not args.no_resume, stop_after=args.stop_after, device=args.device,
                      precision=args.precision, num_workers=args.workers, overwrite=args.overwrite,
                      progress_bar=not args.quiet)
    name = result.backbone.spec.name
    losses = result.losses
    print(f"pretrained {args.backbone} with {args.objective} for {result.steps} steps"
          + (f"; loss {losses[0]:.4g} -> {losses[-1]:.4g}" if losses else ""))
    print(f"saved backbone {name!r} in {result.folder}; use it as get_backbone({name!r}) or "
          f"'astrofmx embed ... --backbone {name}'")
