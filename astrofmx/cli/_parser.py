"""The ``astrofmx`` argument parser: the global options and one sub-command per module."""

import argparse

from . import _backbones, _compare, _demo, _detect, _embed, _pretrain, _preview, _search, _simulate, _train

__all__ = []

# in the order of ``astrofmx --help``
_COMMANDS = (_demo, _preview, _detect, _compare, _simulate, _train, _pretrain, _embed, _search, _backbones)

EXAMPLES = """\
examples:
  astrofmx demo                                   # main job on the bundled Parkes radio image
  astrofmx preview field.fits --preset radio -o field.png --tiles tiles.ecsv
  astrofmx detect field.fits -o catalog.ecsv --regions catalog.reg --plot overlay.png
  astrofmx compare field.fits --reference aegean.fits --finders photutils sep -o scores.ecsv
  astrofmx simulate sim.fits --shape 512 512 --seed 1 --truth truth.ecsv
  astrofmx train-detector --simulate 20 --backbone resnet18 -o my_detector
  astrofmx pretrain 'survey/*.fits' --backbone resnet18 --steps 2000 -o run --name my-radio
  astrofmx embed cutouts/*.fits --backbone msn -o features.npy
  astrofmx index 'survey/*.fits' -o survey.idx --normalizer radio && astrofmx outliers survey.idx -n 50
  astrofmx backbones                              # registered backbones, with cached weights

"astrofmx COMMAND --help" shows the options and examples of each command.
"""


def _global_options(*, after):
    """The options of every command, given before or after it (``astrofmx -q detect ...`` or ``detect ... -q``).

    The copy attached to the sub-commands (``after``) stores into its own
    names, without defaults, and `parse_args` adds them to the values given
    before the sub-command (``-v detect -v`` is ``-vv``).
    """
    prefix, default = ("after_", {"default": argparse.SUPPRESS}) if after else ("", {})
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument("-q", "--quiet", action="store_true", dest=f"{prefix}quiet", help="no progress bars",
                       **default)
    group.add_argument("-v", "--verbose", action="count", dest=f"{prefix}verbose",
                       help="more log messages (-vv: debug)", **(default or {"default": 0}))
    return parser


def build_parser():
    """The argument parser of the ``astrofmx`` command."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="astrofmx", description="Vision foundation models for FITS images.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     parents=[_global_options(after=False)])
    parser.add_argument("--version", action="version", version=f"astrofmx {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parents = [_global_options(after=True)]
    for command in _COMMANDS:
        command.add_parser(sub, parents)
    return parser


def parse_args(argv=None):
    """Parse the command line; the global options may come before or after the sub-command."""
    args = build_parser().parse_args(argv)
    args.quiet = args.quiet or vars(args).pop("after_quiet", False)
    args.verbose += vars(args).pop("after_verbose", 0)
    return args
