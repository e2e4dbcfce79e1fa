"""The steps of `detect_sources` on one image: tiles through the detector, merged into one catalog."""

import dataclasses
import logging
import os
import time

import numpy as np

from ..utils import progress_bar as _progress_bar
from ._model import _inference_model
from ._postprocess import (_LOCAL_NOISE_BEAMS, _core_mask, _distinct, _local_mesh, _local_noise_snr, _measure_peaks,
                           _same_source, _valid_at)
from ._guard import _check_memory, _clamp_tile, _pad_small, _unpad
from ._kind import _check_kind, _resolve_kind
from ._measure import CENTROIDS, _measure_detections
from ._resolve import _budget_tile, _check_options, _resolve_batch_size, _resolve_detector
from ._scale import _beam_meta, _check_scale, _resample_factor, _resolve_beam
from ._tiles import _fit_normalizer, _iter_windows, _load, _model_to_image, _n_windows, _scale, _to_model

__all__ = []

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class _TileDetections:
    """Detections of every tile in image pixels, with the centre of the tile that found each one."""

    boxes: list = dataclasses.field(default_factory=list)
    scores: list = dataclasses.field(default_factory=list)
    labels: list = dataclasses.field(default_factory=list)
    own_cx: list = dataclasses.field(default_factory=list)
    own_cy: list = dataclasses.field(default_factory=list)
    tile_cx: list = dataclasses.field(default_factory=list)
    tile_cy: list = dataclasses.field(default_factory=list)
    n_run: int = 0

    def add(self, output, x0, y0, centre, scale, score_threshold, calibration=None):
        scores = _calibrated(output["scores"].float().cpu().numpy(), calibration)
        keep = scores >= score_threshold
        if not keep.any():
            return
        boxes = _model_to_image(output["boxes"].float().cpu().numpy()[keep], x0, y0, scale)
        self.boxes.append(boxes)
        self.scores.append(scores[keep])
        self.labels.append(output["labels"].cpu().numpy()[keep])
        self.own_cx.append(np.full(len(boxes), centre[1]))
        self.own_cy.append(np.full(len(boxes), centre[0]))


def _calibrated(raw, calibration):
    """Scores through the configuration's monotone ``score_calibration`` map (raw scores without one)."""
    if calibration is None:
        return raw
    pts = np.asarray(calibration, dtype=float)
    return np.interp(raw, pts[:, 0], pts[:, 1]).astype(raw.dtype)


def _tile_model(det, tile_size, resample=1.0):
    """The inference model (`_inference_model`) of ``tile_size``-pixel tiles resampled by ``resample``."""
    cfg = det.config
    return _inference_model(det, _budget_tile(cfg, tile_size, cfg.upscale * resample))


def _run_tiles(det, model, img, fitted, *, tile_size, overlap, batch_size, dev, precision, score_threshold,
               progress_bar, resample=1.0):
    """Every tile with a valid pixel through ``model`` (`_tile_model` of ``det``), ``batch_size`` at a time:
    `_TileDetections`.

    Each tile is resampled by ``resample`` (the beam factor) on top of the configuration's ``upscale``; the
    boxes come back in image pixels through the exact tile mapping (`_model_to_image`).
    """
    import torch

    cfg = det.config
    upscale = cfg.upscale * resample
    scale = _scale(tile_size, upscale)
    found = _TileDetections()

    def flush(batch, x):
        x = x.to(dev)
        with torch.inference_mode(), det.autocast(precision, dev):
            out = model(list(x))
        found.n_run += len(batch)
        for (y0, x0, _, centre), o in zip(batch, out):
            found.add(o, x0, y0, centre, scale, score_threshold, cfg.score_calibration)

    centres = []
    batches = _tile_batches(img, fitted, tile_size, overlap, batch_size, upscale, resample != 1.0, centres)
    bar = _progress_bar(total=_n_windows(img.data.shape, tile_size, overlap), desc="detect_sources", unit="tile",
                        enabled=progress_bar)
    with bar:
        for batch, x, n_windows in (_prefetch(batches) if _use_prefetch(dev) else batches):
            if batch:
                flush(batch, x)
            bar.update(n_windows)
    found.tile_cy = [c[0] for c in centres]
    found.tile_cx = [c[1] for c in centres]
    return found


#: prepare the next batch of tiles (read, normalize, resample) in a thread while the detector runs: True,
#: False, or 'auto' (`_use_prefetch`)
_PREFETCH = "auto"


def _use_prefetch(dev):
    """Whether tiles are prepared in a thread: always where ``_PREFETCH`` says so; for 'auto', where
    `astrofmx.utils.prefetch_helps` says the thread can overlap the detector (a GPU, or an idle core)."""
    if _PREFETCH != "auto":
        return bool(_PREFETCH)
    from ..utils import prefetch_helps

    return prefetch_helps(dev)


