"""Completeness, purity and F1 of source catalogs against a reference."""

import logging

import astropy.units as u
import numpy as np
from astropy.table import QTable

from ._crossmatch import crossmatch

__all__ = ["catalog_scores", "match_metrics", "compare_catalogs"]

logger = logging.getLogger(__name__)


def catalog_scores(n_matched, n_sources, n_reference):
    """Completeness, purity and F1 from the counts of a one-to-one matching.

    - completeness (recall) = ``n_matched / n_reference``,
    - purity (precision) = ``n_matched / n_sources``,
    - F1 = harmonic mean of the two.

    `match_metrics` uses it for one catalog; give it counts summed over
    several images to score them together.

    Parameters
    ----------
    n_matched : int
        Number of one-to-one matches (e.g. ``crossmatch(...).meta['n_matched']``).
    n_sources : int
        Number of sources in the catalog that was scored.
    n_reference : int
        Number of sources in the reference catalog.

    Returns
    -------
    scores : dict
        ``completeness``, ``purity`` and ``f1`` (floats).  Purity is 0 for
        an empty catalog (as scikit-learn's ``zero_division=0``),
        completeness is NaN for an empty reference, and F1 is 0 whenever
        completeness or purity is not positive.

    Raises
    ------
    ValueError
        If a count is negative or not an integer, or ``n_matched`` exceeds
        ``n_sources`` or ``n_reference``.

    Examples
    --------
    >>> from astrofmx.compare import catalog_scores
    >>> catalog_scores(8, 10, 16)
    {'completeness': 0.5, 'purity': 0.8, 'f1': 0.6153846153846154}
    >>> catalog_scores(0, 0, 5)["f1"]
    0.0
    """
    counts = {"n_matched": n_matched, "n_sources": n_sources, "n_reference": n_reference}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if n_matched > min(n_sources, n_reference):
        raise ValueError(f"n_matched ({n_matched}) cannot exceed n_sources ({n_sources}) or n_reference "
                         f"({n_reference}): a one-to-one match uses each source once")
    completeness = n_matched / n_reference if n_reference else float("nan")
    purity = n_matched / n_sources if n_sources else 0.0
    f1 = 2 * completeness * purity / (completeness + purity) if (completeness + purity) > 0 else 0.0
    return {"completeness": float(completeness), "purity": float(purity), "f1": float(f1)}


def match_metrics(catalog, reference, radius, *, method="hungarian"):
    """Completeness, purity and F1 of a catalog against a reference catalog.

    Sources are matched one-to-one with `crossmatch`; then
    `catalog_scores` gives

    - completeness (recall) = matched / sources in the reference,
    - purity (precision) = matched / sources in the catalog,
    - F1 = harmonic mean of the two.

    Parameters
    ----------
    catalog, reference : `~astropy.table.QTable`
        Source catalogs (see `crossmatch` for the columns used).
    radius : `~astropy.units.Quantity`
        Matching radius, an angle or pixels.
    method : {'hungarian', 'greedy'}, optional
        One-to-one assignment rule of `crossmatch`.

    Returns
    -------
    metrics : dict
        ``n_sources``, ``n_reference``, ``n_matched``, ``completeness``,
        ``purity``, ``f1`` and ``median_separation`` (NaN without matches).
        An empty ``catalog`` scores 0 for completeness, purity and F1 (as
        scikit-learn's ``zero_division=0``).

    Raises
    ------
    ValueError
        If ``reference`` is empty: completeness is then undefined.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.io import make_source_catalog
    >>> from astrofmx.compare import match_metrics
    >>> found = make_source_catalog([[0, 0, 2, 2], [50, 50, 52, 52]])
    >>> truth = make_source_catalog([[0, 0, 2, 2], [20, 20, 22, 22]])
    >>> m = match_metrics(found, truth, 3 * u.pix)
    >>> m["completeness"], m["purity"], m["f1"]
    (0.5, 0.5, 0.5)
    """
    if len(reference) == 0:
        raise ValueError("reference catalog is empty: completeness (matched / reference sources) is undefined; "
                         "check the reference file or the image it belongs to")
    matches = crossmatch(catalog, reference, radius, method=method)
    n_cat, n_ref, n_match = len(catalog), len(reference), matches.meta["n_matched"]
    sep_unit = matches["separation"].unit
    median = np.median(matches["separation"]) if n_match else np.nan * sep_unit
    return {"n_sources": n_cat, "n_reference": n_ref, "n_matched": n_match,
            **catalog_scores(n_match, n_cat, n_ref), "median_separation": median}


