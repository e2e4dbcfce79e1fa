"""The SExtractor finder, through the sep package."""

import logging

import astropy.units as u
import numpy as np

from ._common import (_as_flux, _as_peak, _check_box, _check_positive, _default_box, _finder_catalog, _image_meta,
                      _measure, _renamed, _set_core_columns)
from ._image import as_image, beam_fwhm_pixels

__all__ = ["find_sources_sep"]

logger = logging.getLogger(__name__)


def _import_sep():
    try:
        import sep
    except ImportError as exc:
        raise ImportError("find_sources_sep needs the optional package sep (SExtractor as a library): "
                          "pip install sep") from exc
    return sep


def _filter_kernel(fwhm):
    """``sep.extract`` keywords for the filter: none (0), SExtractor's default (None) or a Gaussian."""
    if fwhm is None:
        return {}
    if fwhm == 0:
        return {"filter_kernel": None}
    from photutils.segmentation import make_2dgaussian_kernel

    kernel = make_2dgaussian_kernel(fwhm, size=int(2 * np.ceil(2 * fwhm) + 1)).array
    return {"filter_kernel": np.ascontiguousarray(kernel, dtype=np.float64)}


def _subtract_background(sep, data, mask, box):
    """Background-subtracted image and rms map (``err`` for ``sep.extract``)."""
    filled = np.ascontiguousarray(np.where(mask, 0.0, data), dtype=np.float64)
    bkg = sep.Background(filled, mask=mask, bw=int(box), bh=int(box), fw=3, fh=3)
    sub = np.ascontiguousarray(filled - bkg.back(), dtype=np.float64)
    sub[mask] = 0.0
    err = np.ascontiguousarray(bkg.rms(), dtype=np.float64)
    good = np.isfinite(err) & (err > 0)
    return sub, np.where(good, err, bkg.globalrms if bkg.globalrms > 0 else 1.0)


def _own_columns(objects, measured):
    """sep's own measurements, in the names and units of `~astrofmx.measure.measure_sources`."""
    col = {name: np.asarray(objects[name], dtype=float) for name in ("flux", "peak", "errx2", "erry2", "a", "b",
                                                                         "theta")}
    theta = np.degrees(col["theta"])  # counter-clockwise from +x, as photutils' orientation
    return {"flux": _as_flux(col["flux"], measured), "peak": _as_peak(col["peak"], measured),
            "x_centroid_err": np.sqrt(col["errx2"]) * u.pix, "y_centroid_err": np.sqrt(col["erry2"]) * u.pix,
            "semimajor": 2.3548 * col["a"] * u.pix, "semiminor": 2.3548 * col["b"] * u.pix,
            "orientation": ((theta + 90.0) % 180.0 - 90.0) * u.deg}