def _tile_batches(img, fitted, tile_size, overlap, batch_size, upscale, antialias, centres):
    """``(tiles, model input, windows read)`` of each batch of ``batch_size`` tiles with a valid pixel; the
    centre of every window (valid or not) is appended to ``centres`` as it is read."""
    def model_input(batch):  # a stride-0 view of the channels: the detector's transform copies them anyway
        return _to_model([b[2] for b in batch], tile_size, upscale, antialias=antialias, contiguous=False)

    batch, n_windows = [], 0
    for y0, x0, h, w, data in _iter_windows(img, fitted, tile_size, overlap):
        centre = (y0 + 0.5 * (h - 1), x0 + 0.5 * (w - 1))
        centres.append(centre)
        n_windows += 1
        if data is not None:
            batch.append((y0, x0, data, centre))
            if len(batch) == batch_size:
                yield batch, model_input(batch), n_windows
                batch, n_windows = [], 0
    if batch or n_windows:
        x = model_input(batch) if batch else None
        yield batch, x, n_windows


def _prefetch(generator):
    """``generator`` one step ahead in a worker thread (`astrofmx.utils.prefetch`)."""
    from ..utils import prefetch

    return prefetch(generator, name="astrofmx-tiles")


def _merge(img, found, nms_threshold):
    """``(boxes, scores, labels)`` of the image: each detection from its own tile, centred on a valid pixel,
    duplicates across tile borders removed by `torchvision.ops.batched_nms`, boxes clipped to the image."""
    import torch
    from torchvision.ops import batched_nms

    if not found.boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    shape = img.data.shape
    boxes, scores, labels = (np.concatenate(v) for v in (found.boxes, found.scores, found.labels))
    cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
    cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
    keep = _core_mask(cx, found.tile_cx, np.concatenate(found.own_cx)) \
        & _core_mask(cy, found.tile_cy, np.concatenate(found.own_cy))
    # centre on a valid pixel of the image
    ix = np.clip(np.round(cx).astype(int), 0, shape[1] - 1)
    iy = np.clip(np.round(cy).astype(int), 0, shape[0] - 1)
    keep &= (cx > -0.5) & (cx < shape[1] - 0.5) & (cy > -0.5) & (cy < shape[0] - 0.5)
    keep[keep] = _valid_at(img, iy[keep], ix[keep])
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if len(boxes):
        idx = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores.astype(np.float64)),
                          torch.from_numpy(labels.astype(np.int64)), nms_threshold).numpy()
        boxes, scores, labels = boxes[idx], scores[idx], labels[idx]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], -0.5, shape[1] - 0.5)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], -0.5, shape[0] - 0.5)
    return boxes, scores, labels


def _catalog(det, img, boxes, scores, labels, peaks, peak_snr, meta, measured=None):
    """The `~astrofmx.io.make_source_catalog` table of the kept detections, with peak and peak S/N.

    ``measured`` (`_measure_detections`) gives the positions, fluxes and shapes measured with photutils
    on the original pixels; a detection whose measurement failed (no valid pixel) keeps its box centre.
    """
    from ..io import make_source_catalog

    names = np.asarray(det.config.class_names)
    label_names = names[np.asarray(labels, dtype=np.int64) - 1] if len(labels) else np.zeros(0, dtype="U16")
    centroids = None
    if measured is not None:
        x = np.asarray(measured["x_centroid"].value, dtype=float)
        y = np.asarray(measured["y_centroid"].value, dtype=float)
        box_x, box_y = 0.5 * (boxes[:, 0] + boxes[:, 2]), 0.5 * (boxes[:, 1] + boxes[:, 3])
        ok = np.isfinite(x) & np.isfinite(y)
        centroids = np.stack([np.where(ok, x, box_x), np.where(ok, y, box_y)], axis=1)
    catalog = make_source_catalog(boxes, scores=scores, labels=label_names, centroids=centroids, wcs=img.wcs,
                                  meta=meta, finder="astrofmx.detect_sources")
    unit = img.unit if img.unit is not None or measured is None else measured["unit"]
    catalog["peak"] = peaks if unit is None else peaks * unit
    catalog["peak_snr"] = peak_snr
    if measured is not None:
        for name in ("x_centroid_err", "y_centroid_err", "peak_err", "flux", "flux_err", "semimajor", "semiminor",
                     "orientation"):
            catalog[name] = measured[name]
    return catalog


def _image_kind(img, kind):
    """``(kind, reason)``: 'radio' or 'optical', as given or decided from the image header or pixels."""
    from ..io import read_beam

    header = img.meta if img.meta is not None else None
    return _resolve_kind(kind, header, header is not None and read_beam(header) is not None,
                         pixels=(img.data, img.mask))


