"""One-to-one cross-matching of source catalogs on the sky or in pixels."""

import logging

import astropy.units as u
import numpy as np
from astropy.table import QTable

from ..io import catalog_positions, catalog_sky_positions

__all__ = ["crossmatch"]

logger = logging.getLogger(__name__)

_METHODS = ("hungarian", "greedy")


def _rows(bad):
    rows = np.flatnonzero(bad)
    shown = ", ".join(str(r) for r in rows[:10]) + (f", ... ({len(rows)} rows)" if len(rows) > 10 else "")
    return shown


def _finite(positions, name, mode):
    """``positions``, or ValueError naming the rows whose position is NaN or infinite."""
    if mode == "sky":
        sph = positions.spherical
        bad = ~(np.isfinite(np.atleast_1d(sph.lon.deg)) & np.isfinite(np.atleast_1d(sph.lat.deg)))
        what = "sky positions (RA/Dec)"
    else:
        bad = ~np.isfinite(np.asarray(positions, dtype=float)).all(axis=-1)
        what = "pixel positions (x_centroid/y_centroid)"
    if bad.any():
        raise ValueError(f"{name} has NaN or infinite {what} in rows {_rows(bad)} (0-based); drop those rows "
                         f"before matching (e.g. catalog[np.isfinite(...)]) or fill in their positions")
    return positions


def _positions(catalog, name, mode):
    """Sky coordinates or (N, 2) pixel positions of a catalog, all finite."""
    return _finite(_positions_any(catalog, name, mode), name, mode)


def _positions_any(catalog, name, mode):
    """Sky coordinates or (N, 2) pixel positions of a catalog."""
    if mode == "sky":
        coords = catalog_sky_positions(catalog)
        if coords is None:
            raise ValueError(f"{name} has no 'sky_centroid' column (nor ra/dec columns), so it cannot be matched "
                             "with an angular radius; give the radius in pixels (u.pix) or build the catalog with a "
                             "WCS")
        return coords
    try:
        return catalog_positions(catalog)
    except ValueError as err:
        missing = [c for c in ("x_centroid", "y_centroid") if c not in catalog.colnames]
        if not missing:  # the columns are there but unusable (e.g. a wrong unit)
            raise
        raise ValueError(f"{name} has no {missing[0]!r} column, so it cannot be matched with a radius in pixels; "
                         f"give an angular radius (e.g. 10 * u.arcsec) to match on the sky ({err})") from None


def _candidates(pos1, pos2, radius, mode):
    """All pairs (i, j, distance) closer than or at ``radius``."""
    if len(pos1) == 0 or len(pos2) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    if mode == "sky":
        from astropy.coordinates import search_around_sky

        i, j, sep, _ = search_around_sky(pos1, pos2, radius)
        return np.asarray(i), np.asarray(j), np.asarray(sep.to_value(u.arcsec))
    from scipy.spatial import cKDTree

    neighbours = cKDTree(pos1).query_ball_tree(cKDTree(pos2), float(radius.value))
    i = np.asarray([k for k, js in enumerate(neighbours) for _ in js], dtype=int)
    j = np.asarray([m for js in neighbours for m in js], dtype=int)
    d = np.hypot(*(pos1[i] - pos2[j]).T) if len(i) else np.zeros(0)
    inside = d <= radius.value
    return i[inside], j[inside], d[inside]


def _assign_greedy(i, j, d):
    order = np.lexsort((j, i, d))  # by distance; ties broken by index for reproducibility
    used1, used2, keep = set(), set(), []
    for k in order:
        if i[k] in used1 or j[k] in used2:
            continue
        used1.add(i[k])
        used2.add(j[k])
        keep.append(k)
    return np.asarray(keep, dtype=int)


