"""Detections of all tiles into one image catalog: tile ownership, valid centres, NMS, peaks, repeats."""

import math
import warnings

import numpy as np

from ._tiles import release_mapped_pages

__all__ = []

#: Rows of a memory-mapped image read between two releases of its pages (point reads after the tiles).
_BAND_ROWS = 256


def _core_mask(centres, tile_centres, own):
    """True where a detection centre is nearest to its own tile's centre (per axis)."""
    tc = np.asarray(sorted(set(tile_centres)))
    nearest = tc[np.abs(centres[:, None] - tc[None, :]).argmin(axis=1)]
    return np.isclose(nearest, own)


def _local_mesh(img, fitted):
    """The local background and noise mesh: ``fitted`` itself or its normalizer's mesh (``'radio-local'``),
    else one of 48-pixel boxes estimated here (streamed, as BANE and SExtractor do)."""
    from ..preprocess import BackgroundMesh, estimate_background_mesh

    if isinstance(fitted, BackgroundMesh):
        return fitted
    mesh = getattr(fitted, "background", None)
    return mesh if isinstance(mesh, BackgroundMesh) else estimate_background_mesh(img.data, img.mask, box_size=48)


def _measure_peaks(img, boxes, fitted):
    """Peak value and peak signal-to-noise ratio inside each box (NaN where the box has no valid pixel).

    The whole box, not its central half where `~astrofmx.measure.measure_sources` seeks the peak its footprint
    grows from: a double radio source's box has its lobes at the edges and a faint core. Measured with the
    central half (bench_finders, bench_real): radio simulations F1 0.943 against 0.944, optical ones 0.959
    against 0.957, the Parkes map 0.826 against 0.818; but the peak S/N of boxes off the source centre (a
    detector trained briefly) fell by up to 5x.

    The background and noise at the peak come from the local mesh of the detector's normalizer when it
    has one (``'radio-local'``), else from a mesh of 48-pixel boxes estimated here (streamed, as BANE
    and SExtractor do), so a source is judged against the noise around it.
    """
    n = len(boxes)
    peaks, snr = np.full(n, np.nan), np.full(n, np.nan)
    raw = np.zeros(n, dtype=img.data.dtype)  # peaks as stored (exact S/N for e.g. int64 near 2**62)
    py, px = np.full(n, -1), np.full(n, -1)
    if n == 0:
        return peaks, snr, py, px
    mesh = _local_mesh(img, fitted)
    ny, nx = img.data.shape
    band = _Band(img, mesh.pixel_scale)
    for i in np.argsort(boxes[:, 1], kind="stable"):  # top to bottom: a memory map is read band by band
        x0, y0, x1, y1 = boxes[i]
        # pixels whose centres lie inside the box (at least the centre pixel)
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        ix0, ix1 = min(math.ceil(x0), int(round(cx))), max(math.floor(x1), int(round(cx))) + 1
        iy0, iy1 = min(math.ceil(y0), int(round(cy))), max(math.floor(y1), int(round(cy))) + 1
        ix0, iy0, ix1, iy1 = max(ix0, 0), max(iy0, 0), min(ix1, nx), min(iy1, ny)
        if ix1 <= ix0 or iy1 <= iy0:
            continue
        stored, win = band.window(iy0, iy1, ix0, ix1)
        k = int(np.argmax(win))
        if win.flat[k] == -np.inf:
            continue  # no valid pixel
        raw[i] = stored.flat[k]
        peaks[i] = float(stored.flat[k])
        py[i], px[i] = iy0 + k // win.shape[1], ix0 + k % win.shape[1]
    release_mapped_pages(img.data)
    ok = np.isfinite(peaks)
    snr[ok] = mesh.snr(raw[ok], py[ok], px[ok])
    return peaks, snr, py, px


class _Band:
    """Rows of the image read a band at a time, top to bottom: as stored, and scaled by ``pixel_scale`` to
    float32 with invalid pixels (NaN, blank values, masked) at -inf (a pixel beyond the float32 range is +-inf:
    the brightest or faintest, not invalid). A memory map's pages of the rows above are dropped as the band
    moves down."""

    def __init__(self, img, pixel_scale):
        self.img, self.pixel_scale = img, pixel_scale
        self.r0 = self.r1 = 0
        self.stored = self.scaled = None

    def window(self, y0, y1, x0, x1):
        """``(stored, scaled)`` pixels of rows ``y0:y1``, columns ``x0:x1``; rows outside the band read a new
        one from ``y0``."""
        if y1 > self.r1 or y0 < self.r0:
            self._read(y0, max(y1, y0 + _BAND_ROWS))
        rows = slice(y0 - self.r0, y1 - self.r0)
        return self.stored[rows, x0:x1], self.scaled[rows, x0:x1]

    def _read(self, r0, r1):
        from ..io import is_blank_value

        data, mask = self.img.data, self.img.mask
        r1 = min(r1, data.shape[0])
        release_mapped_pages(data)
        stored = np.asarray(data[r0:r1])
        scaled = self.pixel_scale.apply(stored)
        bad = np.isnan(scaled) | is_blank_value(stored)
        if mask is not None:
            bad |= np.asarray(mask[r0:r1], dtype=bool)
        scaled[bad] = -np.inf
        self.r0, self.r1, self.stored, self.scaled = r0, r1, stored, scaled


