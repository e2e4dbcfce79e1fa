"""Tiled inference over whole images: `detect_sources`."""

import logging
import math
import os
import time
import warnings

import numpy as np

from ..utils import progress_bar as _progress_bar

__all__ = ["detect_sources"]

logger = logging.getLogger(__name__)

#: Rows of a memory-mapped image read between two releases of its pages (point reads after the tiles).
_BAND_ROWS = 256


# -- helpers shared with training ----------------------------------------------------------------------
def _load(image):
    """NDData from anything load_image accepts; FITS files and dask arrays stay memory-mapped / lazy."""
    from ..io import load_image

    if isinstance(image, np.ndarray) and image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); give a 2-D image with pixels")
    img = load_image(image, memmap=True)
    if len(img.data.shape) != 2:
        raise ValueError(f"image must be 2-D, got shape {img.data.shape}")
    if 0 in img.data.shape:
        raise ValueError(f"image is empty (shape {img.data.shape}); give a 2-D image with pixels")
    return img


def _fit_normalizer(img, normalizer):
    """A `~astrofmx.preprocess.FittedNormalizer` normalizing any window as the whole image would be.

    ``normalizer`` is a preset name (`DetectorConfig` allows nothing else); its statistics are fixed on the
    image read strip by strip (`~astrofmx.preprocess.Normalizer.fit`), so no full-size copy exists.
    """
    from ..preprocess import get_preset

    try:
        return get_preset(normalizer).fit(img.data, img.mask)
    except ValueError as exc:
        if "every pixel" in str(exc):
            raise ValueError("every pixel of the image is NaN, infinite or masked; there is nothing to "
                             "detect") from None
        raise


def _iter_windows(img, fitted, tile, overlap):
    """``(y0, x0, h, w, data)`` of every tile, row by row, each normalized as the whole image would be.

    ``fitted`` comes from `_fit_normalizer`. ``data`` is None for tiles without a valid pixel; masked pixels
    and padding are 0. Tiles are read from the (possibly memory-mapped) image one at a time, so memory is
    bounded by a few tiles.
    """
    from ..preprocess import iter_tiles

    from ..io._fits import release_mapped_pages

    ny, nx = img.data.shape
    row = 0
    for t in iter_tiles(img, tile_size=tile, overlap=overlap, fill_value=np.nan):
        if t.y0 != row:  # a new row of tiles: the pages read for the previous rows can go
            release_mapped_pages(img.data)
            row = t.y0
        h, w = min(tile, ny - t.y0), min(tile, nx - t.x0)
        if t.mask.all():
            yield t.y0, t.x0, h, w, None
            continue
        out = fitted(t.data, t.mask, origin=(t.y0, t.x0))
        out[t.mask] = 0.0
        yield t.y0, t.x0, h, w, out


def _measure_peaks(img, boxes, fitted):
    """Peak value and peak signal-to-noise ratio inside each box (NaN where the box has no valid pixel).

    The background and noise at the peak come from the local mesh of the detector's normalizer when it
    has one (``'radio-local'``), else from a mesh of 48-pixel boxes estimated here (streamed, as BANE
    and SExtractor do), so a source is judged against the noise around it.
    """
    from ..io._fits import release_mapped_pages
    from ..preprocess import BackgroundMesh, estimate_background_mesh

    n = len(boxes)
    peaks, snr = np.full(n, np.nan), np.full(n, np.nan)
    py, px = np.full(n, -1), np.full(n, -1)
    if n == 0:
        return peaks, snr, py, px
    mesh = getattr(fitted, "background", None)
    if not isinstance(mesh, BackgroundMesh):
        mesh = estimate_background_mesh(img.data, img.mask, box_size=48)
    ny, nx = img.data.shape
    band = 0
    for i in np.argsort(boxes[:, 1], kind="stable"):  # top to bottom: a memory map is read band by band
        x0, y0, x1, y1 = boxes[i]
        if y0 > band + _BAND_ROWS:  # drop the pages of the rows above (read again if needed)
            release_mapped_pages(img.data)
            band = y0
        # pixels whose centres lie inside the box (at least the centre pixel)
        cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        ix0, ix1 = min(math.ceil(x0), int(round(cx))), max(math.floor(x1), int(round(cx))) + 1
        iy0, iy1 = min(math.ceil(y0), int(round(cy))), max(math.floor(y1), int(round(cy))) + 1
        ix0, iy0, ix1, iy1 = max(ix0, 0), max(iy0, 0), min(ix1, nx), min(iy1, ny)
        win = np.array(img.data[iy0:iy1, ix0:ix1], dtype=np.float32)
        if img.mask is not None:
            win[np.asarray(img.mask[iy0:iy1, ix0:ix1], dtype=bool)] = np.nan
        if win.size == 0 or not np.isfinite(win).any():
            continue
        k = int(np.nanargmax(win))
        peaks[i] = win.flat[k]
        py[i], px[i] = iy0 + k // win.shape[1], ix0 + k % win.shape[1]
    release_mapped_pages(img.data)
    ok = np.isfinite(peaks)
    bkg, noise = mesh.at(py[ok], px[ok])
    snr[ok] = (peaks[ok] - bkg) / noise
    return peaks, snr, py, px


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