def compare_catalogs(catalogs, reference, radius, *, image=None, plot=None, method="hungarian", overwrite=False):
    """Score several finders' catalogs against one reference catalog.

    Parameters
    ----------
    catalogs : dict of str -> `~astropy.table.QTable`
        Catalogs by finder name (e.g. ``{'photutils': ..., 'sep': ...}``).
    reference : `~astropy.table.QTable`
        The reference catalog (e.g. from `read_reference_catalog`).
    radius : `~astropy.units.Quantity`
        Matching radius (an angle, or pixels), e.g. half the beam FWHM.
    image : optional
        The image the catalogs were measured on (anything
        `find_sources_photutils` accepts); needed only for ``plot``.
    plot : str or path-like, optional
        Write the overlay figure of `plot_catalogs` (the catalogs and the
        reference on the image) to this PNG file.
    method : {'hungarian', 'greedy'}, optional
        One-to-one assignment rule of `crossmatch`.
    overwrite : bool, optional
        Replace an existing ``plot`` file.

    Returns
    -------
    table : `~astropy.table.QTable`
        One row per finder: ``finder``, ``n_sources``, ``n_reference``,
        ``n_matched``, ``completeness``, ``purity``, ``f1`` and
        ``median_separation``; ``meta`` records the radius and method.

    Raises
    ------
    ValueError
        If ``catalogs`` is empty or ``plot`` is given without ``image``.
    TypeError
        If ``catalogs`` is not a mapping.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.io import make_source_catalog
    >>> from astrofmx.compare import compare_catalogs
    >>> truth = make_source_catalog([[0, 0, 2, 2], [20, 20, 22, 22]])
    >>> a = make_source_catalog([[0, 0, 2, 2], [20, 21, 22, 23]])
    >>> b = make_source_catalog([[0, 0, 2, 2], [60, 60, 62, 62]])
    >>> t = compare_catalogs({"a": a, "b": b}, truth, 3 * u.pix)
    >>> t["finder"].tolist(), t["f1"].tolist()
    (['a', 'b'], [1.0, 0.5])
    """
    if not hasattr(catalogs, "items"):
        raise TypeError(f"catalogs must be a dict mapping finder names to catalogs, got {type(catalogs).__name__}")
    if len(catalogs) == 0:
        raise ValueError("catalogs is empty: give at least one {name: catalog} entry")
    if plot is not None and image is None:
        raise ValueError("plot needs the image the catalogs were measured on: pass image=...")
    rows = []
    for name, cat in catalogs.items():
        m = match_metrics(cat, reference, radius, method=method)
        rows.append((str(name), m))
    table = QTable()
    table["finder"] = [name for name, _ in rows]
    for key in ("n_sources", "n_reference", "n_matched"):
        table[key] = np.array([m[key] for _, m in rows], dtype=np.int64)
    for key in ("completeness", "purity", "f1"):
        table[key] = np.array([m[key] for _, m in rows], dtype=float)
    table["median_separation"] = u.Quantity([m["median_separation"] for _, m in rows])
    table.meta.update({"radius": radius, "method": method})
    if plot is not None:
        from ._plot import plot_catalogs

        title = f"{', '.join(map(str, catalogs))} against {len(reference)} reference sources (r = {radius:.3g})"
        plot_catalogs(image, {**catalogs, "reference": reference}, filename=plot, overwrite=overwrite, radius=radius,
                      title=title)
    return table