@_renamed(nsigma="n_sigma")
def find_sources_sep(image, *, n_sigma=None, minarea=5, background_box=None, filter_fwhm=None,
                     deblend_nthresh=32, deblend_cont=0.005, clean=True, hdu=None):
    """Find sources with SExtractor's algorithm through the sep package.

    ``sep.Background`` (mesh ``background_box``, masked pixels excluded)
    is subtracted, then ``sep.extract`` detects pixels above ``n_sigma``
    times the local background rms (the rms map is passed as ``err``, so
    the threshold follows noise that varies across the field, as it does
    in radio mosaics), with SExtractor's deblending and cleaning.

    The threshold is called ``n_sigma`` as in `find_sources_photutils`;
    the older ``nsigma`` still works for one release, with a
    `DeprecationWarning`.  The other names are sep's own.

    Parameters
    ----------
    image
        Anything `find_sources_photutils` accepts.  NaN and masked pixels
        are ignored.
    n_sigma : float, optional
        Detection threshold relative to the background rms (SExtractor's
        ``DETECT_THRESH``).  Default: SExtractor's 1.5 for optical images,
        5 for radio images (beam in the header), whose noise is correlated
        on the beam scale so that 1.5 sigma islands swallow whole groups of
        sources.
    minarea : int, optional
        Minimum number of pixels above the threshold (``DETECT_MINAREA``).
    background_box : int, optional
        Background mesh size in pixels (``BACK_SIZE``); default ~10 beams,
        or 64 pixels without a beam, at most a third of the image.
    filter_fwhm : float, optional
        FWHM in pixels of a Gaussian filter kernel; 0 disables filtering.
        Default: no filter for radio images (already beam-convolved),
        SExtractor's default 3x3 kernel otherwise.
    deblend_nthresh, deblend_cont, clean
        SExtractor's ``DEBLEND_NTHRESH``, ``DEBLEND_MINCONT`` and ``CLEAN``.
    hdu : int or str, optional
        HDU to read when ``image`` is a file.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        Columns of `~astrofmx.io.make_source_catalog` (boxes are the
        isophotal bounding boxes; ``score`` is NaN), the core measurement
        columns `~astrofmx.measure.MEASURE_COLUMNS` and ``flag``
        (SExtractor flags); ``meta['finder'] = 'sep'``.  sep's own
        measurements give ``flux`` (isophotal sum; in Jy for Jy/beam images
        with a beam in the header), ``peak``, the centroid errors (from
        ``errx2``, ``erry2``), ``semimajor``, ``semiminor`` (FWHM: 2.3548
        times sep's ``a``, ``b``) and ``orientation`` (sep's ``theta``); the
        rest (``flux_err``, ``peak_err``, ``peak_snr``, ``area``) comes from
        `~astrofmx.measure.measure_sources` in each box with sep's rms map.

    Raises
    ------
    ImportError
        If sep is not installed (``pip install sep``).
    ValueError
        For a bad parameter or image.
    RuntimeError
        If sep's extraction fails (e.g. the pixel stack overflows).

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.compare import find_sources_sep
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:64, :64]
    >>> img = rng.normal(0, 1, (64, 64)) + 30 * np.exp(-((xx - 20) ** 2 + (yy - 40) ** 2) / 8)
    >>> cat = find_sources_sep(img, n_sigma=5, background_box=16)
    >>> len(cat), round(float(cat['x_centroid'][0].value)), round(float(cat['y_centroid'][0].value))
    (1, 20, 40)
    """
    sep = _import_sep()
    _check_positive("n_sigma", n_sigma)
    _check_positive("minarea", minarea, integer=True)
    _check_positive("background_box", background_box, integer=True)
    _check_positive("filter_fwhm", filter_fwhm, allow_zero=True)
    _check_positive("deblend_nthresh", deblend_nthresh, integer=True)
    _check_positive("deblend_cont", deblend_cont)
    data, mask, wcs, header = as_image(image, hdu=hdu)
    beam = beam_fwhm_pixels(header, wcs)
    box = background_box or _default_box(data.shape, beam)
    _check_box(box, data.shape)
    fwhm = (0.0 if beam is not None else None) if filter_fwhm is None else float(filter_fwhm)
    if n_sigma is None:
        n_sigma = 5.0 if beam is not None else 1.5

    sub, err = _subtract_background(sep, data, mask, box)
    kwargs = dict(err=err, mask=mask, minarea=int(minarea), deblend_nthresh=int(deblend_nthresh),
                  deblend_cont=float(deblend_cont), clean=bool(clean), **_filter_kernel(fwhm))
    objects = _extract(sep, sub, float(n_sigma), kwargs)
    meta = {"parameters": {"n_sigma": n_sigma, "minarea": int(minarea), "background_box": int(box),
                           "filter_fwhm": None if fwhm is None else float(fwhm)}, **_image_meta(wcs, beam)}
    boxes = np.stack([objects["xmin"] - 0.5, objects["ymin"] - 0.5, objects["xmax"] + 0.5,
                      objects["ymax"] + 0.5], axis=1).astype(float) if len(objects) else np.zeros((0, 4))
    cents = np.stack([objects["x"], objects["y"]], axis=1) if len(objects) else None
    cat = _finder_catalog(boxes, cents, wcs, "sep", meta, {"flag": np.asarray(objects["flag"], dtype=np.int64)})
    measured = _measure(cat, sub, mask, wcs, header, err)
    _set_core_columns(cat, measured, _own_columns(objects, measured))
    logger.info("sep found %d sources", len(cat))
    return cat


def _extract(sep, sub, n_sigma, kwargs):
    """``sep.extract``, retried with larger internal buffers when a crowded image overflows sep's defaults.

    sep keeps the pixels above the threshold of the objects being extracted on a stack of fixed size
    (300,000 pixels by default) and deblends each object into at most 1,024 sub-objects; a crowded field
    (a galactic-plane mosaic) overflows either. The limit that overflowed grows tenfold at a time, up to
    the number of pixels of the image, and both are set back afterwards.
    """
    limits = {"pixel buffer full": (sep.get_extract_pixstack, sep.set_extract_pixstack),
              "limit of sub-objects": (sep.get_sub_object_limit, sep.set_sub_object_limit)}
    defaults = {key: get() for key, (get, _) in limits.items()}
    current = dict(defaults)
    try:
        while True:
            try:
                return sep.extract(sub, n_sigma, **kwargs)
            except Exception as exc:  # sep raises bare Exception for its internal errors
                key = next((k for k in limits if k in str(exc)), None)
                if key is None or current[key] >= sub.size:
                    raise RuntimeError(f"sep.extract failed: {exc}; try a higher n_sigma or larger minarea") \
                        from exc
                current[key] = min(10 * current[key], sub.size)
                logger.info("sep.extract: %s; retrying with a limit of %d", key, current[key])
                limits[key][1](current[key])
    finally:
        for key, (_, set_limit) in limits.items():
            set_limit(defaults[key])
