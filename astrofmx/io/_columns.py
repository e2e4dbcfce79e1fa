"""Source positions and ellipse extents read from the columns of any catalog (astrofmx, photutils, PyBDSF, Aegean...).

Column names are matched case-insensitively (an exact match wins), with or
without units. Pixel columns are 0-based, pixel centres at integers (the
convention of `~astrofmx.io.make_source_catalog` and photutils); sky columns
without a unit are in degrees (ICRS).

Why not regions: `regions.EllipseSkyRegion.to_pixel` projects an ellipse with
the local pixel scale and rotation at its centre (a linear approximation),
and ``bounding_box`` returns integer pixel indices. `ellipse_bboxes` needs
float box edges and projects the outline point by point, which stays exact
for large ellipses and near a pole, so it samples the outline itself; for
pixel ellipses it uses the same closed form as regions, without the rounding.
"""

import logging
import warnings

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = ["catalog_positions", "catalog_sky_positions", "ellipse_bboxes"]

logger = logging.getLogger(__name__)

# pixel position columns, in order of preference: astrofmx, photutils, generic, PyBDSF, photutils peaks.
_PIXEL_COLUMNS = (("x_centroid", "y_centroid"), ("xcentroid", "ycentroid"), ("x", "y"), ("xposn", "yposn"),
                 ("x_peak", "y_peak"))
# sky position columns (after SkyCoord columns such as ``sky_centroid``): generic/Aegean/PyBDSF, VizieR,
# SExtractor, and a ``sky_centroid`` SkyCoord written to a format without mixin columns.
_SKY_COLUMNS = (("ra", "dec"), ("raj2000", "dej2000"), ("ra_deg", "dec_deg"), ("alpha_j2000", "delta_j2000"),
               ("sky_centroid_ra", "sky_centroid_dec"), ("sky_centroid.ra", "sky_centroid.dec"))
_PREFER = ("pixel", "sky")


def _check_table(table):
    if not hasattr(table, "colnames"):
        raise TypeError(f"table must be an astropy Table or QTable, got {type(table).__name__}")


def _find_pair(table, pairs):
    """The first pair of column names of ``pairs`` present in ``table`` (case-insensitive), or None."""
    lower = {}
    for name in table.colnames:
        lower.setdefault(name.lower(), name)
    for pair in pairs:
        found = tuple(name if name in table.colnames else lower.get(name.lower()) for name in pair)
        if all(found):
            return found
    return None


def _column_unit(col):
    """The unit of a column (Quantity or Column with a unit), or None; unparseable units give None."""
    unit = getattr(col, "unit", None)
    if unit is None or str(unit) in ("", "None"):
        return None
    try:
        return u.Unit(unit)
    except (ValueError, TypeError):
        logger.debug("column %r has a unit astropy cannot parse (%r); it is ignored", getattr(col, "name", ""),
                     unit)
        return None


def _pixel_values(table, name):
    col = table[name]
    unit = _column_unit(col)
    values = np.asarray(getattr(col, "value", col), dtype=float)
    if unit is None or unit in (u.pix, u.dimensionless_unscaled):
        return values
    raise ValueError(f"pixel position column {name!r} has unit {unit}; expected pixels (u.pix) or no unit")


def _angle_values(table, name):
    col = table[name]
    unit = _column_unit(col)
    values = u.Quantity(np.asarray(getattr(col, "value", col), dtype=float), unit or u.deg)
    if values.unit.physical_type != "angle":
        raise ValueError(f"sky position column {name!r} has unit {values.unit}; expected an angle (or no unit, "
                         "meaning degrees)")
    return values


def _pixel_columns(table):
    pair = _find_pair(table, _PIXEL_COLUMNS)
    if pair is None:
        return None
    return np.column_stack([_pixel_values(table, pair[0]), _pixel_values(table, pair[1])]).reshape(-1, 2)


