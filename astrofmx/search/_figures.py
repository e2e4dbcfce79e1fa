"""Writers for search results: DS9 region files and labelled PNG mosaics of the cutouts."""

import logging

import numpy as np

__all__ = []

logger = logging.getLogger(__name__)


def _labels(table):
    if "distance" in table.colnames:
        return [f"#{r} row {s}\nd={d:.3g}" for r, s, d in zip(table["rank"], table["row"], table["distance"])]
    if "score" in table.colnames:
        return [f"#{r} row {s}\nscore={v:.3g}" for r, s, v in zip(table["rank"], table["row"], table["score"])]
    return [f"row {s}" for s in table["row"]]


def write_regions(table, filename, *, overwrite=False, color="green"):
    """DS9 boxes of the cutouts of ``table``: sky boxes when all rows have sky positions, else image boxes."""
    from ..io import write_ds9

    if "row" not in table.colnames or "x_centroid" not in table.colnames:
        raise ValueError(f"write_regions needs a table from SourceIndex.similar/outliers, with columns 'row' and "
                         f"'x_centroid'; got {table.colnames}")
    out = table.copy()
    out["label_text"] = [t.replace("\n", " ") for t in _labels(table)]
    has_sky = "sky_centroid" in out.colnames and len(out) and np.all(np.isfinite(out["sky_centroid"].ra.deg)) \
        and np.all(np.isfinite(np.asarray(out["width_sky"])))
    if not has_sky:
        for name in ("sky_centroid", "width_sky", "height_sky", "size_sky"):
            if name in out.colnames:
                out.remove_column(name)
        if len(set(out["file"])) > 1:
            logger.warning("the %d sources come from %d images without celestial WCS: pixel boxes of different "
                           "images are written to one region file", len(out), len(set(out["file"])))
    return write_ds9(out, filename, overwrite=overwrite, frame="sky" if has_sky else "image",
                     label_format="{label_text}", color=color)


def write_mosaic(index, table, filename, *, query=None, backbone=None, ncols=None, overwrite=False):
    """A PNG grid of the thumbnails of ``table`` (the query first, framed, for `similar` tables)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..utils import atomic_write, check_overwrite

    check_overwrite(filename, overwrite)
    rows = np.asarray(table["row"], dtype=np.int64)
    stamps = [index._thumbs[r] for r in rows]
    labels = _labels(table)
    if query is None and table.meta.get("query_row", -1) >= 0:
        query = int(table.meta["query_row"])
    if query is not None:
        _, qrow, qthumb = index._query(query, backbone)
        stamps.insert(0, qthumb)
        labels.insert(0, "query" + ("" if qrow is None else f" row {qrow}"))
    if not stamps:
        raise ValueError("the table has no sources to draw")
    ncols = int(ncols or min(len(stamps), 6))
    nrows = -(-len(stamps) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.8 * ncols, 2.0 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (stamp, text) in enumerate(zip(stamps, labels)):
        ax = axes.ravel()[i]
        ax.imshow(stamp, cmap="gray", origin="lower", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(text, fontsize=7)
        if query is not None and i == 0:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2)
    fig.tight_layout()
    with atomic_write(filename, overwrite=overwrite, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return filename
