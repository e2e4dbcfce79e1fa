"""From an image to the float32 CHW / NCHW tensor a vision backbone takes."""

import os

import numpy as np
from astropy.io import fits
from astropy.nddata import NDData

from ._presets import IMAGENET_MEAN, IMAGENET_STD, resolve_normalizer
from ._resample import PixelMapping, resample_image

__all__ = ["to_model_input", "to_model_batch"]


def _as_array(image):
    """(data, mask) from the accepted image types; data 2-D or (C, H, W)."""
    import torch

    if isinstance(image, torch.Tensor):
        return image.detach().to("cpu", torch.float32).numpy(), None
    if isinstance(image, NDData):
        return np.asarray(image.data), (None if image.mask is None else np.asarray(image.mask, dtype=bool))
    if isinstance(image, (str, os.PathLike, fits.HDUList, fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU,
                          tuple)):
        from ..io import load_image

        img = load_image(image)
        return img.data, img.mask
    if isinstance(image, np.ndarray):
        return image, None
    raise TypeError("image must be a 2-D or (C, H, W) array, a torch tensor, an NDData or anything "
                    f"load_image accepts (path, HDU, (array, wcs)), got {type(image).__name__}")


def _per_channel(values, n, name):
    vals = np.atleast_1d(np.asarray(values, dtype=np.float32))
    if vals.ndim != 1 or vals.shape[0] not in (1, n):
        raise ValueError(f"{name} must have 1 or {n} values (one per channel), got {values!r}")
    return np.broadcast_to(vals, (n,))