def _assign_hungarian(i, j, d, n1, n2):
    """Maximum-cardinality, then minimum-total-distance one-to-one assignment.

    Solved separately on each connected group of candidate pairs, so the
    cost matrices stay small for large catalogs.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(i) == 0:
        return np.zeros(0, dtype=int)
    graph = coo_matrix((np.ones(len(i)), (i, n1 + j)), shape=(n1 + n2, n1 + n2))
    _, comp = connected_components(graph, directed=False)
    pair_comp = comp[i]
    # a group with a single candidate pair needs no solver (the common case)
    labels, first, counts = np.unique(pair_comp, return_index=True, return_counts=True)
    keep = list(first[counts == 1])
    order = np.argsort(pair_comp, kind="stable")
    starts = np.searchsorted(pair_comp[order], labels[counts > 1])
    for start, count in zip(starts, counts[counts > 1]):
        sel = order[start:start + count]
        rows, row_idx = np.unique(i[sel], return_inverse=True)
        cols, col_idx = np.unique(j[sel], return_inverse=True)
        # a forbidden pair costs more than every allowed pair together, so the
        # solver first maximises the number of matches, then minimises distance
        big = (d[sel].sum() + 1.0) * (len(sel) + 1)
        cost = np.full((len(rows), len(cols)), big)
        cost[row_idx, col_idx] = d[sel]
        lookup = {(r, c2): k for r, c2, k in zip(row_idx, col_idx, sel)}
        for r, c2 in zip(*linear_sum_assignment(cost)):
            if (r, c2) in lookup:
                keep.append(lookup[(r, c2)])
    return np.asarray(sorted(keep), dtype=int)


def crossmatch(catalog, reference, radius, *, method="hungarian"):
    """Match two source catalogs one-to-one within a radius.

    Every source of ``catalog`` is paired with at most one source of
    ``reference`` and vice versa.  Candidate pairs are all pairs closer than
    or at ``radius``; among them:

    - ``method='hungarian'`` (default) takes the assignment with the largest
      number of matches and, among those, the smallest total separation
      (`scipy.optimize.linear_sum_assignment`, solved on each connected
      group of candidates);
    - ``method='greedy'`` repeatedly takes the closest remaining pair (what
      TOPCAT/STILTS ``tmatch2 find=best`` does).

    Both agree whenever no source has two candidates within the radius; the
    Hungarian matching never finds fewer matches than the greedy one.

    Parameters
    ----------
    catalog, reference : `~astropy.table.QTable`
        Source catalogs.  Sky matching uses their ``sky_centroid``
        (`~astropy.coordinates.SkyCoord`) columns (or ``ra``/``dec``...,
        see `~astrofmx.io.catalog_sky_positions`), pixel matching their
        ``x_centroid`` / ``y_centroid`` columns (or ``xcentroid``..., see
        `~astrofmx.io.catalog_positions`; same image!).
    radius : `~astropy.units.Quantity`
        Matching radius: an angle (e.g. ``7.2 * u.arcmin``) to match on the
        sky, or pixels (``3 * u.pix``) to match in image coordinates.
    method : {'hungarian', 'greedy'}, optional
        Assignment rule (see above).

    Returns
    -------
    matches : `~astropy.table.QTable`
        One row per matched pair, sorted by ``idx_catalog``: ``idx_catalog``
        and ``idx_reference`` (0-based row numbers), ``id_catalog`` and
        ``id_reference`` (the ``id`` columns, where present) and
        ``separation`` (arcsec for sky matching, pixels otherwise).
        ``meta`` holds ``n_catalog``, ``n_reference``, ``n_matched``,
        ``n_unmatched_catalog``, ``n_unmatched_reference``,
        ``unmatched_catalog`` and ``unmatched_reference`` (row numbers),
        ``radius``, ``method`` and ``coordinates`` (``'sky'`` or
        ``'pixel'``).  Empty catalogs give an empty match table with the
        counts filled in.

    Raises
    ------
    ValueError
        If the radius is not positive, a catalog lacks the columns needed, or
        a position is NaN or infinite (the message names the rows).
    TypeError
        If the radius is not an angle or pixel `~astropy.units.Quantity`.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astrofmx.io import make_source_catalog
    >>> from astrofmx.compare import crossmatch
    >>> a = make_source_catalog([[0, 0, 2, 2], [10, 10, 12, 12]])
    >>> b = make_source_catalog([[0.5, 0, 2.5, 2], [40, 40, 42, 42]])
    >>> m = crossmatch(a, b, 2 * u.pix)
    >>> m["idx_catalog"].tolist(), m["idx_reference"].tolist(), m.meta["n_unmatched_reference"]
    ([0], [0], 1)
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if not isinstance(radius, u.Quantity):
        raise TypeError(f"radius must be an astropy Quantity in angular units or u.pix, got {radius!r}")
    if radius.unit.is_equivalent(u.deg):
        mode = "sky"
        radius = radius.to(u.arcsec)
    elif radius.unit == u.pix:
        mode = "pixel"
    else:
        raise TypeError(f"radius must be an angle (e.g. u.arcsec) or in pixels (u.pix), got unit {radius.unit}")
    if not radius.isscalar or not np.isfinite(radius.value) or radius.value <= 0:
        raise ValueError(f"radius must be a positive finite scalar, got {radius!r}")

    pos1 = _positions(catalog, "catalog", mode)
    pos2 = _positions(reference, "reference", mode)
    n1, n2 = len(catalog), len(reference)
    i, j, d = _candidates(pos1, pos2, radius, mode)
    keep = _assign_greedy(i, j, d) if method == "greedy" else _assign_hungarian(i, j, d, n1, n2)
    keep = keep[np.argsort(i[keep], kind="stable")] if len(keep) else keep
    mi, mj, md = i[keep], j[keep], d[keep]

    out = QTable()
    out["idx_catalog"] = mi.astype(np.int64)
    out["idx_reference"] = mj.astype(np.int64)
    if "id" in catalog.colnames:
        out["id_catalog"] = np.asarray(catalog["id"])[mi]
    if "id" in reference.colnames:
        out["id_reference"] = np.asarray(reference["id"])[mj]
    out["separation"] = md * (u.arcsec if mode == "sky" else u.pix)
    unmatched1 = np.setdiff1d(np.arange(n1), mi)
    unmatched2 = np.setdiff1d(np.arange(n2), mj)
    out.meta.update({
        "n_catalog": n1, "n_reference": n2, "n_matched": len(keep),
        "n_unmatched_catalog": len(unmatched1), "n_unmatched_reference": len(unmatched2),
        "unmatched_catalog": unmatched1.tolist(), "unmatched_reference": unmatched2.tolist(),
        "radius": radius, "method": method, "coordinates": mode,
    })
    logger.info("crossmatch (%s, %s, r=%s): %d of %d matched to %d reference sources", mode, method, radius,
                len(keep), n1, n2)
    return out
