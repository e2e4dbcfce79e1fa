"""Detector evaluation: COCO mAP through pycocotools, and catalog completeness / purity / F1."""

import contextlib
import io
import logging

import numpy as np

from ._inference import detect_sources
from ._labels import _boxes_for_image
from ._tiles import _load

__all__ = ["mean_average_precision", "evaluate_detector"]


def _require_pycocotools(purpose="mean_average_precision"):
    """ImportError with the pip command if pycocotools (the COCO mAP reference code) is not installed."""
    import importlib.util

    if importlib.util.find_spec("pycocotools") is None:
        raise ImportError(f"{purpose} needs pycocotools (the COCO reference mAP code): pip install pycocotools, "
                          "or pip install 'astrofmx[all]'")

logger = logging.getLogger(__name__)


def _as_numpy(x, dtype=float, width=None):
    if x is None:
        return None
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=dtype)
    if width is not None:
        arr = arr.reshape(-1, width)
    return arr


def mean_average_precision(predictions, targets, *, max_detections=1000):
    """COCO-style mean average precision of box detections, computed with pycocotools.

    Parameters
    ----------
    predictions : list of dict
        One dict per image with ``boxes`` (``(N, 4)`` xyxy), ``scores``
        (``(N,)``) and optionally ``labels`` (``(N,)`` ints, default 1);
        numpy arrays or torch tensors.
    targets : list of dict
        One dict per image with ``boxes`` and optionally ``labels``, in the
        same pixel convention as ``predictions``.
    max_detections : int, optional
        Detections per image considered (COCO uses 100; radio fields are
        crowded, so the default is higher).

    Returns
    -------
    metrics : dict
        ``map`` (AP averaged over IoU 0.50:0.95), ``map_50``, ``map_75``,
        ``mar`` (mean recall at ``max_detections``), ``n_images`` and
        ``n_targets``. The AP values are NaN when there are no targets.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.detection import mean_average_precision
    >>> truth = [{"boxes": np.array([[10, 10, 20, 20], [40, 40, 48, 50]])}]
    >>> found = [{"boxes": np.array([[10, 10, 20, 20], [0, 0, 5, 5]]), "scores": np.array([0.9, 0.8])}]
    >>> round(mean_average_precision(found, truth)["map_50"], 3)
    0.505
    """
    _require_pycocotools()
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(predictions) != len(targets):
        raise ValueError(f"predictions and targets must have one entry per image, got {len(predictions)} and "
                         f"{len(targets)}")
    images, anns, dets = [], [], []
    cats = set()
    n_targets = 0
    for i, (pred, tgt) in enumerate(zip(predictions, targets)):
        images.append({"id": i + 1})
        tb = _as_numpy(tgt["boxes"], width=4)
        tl = _as_numpy(tgt.get("labels"), dtype=np.int64)
        tl = np.ones(len(tb), dtype=np.int64) if tl is None else tl.reshape(-1)
        for box, lab in zip(tb, tl):
            w, h = box[2] - box[0], box[3] - box[1]
            if w < 0 or h < 0:
                raise ValueError(f"target box {box.tolist()} of image {i} has xmax < xmin or ymax < ymin")
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(lab),
                         "bbox": [float(box[0]), float(box[1]), float(w), float(h)], "area": float(w * h),
                         "iscrowd": 0})
            cats.add(int(lab))
        n_targets += len(tb)
        pb = _as_numpy(pred["boxes"], width=4)
        ps = _as_numpy(pred.get("scores"))
        if ps is None:
            raise ValueError(f"predictions for image {i} have no 'scores'")
        ps = ps.reshape(-1)
        pl = _as_numpy(pred.get("labels"), dtype=np.int64)
        pl = np.ones(len(pb), dtype=np.int64) if pl is None else pl.reshape(-1)
        for box, score, lab in zip(pb, ps, pl):
            dets.append({"image_id": i + 1, "category_id": int(lab),
                         "bbox": [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])],
                         "score": float(score)})
            cats.add(int(lab))
    out = {"map": float("nan"), "map_50": float("nan"), "map_75": float("nan"), "mar": float("nan"),
           "n_images": len(images), "n_targets": n_targets}
    if n_targets == 0:
        return out
    if not dets:
        out.update(map=0.0, map_50=0.0, map_75=0.0, mar=0.0)
        return out
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in sorted(cats)]}
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.maxDets = [1, 10, int(max_detections)]
        ev.evaluate()
        ev.accumulate()
    # precision[T, R, K, A, M]: IoU thresholds, recall points, categories, area ranges ('all' first), max dets
    precision = ev.eval["precision"][:, :, :, 0, -1]
    recall = ev.eval["recall"][:, :, 0, -1]

    def mean(values):
        values = values[values > -1]
        return float(values.mean()) if values.size else float("nan")

    iou = np.asarray(ev.params.iouThrs)
    out.update(map=mean(precision), map_50=mean(precision[np.isclose(iou, 0.5)]),
               map_75=mean(precision[np.isclose(iou, 0.75)]), mar=mean(recall))
    return out


