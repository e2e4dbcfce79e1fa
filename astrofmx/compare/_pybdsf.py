"""The PyBDSF finder, run in a process of its own."""

import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

from ..io import ellipse_bboxes
from ._common import _check_positive, _finder_catalog
from ._image import as_image

__all__ = ["find_sources_pybdsf"]

__doctest_requires__ = {"find_sources_pybdsf": ["bdsf"]}

logger = logging.getLogger(__name__)

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pybdsf_child.py")


def _check_installed():
    try:
        found = importlib.util.find_spec("bdsf") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ImportError("find_sources_pybdsf needs the optional package PyBDSF: pip install bdsf "
                          "(it needs a Fortran/C++ build on platforms without a wheel)")


def _resolve_beam(beam, header):
    """``(bmaj, bmin, bpa)`` in degrees, from ``beam`` or from BMAJ/BMIN/BPA in the header."""
    if beam is None:
        if "BMAJ" not in header:
            raise ValueError("the image header has no BMAJ/BMIN/BPA beam; pass beam=(bmaj_deg, bmin_deg, bpa_deg)")
        return float(header["BMAJ"]), float(header.get("BMIN", header["BMAJ"])), float(header.get("BPA", 0.0))
    beam = tuple(float(b) for b in beam)
    if len(beam) != 3 or not all(np.isfinite(beam)) or beam[0] <= 0 or beam[1] <= 0:
        raise ValueError(f"beam must be (bmaj_deg, bmin_deg, bpa_deg) with positive axes, got {beam!r}")
    return beam


def _pybdsf_header(wcs, header, beam):
    """The 2-D header PyBDSF reads: celestial WCS, beam, unit and frequency keywords."""
    hdr = wcs.celestial.to_header()
    hdr["BMAJ"], hdr["BMIN"], hdr["BPA"] = beam
    hdr["BUNIT"] = header.get("BUNIT", "JY/BEAM")
    for key in ("RESTFRQ", "RESTFREQ", "FREQ"):
        if key in header:
            hdr[key] = header[key]
    return hdr


def _frequency(header):
    """The observing frequency (Hz) from a FREQ axis or keyword; 1.4 GHz if none is found."""
    keys = [f"CRVAL{n}" for n in range(1, int(header.get("NAXIS", 0)) + 1)
            if str(header.get(f"CTYPE{n}", "")).upper().startswith("FREQ")] + ["FREQ", "RESTFRQ", "RESTFREQ"]
    return next((float(header[k]) for k in keys if isinstance(header.get(k), (int, float)) and header[k] > 1e6),
                1.4e9)


