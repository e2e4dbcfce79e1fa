"""Measuring `detect_sources`' detections on the original pixels (`astrofmx.measure.measure_sources`).

The detector gives boxes; positions, fluxes, their errors and the source
shapes come from photutils on the original pixels, through
`~astrofmx.measure.measure_sources`. So that a memory-mapped mosaic stays
within a few tiles of memory, the boxes are measured in blocks: each block
of the image is read (with a margin holding its boxes whole), and its
background and noise come from the local mesh the detection has already
fitted (the detector's normalizer mesh, or the one its peak S/N used).
"""

import logging

import numpy as np

__all__ = []

logger = logging.getLogger(__name__)

_BLOCK = 1024  # pixels: boxes are grouped by the block that holds their centre (256 px took 2.3x as long
#: on 4096^2: photutils SourceCatalog has a fixed cost per call; a block holds ~45 MiB of work arrays)

#: the measured columns copied into the detection catalog (x/y_centroid replace the box centres)
_COLUMNS = ("x_centroid", "y_centroid", "x_centroid_err", "y_centroid_err", "peak_err", "flux", "flux_err",
            "semimajor", "semiminor", "orientation")


def _measurement_beam(img, beam):
    """The `radio_beam.Beam` that turns Jy/beam sums into Jy: the given one, else the header's, else None."""
    from radio_beam import Beam

    from ..io import read_beam

    if isinstance(beam, Beam):
        return beam
    return read_beam(img.meta) if img.meta is not None else None


def _blocks(boxes):
    """Groups of box indices whose centres share a block of `_BLOCK` pixels (top to bottom)."""
    cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    key = np.floor(cy / _BLOCK).astype(np.int64) * 1_000_003 + np.floor(cx / _BLOCK).astype(np.int64)
    order = np.argsort(key, kind="stable")
    _, starts = np.unique(key[order], return_index=True)
    return np.split(order, starts[1:])


def _measure_block(img, mesh, boxes, beam, unit, centroid="quad"):
    """`measure_sources` of ``boxes`` on the window that holds them; positions back in image pixels."""
    from ..io import is_blank_value, release_mapped_pages
    from ..measure import measure_sources

    ny, nx = img.data.shape
    x0 = max(int(np.floor(boxes[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(boxes[:, 1].min())) - 2, 0)
    x1 = min(int(np.ceil(boxes[:, 2].max())) + 3, nx)
    y1 = min(int(np.ceil(boxes[:, 3].max())) + 3, ny)
    stored = np.asarray(img.data[y0:y1, x0:x1])
    scale = mesh.pixel_scale
    data = scale.apply(stored)  # in the mesh's scaled units: any intensity scale measures alike
    mask = is_blank_value(stored)
    if img.mask is not None:
        mask = mask | np.asarray(img.mask[y0:y1, x0:x1], dtype=bool)
    bkg, rms = mesh.window(y0, y1, x0, x1, scaled=True)
    wcs = img.wcs.celestial[y0:y1, x0:x1] if img.wcs is not None and img.wcs.has_celestial else None
    local = boxes - np.array([x0, y0, x0, y0], dtype=float)
    cat = measure_sources(data, local, mask=mask, background=bkg, rms=rms, beam=beam if wcs is not None else None,
                          wcs=wcs, unit=unit, centroid=centroid)
    release_mapped_pages(img.data)
    cat["x_centroid"] += x0 * cat["x_centroid"].unit
    cat["y_centroid"] += y0 * cat["y_centroid"].unit
    return cat


#: the centroid of each kind of image.  Radio catalogs (Aegean, PyBDSF) give the centres of Gaussians fitted to
#: the source's pixels, which the Gaussian fit to the core follows (bench_real: median offsets 0.60-0.96 of
#: photutils' on the four radio cases, where the quadratic peak fit gave 0.82-1.17); optical ones give
#: barycentres (SExtractor's X_IMAGE) or windowed ones (XWIN_IMAGE), which photutils' centroid_win follows best
#: (the SExtractor image: 0.112 px, against 0.132 px for the barycentre and 0.28 px for the Gaussian fit)
CENTROIDS = {"radio": "gauss", "optical": "win"}


def _measure_detections(img, boxes, mesh, beam, centroid="quad"):
    """The measured columns of every box (a dict of arrays/Quantities in box order), fluxes in data units.

    ``centroid`` is `~astrofmx.measure.measure_sources`' ('quad', 'moment', 'win' or 'gauss'; see `CENTROIDS`).
    """
    import astropy.units as u

    n = len(boxes)
    unit = img.unit if isinstance(getattr(img, "unit", None), u.UnitBase) else None
    if n == 0:
        return None
    beam = _measurement_beam(img, beam)
    if beam is not None and unit is None:
        # a restored radio image with no BUNIT: Jy/beam is the convention (PyBDSF, Aegean assume it too)
        bunit = img.meta.get("BUNIT") if hasattr(img.meta, "get") else None
        why = f"BUNIT {bunit!r} is not a unit astropy reads" if bunit else "no BUNIT"
        logger.warning("the image has a restoring beam but %s: its pixels are taken to be in Jy/beam, so flux is "
                       "in Jy; set BUNIT in the header if they are not", why)
        unit = u.Jy / u.beam
    if beam is not None and not unit.is_equivalent(u.Jy / u.beam):
        beam = None  # the beam only converts Jy/beam sums to Jy
    parts, order = [], []
    for idx in _blocks(boxes):
        parts.append(_measure_block(img, mesh, boxes[idx], beam, unit, centroid))
        order.append(idx)
    from astropy.table import vstack

    table = vstack(parts, metadata_conflicts="silent")
    table = table[np.argsort(np.concatenate(order), kind="stable")]
    out = {}
    factor = mesh.pixel_scale
    for name in _COLUMNS:
        col = table[name]
        if name in ("flux", "flux_err", "peak_err"):  # sums and spreads: scaled units back to data units
            value = factor.to_data_noise(col.value if isinstance(col, u.Quantity) else np.asarray(col))
            col = value * col.unit if isinstance(col, u.Quantity) else value
        out[name] = col
    out["unit"] = unit  # the pixel unit the measurement used (Jy/beam assumed for a beam without BUNIT)
    return out

