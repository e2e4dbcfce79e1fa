"""``astrofmx backbones``: the registered backbones and whether their weights are cached."""

from ._common import UsageError, add_command

__all__ = []

_CACHED = {True: "yes", False: "no", None: "n/a"}


def add_parser(sub, parents):
    p = add_command(sub, "backbones", "list the registered backbones and whether their weights are cached",
                    "  astrofmx backbones\n  astrofmx backbones 'resnet*'\n", parents=parents)
    p.add_argument("pattern", nargs="?", help="shell-style filter, e.g. 'dino*'")
    p.add_argument("--cache-dir", help="cache root (default: $ASTROFMX_CACHE or ~/.cache/astrofmx)")
    p.add_argument("--long", action="store_true", help="full licence notes")
    p.set_defaults(func=run)


def _format(rows, names):
    """A plain-text table (left-aligned text, right-aligned numbers), as astropy prints one."""
    cells = [names] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(names))]
    numeric = [all(isinstance(row[k], int) for row in rows) for k in range(len(names))]

    def line(values):
        return " ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return [line(names), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]]


def run(args):
    """The table of the registry: builds no model and imports no torch (the specs are plain data)."""
    from ..backbones import get_backbone_spec, list_backbones, weights_cache_dir, weights_cached

    names = list_backbones(args.pattern)
    if not names:
        raise UsageError(f"no registered backbone matches {args.pattern!r}; the registered ones are "
                         f"{list_backbones()}")
    rows = []
    for name in names:
        spec = get_backbone_spec(name)
        licence = spec.license if args.long else spec.license.split(" (")[0].split(";")[0].strip()
        rows.append((name, spec.arch, spec.input_size, spec.patch_size, spec.feature_dim, licence,
                     _CACHED[weights_cached(name, args.cache_dir)]))
    for line in _format(rows, ("name", "arch", "input_size", "patch", "feature_dim", "licence", "cached")):
        print(line)
    print(f"weights cache: {weights_cache_dir('NAME', args.cache_dir).parent}/<name>; "
          "any timm model is also available as 'timm:<name>'")