def _valid_at(img, iy, ix):
    """True where pixels ``(iy, ix)`` are finite and not masked (reads only those pixels, band by band)."""
    from ..io._fits import release_mapped_pages

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
        good = np.isfinite(values)
        if img.mask is not None:
            good &= ~np.asarray(img.mask[iy[sel], ix[sel]], dtype=bool)
        ok[sel] = good
        release_mapped_pages(data)
    return ok


def _n_windows(shape, tile, overlap):
    from ..preprocess import TileGrid

    return len(TileGrid(shape, tile, overlap))


def _to_model(tiles, tile_size, upscale):
    """Stack 2-D float32 tiles (zero-padded to ``tile_size``) into a ``(B, 3, S, S)`` tensor."""
    import torch

    batch = np.zeros((len(tiles), tile_size, tile_size), dtype=np.float32)
    for i, t in enumerate(tiles):
        batch[i, :t.shape[0], :t.shape[1]] = t
    x = torch.from_numpy(batch)[:, None]
    if upscale != 1.0:
        size = int(round(tile_size * upscale))
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.clamp_(0.0, 1.0)
    return x.expand(-1, 3, -1, -1).contiguous()


def _model_to_image(boxes, x0, y0, scale):
    """Model-input boxes (torchvision: pixel i spans [i, i+1]) -> image pixels (centres at integers).

    ``scale`` is the model-pixels-per-image-pixel factor of the tile (see
    `astrofmx.preprocess.tile_to_image`).
    """
    from ..preprocess import tile_to_image

    return tile_to_image(np.asarray(boxes, dtype=float).reshape(-1, 4), x0=x0, y0=y0, scale=scale,
                         convention="edge")


def _image_to_model(boxes, x0, y0, scale):
    """Inverse of `_model_to_image`."""
    out = np.asarray(boxes, dtype=float).copy()
    out[:, [0, 2]] -= x0 - 0.5
    out[:, [1, 3]] -= y0 - 0.5
    return out * scale


def _scale(tile_size, upscale):
    return round(tile_size * upscale) / tile_size


# -- detector resolution ------------------------------------------------------------------------------
def _resolve_detector(model, backbone, device):
    from ._io import load_detector
    from ._model import FasterRCNNDetector

    if model is None:
        if backbone is None:  # the embedded default detector
            from ._default import get_default_detector

            return get_default_detector(device=device)
        from ..backbones import list_backbones

        if not isinstance(backbone, str):
            raise TypeError(f"backbone must be a registry name (str), got {backbone!r}")
        if backbone not in list_backbones() and not backbone.startswith("timm:"):
            raise ValueError(f"unknown backbone {backbone!r}; choose one of {list_backbones()} or 'timm:<name>'")
        from ._zoo import find_detector

        folder = find_detector(backbone)
        if folder is not None:
            return load_detector(folder, device=device)
        raise ValueError(f"no trained detector is available for backbone {backbone!r}: train one with "
                         f"astrofmx.train_detector(images, boxes, backbone={backbone!r}) (it is then used here), "
                         f"or register a published one with astrofmx.detection.register_detector({backbone!r}, "
                         "url=..., sha256=...) or path=...; or pass model=<saved detector folder>")
    if isinstance(model, (str, os.PathLike)):
        model = load_detector(model, device=device)
    if not isinstance(model, FasterRCNNDetector):
        raise TypeError(f"model must be a FasterRCNNDetector or the path of a saved detector, got "
                        f"{type(model).__name__}")
    if backbone is not None and backbone != model.config.backbone:
        raise ValueError(f"backbone={backbone!r} does not match the detector's backbone "
                         f"{model.config.backbone!r}; pass only model=")
    return model