def _same_source(boxes, py, px):
    """False for a detection that repeats a higher-scored one (rows sorted by decreasing score).

    Two boxes are the same source when they share the brightest pixel and each box holds the other's
    centre: NMS misses such pairs when their shapes differ (e.g. a round and an elongated box on one
    bright source), while neighbours that are resolved have peaks of their own.
    """
    keep = np.ones(len(boxes), dtype=bool)
    cx, cy = 0.5 * (boxes[:, 0] + boxes[:, 2]), 0.5 * (boxes[:, 1] + boxes[:, 3])
    first = {}
    for i in range(len(boxes)):
        if py[i] < 0:
            continue
        key = (int(py[i]), int(px[i]))
        for j in first.get(key, ()):
            bi, bj = boxes[i], boxes[j]
            if bj[0] <= cx[i] <= bj[2] and bj[1] <= cy[i] <= bj[3] and bi[0] <= cx[j] <= bi[2] \
                    and bi[1] <= cy[j] <= bi[3]:
                keep[i] = False
                break
        if keep[i]:
            first.setdefault(key, []).append(i)
    return keep


def _distinct(x, y, radius):
    """False for a detection whose measured position lies within ``radius`` pixels of a higher-scored one's.

    Rows are sorted by decreasing score. The detector can put two boxes of different shapes on one
    source (a box around an extended source and one around its core) whose peaks differ by a pixel,
    so `_same_source` keeps both, yet the measurement puts both at the same position. Two sources
    closer than half a beam FWHM are not resolved (as in Aegean's and PyBDSF's catalogs), so the
    higher-scored detection stands for both. Positions that are not finite are left alone.
    """
    from scipy.spatial import cKDTree

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.ones(len(x), dtype=bool)
    ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    if len(ok) < 2 or not radius > 0:
        return keep
    pairs = cKDTree(np.stack([x[ok], y[ok]], axis=1)).query_pairs(radius, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    pairs = np.sort(ok[pairs], axis=1)  # (higher-scored, lower-scored) row numbers
    for i, j in pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]:
        if keep[i]:
            keep[j] = False
    return keep


def _valid_at(img, iy, ix):
    """True where pixels ``(iy, ix)`` are finite, not blank and not masked (reads only those pixels, band by band)."""
    from ..io import is_blank_value

    iy, ix = np.asarray(iy, dtype=int), np.asarray(ix, dtype=int)
    ok = np.zeros(len(iy), dtype=bool)
    if len(iy) == 0:
        return ok
    data = img.data
    order = np.argsort(iy, kind="stable")
    starts = np.arange(0, int(iy.max()) + 1 + _BAND_ROWS, _BAND_ROWS)
    bounds = np.searchsorted(iy[order], starts)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if hi == lo:
            continue
        sel = order[lo:hi]
        if hasattr(data, "vindex"):  # dask
            values = np.asarray(data.vindex[iy[sel], ix[sel]])
        else:
            values = np.asarray(data[iy[sel], ix[sel]])
        good = np.isfinite(values) & ~is_blank_value(values)
        if img.mask is not None:
            good &= ~np.asarray(img.mask[iy[sel], ix[sel]], dtype=bool)
        ok[sel] = good
        release_mapped_pages(data)
    return ok


#: side, in restoring-beam major axes, of the box around a radio detection whose clipped rms can raise the
#: noise its peak S/N is judged against (BANE's default box: 5 grid steps of 4 beams)
_LOCAL_NOISE_BEAMS = 20
#: at most this many pixels a side are read of that box (evenly strided; neighbouring pixels within a beam
#: are correlated, so the rms of a strided box is that of the whole one)
_LOCAL_NOISE_SIDE = 32
#: detections whose mesh S/N reaches this many times ``min_snr`` are significant under any local rms
_LOCAL_NOISE_REACH = 3.0
#: detections whose boxes are clipped together (1 MiB of float32 boxes; sigma_clip copies them a few times)
_LOCAL_NOISE_CHUNK = 256
#: the fraction of a box's pixels that must be valid for its rms to count (as the mesh's min_valid_fraction)
_LOCAL_NOISE_MIN_VALID = 0.25


