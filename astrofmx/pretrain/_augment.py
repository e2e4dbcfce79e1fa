"""Augmentations for astronomical images: crops, rotations, flips, beam blur, noise re-draws, stretch and clip changes.

Every view of a tile is drawn from the tile's raw pixel values (not from an
RGB rendering), so the augmentations act where astronomy's nuisances act:

1. a random resized crop (area fraction and aspect ratio drawn), resampled to
   the view size;
2. beam blur: convolution with a round Gaussian of random width (a coarser
   restoring beam or PSF);
3. a noise re-draw: Gaussian noise whose rms is a random multiple of the
   tile's own robust (MAD) noise, as another observation of the same sky;
4. one of the eight rotations by multiples of 90 degrees and flips (the sky
   has no preferred orientation);
5. a random display: the median subtracted, clipped at random low and high
   percentiles, scaled to [0, 1] and stretched (linear, sqrt, asinh of
   random softening, or log), the family of `astrofmx.preprocess`'s
   normalizers, so that the backbone does not depend on one of them.

There is no colour jitter: the single channel is replicated to three
identical channels and normalized with the backbone's mean and std, as
`astrofmx.preprocess.to_model_input` does at inference.
"""

import dataclasses
import math

import numpy as np

__all__ = ["AugmentationConfig", "make_views"]

_STRETCHES = ("linear", "sqrt", "asinh", "log")


def _pair(name, value, lo=None, hi=None):
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)
            and value[0] <= value[1]):
        raise ValueError(f"{name} must be a (low, high) pair with low <= high, got {value!r}")
    if (lo is not None and value[0] < lo) or (hi is not None and value[1] > hi):
        raise ValueError(f"{name} must lie within [{lo}, {hi}], got {value!r}")
    return tuple(float(v) for v in value)