class _ProposalBudget:
    """Inference settings of the RPN, restored on exit.

    The configured budgets are per training tile; a larger tile holds
    proportionally more sources and must not be starved of proposals, so the
    budgets scale with the tile area. Proposals below the configuration's
    ``rpn_score_thresh`` objectness are dropped.
    """

    def __init__(self, detector, tile_size):
        self.model = detector.model
        self.config = detector.config
        self.factor = max(1.0, (tile_size / detector.config.tile_size) ** 2)

    def __enter__(self):
        rpn, roi = self.model.rpn, self.model.roi_heads
        self.saved = (dict(rpn._pre_nms_top_n), dict(rpn._post_nms_top_n), roi.detections_per_img, rpn.score_thresh)
        rpn.score_thresh = float(getattr(self.config, "rpn_score_thresh", 0.0))
        if self.factor > 1:
            for d in (rpn._pre_nms_top_n, rpn._post_nms_top_n):
                for k in d:
                    d[k] = int(math.ceil(d[k] * self.factor))
            roi.detections_per_img = int(math.ceil(roi.detections_per_img * self.factor))
        return self

    def __exit__(self, *exc):
        rpn, roi = self.model.rpn, self.model.roi_heads
        rpn._pre_nms_top_n, rpn._post_nms_top_n, roi.detections_per_img, rpn.score_thresh = self.saved
        return False


def _resolve_batch_size(batch_size, det, dev, precision, tile_size):
    """An int, or 'auto': 8 tiles on a CPU, as many as fit in the free memory of a GPU."""
    import torch

    from ..utils import resolve_batch_size

    size = int(round(tile_size * det.config.upscale))

    def probe(n):
        with torch.inference_mode(), det.autocast(precision, dev), _ProposalBudget(det, tile_size):
            det.model.eval()
            det.model(list(torch.zeros(n, 3, size, size, device=dev)))

    return resolve_batch_size(batch_size, dev, probe, cpu_default=8)


def _core_mask(centres, tile_centres, own):
    """True where a detection centre is nearest to its own tile's centre (per axis)."""
    tc = np.asarray(sorted(set(tile_centres)))
    nearest = tc[np.abs(centres[:, None] - tc[None, :]).argmin(axis=1)]
    return np.isclose(nearest, own)