def _radius_px(radius, ref_boxes_all, wcs):
    """The matching radius in pixels: ``radius`` (pixels or an angle), default half the median box size."""
    import astropy.units as u

    if radius is None:
        sizes = np.concatenate([np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) for b in ref_boxes_all])
        return (max(0.5 * float(np.median(sizes)), 1.0) if len(sizes) else 2.0) * u.pix
    radius = u.Quantity(radius)
    if radius.unit.physical_type == "angle":
        from astropy.wcs.utils import proj_plane_pixel_scales

        if wcs is None or not wcs.has_celestial:
            raise ValueError(f"radius={radius} is an angle but the image has no celestial WCS; give it in u.pix")
        scale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * u.deg
        return (radius / scale).to_value(u.dimensionless_unscaled) * u.pix
    return radius.to(u.pix)


def _pooled_match_metrics(found, reference, radii):
    """`astrofmx.compare.match_metrics` per image (each source matched within its own image), counts summed."""
    from ..compare import catalog_scores, match_metrics
    from ..io import make_source_catalog

    totals = dict(n_matched=0, n_sources=0, n_reference=0)
    for boxes, ref, rad in zip(found, reference, radii):
        found_cat, ref_cat = (make_source_catalog(b.reshape(-1, 4), warn_empty=False) for b in (boxes, ref))
        per_image = match_metrics(found_cat, ref_cat, rad)
        for key in totals:
            totals[key] += int(per_image[key])
    return {**totals, **catalog_scores(**totals)}


def _boxes_of(catalog):
    if not len(catalog):
        return np.zeros((0, 4))
    return np.stack([catalog[c].value for c in ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax")], axis=1)


def evaluate_detector(detector, images, references, *, radius=None, tile_size=None, overlap=None,
                      score_threshold=None, nms_threshold=0.5, device=None, precision="auto", progress_bar=True):
    """Run `detect_sources` on whole images and score it against reference boxes or catalogs.

    Parameters
    ----------
    detector : `FasterRCNNDetector` or path
        The detector.
    images : image or list of images
        Anything `~astrofmx.io.load_image` accepts (a `list` for several).
    references : table, ``(N, 4)`` array, or a list of them (one per image)
        Reference sources: boxes (``(N, 4)`` xyxy pixels), a table with box
        columns (a simulated truth catalog, an astrofmx catalog) or a source
        catalog that `catalog_to_boxes` turns into boxes.
    radius : `~astropy.units.Quantity`, optional
        Matching radius for completeness, purity and F1 (pixels, or an angle
        converted with each image's pixel scale); default: half the median
        reference box size.
    tile_size, overlap, score_threshold, nms_threshold, device, precision, progress_bar
        Passed to `detect_sources`. mAP uses every detection with score at
        least 0.05 (it integrates over the score), the catalog metrics only
        those above ``score_threshold``.

    Returns
    -------
    metrics : dict
        ``map``, ``map_50``, ``map_75`` (pycocotools, over all images) and
        ``completeness``, ``purity``, ``f1``, ``n_sources``, ``n_reference``,
        ``n_matched`` (`astrofmx.compare.match_metrics` over all images, each
        source matched one-to-one within its own image), and ``radius`` (of
        the last image, in pixels).

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field
    >>> from astrofmx.detection import evaluate_detector, get_default_detector
    >>> field = simulate_radio_field((256, 256), seed=3)
    >>> m = evaluate_detector(get_default_detector(), (field.data, field.wcs), field.truth, progress_bar=False)
    >>> sorted(k for k in m if k.startswith("map"))
    ['map', 'map_50', 'map_75']
    >>> 0 <= m["f1"] <= 1 and m["n_reference"] == len(field.truth)
    True
    """
    if not isinstance(images, list):
        images, references = [images], [references]
    if not isinstance(references, (list, tuple)) or len(references) != len(images):
        raise ValueError(f"references must give one entry per image ({len(images)}), got {references!r:.80}")
    names = list(detector.config.class_names) if hasattr(detector, "config") else ["source"]
    if score_threshold is None:
        own = getattr(getattr(detector, "config", None), "score_threshold", None)
        score_threshold = own if own is not None else 0.5
    preds, tgts, found_all, radii = [], [], [], []
    for image, ref in zip(images, references):
        img = _load(image)
        ref_boxes, ref_labels = _boxes_for_image(ref, img, getattr(detector, "config", None))
        tgts.append({"boxes": ref_boxes, "labels": ref_labels})
        cat = detect_sources(img, model=detector, tile_size=tile_size, overlap=overlap,
                             score_threshold=min(0.05, score_threshold), nms_threshold=nms_threshold,
                             device=device, precision=precision, progress_bar=progress_bar)
        labels = np.array([names.index(str(s)) + 1 if str(s) in names else 1 for s in cat["label"]], dtype=int)
        preds.append({"boxes": _boxes_of(cat), "scores": np.asarray(cat["score"]), "labels": labels})
        found_all.append(_boxes_of(cat[np.asarray(cat["score"]) >= score_threshold]))
        radii.append(_radius_px(radius, [t["boxes"] for t in tgts], img.wcs))
    out = mean_average_precision(preds, tgts)
    n_ref = sum(len(t["boxes"]) for t in tgts)
    if n_ref:
        m = _pooled_match_metrics(found_all, [t["boxes"] for t in tgts], radii)
        out.update({k: m[k] for k in ("completeness", "purity", "f1", "n_sources", "n_reference", "n_matched")})
    else:
        out.update(completeness=float("nan"), purity=0.0, f1=0.0, n_sources=sum(map(len, found_all)),
                   n_reference=0, n_matched=0)
    out["radius"] = radii[-1]
    return out
