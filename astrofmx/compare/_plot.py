"""Overlay figure: an image on WCSAxes with several finders' sources."""

import logging

import astropy.units as u
import numpy as np

from ..io import catalog_positions
from ..utils import atomic_write, check_overwrite
from ._image import as_image

__all__ = ["plot_catalogs"]

logger = logging.getLogger(__name__)

_STRETCHES = ("asinh", "linear", "sqrt", "log")
_INTERVALS = ("zscale", "minmax", "99.5%", "99%")
_MARKERS = ("+", "x", "1", "2", "3", "4", "|", "_")  # line markers do not hide one another


def _norm(data, stretch, interval):
    from astropy.visualization import (AsinhStretch, ImageNormalize, LinearStretch, LogStretch,
                                       MinMaxInterval, PercentileInterval, SqrtStretch, ZScaleInterval)

    if stretch not in _STRETCHES:
        raise ValueError(f"stretch must be one of {_STRETCHES}, got {stretch!r}")
    if interval not in _INTERVALS:
        raise ValueError(f"interval must be one of {_INTERVALS}, got {interval!r}")
    stretch_obj = {"asinh": AsinhStretch(0.1), "linear": LinearStretch(), "sqrt": SqrtStretch(),
                   "log": LogStretch()}[stretch]
    interval_obj = {"zscale": ZScaleInterval(), "minmax": MinMaxInterval(), "99.5%": PercentileInterval(99.5),
                    "99%": PercentileInterval(99.0)}[interval]
    finite = data[np.isfinite(data)]
    vmin, vmax = interval_obj.get_limits(finite)
    if interval == "zscale":
        # ZScale clips bright radio sources hard; keep their peaks visible through the asinh stretch
        vmax = max(vmax, float(np.percentile(finite, 99.5)))
    if not vmax > vmin:
        vmin, vmax = float(finite.min()), float(finite.max()) + 1e-12
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretch_obj, clip=True)


def _pixel_positions(cat, wcs, name):
    """Pixel ``(x, y)`` of a catalog's sources on the image (its pixel columns, else its sky positions)."""
    try:
        xy = catalog_positions(cat, wcs)
    except ValueError as err:
        raise ValueError(f"catalog {name!r}: {err}") from None
    return xy[:, 0], xy[:, 1]


def plot_catalogs(image, catalogs, *, stretch="asinh", interval="zscale", filename=None, overwrite=False,
                  title=None, show_boxes=True, dpi=120):
    """Draw an image with several catalogs overlaid, one colour per finder.

    The image is shown on `~astropy.visualization.wcsaxes.WCSAxes` when it
    has a celestial WCS (RA/Dec axes and grid), on plain pixel axes
    otherwise; NaN and masked pixels are left blank.  Each catalog gets its
    own colour and marker at its centroids, plus its boxes (when the
    catalog has non-empty boxes and ``show_boxes`` is True), and a legend
    entry with its name and source count.

    Parameters
    ----------
    image
        The image (anything `find_sources_photutils` accepts: a FITS path,
        HDU, `~astropy.nddata.NDData` or 2-D array).
    catalogs : dict of str -> `~astropy.table.QTable`
        Catalogs by name; a catalog named ``'reference'`` is drawn as open
        circles.
    stretch : {'asinh', 'linear', 'sqrt', 'log'}, optional
        Display stretch (`astropy.visualization`).
    interval : {'zscale', 'minmax', '99.5%', '99%'}, optional
        Display limits; ``'zscale'`` keeps at least the 99.5th percentile
        visible so that bright radio sources do not saturate entirely.
    filename : str or path-like, optional
        Save the figure there (PNG by extension).
    overwrite : bool, optional
        Replace an existing ``filename``.
    title : str, optional
        Axes title.
    show_boxes : bool, optional
        Draw the source boxes as well as the centroid markers.
    dpi : int, optional
        Resolution of the saved figure.

    Returns
    -------
    figure : `~matplotlib.figure.Figure`
        The figure (not attached to pyplot, so no GUI backend is needed).

    Raises
    ------
    ValueError
        For an unknown stretch or interval, or a catalog without positions.
    FileExistsError
        If ``filename`` exists and ``overwrite`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.io import make_source_catalog
    >>> from astrofmx.compare import plot_catalogs
    >>> img = np.random.default_rng(0).normal(size=(32, 32))
    >>> cat = make_source_catalog([[4, 4, 8, 8]], warn_empty=False)
    >>> fig = plot_catalogs(img, {"mine": cat})
    >>> fig.axes[0].get_legend().get_texts()[0].get_text()
    'mine (1)'
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    if not hasattr(catalogs, "items"):
        raise TypeError(f"catalogs must be a dict mapping names to catalogs, got {type(catalogs).__name__}")
    if filename is not None:
        check_overwrite(filename, overwrite)
    data, mask, wcs, _ = as_image(image)
    norm = _norm(data, stretch, interval)
    shown = np.ma.masked_array(data, mask=mask)

    fig = Figure(figsize=(8.5, 6.5))
    ax = fig.add_subplot(1, 1, 1, projection=wcs) if wcs is not None else fig.add_subplot(1, 1, 1)
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))  # NaN/masked: transparent
    ax.imshow(shown, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    if wcs is not None:
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        ax.coords.grid(color="white", alpha=0.25, linestyle="dotted")
    else:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")

    colors = matplotlib.colormaps["tab10"].colors
    handles = []
    for k, (name, cat) in enumerate(catalogs.items()):
        color = colors[k % len(colors)]
        is_ref = str(name).lower().startswith("reference")
        x, y = _pixel_positions(cat, wcs, name)
        marker = "o" if is_ref else _MARKERS[k % len(_MARKERS)]
        size = 70 if is_ref else 45
        if is_ref:
            ax.scatter(x, y, s=size, marker=marker, facecolors="none", edgecolors=color, linewidths=1.2, zorder=3 + k)
        else:
            ax.scatter(x, y, s=size, marker=marker, color=color, linewidths=1.4, zorder=3 + k)
        if show_boxes and not is_ref and all(c in cat.colnames for c in ("bbox_xmin", "bbox_ymin",
                                                                         "width", "height")):
            for x0, y0, w, h in zip(u.Quantity(cat["bbox_xmin"], u.pix).value,
                                    u.Quantity(cat["bbox_ymin"], u.pix).value,
                                    u.Quantity(cat["width"], u.pix).value, u.Quantity(cat["height"], u.pix).value):
                if w > 0 and h > 0:
                    ax.add_patch(Rectangle((x0, y0), w, h, fill=False, edgecolor=color, linewidth=0.8,
                                           alpha=0.9, zorder=2 + k))
        handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=8, markeredgewidth=1.4,
                              markerfacecolor="none", markeredgecolor=color, label=f"{name} ({len(cat)})"))
    ax.set_xlim(-0.5, data.shape[1] - 0.5)
    ax.set_ylim(-0.5, data.shape[0] - 0.5)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  borderaxespad=0.0)
    if title:
        ax.set_title(title)
    if filename is not None:
        from pathlib import Path

        fmt = Path(filename).suffix.lstrip(".").lower() or "png"
        with atomic_write(filename, overwrite=overwrite, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
        logger.info("wrote %s", filename)
    return fig
