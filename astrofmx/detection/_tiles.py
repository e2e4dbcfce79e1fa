"""Whole-image tiles shared by training and inference: loading, normalizing, tiling, model-input tensors."""

import numpy as np

from ..io import release_mapped_pages

__all__ = []


def _with_header_meta(image):
    """An NDData whose ``meta`` is a plain dict of header cards (as `SimulatedRadioField.to_nddata` gives) with
    that dict as a FITS header, so that the beam, BUNIT and telescope reach `detect_sources`."""
    from astropy.io import fits
    from astropy.nddata import NDData

    meta = getattr(image, "meta", None) if isinstance(image, NDData) else None
    if not isinstance(meta, dict) or isinstance(meta, fits.Header) or "header" in meta or not meta:
        return image
    header = fits.Header()
    for key, value in meta.items():
        if isinstance(key, str) and len(key) <= 8 and isinstance(value, (str, int, float, bool, np.number)):
            header[key] = value
    return NDData(image.data, wcs=image.wcs, mask=image.mask, unit=image.unit, meta={"header": header}, copy=False)


def _load(image):
    """NDData from anything load_image accepts; FITS files and dask arrays stay memory-mapped / lazy."""
    from ..io import load_image

    image = _with_header_meta(image)
    if isinstance(image, np.ndarray) and image.size == 0:
        raise ValueError(f"image is empty (shape {image.shape}); give a 2-D image with pixels")
    img = load_image(image, memmap=True)
    if len(img.data.shape) != 2:
        raise ValueError(f"image must be 2-D, got shape {img.data.shape}")
    if 0 in img.data.shape:
        raise ValueError(f"image is empty (shape {img.data.shape}); give a 2-D image with pixels")
    return img


def _fit_normalizer(img, normalizer, resample=1.0):
    """A `~astrofmx.preprocess.FittedNormalizer` normalizing any window as the whole image would be.

    ``normalizer`` is a preset name (`DetectorConfig` allows nothing else); its statistics are fixed on the
    image read strip by strip (`~astrofmx.preprocess.Normalizer.fit`), so no full-size copy exists. When the
    tiles are resampled by ``resample`` before the model, a local background mesh is made of boxes of the
    same size in resampled pixels (``box_size / resample`` image pixels, at least 16), as in training.
    """
    from ..preprocess import get_preset

    norm = get_preset(normalizer)
    if resample != 1.0 and norm.background == "local":
        norm = norm.replace(box_size=max(16, int(round(norm.box_size / resample))))
    try:
        return norm.fit(img.data, img.mask)
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


def _n_windows(shape, tile, overlap):
    from ..preprocess import TileGrid

    return len(TileGrid(shape, tile, overlap))


def _to_model(tiles, tile_size, upscale, antialias=False, contiguous=True):
    """Stack 2-D float32 tiles (zero-padded to ``tile_size``) into a ``(B, 3, S, S)`` tensor.

    With ``contiguous=False`` the three channels are one stride-0 view of the single channel (inference:
    the detector's transform normalizes them into a new tensor anyway, so the 3x copy is saved); training
    augments in place and takes the default, a copy.

    ``S = round(tile_size * upscale)``. With ``antialias`` (beam resampling) the tiles are resampled by
    `~astrofmx.preprocess.resample_image` (bilinear, low-pass filtered when shrinking: exact pixel geometry,
    no aliasing); else as the detector was trained (bilinear, no filter).
    """
    import torch

    batch = np.zeros((len(tiles), tile_size, tile_size), dtype=np.float32)
    for i, t in enumerate(tiles):
        batch[i, :t.shape[0], :t.shape[1]] = t
    x = torch.from_numpy(batch)[:, None]
    if antialias and upscale != 1.0:
        from ..preprocess import resample_image

        size = int(round(tile_size * upscale))
        x, _ = resample_image(x[:, 0], size=(size, size), interpolation="bilinear", antialias=True)
        x = x[:, None].clamp_(0.0, 1.0)
    elif upscale != 1.0:
        size = int(round(tile_size * upscale))
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.clamp_(0.0, 1.0)
    x = x.expand(-1, 3, -1, -1)
    return x.contiguous() if contiguous else x


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