def _plain(value):
    """JSON form of the numpy scalars and arrays an option may hold."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"PyBDSF option value {value!r} of type {type(value).__name__} cannot be passed to PyBDSF")


def _run_pybdsf(data, hdr, options, catalog_type):
    """Run ``bdsf.process_image`` on ``data`` in a child process; the catalog columns it measured."""
    from astropy.io import fits

    with tempfile.TemporaryDirectory(prefix="astrofmx-pybdsf-") as tmp:
        fits.PrimaryHDU(data, header=hdr).writeto(os.path.join(tmp, "image.fits"))
        with open(os.path.join(tmp, "job.json"), "w") as f:  # plain data only: no pickle between processes
            json.dump({"options": options, "catalog_type": catalog_type}, f, default=_plain)
        # PyBDSF writes its log next to the input and other files in the working directory: both are tmp.
        # The child gets this process's sys.path (as multiprocessing's spawn does) and runs as ``-c`` so
        # that the folder of this package is not put in front of its path
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(_CHILD) as f:
            code = f.read()
        proc = subprocess.run([sys.executable, "-c", code, tmp], cwd=tmp, env=env, capture_output=True, text=True)
        logger.debug("PyBDSF output:\n%s%s", proc.stdout, proc.stderr)
        error = os.path.join(tmp, "error.txt")
        if proc.returncode != 0:
            if os.path.exists(error):
                with open(error) as f:
                    message = f.read()
            else:  # the process died (a crash, a signal) before it could report
                lines = (proc.stderr or "").strip().splitlines()
                message = lines[-1] if lines else f"the PyBDSF process exited with status {proc.returncode}"
            raise RuntimeError(f"PyBDSF failed on the image: {message}; check the beam and thresholds")
        with np.load(os.path.join(tmp, "catalog.npz"), allow_pickle=False) as npz:
            result = {name: npz[name] for name in npz.files}
        result["bdsf_version"] = str(result["bdsf_version"]) or None
        return result


def _orientation(sky, major, pa, wcs):
    """Position angles (east of north) as angles counter-clockwise from +x in the pixel frame of ``wcs``."""
    if len(sky) == 0:
        return np.zeros(0) * u.deg
    x0, y0 = wcs.world_to_pixel(sky)
    x1, y1 = wcs.world_to_pixel(sky.directional_offset_by(pa, major / 2))
    theta = np.degrees(np.arctan2(y1 - y0, x1 - x0))
    return ((theta + 90.0) % 180.0 - 90.0) * u.deg


def _core_columns(res, sky, major, minor, pa, wcs):
    """PyBDSF's measurements in the names and units of `~astrofmx.measure.measure_sources`."""
    from astropy.wcs.utils import proj_plane_pixel_scales

    scale = float(np.mean(proj_plane_pixel_scales(wcs))) * u.deg / u.pix
    jy_beam = u.Jy / u.beam
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = res["peak"] / res["rms"]
    # PyBDSF's E_RA, E_DEC are angular distances (pix2coord), not coordinate differences
    return {"x_centroid_err": (res["radec_err"][:, 0] * u.deg / scale).to(u.pix),
            "y_centroid_err": (res["radec_err"][:, 1] * u.deg / scale).to(u.pix),
            "peak": res["peak"] * jy_beam, "peak_err": res["peak_err"] * jy_beam,
            "flux": res["total"] * u.Jy, "flux_err": res["total_err"] * u.Jy, "peak_snr": snr,
            "semimajor": (major / scale).to(u.pix), "semiminor": (minor / scale).to(u.pix),
            "orientation": _orientation(sky, major, pa, wcs)}


