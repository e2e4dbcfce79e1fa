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
_INTERVALS = ("preview", "zscale", "minmax", "99.5%", "99%")
_MARKERS = ("o", "s", "D", "^", "p", "h", "v", "8")  # drawn hollow, so that they do not hide the image
_MATCH_MARKERS = {"matched": "o", "false": "s", "missed": "v"}  # finder against reference


def _norm(data, stretch, interval):
    from astropy.visualization import (AsinhStretch, ImageNormalize, LinearStretch, LogStretch,
                                       MinMaxInterval, PercentileInterval, SqrtStretch, ZScaleInterval)

    if stretch not in _STRETCHES:
        raise ValueError(f"stretch must be one of {_STRETCHES}, got {stretch!r}")
    if interval not in _INTERVALS:
        raise ValueError(f"interval must be one of {_INTERVALS}, got {interval!r}")
    stretch_obj = {"asinh": AsinhStretch(0.05), "linear": LinearStretch(), "sqrt": SqrtStretch(),
                   "log": LogStretch()}[stretch]
    finite = data[np.isfinite(data)]
    if interval == "preview":
        vmin, vmax = _preview_vmin(finite), float(np.percentile(finite, 99.95))
        if vmax > vmin:  # a margin below the lowest pixel: it is dark grey, not black
            return ImageNormalize(vmin=vmin - 0.02 * (vmax - vmin), vmax=vmax, stretch=stretch_obj, clip=True)
        return ImageNormalize(vmin=vmin, vmax=vmin + 1e-12, stretch=stretch_obj, clip=True)
    interval_obj = {"zscale": ZScaleInterval(), "minmax": MinMaxInterval(), "99.5%": PercentileInterval(99.5),
                    "99%": PercentileInterval(99.0)}[interval]
    vmin, vmax = interval_obj.get_limits(finite)
    if interval == "zscale":
        # ZScale clips bright radio sources hard; keep their peaks visible through the asinh stretch
        vmax = max(vmax, float(np.percentile(finite, 99.5)))
    if not vmax > vmin:
        vmin, vmax = float(finite.min()), float(finite.max()) + 1e-12
    return ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretch_obj, clip=True)


def _preview_vmin(finite):
    """The lowest valid pixel, unless it lies more than 10 sigma (robust) below the median: noisy map edges
    beside blank regions stay grey instead of being clipped to black."""
    median = float(np.median(finite))
    sigma = 1.4826 * float(np.median(np.abs(finite - median)))
    return max(float(finite.min()), median - 10.0 * sigma) if sigma > 0 else float(finite.min())


def _draw_beam(ax, header, wcs, shape):
    """The restoring beam (BMAJ/BMIN/BPA) as a hollow ellipse in the lower-left corner; True if drawn."""
    from matplotlib.patches import Ellipse

    from ._image import beam_fwhm_pixels

    beam = beam_fwhm_pixels(header, wcs)
    if beam is None or not all(np.isfinite(beam[:2])) or beam[0] <= 0:
        return False
    bmaj, bmin, bpa = beam
    ny, nx = shape
    centre = (max(0.06 * nx, 0.6 * bmaj), max(0.06 * ny, 0.6 * bmaj))
    # BPA is east of north; with north up and east left, that is bpa + 90 deg from +x
    ax.add_patch(Ellipse(centre, width=bmaj, height=bmin, angle=bpa + 90.0, fill=False, edgecolor="yellow",
                         linewidth=1.2, zorder=20, label="beam"))
    return True


def _match_groups(cat, reference, radius):
    """``{'matched': rows, 'false': rows}`` of ``cat`` and the ``missed`` rows of ``reference``."""
    from ._crossmatch import crossmatch

    m = crossmatch(cat, reference, radius)
    return {"matched": np.asarray(m["idx_catalog"], int), "false": np.asarray(m.meta["unmatched_catalog"], int),
            "missed": np.asarray(m.meta["unmatched_reference"], int)}


def _pixel_positions(cat, wcs, name):
    """Pixel ``(x, y)`` of a catalog's sources on the image (its pixel columns, else its sky positions)."""
    try:
        xy = catalog_positions(cat, wcs)
    except ValueError as err:
        raise ValueError(f"catalog {name!r}: {err}") from None
    return xy[:, 0], xy[:, 1]