def _image_scale(img, beam, beam_range):
    """``(resample factor, meta, pixel beam)``: the image's beam/PSF in pixels (`_PixelBeam` or None) and
    the factor bringing it into range."""
    pixel_beam = _resolve_beam(beam, img)
    factor = _resample_factor(pixel_beam, beam_range)
    _check_scale(pixel_beam, factor, img.data.shape)
    if factor != 1.0:
        logger.info("detect_sources: beam %s (%s) outside the detector's %s px; tiles resampled x%.3g",
                    pixel_beam.describe(), pixel_beam.source, beam_range, factor)
    return factor, _beam_meta(pixel_beam, factor), pixel_beam


#: duplicates are detections measured closer than this fraction of the beam's minor FWHM (`_distinct`)
_DUPLICATE_BEAMS = 0.3
#: the duplicate radius in pixels of an image whose beam/PSF is unknown
_DUPLICATE_PIX = 1.0


#: kinds whose detections below ``min_snr`` in peak S/N are kept when their isophotal flux S/N reaches this
#: many times ``min_snr``: optical catalogs (SExtractor) detect on surface brightness over an area, so an
#: extended galaxy of low peak S/N is a source; radio catalogs (Aegean, PyBDSF) need a peak above threshold.
#: Measured (bench_finders, bench_real, min_snr 5): flux S/N 5-8 alike gave optical simulations F1 0.957
#: against 0.948 for the peak alone, and the SExtractor image 0.870-0.882 against 0.852; radio F1 did not
#: change. 1.6 (8 at min_snr 5, the isophotal S/N of a point source of peak S/N 5 and 2.5-px FWHM) is the
#: most conservative of those.
_FLUX_SNR_PER_PEAK_SNR = {"optical": 1.6}
#: detections down to this peak S/N are measured when a flux S/N can keep them
_MEASURED_FROM_SNR = 3.0


def _select_measured(keep, peak_snr, measured, min_snr, flux_snr, radius):
    """The measured rows of the significant and distinct detections; ``keep`` (all detections) updated.

    Significant: by peak S/N, or by flux S/N where ``flux_snr`` is set (`_FLUX_SNR_PER_PEAK_SNR`);
    distinct: one per measured position within ``radius`` pixels (`_distinct`), among the significant.
    """
    if measured is None:
        return None
    significant = np.ones(int(keep.sum()), dtype=bool)
    if flux_snr:
        significant = _significant(peak_snr[keep], measured, min_snr, flux_snr * min_snr)
    x, y = (np.where(significant, measured[k].value, np.nan) for k in ("x_centroid", "y_centroid"))
    chosen = significant & _distinct(x, y, radius)
    keep[np.flatnonzero(keep)[~chosen]] = False
    return {k: (v if k == "unit" else v[chosen]) for k, v in measured.items()}


def _significant(peak_snr, measured, min_snr, min_flux_snr):
    """True where the peak S/N reaches ``min_snr`` or the measured flux S/N reaches ``min_flux_snr``."""
    flux, err = (np.asarray(getattr(measured[k], "value", measured[k]), dtype=float) for k in ("flux", "flux_err"))
    with np.errstate(divide="ignore", invalid="ignore"):
        by_flux = np.nan_to_num(flux / err) >= min_flux_snr
    return (np.asarray(peak_snr) >= min_snr) | by_flux


def _noise_beam(pixel_beam, config):
    """The beam major axis in pixels that sizes the local-noise box: the image's, else (``beam=None``: the
    image is taken to be at the detector's scale) the geometric middle of the detector's ``beam_range``."""
    if pixel_beam is not None:
        return pixel_beam.major
    low_high = getattr(config, "beam_range", None)
    return float(np.sqrt(low_high[0] * low_high[1])) if low_high else None


def _duplicate_radius(pixel_beam):
    return _DUPLICATE_BEAMS * pixel_beam.minor if pixel_beam is not None else _DUPLICATE_PIX


