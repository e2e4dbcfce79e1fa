"""``astrofmx backbones``: the registered backbones and whether their weights are cached."""

from ._common import add_command, print_table

__all__ = []

_CACHED = {True: "yes", False: "no", None: "n/a"}


def add_parser(sub, parents):
    p = add_command(sub, "backbones", "list the registered backbones and whether their weights are cached",
                    "  astrofmx backbones\n  astrofmx backbones 'resnet*'\n", parents=parents)
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'dino*'")
    p.add_argument("--cache-dir", help="cache root (default: $ASTROFMX_CACHE or ~/.cache/astrofmx)")
    p.add_argument("--long", action="store_true", help="full licence notes")
    p.set_defaults(func=run)


def run(args):
    from astropy.table import Table

    from ..backbones import get_backbone_spec, list_backbones, weights_cache_dir, weights_cached

    names = list_backbones(args.pattern)
    if not names:
        raise ValueError(f"no registered backbone matches {args.pattern!r}; the registered ones are "
                         f"{list_backbones()}")
    rows = []
    for name in names:
        spec = get_backbone_spec(name)
        licence = spec.license if args.long else spec.license.split(" (")[0].split(";")[0].strip()
        rows.append((name, spec.arch, spec.input_size, spec.patch_size, spec.feature_dim, licence,
                     _CACHED[weights_cached(name, args.cache_dir)]))
    table = Table(rows=rows, names=("name", "arch", "input_size", "patch", "feature_dim", "licence", "cached"))
    for col in ("name", "arch", "licence"):
        table[col].format = "<"
    print_table(table, max_lines=-1)
    print(f"weights cache: {weights_cache_dir('NAME', args.cache_dir).parent}/<name>; "
          "any timm model is also available as 'timm:<name>'")