def find_sources_pybdsf(image, *, thresh_isl=3.0, thresh_pix=5.0, catalog_type="srl", beam=None, rms_box=None,
                        ncores=1, hdu=None, **process_kwargs):
    """Find sources with PyBDSF (``bdsf.process_image``).

    The image is written (2-D, with its celestial WCS and beam) to a
    temporary FITS file that PyBDSF reads in a Python process of its own,
    so that PyBDSF's log file, its logging handlers, the files it leaves in
    the working directory and its open FITS handles do not reach the
    caller; the temporary directory is deleted afterwards.  Sources
    (``catalog_type='srl'``) or Gaussian components (``'gaul'``) become
    catalog rows, with boxes equal to the bounding box of each fitted FWHM
    ellipse (its boundary projected through the WCS, so the boxes are exact
    for any projection).

    Parameters
    ----------
    image
        Anything `find_sources_photutils` accepts; it needs a celestial WCS.
        NaN and masked pixels are blanked (PyBDSF ignores blanks).
    thresh_isl, thresh_pix : float, optional
        PyBDSF's island and peak thresholds (in sigma).
    catalog_type : {'srl', 'gaul'}, optional
        One row per source, or per Gaussian.
    beam : tuple of float, optional
        ``(bmaj, bmin, bpa)`` in degrees; by default from BMAJ/BMIN/BPA in
        the header.
    rms_box : tuple of int, optional
        PyBDSF's ``(box, step)`` for the rms map; PyBDSF chooses by default.
    ncores : int, optional
        Processes PyBDSF may use.
    hdu : int or str, optional
        HDU to read when ``image`` is a file.
    **process_kwargs
        Any other ``bdsf.process_image`` option (e.g. ``atrous_do=True``);
        the values must be picklable.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        Columns of `~astrofmx.io.make_source_catalog` (``score`` is NaN),
        the core measurement columns `~astrofmx.measure.MEASURE_COLUMNS`,
        all PyBDSF's own: ``peak``, ``peak_err`` (Jy/beam), ``flux``,
        ``flux_err`` (total, Jy), ``peak_snr`` (peak over the island rms),
        the centroid errors (PyBDSF's RA/Dec errors over the pixel scale),
        ``semimajor``, ``semiminor`` (fitted FWHM in pixels) and
        ``orientation`` (the position angle turned into degrees
        counter-clockwise from +x through the WCS); and PyBDSF's ``major``,
        ``minor`` (arcsec FWHM) and ``pa`` (deg, east of north);
        ``meta['finder'] = 'pybdsf'``.

    Raises
    ------
    ImportError
        If PyBDSF is not installed (``pip install bdsf``).
    ValueError
        If the image has no celestial WCS or no beam, or for a bad parameter.
    RuntimeError
        If PyBDSF fails; the message is PyBDSF's.

    Examples
    --------
    A simulated radio field (its header carries the WCS and the beam):

    >>> import astropy.units as u
    >>> from astrofmx.compare import find_sources_pybdsf
    >>> from astrofmx.datasets import simulate_radio_field
    >>> field = simulate_radio_field((128, 128), seed=1, pixel_scale=1.5 * u.arcsec,
    ...                              beam_fwhm=6 * u.arcsec, rms=2e-5 * u.Jy / u.beam)
    >>> cat = find_sources_pybdsf(field.to_hdu())
    >>> cat.meta["finder"], "flux" in cat.colnames
    ('pybdsf', True)
    """
    _check_installed()
    if catalog_type not in ("srl", "gaul"):
        raise ValueError(f"catalog_type must be 'srl' or 'gaul', got {catalog_type!r}")
    _check_positive("thresh_isl", thresh_isl)
    _check_positive("thresh_pix", thresh_pix)
    _check_positive("ncores", ncores, integer=True)
    data, mask, wcs, header = as_image(image, hdu=hdu)
    if wcs is None:
        raise ValueError("find_sources_pybdsf needs an image with a celestial WCS (PyBDSF works in sky "
                         "coordinates); use find_sources_photutils or find_sources_sep for images without one")
    beam = _resolve_beam(beam, header)
    options = {"thresh_isl": float(thresh_isl), "thresh_pix": float(thresh_pix), "quiet": True,
               "ncores": int(ncores), "beam": beam}
    if rms_box is not None:
        options["rms_box"] = tuple(rms_box)
    if "frequency" not in process_kwargs:  # PyBDSF insists on a frequency but only uses it for spectral indices
        options["frequency"] = _frequency(header)
    options.update(process_kwargs)
    res = _run_pybdsf(np.where(mask, np.nan, data).astype(np.float32), _pybdsf_header(wcs, header, beam),
                      options, catalog_type)
    meta = {"parameters": {"thresh_isl": thresh_isl, "thresh_pix": thresh_pix, "catalog_type": catalog_type,
                           "beam_deg": list(beam), **{k: v for k, v in process_kwargs.items()
                                                      if isinstance(v, (int, float, str, bool))}},
            "bdsf_version": res["bdsf_version"]}
    size = res["size"]
    sky = SkyCoord(res["radec"][:, 0] * u.deg, res["radec"][:, 1] * u.deg)
    x, y = wcs.celestial.world_to_pixel(sky)
    major = np.maximum(size[:, 0], 1e-9) * u.deg
    minor = np.maximum(size[:, 1], 1e-9) * u.deg
    boxes = ellipse_bboxes(sky, major / 2, minor / 2, size[:, 2] * u.deg, wcs=wcs)  # the FWHM ellipse
    cat = _finder_catalog(boxes, np.stack([x, y], axis=1), wcs, "pybdsf", meta,
                          _core_columns(res, sky, major, minor, size[:, 2] * u.deg, wcs))
    cat["major"], cat["minor"], cat["pa"] = major.to(u.arcsec), minor.to(u.arcsec), size[:, 2] * u.deg
    logger.info("PyBDSF found %d %s", len(cat), "sources" if catalog_type == "srl" else "Gaussians")
    return cat