# -- public ---------------------------------------------------------------------------------------------
def detect_sources(image, *, model=None, backbone=None, tile_size=None, overlap=None, score_threshold=0.5,
                   min_snr=None, nms_threshold=0.5, batch_size="auto", device=None, precision="auto", progress_bar=True,
                   output_dir=None, parallel=False, resume=True, output_format="ecsv"):
    """Detect sources in a whole image with a trained Faster R-CNN detector.

    The image is normalized once as a whole (``detector.config.normalizer``),
    cut into overlapping tiles, each tile resampled by
    ``detector.config.upscale`` and run through the detector in batches. Boxes
    are mapped back to full-image pixels (the RPN proposal and detection
    budgets of the configuration, set per training tile, are scaled with the
    tile area for larger tiles); a detection is kept only by the tile
    whose centre is nearest to it (so sources cut by a tile border are taken
    from the tile that sees them whole), remaining duplicates across tile
    borders are removed with `torchvision.ops.batched_nms`, and detections
    centred on masked, NaN or blank pixels are dropped. Tiles with no valid
    pixel are skipped.

    Parameters
    ----------
    image : str, `~pathlib.Path`, HDU, `~astropy.nddata.NDData`, tuple or `~numpy.ndarray`
        Anything `~astrofmx.io.load_image` accepts; or many images: a list
        of files, a tuple of paths or a glob pattern (``"survey/*.fits"``,
        ``**`` recurses), processed with `astrofmx.utils.run_batch` (needs
        ``output_dir``).
    model : `FasterRCNNDetector`, str or `~pathlib.Path`
        A detector, or the path of one saved with `save_detector`. With
        neither ``model`` nor ``backbone``: the embedded default detector
        (`get_default_detector`).
    backbone : str, optional
        Registry name of a backbone: the newest detector trained here for it
        (`train_detector` registers each one), else one registered with
        `register_detector` (a folder, or a model-zoo archive downloaded and
        checked on first use); without any, the error explains how to train
        or register one. With ``model`` it must match the detector's backbone.
    tile_size : int, optional
        Tile side in image pixels; default the configuration's
        ``inference_tile_size`` (else its training ``tile_size``).
    overlap : int, optional
        Overlap of neighbouring tiles in pixels; default a quarter of the
        tile. It should exceed the largest source you expect.
    score_threshold : float, optional
        Minimum detection score kept.
    min_snr : float, optional
        Minimum peak signal-to-noise ratio kept: the brightest pixel in each
        box over the local noise (column ``peak_snr``), as a classical
        catalog's detection threshold. None (default) takes the detector
        configuration's ``min_snr`` (5 for the embedded default detector,
        whose training targets are sources of peak S/N >= 5; none for a
        detector you train); 0 keeps every detection.
    nms_threshold : float, optional
        IoU above which the lower-scored of two overlapping boxes is removed.
    batch_size : int or 'auto', optional
        Tiles per forward pass. 'auto' (default): 8 on a CPU; on a GPU as
        many as fit in its free memory, measured with a probe batch
        (`astrofmx.utils.resolve_batch_size`).
    device : None, str or `torch.device`, optional
        None picks CUDA when available.
    precision : {'auto', 'fp32', 'bf16', 'fp16'}, optional
        Precision of the backbone and pyramid ('auto': bf16 autocast on CPUs
        and GPUs that support it); the detection heads run in fp32.
    progress_bar : bool, optional
        Show a progress bar over the tiles (over the files for many inputs).
    output_dir : str or `~pathlib.Path`, optional
        Many inputs only (required there): where the per-file catalogs
        (``<stem>-<hash>.detect.<ext>``), ``detect_summary.ecsv`` and the
        combined catalog ``detect_combined.<ext>`` are written, atomically
        (see `astrofmx.utils.run_batch`).
    parallel : bool, int, 'current-scheduler' or ``distributed.Client``, optional
        Many inputs only: False runs serially; an int starts a local Dask
        cluster of that many worker processes; 'current-scheduler' uses the
        active Dask scheduler; a Client uses that cluster. The detector is
        sent to the workers once; they run it on the CPU unless ``device`` is
        given.
    resume : bool, optional
        Many inputs only: skip files whose catalog is already in
        ``output_dir`` (a rerun after a crash loses and repeats nothing).
    output_format : {'ecsv', 'fits', 'parquet'}, optional
        Many inputs only: format of the per-file and combined catalogs.

    Returns
    -------
    catalog : `~astropy.table.QTable` or `~astrofmx.utils.BatchResult`
        For many inputs (a list of files, a tuple of paths or a glob
        pattern such as ``"survey/*.fits"``): a `~astrofmx.utils.BatchResult`
        whose ``catalog`` is the combined catalog (an ``input`` column first)
        and whose ``summary`` lists each file's status; a file that fails is
        reported there and does not stop the batch. For one image:
        One row per source, columns of `~astrofmx.io.make_source_catalog`
        (``sky_centroid`` and the sizes in arcsec only when the image has a
        celestial WCS), sorted by decreasing score. ``meta`` records the
        model, backbone, weights, preprocessing, thresholds, date and package
        versions. With no detection: an empty table with every column and a
        `~astrofmx.utils.NoDetectionsWarning`.

    Raises
    ------
    ValueError
        Empty or all-NaN image, tiles smaller than a backbone patch, bad
        thresholds, or no detector.
    TypeError
        If ``model`` is neither a detector nor a path.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.detection import build_detector, detect_sources
    >>> det = build_detector(backbone="resnet18", weights=None, tile_size=64, pyramid_channels=32,
    ...                      representation_size=64)
    >>> image = np.random.default_rng(0).normal(size=(96, 96)).astype("float32")
    >>> cat = detect_sources(image, model=det, score_threshold=0.0, progress_bar=False, precision="fp32")
    >>> cat.colnames[:3]
    ['id', 'x_centroid', 'y_centroid']
    """
    import torch
    from torchvision.ops import batched_nms

    from ..io import make_source_catalog
    from ..utils import resolve_device, resolve_precision

    if _is_many(image):
        return _detect_many(image, model=model, backbone=backbone, device=device, output_dir=output_dir,
                            parallel=parallel, resume=resume, output_format=output_format, progress_bar=progress_bar,
                            kwargs=dict(tile_size=tile_size, overlap=overlap, score_threshold=score_threshold,
                                        min_snr=min_snr,
                                        nms_threshold=nms_threshold, batch_size=batch_size, precision=precision))
    det = _resolve_detector(model, backbone, device)
    cfg = det.config
    dev = resolve_device(device) if device is not None else det.device
    det.to(dev)
    precision = resolve_precision(precision, dev)
    if tile_size is None:
        tile_size = cfg.inference_tile_size or cfg.tile_size
    if isinstance(tile_size, bool) or not isinstance(tile_size, (int, np.integer)) or tile_size <= 0:
        raise ValueError(f"tile_size must be a positive integer, got {tile_size!r}")
    tile_size = int(tile_size)
    patch = int(det.spec.patch_size)
    if tile_size * cfg.upscale < patch:
        raise ValueError(f"tile_size={tile_size} (x upscale {cfg.upscale:g}) is smaller than one {patch}-pixel "
                         f"patch of backbone {cfg.backbone!r}; use tile_size >= {math.ceil(patch / cfg.upscale)}")
    overlap = tile_size // 4 if overlap is None else overlap
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < tile_size:
        raise ValueError(f"overlap must be an integer in [0, tile_size={tile_size}), got {overlap!r}")
    for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    min_snr = cfg.min_snr if min_snr is None else min_snr
    if min_snr is not None and (isinstance(min_snr, bool) or not isinstance(min_snr, (int, float))
                                or not np.isfinite(min_snr) or min_snr < 0):
        raise ValueError(f"min_snr must be a non-negative number of sigma or None, got {min_snr!r}")
    batch_size = _resolve_batch_size(batch_size, det, dev, precision, tile_size)

    t_start = time.perf_counter()
    img = _load(image)
    shape = tuple(int(n) for n in img.data.shape)
    scale = _scale(tile_size, cfg.upscale)
    fitted = _fit_normalizer(img, cfg.normalizer)
    det.train(False)

    all_boxes, all_scores, all_labels, all_cx, all_cy = [], [], [], [], []
    tile_cx, tile_cy = [], []
    n_run = 0

    def flush(batch):
        nonlocal n_run
        if not batch:
            return
        x = _to_model([b[2] for b in batch], tile_size, cfg.upscale).to(dev)
        with torch.inference_mode(), det.autocast(precision, dev):
            out = det.model(list(x))
        n_run += len(batch)
        for (y0, x0, tile, (cy, cx)), o in zip(batch, out):
            scores = o["scores"].float().cpu().numpy()
            keep = scores >= score_threshold
            if not keep.any():
                continue
            boxes = _model_to_image(o["boxes"].float().cpu().numpy()[keep], x0, y0, scale)
            all_boxes.append(boxes)
            all_scores.append(scores[keep])
            all_labels.append(o["labels"].cpu().numpy()[keep])
            all_cx.append(np.full(len(boxes), cx))
            all_cy.append(np.full(len(boxes), cy))

    batch = []
    bar = _progress_bar(total=_n_windows(shape, tile_size, overlap), desc="detect_sources", unit="tile",
                        enabled=progress_bar)
    with bar, _ProposalBudget(det, tile_size):
        for y0, x0, h, w, data in _iter_windows(img, fitted, tile_size, overlap):
            centre = (y0 + 0.5 * (h - 1), x0 + 0.5 * (w - 1))
            tile_cy.append(centre[0])
            tile_cx.append(centre[1])
            if data is not None:
                batch.append((y0, x0, data, centre))
                if len(batch) == batch_size:
                    flush(batch)
                    batch = []
            bar.update(1)
        flush(batch)

    if all_boxes:
        boxes = np.concatenate(all_boxes)
        scores = np.concatenate(all_scores)
        labels = np.concatenate(all_labels)
        cx = 0.5 * (boxes[:, 0] + boxes[:, 2])
        cy = 0.5 * (boxes[:, 1] + boxes[:, 3])
        keep = _core_mask(cx, tile_cx, np.concatenate(all_cx)) & _core_mask(cy, tile_cy, np.concatenate(all_cy))
        # centre on a valid pixel of the image
        ix = np.clip(np.round(cx).astype(int), 0, shape[1] - 1)
        iy = np.clip(np.round(cy).astype(int), 0, shape[0] - 1)
        inside = (cx > -0.5) & (cx < shape[1] - 0.5) & (cy > -0.5) & (cy < shape[0] - 0.5)
        keep &= inside
        keep[keep] = _valid_at(img, iy[keep], ix[keep])
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        if len(boxes):
            idx = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores.astype(np.float64)),
                              torch.from_numpy(labels.astype(np.int64)), nms_threshold).numpy()
            boxes, scores, labels = boxes[idx], scores[idx], labels[idx]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], -0.5, shape[1] - 0.5)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], -0.5, shape[0] - 0.5)
    else:
        boxes, scores, labels = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
    peaks, peak_snr, py, px = _measure_peaks(img, boxes, fitted)
    keep = _same_source(boxes, py, px)
    if min_snr:
        keep &= peak_snr >= min_snr
    boxes, scores, labels, peaks, peak_snr = boxes[keep], scores[keep], labels[keep], peaks[keep], peak_snr[keep]

    names = np.asarray(cfg.class_names)
    label_names = names[np.asarray(labels, dtype=np.int64) - 1] if len(labels) else np.zeros(0, dtype="U16")
    elapsed = time.perf_counter() - t_start
    meta = {
        "model": det.source or "in-memory FasterRCNNDetector",
        "backbone": cfg.backbone,
        "weights": det.source or str(cfg.weights),
        "detector_mode": cfg.mode,
        "preprocessing": (f"normalizer={cfg.normalizer}; whole image normalized once; tile_size={tile_size}; "
                          f"overlap={overlap}; upscale={cfg.upscale:g}; precision={precision}"),
        "score_threshold": float(score_threshold),
        "min_snr": float(min_snr or 0.0),
        "nms_threshold": float(nms_threshold),
        "n_tiles": n_run,
        "batch_size": int(batch_size),
        "runtime_s": round(elapsed, 3),
    }
    logger.info("detect_sources: %d sources in %d tiles (%.1f s)", len(boxes), n_run, elapsed)
    catalog = make_source_catalog(boxes, scores=scores, labels=label_names, wcs=img.wcs, meta=meta,
                                  finder="astrofmx.detect_sources")
    catalog["peak"] = peaks if img.unit is None else peaks * img.unit
    catalog["peak_snr"] = peak_snr
    return catalog


