"""Runs ``bdsf.process_image`` in a process of its own for `find_sources_pybdsf`.

``python -c "<this file's text>" FOLDER`` reads ``FOLDER/job.json`` (the options,
the catalog type) and ``FOLDER/image.fits``, and writes the catalog columns
to ``FOLDER/catalog.npz``, or PyBDSF's error message to ``FOLDER/error.txt``
and exits with status 1.  PyBDSF changes the working directory's files, the
logging configuration and leaves FITS handles open: in this process none of
that reaches the caller.  The script imports only numpy and bdsf (not
astrofmx), so it runs with the caller's ``sys.path`` whatever that is.
"""

import os
import json
import sys
import warnings

import numpy as np

__all__ = []


def _columns(img, catalog_type):
    """The catalog columns of a processed PyBDSF image: sources (``'srl'``) or Gaussians (``'gaul'``)."""
    objs = list(img.sources if catalog_type == "srl" else img.gaussians)
    n = len(objs)
    if catalog_type == "srl":
        radec = np.array([o.posn_sky_centroid for o in objs], dtype=float).reshape(n, 2)
        radec_err = np.array([o.posn_sky_centroidE for o in objs], dtype=float).reshape(n, 2)
        peak = np.array([[o.peak_flux_max, o.peak_flux_maxE] for o in objs], dtype=float).reshape(n, 2)
        rms = np.array([o.rms_isl for o in objs], dtype=float)
    else:
        radec = np.array([o.centre_sky for o in objs], dtype=float).reshape(n, 2)
        radec_err = np.array([o.centre_skyE for o in objs], dtype=float).reshape(n, 2)
        peak = np.array([[o.peak_flux, o.peak_fluxE] for o in objs], dtype=float).reshape(n, 2)
        rms = np.array([o.rms for o in objs], dtype=float)
    size = np.array([o.size_sky for o in objs], dtype=float).reshape(n, 3)  # FWHM maj, min, pa (deg)
    total = np.array([[o.total_flux, o.total_fluxE] for o in objs], dtype=float).reshape(n, 2)
    return {"radec": radec, "radec_err": radec_err, "peak": peak[:, 0], "peak_err": peak[:, 1], "size": size,
            "total": total[:, 0], "total_err": total[:, 1], "rms": rms}


def _run(folder):
    import bdsf

    with open(os.path.join(folder, "job.json")) as f:
        job = json.load(f)  # written by find_sources_pybdsf for this process
    # JSON has no tuples; PyBDSF's option types (beam, rms_box, ...) want them
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in job["options"].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyBDSF's own warnings, and the FITS handle it leaves open
        img = bdsf.process_image(os.path.join(folder, "image.fits"), **options)
        if img is None:
            raise RuntimeError("bdsf.process_image returned None")
        result = _columns(img, job["catalog_type"])
    result["bdsf_version"] = np.array(str(getattr(bdsf, "__version__", "") or ""))
    np.savez(os.path.join(folder, "catalog.npz"), **result)


def main(argv):
    """Run the job in folder ``argv[1]``; 0 on success, 1 (and ``error.txt``) on failure."""
    folder = argv[1]
    try:
        _run(folder)
    except Exception as exc:  # any PyBDSF failure goes back to the caller as its message
        with open(os.path.join(folder, "error.txt"), "w") as f:
            f.write(str(exc) or type(exc).__name__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