def _skycoord_column(table):
    names = ["sky_centroid"] + [n for n in table.colnames if n != "sky_centroid"]
    for name in names:
        if name in table.colnames and isinstance(table[name], SkyCoord):
            return table[name]
    return None


def _celestial(wcs):
    if wcs is None or not getattr(wcs, "has_celestial", False):
        return None
    return wcs.celestial


def _expected():
    return (f"pixel columns {[f'{x}/{y}' for x, y in _PIXEL_COLUMNS]}, a SkyCoord column (sky_centroid) or "
            f"sky columns {[f'{r}/{d}' for r, d in _SKY_COLUMNS]} (case-insensitive)")


def catalog_sky_positions(table, wcs=None):
    """Sky positions of the sources of a catalog, or None when it has none.

    Looked up in this order: a ``sky_centroid`` `~astropy.coordinates.SkyCoord`
    column (any other SkyCoord column next), then the sky columns
    (``ra``/``dec``, ``RA``/``DEC``, ``RAJ2000``/``DEJ2000``,
    ``ra_deg``/``dec_deg``, ``ALPHA_J2000``/``DELTA_J2000``...; degrees
    unless they carry units), then, with ``wcs``, the pixel columns of
    `catalog_positions` converted through the WCS.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        The catalog.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image, to convert pixel positions when the
        catalog has no sky columns.

    Returns
    -------
    sky : `~astropy.coordinates.SkyCoord` or None
        One position per row; None when the catalog has no sky positions (and
        no pixel positions with a celestial ``wcs``).

    Examples
    --------
    >>> from astropy.table import Table
    >>> from astrofmx.io import catalog_sky_positions
    >>> sky = catalog_sky_positions(Table({"RAJ2000": [150.0, 150.1], "DEJ2000": [2.0, 2.2]}))
    >>> sky.ra.deg.tolist(), sky.dec.deg.tolist()
    ([150.0, 150.1], [2.0, 2.2])
    >>> catalog_sky_positions(Table({"x": [1.0], "y": [2.0]})) is None
    True
    """
    _check_table(table)
    sky = _skycoord_column(table)
    if sky is not None:
        return sky
    pair = _find_pair(table, _SKY_COLUMNS)
    if pair is not None:
        return SkyCoord(_angle_values(table, pair[0]), _angle_values(table, pair[1]), frame="icrs")
    cel = _celestial(wcs)
    if cel is not None:
        xy = _pixel_columns(table)
        if xy is not None:
            return cel.pixel_to_world(xy[:, 0], xy[:, 1])
    return None


def catalog_positions(table, wcs=None, *, prefer="pixel"):
    """0-based pixel positions ``(x, y)`` of the sources of a catalog.

    Pixel columns are looked up in this order: ``x_centroid``/``y_centroid`` (astrofmx), ``xcentroid``/``ycentroid``
    (photutils), ``x``/``y``, ``Xposn``/``Yposn`` (PyBDSF, 0-based) and
    ``x_peak``/``y_peak``. Without them, the sky positions of
    `catalog_sky_positions` are converted with ``wcs``.

    Parameters
    ----------
    table : `~astropy.table.Table` or `~astropy.table.QTable`
        The catalog.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image; needed for catalogs with sky positions
        only.
    prefer : {'pixel', 'sky'}, optional
        Which positions win when the catalog has both: its pixel columns
        (default), or its sky positions converted with ``wcs`` (for a catalog
        made on another image; without ``wcs`` the pixel columns are used).

    Returns
    -------
    positions : `~numpy.ndarray`, shape (N, 2)
        float64 pixel ``(x, y)``, pixel centres at integers.

    Raises
    ------
    ValueError
        If the table has no position columns (the message names the columns
        found and those expected), if it has sky positions only and ``wcs``
        is missing or not celestial, or if a position column has the wrong
        unit.
    TypeError
        If ``table`` is not a table.

    Examples
    --------
    >>> from astropy.table import QTable
    >>> from astropy.wcs import WCS
    >>> from astrofmx.io import catalog_positions
    >>> catalog_positions(QTable({"xcentroid": [1.5, 3.0], "ycentroid": [2.0, 4.0]})).tolist()
    [[1.5, 2.0], [3.0, 4.0]]
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150, 2], [51, 51], [-1 / 3600, 1 / 3600]
    >>> catalog_positions(QTable({"RA": [150.0], "DEC": [2.0]}), wcs).round(6).tolist()  # degrees, no unit
    [[50.0, 50.0]]
    """
    _check_table(table)
    if prefer not in _PREFER:
        raise ValueError(f"prefer must be one of {_PREFER}, got {prefer!r}")
    cel = _celestial(wcs)
    if prefer == "sky" and cel is not None:
        sky = catalog_sky_positions(table)
        if sky is not None:
            return _to_pixel(sky, cel)
    xy = _pixel_columns(table)
    if xy is not None:
        return xy
    sky = catalog_sky_positions(table)
    if sky is None:
        raise ValueError(f"the catalog has no position columns; expected {_expected()}, got {table.colnames}")
    if cel is None:
        raise ValueError("the catalog gives sky positions only, but there is no celestial WCS to turn them into "
                         f"pixels (wcs={wcs!r}); pass wcs= (e.g. load_image(path).wcs) or add x_centroid/"
                         "y_centroid pixel columns")
    return _to_pixel(sky, cel)