def plot_catalogs(image, catalogs, *, stretch="asinh", interval="preview", filename=None, overwrite=False,
                  title=None, show_boxes=True, dpi=120, radius=None):
    """Draw an image with several catalogs overlaid, one colour per finder.

    The image is shown on `~astropy.visualization.wcsaxes.WCSAxes` when it
    has a celestial WCS (RA/Dec axes and grid), on plain pixel axes
    otherwise, with a colorbar in the image's unit (BUNIT) and, when the
    header has one, the restoring beam as an ellipse; NaN and masked pixels
    are left blank.  Each catalog gets its own colour and hollow marker at
    its centroids, plus its boxes (when the catalog has non-empty boxes and
    ``show_boxes`` is True), and a legend entry with its name and source
    count. With a ``'reference'`` catalog and a matching ``radius``, each
    finder's sources are split into matched (circles) and false (squares),
    and the reference sources it missed are drawn as triangles.

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
    interval : {'preview', 'zscale', 'minmax', '99.5%', '99%'}, optional
        Display limits. ``'preview'`` (default; with the asinh stretch,
        that of the ``radio`` preview) goes up to the 99.95th percentile and
        down to the lowest pixel within 10 robust sigma of the median, so
        that noisy edges of blank regions are not clipped to black;
        ``'zscale'`` keeps at least the 99.5th percentile visible so that
        bright radio sources do not saturate entirely.
    filename : str or path-like, optional
        Save the figure there (PNG by extension).
    overwrite : bool, optional
        Replace an existing ``filename``.
    title : str, optional
        Axes title (default: the image's file name, or the catalogs' names).
    show_boxes : bool, optional
        Draw the source boxes as well as the centroid markers.
    dpi : int, optional
        Resolution of the saved figure.
    radius : `~astropy.units.Quantity`, optional
        Matching radius (angle or pixels, as in `crossmatch`) for the
        matched / false / missed symbols against ``catalogs['reference']``.

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

    from ..io import parse_bunit

    if not hasattr(catalogs, "items"):
        raise TypeError(f"catalogs must be a dict mapping names to catalogs, got {type(catalogs).__name__}")
    if filename is not None:
        check_overwrite(filename, overwrite)
    data, mask, wcs, header = as_image(image)
    norm = _norm(data[~mask], stretch, interval)
    shown = np.ma.masked_array(data, mask=mask)

    fig = Figure(figsize=(8.5, 7.5))
    ax = fig.add_subplot(1, 1, 1, projection=wcs) if wcs is not None else fig.add_subplot(1, 1, 1)
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))  # NaN/masked: transparent
    im = ax.imshow(shown, origin="lower", cmap=cmap, norm=norm, interpolation="nearest", interpolation_stage="rgba")
    unit = parse_bunit(header.get("BUNIT")) if header is not None and header.get("BUNIT") else None
    bar = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.046, pad=0.1)
    bar.set_label(f"{unit if unit is not None else 'pixel value (no BUNIT)'} ({stretch} stretch)")
    if wcs is not None:
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
        ax.coords.grid(color="white", alpha=0.25, linestyle="dotted")
    else:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")

    colors = matplotlib.colormaps["tab10"].colors
    handles = []
    reference = next((c for n, c in catalogs.items() if str(n).lower().startswith("reference")), None)
    for k, (name, cat) in enumerate(catalogs.items()):
        color = colors[k % len(colors)]
        is_ref = str(name).lower().startswith("reference")
        x, y = _pixel_positions(cat, wcs, name)
        if is_ref:
            groups = {"": (np.arange(len(cat)), "o", 110)}
        elif radius is not None and reference is not None:
            rows = _match_groups(cat, reference, radius)
            rx, ry = _pixel_positions(reference, wcs, "reference")
            groups = {g: (rows[g], _MATCH_MARKERS[g], 45) for g in ("matched", "false")}
            groups["missed"] = (rows["missed"], _MATCH_MARKERS["missed"], 60)
        else:
            groups = {"": (np.arange(len(cat)), _MARKERS[k % len(_MARKERS)], 45)}
        for group, (rows, marker, size) in groups.items():
            gx, gy = (rx, ry) if group == "missed" else (x, y)
            ax.scatter(gx[rows], gy[rows], s=size, marker=marker, facecolors="none", edgecolors=color,
                       linewidths=0.9 if is_ref else 1.3, zorder=3 + k)
            label = f"{name} ({len(cat)})" if not group else f"{name}: {group} ({len(rows)})"
            handles.append(Line2D([], [], linestyle="none", marker=marker, markersize=8, markeredgewidth=1.3,
                                  markerfacecolor="none", markeredgecolor=color, label=label))
        if show_boxes and not is_ref and all(c in cat.colnames for c in ("bbox_xmin", "bbox_ymin",
                                                                         "width", "height")):
            for x0, y0, w, h in zip(u.Quantity(cat["bbox_xmin"], u.pix).value,
                                    u.Quantity(cat["bbox_ymin"], u.pix).value,
                                    u.Quantity(cat["width"], u.pix).value, u.Quantity(cat["height"], u.pix).value):
                if w > 0 and h > 0:
                    ax.add_patch(Rectangle((x0, y0), w, h, fill=False, edgecolor=color, linewidth=0.6,
                                           alpha=0.6, zorder=2 + k))
    if _draw_beam(ax, header, wcs, data.shape):
        handles.append(Line2D([], [], linestyle="none", marker="o", markersize=8, markerfacecolor="none",
                              markeredgecolor="yellow", label="beam (FWHM)"))
    ax.set_xlim(-0.5, data.shape[1] - 0.5)
    ax.set_ylim(-0.5, data.shape[0] - 0.5)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  borderaxespad=0.0)
    if title is None:
        from pathlib import Path

        named = isinstance(image, (str, bytes)) or hasattr(image, "__fspath__")
        title = Path(image).name if named else " vs ".join(str(n) for n in catalogs) or "image"
    ax.set_title(title)
    if filename is not None:
        from pathlib import Path

        fmt = Path(filename).suffix.lstrip(".").lower() or "png"
        with atomic_write(filename, overwrite=overwrite, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt)
        logger.info("wrote %s", filename)
    return fig
