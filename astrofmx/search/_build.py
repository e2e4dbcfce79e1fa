"""Building an index: cutouts around the sources of each input, their embeddings, provenance and thumbnails.

One input (a file or an image) is processed by `_index_one`, which the
survey batch engine (`astrofmx.survey.run_batch`) runs over all inputs for
`build_index`,
resumably and optionally with Dask; each input's result is a structured
``.npy`` array that `_ingest` appends to the index.
"""

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np

from . import _store

__all__ = []

logger = logging.getLogger(__name__)

_BATCH_DIR = "batch"


def _fingerprint(model):
    """A short digest of a backbone's weights: two indexes agree on it only if their vectors are comparable."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)[:512].to("cpu")
        digest.update(name.encode())
        digest.update(flat.float().numpy().tobytes())
    return digest.hexdigest()[:16]


def resolve_backbone(backbone, weights="pretrained", device=None):
    """The backbone module and its identity (name, weights, fingerprint, feature dimension)."""
    from ..backbones import Backbone, get_backbone

    if isinstance(backbone, str):
        model = get_backbone(backbone, weights=weights, device=device, progress_bar=False)
        weights_desc = weights if weights in ("pretrained", None) else str(weights)
    elif isinstance(backbone, Backbone):
        model, weights_desc = backbone, "instance"
    else:
        raise TypeError(f"backbone must be a registry name (astrofmx.backbones.list_backbones()) or a built "
                        f"Backbone, got {type(backbone).__name__}")
    identity = dict(backbone=model.spec.name, weights=weights_desc, fingerprint=_fingerprint(model),
                    dim=int(model.spec.feature_dim))
    return model, identity


def _image_hdu(path, hdu):
    if isinstance(hdu, (int, np.integer)):
        return int(hdu)
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        for i, h in enumerate(hdul):
            if h.is_image and h.header.get("NAXIS", 0) >= 2:
                return i
    return -1


def _positions(img, catalog, detect_options):
    """Pixel positions (N, 2) and catalog rows of the sources to index in one image."""
    from astropy.coordinates import SkyCoord

    from ..io import catalog_positions

    ny, nx = img.data.shape[-2:]
    if isinstance(catalog, str):
        if catalog != "center":
            raise ValueError(f"catalog must be a table, a SkyCoord, 'center' or None, got {catalog!r}")
        return np.array([[(nx - 1) / 2, (ny - 1) / 2]]), np.array([0])
    if catalog is None:
        from ..detection import detect_sources

        options = {"progress_bar": False, **(detect_options or {})}
        catalog = detect_sources(img, **options)
    wcs = img.wcs if img.wcs is not None and img.wcs.has_celestial else None
    if isinstance(catalog, SkyCoord):
        if wcs is None:
            raise ValueError("a SkyCoord catalog needs images with a celestial WCS; give pixel positions "
                             "(a table with x_centroid/y_centroid) for images without one")
        x, y = wcs.world_to_pixel(catalog.reshape(-1))
        xy = np.column_stack([x, y])
    else:
        xy = np.asarray(catalog_positions(catalog, wcs, prefer="sky"), dtype=float).reshape(-1, 2)
    inside = np.all(np.isfinite(xy), axis=1) & (xy[:, 0] > -0.5) & (xy[:, 0] < nx - 0.5) & (xy[:, 1] > -0.5) & \
        (xy[:, 1] < ny - 0.5)
    return xy[inside], np.flatnonzero(inside)


def _thumb(data, size):
    """A cutout as a ``size`` x ``size`` uint8 display stamp (asinh stretch between the 1st and 99.5th percentiles)."""
    from scipy import ndimage

    data = np.asarray(data, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros((size, size), np.uint8)
    lo, hi = np.percentile(data[finite], [1.0, 99.5])
    scaled = np.clip((np.where(finite, data, lo) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    scaled = np.arcsinh(10 * scaled) / np.arcsinh(10.0)
    if scaled.shape != (size, size):
        scaled = ndimage.zoom(scaled, (size / scaled.shape[0], size / scaled.shape[1]), order=1)[:size, :size]
    return np.round(255 * np.clip(scaled, 0, 1)).astype(np.uint8)


def _dtype(dim, thumb_size):
    return np.dtype([("x", "f8"), ("y", "f8"), ("ra", "f8"), ("dec", "f8"), ("size_sky", "f8"), ("masked", "f4"), ("hdu", "i4"),
                     ("row", "i8"), ("vector", "f4", (dim,)), ("thumb", "u1", (thumb_size, thumb_size))])


def embed_cutouts(cutouts, model, options):
    """Unit-normalized float32 embeddings of cutouts (or images).

    With ``options['orientations'] == 8`` each embedding is the mean over the 8 flips and 90-degree
    rotations of its cutout (masked pixels as NaN), so that a source's vector does not depend on its
    orientation on the sky (`build_index`'s ``rotation_invariant``).
    """
    from ..backbones import embed

    def run(items):
        return embed(items, backbone=model, normalizer=options.get("normalizer"),
                     batch_size=options.get("batch_size", "auto"), precision=options.get("precision", "auto"),
                     progress_bar=False)

    if options.get("orientations", 1) == 1:
        return normalize(run(cutouts))
    arrays = [_masked_array(c) for c in cutouts]
    total = None
    for flip in (False, True):
        for turns in range(4):
            vectors = normalize(run([np.rot90(a[:, ::-1] if flip else a, turns).copy() for a in arrays]))
            total = vectors if total is None else total + vectors
    return normalize(total)


def _masked_array(cutout):
    """The float32 pixels of a cutout (NDData, Cutout2D or array), masked pixels set to NaN."""
    data = np.array(getattr(cutout, "data", cutout), dtype=np.float32)
    mask = getattr(cutout, "mask", None)
    if mask is not None:
        data[np.asarray(mask, dtype=bool)] = np.nan
    return data


def normalize(vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _index_one(image, *, model, catalog, options):
    """Index one input: a structured array of positions, provenance, unit vectors and thumbnails."""
    from ..io import load_image
    from ..preprocess import make_cutouts

    is_path = isinstance(image, (str, Path))
    img = load_image(image, hdu=options.get("hdu")) if is_path or options.get("hdu") is not None \
        else load_image(image)
    hdu = _image_hdu(image, options.get("hdu")) if is_path else -1
    xy, rows = _positions(img, catalog, options.get("detect_options"))
    size, tsize = options["cutout_size"], options["thumb_size"]
    out = np.zeros(len(xy), _dtype(options["dim"], tsize))
    if not len(xy):
        return out
    cutouts = make_cutouts(img, xy, size, mode="pad")
    out["vector"] = embed_cutouts(cutouts, model, options)
    out["thumb"] = np.stack([_thumb(c.data, tsize) for c in cutouts])
    out["masked"] = [0.0 if c.mask is None else float(np.mean(c.mask)) for c in cutouts]
    out["x"], out["y"], out["row"], out["hdu"] = xy[:, 0], xy[:, 1], rows, hdu
    out["ra"] = out["dec"] = out["size_sky"] = np.nan
    if img.wcs is not None and img.wcs.has_celestial:
        from astropy.wcs.utils import proj_plane_pixel_scales

        sky = img.wcs.celestial.pixel_to_world(xy[:, 0], xy[:, 1]).icrs
        out["ra"], out["dec"] = sky.ra.deg, sky.dec.deg
        out["size_sky"] = size * float(np.mean(proj_plane_pixel_scales(img.wcs.celestial))) * 3600.0
    return out


def _content_id(obj):
    data = getattr(obj, "data", obj)
    if isinstance(obj, tuple):
        data = obj[0]
    try:
        raw = np.ascontiguousarray(np.asarray(data)).view(np.uint8)
    except (TypeError, ValueError):
        return None
    return "image-" + hashlib.sha1(raw.tobytes()).hexdigest()[:12]


def _catalog_key(catalog):
    if catalog is None or isinstance(catalog, str):
        return "index" if catalog is None else f"index_{catalog}"
    from astropy.coordinates import SkyCoord

    if isinstance(catalog, SkyCoord):
        raw = np.column_stack([catalog.icrs.ra.deg, catalog.icrs.dec.deg])
    else:
        raw = np.asarray([[str(v) for v in row] for row in catalog.as_array()[:100000]])
    return "index_" + hashlib.sha1(np.ascontiguousarray(raw).tobytes() + str(len(catalog)).encode()).hexdigest()[:10]


def run_inputs(path, meta, inputs, *, model, catalog, ids, parallel, progress_bar, hdu, detect_options,
               batch_size, precision):
    """Run `_index_one` over ``inputs`` with the batch engine and ingest every finished result."""
    from ..survey import expand_inputs, run_batch

    items = expand_inputs(inputs if isinstance(inputs, (list, tuple)) else [inputs])
    if not items:
        raise ValueError(f"no inputs to index: {inputs!r} is empty or a glob that matches nothing")
    if ids is None and not all(isinstance(i, (str, Path)) for i in items):
        ids = [str(i) if isinstance(i, (str, Path)) else _content_id(i) for i in items]
        if None in ids:
            raise TypeError("inputs must be FITS files, globs, arrays or NDData; give ids= for other objects")
        seen = {}
        for i, name in enumerate(ids):  # identical images given twice: number the repeats
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                ids[i] = f"{name}-{seen[name]}"
    options = dict(cutout_size=meta["cutout_size"], thumb_size=meta["thumb_size"], dim=meta["dim"],
                   normalizer=meta["normalizer"], orientations=meta.get("orientations", 1), hdu=hdu, detect_options=detect_options, batch_size=batch_size,
                   precision=precision)
    result = run_batch(_index_one, items, output_dir=Path(path) / _BATCH_DIR, parallel=parallel,
                       output_format="npy", combine=False, progress_bar=progress_bar, name=_catalog_key(catalog),
                       ids=ids, func_kwargs=dict(model=model, catalog=catalog, options=options))
    failed = result.summary[result.summary["status"] == "failed"]
    for row in failed:
        logger.warning("could not index %s: %s", row["input"], row["error"])
    done = result.summary[result.summary["status"] != "failed"]
    return _ingest(path, meta, [(str(r["input"]), Path(str(r["output"]))) for r in done]), len(failed)


def _ingest(path, meta, finished, chunk_rows=100000):
    """Append the finished per-input results not ingested yet, then commit ``meta`` (returns rows added)."""
    from astropy.coordinates import SkyCoord
    from astropy.table import QTable, vstack

    done = set(meta["ingested"])
    new = [(name, out) for name, out in finished if out.name not in done]
    columns = {key: [] for key in ("file", "hdu", "row", "x", "y", "ra", "dec", "size_sky", "masked")}
    pending, n_pending, added = [], 0, 0

    def flush():
        nonlocal pending, n_pending
        if pending:
            _store.append_rows(path, dict(meta, n=meta["n"] + added - n_pending),
                               np.concatenate([p["vector"] for p in pending]),
                               np.concatenate([p["thumb"] for p in pending]))
        pending, n_pending = [], 0

    for name, out in new:
        arr = np.load(out, mmap_mode="r", allow_pickle=False)
        if arr.dtype.names is None or arr["vector"].shape[1:] != (meta["dim"],):
            raise ValueError(f"{out} is not an index result of this index (dimension {meta['dim']}); remove it")
        arr = np.asarray(arr)
        pending.append(arr)
        n_pending += len(arr)
        added += len(arr)
        columns["file"].append(np.full(len(arr), name, dtype=object))
        for key in ("hdu", "row", "x", "y", "ra", "dec", "size_sky", "masked"):
            columns[key].append(arr[key])
        if n_pending >= chunk_rows:
            flush()
    flush()
    if not new:
        return 0
    cols = {key: np.concatenate(values) if values else np.zeros(0) for key, values in columns.items()}
    table = QTable({"file": cols["file"].astype(str), "hdu": cols["hdu"].astype(np.int32),
                    "catalog_row": cols["row"].astype(np.int64), "x_centroid": cols["x"], "y_centroid": cols["y"],
                    "sky_centroid": SkyCoord(cols["ra"], cols["dec"], unit="deg", frame="icrs"),
                    "size_sky": cols["size_sky"], "masked_fraction": cols["masked"].astype(np.float32)})
    table["size_sky"].unit = "arcsec"
    old = _store.read_sources(path)
    if old is not None and len(old):
        table = vstack([old, table], join_type="exact")
    _store.write_sources(path, table)
    meta["n"] += added
    meta["ingested"].extend(out.name for _, out in new)
    _store.write_meta(path, meta)
    return added


def _prepare(output, overwrite):
    output = Path(output)
    if output.exists():
        if not overwrite:
            raise FileExistsError(f"{str(output)!r} already exists; pass overwrite=True (--overwrite on the command "
                                  "line) to replace it, or add sources to it with load_index(path).add(...)")
        if not output.is_dir() or (any(output.iterdir()) and not (output / _store.META).exists()):
            raise ValueError(f"{str(output)!r} exists and is not a source index: refusing to delete it even with "
                             "overwrite=True; choose another output")
        shutil.rmtree(output)
    output.mkdir(parents=True)
    return output