def _detect_image(image, *, model=None, backbone=None, tile_size=None, overlap=None, score_threshold=None,
                  min_snr=None, nms_threshold=0.5, batch_size="auto", device=None, precision="auto",
                  progress_bar=True, beam="auto", kind="auto", measure=True):
    """`~astrofmx.detection.detect_sources` on one image (its arguments): the catalog."""
    from ..utils import resolve_device, resolve_precision, tune_cpu_allocator

    _check_kind(kind)
    t_start = time.perf_counter()
    img = _load(image)
    kind, kind_reason = _image_kind(img, kind)
    det = _resolve_detector(model, backbone, device, kind=kind)
    cfg = det.config
    resample, scale_meta, pixel_beam = _image_scale(img, beam, getattr(cfg, "beam_range", None))
    if score_threshold is None:
        score_threshold = cfg.score_threshold if cfg.score_threshold is not None else 0.5
    dev = resolve_device(device) if device is not None else det.device
    det.to(dev)
    if dev.type == "cpu":
        tune_cpu_allocator()  # the network's activations reuse heap memory, not fresh zeroed pages
    precision = resolve_precision(precision, dev)
    tile_size, overlap, min_snr = _check_options(cfg, int(det.spec.patch_size), tile_size, overlap,
                                                 score_threshold, nms_threshold, min_snr, resample)
    work, pad = _pad_small(img)  # a tiny image is padded with noise; detections in the padding dropped
    tile_size, overlap = _clamp_tile(tile_size, overlap, work.data.shape, cfg, resample)
    _check_memory(dev, tile_size, cfg.upscale * resample)
    auto = batch_size == "auto"
    det.train(False)
    model = _tile_model(det, tile_size, resample)  # built once: the batch-size probe and the tiles share it
    size = int(round(tile_size * cfg.upscale * resample))
    batch_size = _resolve_batch_size(batch_size, det, model, dev, precision, size)
    batch_size = _check_memory(dev, tile_size, cfg.upscale * resample, batch_size, auto=auto)

    fitted = _fit_normalizer(work, cfg.normalizer, resample)
    found = _run_tiles(det, model, work, fitted, tile_size=tile_size, overlap=overlap, batch_size=batch_size,
                       dev=dev, precision=precision, score_threshold=score_threshold, progress_bar=progress_bar,
                       resample=resample)
    boxes, scores, labels = _unpad(*_merge(work, found, nms_threshold), pad, img)
    if pad is not None:
        fitted = _fit_normalizer(img, cfg.normalizer, resample)
    mesh = _local_mesh(img, fitted)  # one local background/noise for the peak S/N and the measurement
    peaks, peak_snr, py, px = _measure_peaks(img, boxes, mesh)
    noise_beam = _noise_beam(pixel_beam, cfg) if kind == "radio" and min_snr else None
    local_noise = noise_beam is not None
    if local_noise:  # sidelobes and confusion around bright sources
        peak_snr = _local_noise_snr(img, peak_snr, py, px, mesh, noise_beam, min_snr)
    keep = _same_source(boxes, py, px)
    flux_snr = _FLUX_SNR_PER_PEAK_SNR.get(kind) if measure and min_snr else None
    if min_snr:  # extended optical sources below the peak threshold are measured, then judged by flux S/N
        keep &= peak_snr >= (min(min_snr, _MEASURED_FROM_SNR) if flux_snr else min_snr)
    elapsed = time.perf_counter() - t_start
    preprocessing = (f"normalizer={cfg.normalizer}; whole image normalized once; tile_size={tile_size}; "
                     f"overlap={overlap}; upscale={cfg.upscale:g}; precision={precision}")
    if pad is not None:
        preprocessing += f"; image padded with noise to {work.data.shape[1]}x{work.data.shape[0]}"
    if resample != 1.0:
        preprocessing += f"; tiles resampled x{resample:.4g} for the beam (bilinear, antialiased)"
    meta = {
        "model": det.source or "in-memory FasterRCNNDetector",
        "backbone": cfg.backbone,
        "weights": det.source or str(cfg.weights),
        "detector_mode": cfg.mode,
        "preprocessing": preprocessing,
        "kind": kind,
        "kind_reason": kind_reason,
        **scale_meta,
        "score_threshold": float(score_threshold),
        "score_calibrated": cfg.score_calibration is not None,
        "min_snr": float(min_snr or 0.0),
        "nms_threshold": float(nms_threshold),
        "n_tiles": found.n_run,
        "batch_size": int(batch_size),
        "runtime_s": round(elapsed, 3),
    }
    if isinstance(image, (str, os.PathLike)):
        meta["image"] = os.path.basename(os.fspath(image))
    if measure:
        meta["centroid"] = CENTROIDS[kind]
        meta["duplicate_radius_pix"] = round(float(_duplicate_radius(pixel_beam)), 4)
    if flux_snr:
        meta["min_flux_snr"] = float(flux_snr * min_snr)
    if local_noise:
        meta["local_noise"] = (f"peak S/N over the larger of the mesh noise and the 3-sigma-clipped rms of the "
                               f"{_LOCAL_NOISE_BEAMS}x{_LOCAL_NOISE_BEAMS}-beam box about the peak")
    measured = None
    if measure:
        measured = _measure_detections(img, boxes[keep], mesh, beam, meta.get("centroid"))
        measured = _select_measured(keep, peak_snr, measured, min_snr, flux_snr, _duplicate_radius(pixel_beam))
    meta["runtime_s"] = round(time.perf_counter() - t_start, 3)
    logger.info("detect_sources: %d sources in %d tiles (%.1f s)", int(keep.sum()), found.n_run, elapsed)
    return _catalog(det, img, boxes[keep], scores[keep], labels[keep], peaks[keep], peak_snr[keep], meta, measured)