def to_model_input(image, *, normalizer="optical", size=None, upscale=None, mean=IMAGENET_MEAN,
                   std=IMAGENET_STD, channels=3, interpolation="bilinear", return_mapping=False):
    """Turn an image into a normalized float32 ``(C, H, W)`` torch tensor for a backbone.

    Steps: normalize to [0, 1] (NaN, blank and masked pixels filled by the
    normalizer's policy), resize, replicate one channel to ``channels``, then
    subtract ``mean`` and divide by ``std``.

    Parameters
    ----------
    image : `~numpy.ndarray`, `torch.Tensor`, `~astropy.nddata.NDData`, path...
        2-D ``(H, W)`` or ``(C, H, W)`` data, or anything
        `~astrofmx.io.load_image` accepts. An NDData's mask is used.
    normalizer : str, callable or None, optional
        A preset name (`~astrofmx.preprocess.list_presets`), a
        `~astrofmx.preprocess.Normalizer` or any callable
        ``f(data, mask=None)`` returning values in [0, 1]; None if the data
        are already in [0, 1] (NaN/masked pixels are then set to 0).
    size : int or (int, int), optional
        Resize to ``size x size`` (or ``(height, width)``).
    upscale : float, optional
        Resize by this factor instead (e.g. 2 as the paper did for MGCLS).
    mean, std : sequence of float or None, optional
        Per-channel normalization of the backbone (ImageNet by default);
        None skips it.
    channels : int or None, optional
        Number of output channels; a single channel is replicated to 3 when
        ``channels=3``. None keeps the input channels.
    interpolation : str, optional
        See `~astrofmx.preprocess.resample_image`.
    return_mapping : bool, optional
        Also return the `~astrofmx.preprocess.PixelMapping` from tensor pixels
        to input pixels.

    Returns
    -------
    tensor : `torch.Tensor`
        float32 ``(C, H, W)``, contiguous, on the CPU.
    mapping : `~astrofmx.preprocess.PixelMapping`
        Only with ``return_mapping=True``.

    Examples
    --------
    >>> from astrofmx.datasets import get_bundled_path
    >>> from astrofmx.preprocess import to_model_input
    >>> x = to_model_input(get_bundled_path("1904-66_SIN.fits"), normalizer="radio", size=224)
    >>> tuple(x.shape), x.dtype
    ((3, 224, 224), torch.float32)
    """
    import torch

    data, mask = _as_array(image)
    if data.ndim == 3 and data.shape[0] > 4 and data.shape[-1] in (1, 3, 4):
        raise ValueError(f"image of shape {data.shape} looks channels-last (H, W, C); astrofmx expects "
                         "(C, H, W): pass np.moveaxis(image, -1, 0)")
    if data.ndim not in (2, 3):
        raise ValueError(f"image must be 2-D (H, W) or 3-D (C, H, W), got shape {data.shape}")
    if size is not None and upscale is not None:
        raise ValueError("give at most one of size= and upscale=")
    norm = resolve_normalizer(normalizer)
    out = np.asarray(norm(data, mask), dtype=np.float32)
    if out.shape != data.shape:
        raise ValueError(f"the normalizer returned shape {out.shape} for input of shape {data.shape}")
    if not np.all(np.isfinite(out)) or out.min() < -1e-6 or out.max() > 1 + 1e-6:
        raise ValueError("the normalizer must return finite values in [0, 1]; got values outside that range")
    if out.ndim == 2:
        out = out[None]
    tensor = torch.from_numpy(np.ascontiguousarray(out))
    mapping = PixelMapping(1.0, 1.0)
    if size is not None or upscale is not None:
        tensor, mapping = resample_image(tensor, factor=upscale, size=size, interpolation=interpolation)
        tensor = tensor.clamp_(0.0, 1.0)
    n_in = tensor.shape[0]
    if channels is not None:
        if channels < 1 or int(channels) != channels:
            raise ValueError(f"channels must be a positive int or None, got {channels!r}")
        if n_in == 1 and channels > 1:
            tensor = tensor.expand(int(channels), -1, -1)
        elif n_in != channels:
            raise ValueError(f"the image has {n_in} channels but channels={channels}; only a single channel "
                             "can be replicated (pass channels=None to keep them)")
    n = tensor.shape[0]
    if mean is not None or std is not None:
        m = torch.from_numpy(_per_channel(0.0 if mean is None else mean, n, "mean").copy())
        s = _per_channel(1.0 if std is None else std, n, "std")
        if np.any(s <= 0):
            raise ValueError(f"std must be positive, got {std!r}")
        scale = 1.0 / torch.from_numpy(s.copy())
        offset = -m * scale  # (x - mean) / std in one pass, as x / std - mean / std
        tensor = torch.addcmul(offset[:, None, None], tensor, scale[:, None, None])
    tensor = tensor.contiguous().to(torch.float32)
    return (tensor, mapping) if return_mapping else tensor


def to_model_batch(images, **kwargs):
    """Stack several images into one float32 ``(N, C, H, W)`` tensor; options as `to_model_input`.

    All images must come out the same size: give ``size=`` for inputs of
    different shapes.

    Parameters
    ----------
    images : sequence
        Images, each anything `to_model_input` accepts.
    **kwargs
        Options of `to_model_input` (``normalizer``, ``size``, ``upscale``,
        ``mean``, ``std``, ``channels``, ``interpolation``), the same for
        every image; ``return_mapping`` is not supported.

    Returns
    -------
    batch : `torch.Tensor`
        float32, shape ``(N, C, H, W)``.

    Raises
    ------
    ValueError
        For an empty list, images of different sizes after preprocessing, or
        ``return_mapping=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import to_model_batch
    >>> rng = np.random.default_rng(0)
    >>> batch = to_model_batch([rng.random((40, 50)), rng.random((64, 64))], normalizer="minmax", size=32)
    >>> tuple(batch.shape)
    (2, 3, 32, 32)
    """
    import torch

    if kwargs.get("return_mapping"):
        raise ValueError("return_mapping is not supported by to_model_batch; call to_model_input per image")
    tensors = [to_model_input(im, **kwargs) for im in images]
    if not tensors:
        raise ValueError("images must not be empty")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"the images have different shapes after preprocessing {sorted(shapes)}; give size= "
                         "to resize them all to one size")
    return torch.stack(tensors)