def _to_pixel(sky, cel):
    x, y = cel.world_to_pixel(sky)
    return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)]).reshape(-1, 2)


def _lengths(values, n, name, unit, default_unit=None):
    """``values`` as ``n`` floats in ``unit`` (plain numbers are in ``default_unit``, else ``unit``)."""
    q = u.Quantity(values).reshape(-1)
    if q.unit == u.dimensionless_unscaled:
        q = q.value * (default_unit or unit)
    if not q.unit.is_equivalent(unit):
        raise ValueError(f"{name} must be in units of {'pixels' if unit == u.pix else unit.physical_type}, "
                         f"got {q.unit}")
    if q.size == 1 and n != 1:
        q = np.broadcast_to(q, (n,), subok=True)
    if q.size != n:
        raise ValueError(f"{name} has {q.size} values for {n} ellipses")
    return q.to_value(unit)


def _sky_boxes(centers, a, b, pa, wcs, n_points):
    """Boxes of sky ellipses (semi-axes and PA in degrees): the outline sampled on the sphere, projected."""
    t = np.linspace(0.0, 2.0 * np.pi, n_points, endpoint=False)
    along = a[:, None] * np.cos(t)[None, :]
    across = b[:, None] * np.sin(t)[None, :]
    radius = np.hypot(along, across) * u.deg
    posang = pa[:, None] * u.deg + np.arctan2(across, along) * u.rad
    points = centers.reshape(len(centers), 1).directional_offset_by(posang, radius)
    x, y = wcs.world_to_pixel(points)
    xc, yc = wcs.world_to_pixel(centers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows without a finite point are handled below
        boxes = np.stack([np.nanmin(x, axis=1), np.nanmin(y, axis=1), np.nanmax(x, axis=1), np.nanmax(y, axis=1)],
                         axis=1)
    bad = ~np.all(np.isfinite(boxes), axis=1)
    boxes[bad] = np.stack([xc, yc, xc, yc], axis=1).reshape(-1, 4)[bad]
    return boxes


def ellipse_bboxes(centers, semimajor, semiminor, angle, *, wcs=None, n_points=72):
    """Pixel bounding boxes of ellipses given on the sky or in pixels.

    Sky ellipses (``centers`` a `~astropy.coordinates.SkyCoord`): the outline
    of each (semi-axes as angles, ``angle`` the position angle of the major
    axis east of north) is sampled at ``n_points`` points on the sphere and
    projected through ``wcs``, so the boxes are exact for any projection,
    including near a pole where north is not "up". Outline points that do not
    project are left out; an ellipse with none left gets the zero-size box at
    its centre.

    Pixel ellipses (``centers`` an ``(N, 2)`` array of pixel ``x, y``):
    semi-axes in pixels, ``angle`` counter-clockwise from the +x axis; the
    box is the exact extent ``x +- hypot(a cos t, b sin t)``,
    ``y +- hypot(a sin t, b cos t)``.

    Parameters
    ----------
    centers : `~astropy.coordinates.SkyCoord` or array-like, shape (N, 2)
        Ellipse centres.
    semimajor, semiminor : `~astropy.units.Quantity` or float, shape (N,) or scalar
        Semi-axes: angles for sky ellipses, pixels for pixel ellipses (plain
        numbers are degrees and pixels). Half the FWHM gives the FWHM ellipse.
    angle : `~astropy.units.Quantity` or float, shape (N,) or scalar
        Position angle east of north (sky) or angle from +x (pixels); plain
        numbers are degrees.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image; needed for sky ellipses.
    n_points : int, optional
        Points sampled on each sky ellipse's outline.

    Returns
    -------
    boxes : `~numpy.ndarray`, shape (N, 4)
        ``(xmin, ymin, xmax, ymax)`` in 0-based pixels (pixel centres at
        integers).

    Raises
    ------
    ValueError
        For sky ellipses without a celestial WCS, wrong units or lengths, or
        ``n_points`` below 4.

    Examples
    --------
    A 10 x 4 arcsec (FWHM) ellipse elongated north-south on 1 arcsec pixels:

    >>> import astropy.units as u
    >>> from astropy.coordinates import SkyCoord
    >>> from astropy.wcs import WCS
    >>> from astrofmx.io import ellipse_bboxes
    >>> wcs = WCS(naxis=2)
    >>> wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    >>> wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150, 2], [51, 51], [-1 / 3600, 1 / 3600]
    >>> box = ellipse_bboxes(SkyCoord([150], [2], unit="deg"), [5] * u.arcsec, [2] * u.arcsec, 0 * u.deg, wcs=wcs)
    >>> [round(float(v), 3) for v in box[0]]
    [48.0, 45.0, 52.0, 55.0]

    The same in pixels (major axis along y, 90 degrees from +x):

    >>> ellipse_bboxes([[50.0, 50.0]], 5.0, 2.0, 90 * u.deg).round(3).tolist()
    [[48.0, 45.0, 52.0, 55.0]]
    """
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 4:
        raise ValueError(f"n_points must be an integer of at least 4, got {n_points!r}")
    sky = isinstance(centers, SkyCoord)
    if sky:
        centers = centers.reshape(-1)
        n = len(centers)
    else:
        centers = np.asarray(centers, dtype=float)
        if centers.size == 0:
            centers = centers.reshape(0, 2)
        if centers.ndim != 2 or centers.shape[1] != 2:
            raise ValueError(f"pixel centers must have shape (N, 2), got {centers.shape}")
        n = len(centers)
    if n == 0:
        return np.zeros((0, 4))
    unit = u.deg if sky else u.pix  # semi-axes
    a = _lengths(semimajor, n, "semimajor", unit)
    b = _lengths(semiminor, n, "semiminor", unit)
    if sky:
        cel = _celestial(wcs)
        if cel is None:
            raise ValueError(f"sky ellipses need a celestial WCS to become pixel boxes, got wcs={wcs!r}")
        return _sky_boxes(centers, a, b, _lengths(angle, n, "angle", u.deg), cel, int(n_points))
    theta = _lengths(angle, n, "angle", u.rad, default_unit=u.deg)
    c, s = np.cos(theta), np.sin(theta)
    hx, hy = np.hypot(a * c, b * s), np.hypot(a * s, b * c)
    x, y = centers[:, 0], centers[:, 1]
    return np.stack([x - hx, y - hy, x + hx, y + hy], axis=1)