def _local_noise_snr(img, snr, py, px, mesh, beam_major, min_snr):
    """The peak S/N of each detection over the larger of the mesh noise and the rms of the box around it.

    Radio maps hold sidelobes, deconvolution residuals and confusion around bright sources that raise the rms
    of a few tens of beams about them; the mesh's median filter, which keeps a bright source from raising
    its own box, smooths those patches away, and a 5-sigma peak there is no more significant than a 4-sigma
    one elsewhere. BANE (Aegean) and PyBDSF measure the rms on a box of that size about each position, with
    3-sigma clipping. Here only detections that could fall below ``min_snr`` are looked at (mesh S/N from
    ``min_snr`` to `_LOCAL_NOISE_REACH` times it): the box of `_LOCAL_NOISE_BEAMS` beam major axes about the
    peak is clipped at 3 standard deviations about its median (astropy's ``sigma_clip``, iterated) and its
    rms, where it exceeds the mesh noise at the peak, divides the S/N instead. Only ever a raise, so a
    Gaussian field keeps its mesh S/N but for the box-to-box scatter of the rms (about 4% for 350 beams).

    Measured (bench_real; bench_finders' six radio fields; 40 other simulated radio and optical fields, seeds
    7600-7639; min_snr 5): the Parkes map F1 0.821 -> 0.885, its AIT copy 0.804 -> 0.846, PyBDSF's ch0_I
    0.829 -> 0.861 (srl) and 0.782 -> 0.810 (gaul); the simulated radio fields 0.944 -> 0.940 and 0.868 ->
    0.847, where purity was already 0.99-1.0 and the truth counts every source of 5 true sigma. Clipping about
    MAD standard deviations (the mesh's) raised Parkes to 0.836 only; the rms of the pixels below the median,
    which real positive emission does not raise, to 0.857 on Parkes and 0.850 on ch0_I (srl), with the same
    loss on the simulations.
    """
    snr = np.array(snr, dtype=float)
    todo = np.flatnonzero(np.isfinite(snr) & (snr >= min_snr) & (snr < _LOCAL_NOISE_REACH * min_snr) & (py >= 0))
    if len(todo) == 0 or not beam_major > 0:
        return snr
    todo = todo[np.argsort(py[todo], kind="stable")]  # top to bottom: a memory map is read band by band
    band = _Band(img, mesh.pixel_scale)
    half = max(8, int(round(_LOCAL_NOISE_BEAMS * beam_major / 2)))
    rms = np.concatenate([_box_rms(band, py[rows], px[rows], half) for rows in np.array_split(
        todo, math.ceil(len(todo) / _LOCAL_NOISE_CHUNK))])
    release_mapped_pages(img.data)
    ratio = (np.asarray(mesh.pixel_scale.to_data_noise(rms), dtype=float)
             / np.asarray(mesh.at(py[todo], px[todo])[1], dtype=float))
    snr[todo] /= np.where(np.isfinite(ratio), np.maximum(ratio, 1.0), 1.0)
    return snr


def _box_rms(band, py, px, half):
    """Clipped rms, in the band's scaled units, of the box of ``2 * half + 1`` pixels a side about each
    ``(py, px)`` (strided to `_LOCAL_NOISE_SIDE` a side; NaN where fewer than 20 pixels, or less than
    `_LOCAL_NOISE_MIN_VALID` of the box, are valid: near the edge of a small image or of a blank region the
    box would hold little but the source)."""
    from astropy.stats import sigma_clip
    from astropy.utils.exceptions import AstropyUserWarning

    ny, nx = band.img.data.shape
    step = max(1, math.ceil((2 * half + 1) / _LOCAL_NOISE_SIDE))
    boxes = np.full((len(py), _LOCAL_NOISE_SIDE ** 2), np.nan, dtype=np.float32)
    for row, (y, x) in enumerate(zip(py, px)):
        win = band.window(max(0, y - half), min(ny, y + half + 1), max(0, x - half), min(nx, x + half + 1))[1]
        win = win[::step, ::step].ravel()
        boxes[row, :win.size] = np.where(np.isfinite(win), win, np.nan)  # invalid pixels are -inf in a band
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)  # the NaN padding of boxes at edges and blanks
        warnings.simplefilter("ignore", RuntimeWarning)  # a box of blank pixels
        clipped = sigma_clip(boxes, sigma=3.0, maxiters=10, cenfunc="median", stdfunc="std", axis=1, masked=False)
        rms = np.nanstd(clipped, axis=1).astype(np.float64)
    side = 2 * half + 1
    valid = np.sum(np.isfinite(boxes), axis=1)
    rms[(valid < 20) | (valid < _LOCAL_NOISE_MIN_VALID * len(range(0, side, step)) ** 2)] = np.nan
    return rms