# -- many inputs -------------------------------------------------------------------------------------------
def _is_many(image):
    """True for a list, a tuple of paths, or a glob pattern (a string with * ? [ that is not a file)."""
    if isinstance(image, list):
        return True
    if isinstance(image, tuple):
        return len(image) > 0 and all(isinstance(p, (str, os.PathLike)) for p in image)
    if isinstance(image, str) and any(c in image for c in "*?[") and not os.path.exists(image):
        return True
    return False


def _detect_many(images, *, model, backbone, device, output_dir, parallel, resume, output_format, progress_bar,
                 kwargs):
    """`detect_sources` over many files with `astrofmx.utils.run_batch` (the detector is resolved once)."""
    from ..survey import run_batch

    if output_dir is None:
        raise ValueError("detect_sources on many inputs needs output_dir=<folder> for the per-file catalogs, the "
                         "summary and the combined catalog")
    det = _resolve_detector(model, backbone, device)
    if parallel is not False and parallel is not None:
        det.to("cpu" if device is None else device)  # shipped to the workers; they run on the CPU by default
    kwargs = dict(kwargs, model=det, device=device, progress_bar=False)
    with warnings.catch_warnings():
        # the model is sent to the cluster once, as one task: dask's "large graph" advice does not apply
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return run_batch(detect_sources, images, output_dir=output_dir, parallel=parallel, resume=resume,
                         output_format=output_format, func_kwargs=kwargs, name="detect", progress_bar=progress_bar)