@dataclasses.dataclass(frozen=True)
class AugmentationConfig:
    """How the views of a tile are drawn for self-supervised pretraining.

    Parameters
    ----------
    global_crops : int, optional
        Large views per tile (DINO's teacher sees these); at least 2.
    local_crops : int, optional
        Small views per tile (DINO's multi-crop, MSN's focal views); 0 or more.
    global_scale, local_scale : (float, float), optional
        Range of the crop area as a fraction of the tile.
    local_size : int, optional
        Side of the local views in pixels (default: half the crop size).
    rotate : bool, optional
        Random rotation by a multiple of 90 degrees.
    flip : bool, optional
        Random mirror flip.
    blur_probability : float, optional
        Chance of a beam blur.
    blur_sigma : (float, float), optional
        Range of the blur's Gaussian sigma, in pixels of the view.
    noise_probability : float, optional
        Chance of a noise re-draw.
    noise_scale : (float, float), optional
        Range of the added noise rms, in units of the tile's robust rms.
    clip_low, clip_high : (float, float), optional
        Ranges of the lower and upper clipping percentiles.
    stretches : tuple of str, optional
        Stretches drawn from: ``'linear'``, ``'sqrt'``, ``'asinh'``, ``'log'``.
    asinh_softening : (float, float), optional
        Range of the asinh softening parameter ``a`` (log-uniform).

    Examples
    --------
    >>> from astrofmx.pretrain import AugmentationConfig
    >>> AugmentationConfig(local_crops=2).n_views
    4
    >>> AugmentationConfig(stretches=("gamma",))
    Traceback (most recent call last):
    ...
    ValueError: unknown stretch(es) ['gamma']; choose from ('linear', 'sqrt', 'asinh', 'log')
    """

    global_crops: int = 2
    local_crops: int = 4
    global_scale: tuple = (0.4, 1.0)
    local_scale: tuple = (0.08, 0.4)
    local_size: int = None
    rotate: bool = True
    flip: bool = True
    blur_probability: float = 0.5
    blur_sigma: tuple = (0.3, 1.5)
    noise_probability: float = 0.5
    noise_scale: tuple = (0.2, 1.5)
    clip_low: tuple = (0.0, 5.0)
    clip_high: tuple = (99.5, 100.0)
    stretches: tuple = _STRETCHES
    asinh_softening: tuple = (0.02, 0.5)

    def __post_init__(self):
        if not isinstance(self.global_crops, int) or self.global_crops < 2:
            raise ValueError(f"global_crops must be an integer >= 2, got {self.global_crops!r}")
        if not isinstance(self.local_crops, int) or self.local_crops < 0:
            raise ValueError(f"local_crops must be an integer >= 0, got {self.local_crops!r}")
        if self.local_size is not None and (not isinstance(self.local_size, int) or self.local_size < 8):
            raise ValueError(f"local_size must be None or an integer >= 8, got {self.local_size!r}")
        for name in ("global_scale", "local_scale"):
            lo, hi = _pair(name, getattr(self, name), 0.0, 1.0)
            if lo <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("blur_probability", "noise_probability"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
        _pair("blur_sigma", self.blur_sigma, 0.0)
        _pair("noise_scale", self.noise_scale, 0.0)
        _pair("clip_low", self.clip_low, 0.0, 50.0)
        _pair("clip_high", self.clip_high, 50.0, 100.0)
        _pair("asinh_softening", self.asinh_softening, 1e-4)
        bad = [s for s in self.stretches if s not in _STRETCHES]
        if bad or not self.stretches:
            raise ValueError(f"unknown stretch(es) {bad}; choose from {_STRETCHES}")

    @property
    def n_views(self):
        """Views per tile (global + local)."""
        return self.global_crops + self.local_crops

    def to_dict(self):
        """The settings as a JSON-ready dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _robust_rms(tile):
    values = tile[np.isfinite(tile)]
    if values.size < 4:
        return 0.0
    med = np.median(values)
    return float(1.4826 * np.median(np.abs(values - med)))


def _crop_box(rng, shape, scale):
    ny, nx = shape
    for _ in range(10):
        area = rng.uniform(*scale) * ny * nx
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if 2 <= w <= nx and 2 <= h <= ny:
            return int(rng.integers(0, ny - h + 1)), int(rng.integers(0, nx - w + 1)), h, w
    side = max(2, min(ny, nx, int(round(math.sqrt(scale[1] * ny * nx)))))
    return (ny - side) // 2, (nx - side) // 2, side, side


def _display(view, rng, cfg):
    """Median-subtracted, clipped at random percentiles, scaled to [0, 1] and stretched."""
    view = view - np.median(view)
    lo, hi = np.percentile(view, [rng.uniform(*cfg.clip_low), rng.uniform(*cfg.clip_high)])
    if not hi > lo:  # sparse images (a thresholded background): clip at the maximum instead
        hi = view.max()
    if not hi > lo:
        return np.zeros_like(view)
    x = np.clip((view - lo) / (hi - lo), 0.0, 1.0)
    stretch = cfg.stretches[int(rng.integers(len(cfg.stretches)))]
    if stretch == "sqrt":
        x = np.sqrt(x)
    elif stretch == "asinh":
        a = math.exp(rng.uniform(math.log(cfg.asinh_softening[0]), math.log(cfg.asinh_softening[1])))
        x = np.arcsinh(x / a) / math.asinh(1.0 / a)
    elif stretch == "log":
        x = np.log1p(1000.0 * x) / math.log1p(1000.0)
    return x


def _one_view(tile, rms, rng, size, scale, cfg):
    import torch
    import torch.nn.functional as F
    from torchvision.transforms.functional import gaussian_blur

    y0, x0, h, w = _crop_box(rng, tile.shape, scale)
    crop = torch.from_numpy(np.ascontiguousarray(tile[y0:y0 + h, x0:x0 + w]))[None, None]
    zoom = size / max(h, w)
    view = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=zoom < 1)
    if rng.uniform() < cfg.blur_probability:
        sigma = rng.uniform(*cfg.blur_sigma)
        if sigma > 0:
            kernel = 2 * int(math.ceil(3 * sigma)) + 1
            view = gaussian_blur(view, [kernel, kernel], [sigma, sigma])
    view = view[0, 0].numpy().astype(np.float64)
    if rms > 0 and rng.uniform() < cfg.noise_probability:
        view = view + rng.normal(0.0, rng.uniform(*cfg.noise_scale) * rms, view.shape)
    if cfg.rotate:
        view = np.rot90(view, int(rng.integers(4)))
    if cfg.flip and rng.uniform() < 0.5:
        view = view[:, ::-1]
    return _display(view, rng, cfg).astype(np.float32)


def make_views(tile, rng, *, crop_size, config=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)):
    """Draw the global and local views of one tile.

    Parameters
    ----------
    tile : `numpy.ndarray`
        2-D raw pixel values (NaN allowed: set to the tile's median).
    rng : `numpy.random.Generator`
        Source of every random choice (the same generator state gives the
        same views).
    crop_size : int
        Side of the global views.
    config : `AugmentationConfig`, optional
    mean, std : sequence of 3 float, optional
        The backbone's normalization.

    Returns
    -------
    global_views : `torch.Tensor`
        ``(global_crops, 3, crop_size, crop_size)`` float32.
    local_views : `torch.Tensor`
        ``(local_crops, 3, local_size, local_size)`` float32.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.pretrain import AugmentationConfig, make_views
    >>> tile = np.random.default_rng(0).normal(size=(96, 96)).astype(np.float32)
    >>> g, l = make_views(tile, np.random.default_rng(1), crop_size=32, config=AugmentationConfig(local_crops=3))
    >>> tuple(g.shape), tuple(l.shape)
    ((2, 3, 32, 32), (3, 3, 16, 16))
    """
    import torch

    cfg = config if config is not None else AugmentationConfig()
    tile = np.asarray(tile, dtype=np.float32)
    if tile.ndim != 2:
        raise ValueError(f"tile must be a 2-D image, got shape {tile.shape}")
    finite = np.isfinite(tile)
    if not finite.all():
        tile = np.where(finite, tile, np.median(tile[finite]) if finite.any() else 0.0).astype(np.float32)
    rms = _robust_rms(tile)
    local_size = cfg.local_size or max(8, crop_size // 2)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]

    def stack(n, size, scale):
        views = [torch.from_numpy(_one_view(tile, rms, rng, size, scale, cfg).copy()) for _ in range(n)]
        if not views:
            return torch.zeros((0, 3, size, size))
        return (torch.stack(views)[:, None].expand(-1, 3, -1, -1) - m) / s

    return stack(cfg.global_crops, crop_size, cfg.global_scale), stack(cfg.local_crops, local_size, cfg.local_scale)
