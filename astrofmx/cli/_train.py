"""``astrofmx train-detector``: train a Faster R-CNN source detector on labelled images or simulations."""

import os

from ._common import (UsageError, add_command, add_image_flags, add_output_flags, check_exists, check_inputs,
                      check_outputs, device_arg, expand_paths, fraction, positive_int, read_image, weights_arg)

__all__ = []

_CONFIG_OPTIONS = ("upscale", "pyramid_channels", "representation_size", "normalizer")


def add_parser(sub, parents):
    p = add_command(sub, "train-detector", "train a Faster R-CNN source detector on labelled images or simulations",
                    "  astrofmx train-detector --simulate 20 --backbone resnet18 -o my_detector\n"
                    "  astrofmx train-detector a.fits b.fits --catalogs a_comp.fits b_comp.fits --backbone msn "
                    "--mode frozen --upscale 2 -o msn_detector\n"
                    "  astrofmx train-detector --simulate 50 --backbone resnet18 --checkpoint-dir ckpt --resume "
                    "-o my_detector\n", parents=parents)
    p.add_argument("images", nargs="*", help="labelled FITS images")
    p.add_argument("--boxes", nargs="+", help="one table of boxes per image (bbox_xmin... or xmin... columns)")
    p.add_argument("--catalogs", nargs="+",
                   help="one source catalog per image (Aegean, PyBDSF, photutils...), turned into boxes")
    p.add_argument("--simulate", type=int, default=0, metavar="N", help="also train on N simulated radio fields")
    p.add_argument("--sim-shape", type=positive_int, nargs=2, default=[256, 256], metavar=("NY", "NX"))
    p.add_argument("--backbone", required=True, help="registry name (see 'astrofmx backbones')")
    p.add_argument("--weights", type=weights_arg, default="pretrained",
                   help="'pretrained' (default), a local weights file, or 'none' (random initialisation, for "
                        "testing only)")
    p.add_argument("-o", "--output", required=True, help="folder to save the detector in")
    p.add_argument("--mode", default="finetune", choices=("frozen", "finetune", "scratch"))
    p.add_argument("--epochs", type=positive_int, default=10)
    p.add_argument("--steps-per-epoch", type=positive_int)
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--tile-size", type=positive_int, default=256)
    p.add_argument("--upscale", type=float)
    p.add_argument("--normalizer", help="normalization preset (default: radio)")
    p.add_argument("--pyramid-channels", type=positive_int)
    p.add_argument("--representation-size", type=positive_int)
    p.add_argument("--val-fraction", type=fraction, default=0.0)
    p.add_argument("--checkpoint-dir", help="write a checkpoint after every epoch here")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --checkpoint-dir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    p.add_argument("--device", type=device_arg)
    add_image_flags(p)
    add_output_flags(p)
    p.set_defaults(func=run)


def _read_table(path, what):
    from astropy.table import QTable

    try:
        return QTable.read(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise ValueError(f"cannot read the {what} table {path!r}: {exc}") from exc


def _check_labels(images, args):
    """Usage errors, before any image is read or any model built."""
    from ..backbones import list_backbones

    if args.boxes and args.catalogs:
        raise UsageError("give --boxes or --catalogs, not both")
    labels = args.boxes or args.catalogs
    if images and labels is None:
        raise UsageError(f"{len(images)} images need labels: --boxes TABLE... (bounding-box columns) or "
                         "--catalogs CATALOG... (source catalogs), one per image")
    if labels is not None and len(labels) != len(images):
        raise UsageError(f"give one {'--boxes' if args.boxes else '--catalogs'} file per image: {len(images)} "
                         f"images, {len(labels)} files")
    if labels is not None:
        check_inputs(labels)
    if args.simulate < 0:
        raise UsageError(f"--simulate must be a number of fields >= 0, got {args.simulate}")
    if not images and not args.simulate:
        raise UsageError("nothing to train on: give IMAGES with --boxes/--catalogs, or --simulate N")
    if args.resume and args.checkpoint_dir is None:
        raise UsageError("--resume needs --checkpoint-dir DIR (the folder of the interrupted run)")
    if not args.backbone.startswith("timm:") and args.backbone not in list_backbones():
        raise UsageError(f"unknown backbone {args.backbone!r}: give one of {list_backbones()} (see 'astrofmx "
                         "backbones') or timm:<model name>")
    if args.weights not in (None, "pretrained") and not os.path.exists(args.weights):
        raise UsageError(f"--weights {args.weights!r}: no such file (give 'pretrained', 'none' or a weights file)")
    check_exists([args.output], args.overwrite)
    check_outputs([], False, folders=[args.output, args.checkpoint_dir])


def _catalog_boxes(path, image):
    """Boxes from a source catalog: read as a table, else as a reference catalog (Aegean, PyBDSF...)."""
    from ..compare import read_reference_catalog
    from ..detection import catalog_to_boxes

    table = _read_table(path, "catalog")
    try:
        return catalog_to_boxes(table, image)
    except (ValueError, KeyError):
        return catalog_to_boxes(read_reference_catalog(path, wcs=image.wcs), image)


def _training_set(images, args):
    """``(images, boxes)``: the labelled files, then ``--simulate`` simulated fields with their truth."""
    train_images, train_boxes = [], []
    for k, path in enumerate(images):
        image = read_image(path, args)
        train_boxes.append(_read_table(args.boxes[k], "box") if args.boxes else _catalog_boxes(args.catalogs[k],
                                                                                                   image))
        train_images.append(image)
    if args.simulate:
        from ..datasets import simulate_radio_field

        for i in range(args.simulate):
            field = simulate_radio_field(tuple(args.sim_shape), seed=args.seed + i)
            train_images.append(field.to_nddata())
            train_boxes.append(field.truth)
    return train_images, train_boxes


def run(args):
    images = expand_paths(args.images)
    _check_labels(images, args)
    from ..detection import save_detector, train_detector

    train_images, train_boxes = _training_set(images, args)
    config = dict(backbone=args.backbone, weights=args.weights, mode=args.mode, tile_size=args.tile_size)
    config.update({name: getattr(args, name) for name in _CONFIG_OPTIONS if getattr(args, name) is not None})
    detector = train_detector(train_images, train_boxes, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                              batch_size=args.batch_size, learning_rate=args.learning_rate,
                              val_fraction=args.val_fraction, checkpoint_dir=args.checkpoint_dir,
                              resume=args.resume, seed=args.seed, precision=args.precision, device=args.device,
                              progress_bar=not args.quiet, register=False, **config)
    save_detector(detector, args.output, overwrite=args.overwrite)  # saved once, where -o says
    last = detector.history[-1] if detector.history else {}
    loss = last.get("loss", last.get("train_loss"))
    print(f"trained a {args.backbone} detector ({args.mode}) on {len(train_images)} images for "
          f"{len(detector.history)} epochs" + (f"; last training loss {loss:.4g}" if loss is not None else ""))
    print(f"wrote {args.output}; use it with: astrofmx detect IMAGE --model {args.output}")
