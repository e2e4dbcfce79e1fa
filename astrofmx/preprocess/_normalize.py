"""Normalization of high-dynamic-range astronomical images to [0, 1], built on astropy.visualization.

astropy provides the intervals (`~astropy.visualization.PercentileInterval`,
`~astropy.visualization.ZScaleInterval`, ...) and stretches
(`~astropy.visualization.AsinhStretch`, ...); this module adds what model
inputs need on top of them: a robust background and noise estimate, signal-to-
noise scaling, zeroing below n sigma, a fill policy for NaN/blank pixels and
per-channel handling of multi-band data.
"""

import copy
import dataclasses
import inspect
import logging
import types

import numpy as np
from astropy.stats import sigma_clipped_stats
from astropy.visualization import (AsinhStretch, AsymmetricPercentileInterval, BaseInterval, BaseStretch,
                                   LinearStretch, ManualInterval, MinMaxInterval, ZScaleInterval)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "BackgroundEstimate",
    "estimate_background",
    "Normalizer",
    "FittedNormalizer",
    "PerChannelNormalizer",
    "PRESETS",
    "get_preset",
    "list_presets",
    "resolve_normalizer",
]

logger = logging.getLogger(__name__)

#: ImageNet channel means and standard deviations (timm/torchvision defaults) applied by
#: `~astrofmx.preprocess.to_model_input` after normalization to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _fmt(obj):
    """Deterministic, readable repr of an astropy interval or stretch (astropy's has a memory address)."""
    if obj is None or isinstance(obj, (int, float, str, bool)):
        return repr(obj)
    if hasattr(obj, "transform_1") and hasattr(obj, "transform_2"):
        # astropy: ``a + b`` is CompositeTransform(b, a) and applies b first
        return f"{_fmt(obj.transform_2)} + {_fmt(obj.transform_1)}"
    name = type(obj).__name__
    params = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    if name == "PercentileInterval":
        pct = params.pop("upper_percentile") - params.pop("lower_percentile")
        params = {"percentile": round(pct, 10), **params}
    try:
        defaults = {k: p.default for k, p in inspect.signature(type(obj).__init__).parameters.items()}
    except (TypeError, ValueError):  # pragma: no cover
        defaults = {}
    parts = []
    for k, v in params.items():
        if k in defaults and defaults[k] is not inspect.Parameter.empty and _same(defaults[k], v):
            continue
        parts.append(f"{k}=<array>" if isinstance(v, np.ndarray) else f"{k}={v!r}")
    return f"{name}({', '.join(parts)})"


def _same(a, b):
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # pragma: no cover
        return False


@dataclasses.dataclass(frozen=True)
class BackgroundEstimate:
    """Background level and noise of an image (scalars, or 2-D maps for a varying background).

    Attributes
    ----------
    background : float or `~numpy.ndarray`
        Sigma-clipped median (global) or a map interpolated from a mesh of
        boxes (local, `~astrofmx.preprocess.estimate_background_mesh`), in
        data units.
    noise : float or `~numpy.ndarray`
        Robust standard deviation (MAD-based) of the background, in data units.
    method : str
        ``'global'`` or ``'local'``.
    """

    background: object
    noise: object
    method: str


def estimate_background(data, mask=None, *, sigma=3.0, maxiters=10, box_size=None, filter_size=3):
    """Robust background level and noise of an image.

    Parameters
    ----------
    data : array-like, 2-D
        The image; NaN and infinite pixels are ignored.
    mask : array-like of bool, optional
        True for pixels to ignore.
    sigma : float, optional
        Clipping threshold in standard deviations.
    maxiters : int, optional
        Maximum number of clipping iterations.
    box_size : int or tuple of int, optional
        None (default) gives one global value from
        `~astropy.stats.sigma_clipped_stats` (median and MAD standard
        deviation). An int or ``(ny, nx)`` estimates a spatially varying
        background on a mesh of boxes of that size
        (`~astrofmx.preprocess.estimate_background_mesh`, as SExtractor and
        `~photutils.background.Background2D` do) and returns 2-D maps.
    filter_size : int, optional
        Median filter size (in boxes) of the mesh.

    Returns
    -------
    estimate : `BackgroundEstimate`

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import estimate_background
    >>> rng = np.random.default_rng(0)
    >>> image = rng.normal(10.0, 2.0, (128, 128))
    >>> image[60:68, 60:68] += 500  # a bright source does not bias the estimate
    >>> est = estimate_background(image)
    >>> round(est.background), round(est.noise)
    (10, 2)
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D, got shape {data.shape}")
    bad = _bad_pixels(data, mask)
    if bad.all():
        raise ValueError("every pixel is NaN, infinite or masked; cannot estimate a background")
    if box_size is None:
        median, std = _global_stats(data[~bad], sigma, maxiters)
        return BackgroundEstimate(median, std, "global")
    from ._background import estimate_background_mesh

    mesh = estimate_background_mesh(data, bad, box_size=box_size, filter_size=filter_size, sigma=sigma,
                                    maxiters=maxiters)
    background, noise = mesh.maps()
    return BackgroundEstimate(background, noise, "local")


def _bad_pixels(data, mask):
    """True where ``data`` is NaN or infinite or ``mask`` (same shape) is True."""
    bad = ~np.isfinite(data)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != data.shape:
            raise ValueError(f"mask shape {mask.shape} does not match the data shape {data.shape}")
        bad |= mask
    return bad


def _global_stats(values, sigma, maxiters=10):
    """Sigma-clipped median and MAD standard deviation of 1-D valid values (noise 1 for a constant image)."""
    _, median, std = sigma_clipped_stats(values, sigma=sigma, maxiters=maxiters, stdfunc="mad_std")
    median, std = float(median), float(std)
    if not np.isfinite(std) or std <= 0:
        std = float(np.std(values))
        if not np.isfinite(std) or std <= 0:
            logger.debug("the image is constant; the noise is set to 1")
            std = 1.0
    return median, std


_FILLS = ("zero", "background")


@dataclasses.dataclass(frozen=True, repr=False)
class Normalizer:
    """A configured, deterministic map from an image to float32 values in [0, 1].

    The steps, in order: estimate the background and noise (if any option
    below needs them), subtract the background, divide by the noise (SNR
    units), replace pixels below ``threshold`` sigma by the background level,
    compute the limits with ``interval`` on the valid pixels, apply
    ``stretch`` (astropy's ``stretch + ManualInterval(vmin, vmax)`` with
    clipping) and finally fill NaN/blank/masked pixels.

    Parameters
    ----------
    interval : `~astropy.visualization.BaseInterval`, optional
        How the display limits are found; default
        `~astropy.visualization.MinMaxInterval`. Intervals that draw random
        samples (``n_samples`` on the percentile intervals) are rejected, so
        that results are reproducible.
    stretch : `~astropy.visualization.BaseStretch`, optional
        Stretch applied after the interval; default
        `~astropy.visualization.LinearStretch`. Stretches compose with ``+``
        as in astropy.
    background : {None, 'global', 'local'}, optional
        Subtract a sigma-clipped median (``'global'``) or a
        `~photutils.background.Background2D` map (``'local'``, boxes of
        ``box_size``).
    snr : bool, optional
        Divide by the robust noise, so that values are signal-to-noise ratios.
    threshold : float, optional
        Replace pixels less than ``threshold`` noise sigma above the
        background by the background level (as Radio Galaxy Zoo and MiraBest
        zero pixels below 3 sigma).
    fill : {'zero', 'background'} or float, optional
        Output value of NaN, infinite, blank and masked pixels: 0,
        the normalized background level (blank areas look like empty sky), or
        a given value in [0, 1].
    per_channel : bool, optional
        For ``(C, H, W)`` input: limits per channel (True) or common limits
        over all channels (False, which keeps colour ratios).
    box_size : int, optional
        Box size of the ``'local'`` background.
    sigma : float, optional
        Clipping threshold of the background and noise estimate.
    name : str, optional
        A label shown in the repr (presets set it).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.visualization import AsinhStretch, PercentileInterval
    >>> from astrofmx.preprocess import Normalizer
    >>> norm = Normalizer(interval=PercentileInterval(99.5), stretch=AsinhStretch(0.1), background="global")
    >>> norm
    Normalizer(interval=PercentileInterval(percentile=99.5), stretch=AsinhStretch(), background='global', \
snr=False, threshold=None, fill='zero', per_channel=True)
    >>> data = np.random.default_rng(1).normal(0.0, 1.0, (64, 64)).astype("float32")
    >>> data[0, 0] = np.nan
    >>> out = norm(data)
    >>> out.dtype, float(out.min()) >= 0.0, float(out.max()) <= 1.0, float(out[0, 0])
    (dtype('float32'), True, True, 0.0)
    """

    interval: BaseInterval = None
    stretch: BaseStretch = None
    background: str = None
    snr: bool = False
    threshold: float = None
    fill: object = "zero"
    per_channel: bool = True
    box_size: int = 64
    sigma: float = 3.0
    name: str = None

    def __post_init__(self):
        interval = MinMaxInterval() if self.interval is None else self.interval
        stretch = LinearStretch() if self.stretch is None else self.stretch
        if not isinstance(interval, BaseInterval):
            raise TypeError(f"interval must be an astropy.visualization BaseInterval, got {interval!r}")
        if not isinstance(stretch, BaseStretch):
            raise TypeError(f"stretch must be an astropy.visualization BaseStretch, got {stretch!r}")
        if getattr(interval, "n_samples", None) and not isinstance(interval, ZScaleInterval):
            raise ValueError(f"interval {_fmt(interval)} draws random samples (n_samples) with numpy's global "
                             "random generator; pass n_samples=None so that normalization is deterministic")
        if self.background not in (None, "global", "local"):
            raise ValueError(f"background must be None, 'global' or 'local', got {self.background!r}")
        if self.threshold is not None and not (np.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number of sigma or None, got {self.threshold!r}")
        if isinstance(self.fill, str):
            if self.fill not in _FILLS:
                raise ValueError(f"fill must be 'zero', 'background' or a number in [0, 1], got {self.fill!r}")
        elif not (isinstance(self.fill, (int, float, np.floating)) and 0.0 <= float(self.fill) <= 1.0):
            raise ValueError(f"fill must be 'zero', 'background' or a number in [0, 1], got {self.fill!r}")
        if self.sigma <= 0:
            raise ValueError(f"sigma must be positive, got {self.sigma!r}")
        object.__setattr__(self, "interval", interval)
        object.__setattr__(self, "stretch", stretch)

    def __repr__(self):
        keys = ["interval", "stretch", "background", "snr", "threshold", "fill", "per_channel"]
        if self.background == "local":
            keys.append("box_size")
        if self.sigma != 3.0:
            keys.append("sigma")
        parts = [f"{k}={_fmt(getattr(self, k))}" for k in keys]
        head = f"name={self.name!r}, " if self.name else ""
        return f"Normalizer({head}{', '.join(parts)})"

    def replace(self, **changes):
        """A copy with some parameters changed (`dataclasses.replace`).

        Examples
        --------
        >>> from astrofmx.preprocess import get_preset
        >>> get_preset("radio-snr").replace(threshold=5.0, name=None).threshold
        5.0
        """
        return dataclasses.replace(self, **changes)

    # -- the work --------------------------------------------------------------------------------
    @property
    def _needs_background(self):
        return self.background is not None or self.snr or self.threshold is not None or self.fill == "background"

    def _fit_background(self, data, mask, max_samples, values=None):
        """Background and noise of one 2-D channel: floats, a `BackgroundMesh` (local) or None (not needed).

        ``values``: the (sampled) valid pixels when the caller already read them (global statistics).
        """
        from ._background import estimate_background_mesh, sample_pixels

        if not self._needs_background:
            return None, None
        if self.background == "local":
            mesh = estimate_background_mesh(data, mask, box_size=self.box_size, sigma=self.sigma)
            return mesh, mesh
        if values is None:
            values = sample_pixels(data, mask, max_samples=max_samples)
        if values.size == 0:
            raise ValueError("every pixel is NaN, infinite or masked; nothing to normalize")
        return _global_stats(values, self.sigma)

    def _fit_values(self, data, mask, max_samples):
        """(background, noise, prepared values of the valid (sampled) pixels) of one 2-D channel.

        The image is read once for the values (and once more for a local mesh).
        """
        from ._background import sample_pixels

        if self._needs_background and self.background == "local":
            bkg, noise = self._fit_background(data, mask, max_samples)
            values, y, x = sample_pixels(data, mask, max_samples=max_samples, return_coords=True)
            b, n = bkg.at(y, x)
        else:
            values = sample_pixels(data, mask, max_samples=max_samples)
            if values.size == 0:
                raise ValueError("every pixel is NaN, infinite or masked; nothing to normalize")
            bkg, noise = b, n = self._fit_background(data, mask, max_samples, values=values)
        if values.size == 0:
            raise ValueError("every pixel is NaN, infinite or masked; nothing to normalize")
        values, _ = self._prepare(values, np.zeros(values.shape, dtype=bool), b, n)
        return bkg, noise, values

    def _prepare(self, x, bad, bkg, noise):
        """Background/noise steps on values ``x`` (modified in place); returns (values, fill level before scaling).

        ``bkg`` and ``noise`` are floats or arrays broadcastable to ``x`` (None when not needed).
        """
        level = 0.0
        if not self._needs_background:
            return x, level
        if self.background is not None:
            x -= bkg
        else:
            level = bkg
        if self.threshold is not None:
            excess = x - level if self.background is None else x
            low = (excess < self.threshold * noise) & ~bad
            if np.ndim(level):
                x[low] = level[low]
            else:
                x[low] = level
        if self.snr:
            x /= noise
            level = level / noise
        return x, level

    def _scale(self, x, bad, level, vmin, vmax):
        out = np.zeros(x.shape, dtype=np.float32)
        if vmax > vmin:
            transform = self.stretch + ManualInterval(vmin, vmax)
            x[bad] = vmin
            with np.errstate(invalid="ignore", divide="ignore"):
                out[...] = transform(x, clip=True)
                out = np.clip(out, 0.0, 1.0, out=out)
        if self.fill == "zero":
            fill = 0.0
        elif self.fill == "background":
            if vmax > vmin:
                lev = np.asarray(level, dtype=np.float64)
                lev = lev[bad] if lev.ndim else np.array([float(lev)])
                with np.errstate(invalid="ignore", divide="ignore"):
                    fill = np.clip(np.nan_to_num(transform(lev, clip=True)), 0.0, 1.0)
            else:
                fill = 0.0
        else:
            fill = float(self.fill)
        out[bad] = fill
        return out

    def _limits(self, values):
        vmin, vmax = self.interval.get_limits(values)
        return float(vmin), float(vmax)

    def __call__(self, data, mask=None):
        """Normalize ``data`` (2-D, or ``(C, H, W)`` per channel) to float32 values in [0, 1].

        Parameters
        ----------
        data : array-like
            2-D image or ``(C, H, W)`` stack. Not modified.
        mask : array-like of bool, optional
            True for pixels to ignore and fill (2-D masks apply to every
            channel). NaN and infinite pixels are always treated as masked.

        Returns
        -------
        out : `~numpy.ndarray`
            float32, same shape as ``data``, values in [0, 1].
        """
        data = np.asarray(data)
        if data.ndim not in (2, 3):
            raise ValueError(f"data must be 2-D (H, W) or 3-D (C, H, W), got shape {data.shape}")
        if data.dtype.kind not in "biuf":
            raise TypeError(f"data must be numeric, got dtype {data.dtype}")
        stack = data[None] if data.ndim == 2 else data
        bad = ~np.isfinite(stack)
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape not in (stack.shape, stack.shape[1:], data.shape):
                raise ValueError(f"mask shape {mask.shape} does not match the data shape {data.shape}")
            bad = bad | np.broadcast_to(mask, stack.shape)
        if bad.all():
            raise ValueError("every pixel is NaN, infinite or masked; nothing to normalize")
        fits = []
        for c in range(stack.shape[0]):
            if bad[c].all():
                raise ValueError(f"channel {c} has no valid pixel (all NaN, infinite or masked)")
            bkg, noise, values = self._fit_values(stack[c], bad[c], stack[c].size)
            fits.append([bkg, noise, values])
        if not self.per_channel and stack.shape[0] > 1:
            common = self._limits(np.concatenate([f[2] for f in fits]))
        out = np.empty(stack.shape, dtype=np.float32)
        for c, (bkg, noise, values) in enumerate(fits):
            vmin, vmax = self._limits(values) if self.per_channel or stack.shape[0] == 1 else common
            out[c] = FittedNormalizer(self, bkg, noise, vmin, vmax)(stack[c], bad[c])
        return out[0] if data.ndim == 2 else out

    def fit(self, data, mask=None, *, max_samples=None):
        """Fix the statistics (background, noise, limits) on one image, to apply them window by window.

        The returned `FittedNormalizer` maps any window of the image exactly
        as normalizing the whole image at once would (every step is
        pixel-wise once the statistics are known), so a huge image can be
        normalized tile by tile. The statistics are read strip by strip:
        global ones from every pixel up to 4096 x 4096 and from a regular
        sample of ``2**22`` pixels above that (``max_samples``), a local
        background from a streamed mesh of boxes
        (`~astrofmx.preprocess.estimate_background_mesh`). Memory stays
        bounded for a `numpy.memmap` or a dask array.

        Parameters
        ----------
        data : array-like, 2-D
            The image (numpy array, memory map or dask array).
        mask : array-like of bool, optional
            True for pixels to ignore.
        max_samples : int, optional
            See `~astrofmx.preprocess.sample_pixels`.

        Returns
        -------
        fitted : `FittedNormalizer`

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import get_preset
        >>> image = np.random.default_rng(3).normal(0.0, 1.0, (256, 256)).astype("float32")
        >>> fitted = get_preset("radio").fit(image)
        >>> tile = fitted(image[64:128, 32:96], origin=(64, 32))
        >>> bool(np.array_equal(tile, get_preset("radio")(image)[64:128, 32:96]))
        True
        """
        from ._background import _check_2d, sample_pixels

        _check_2d(data, mask)
        if isinstance(self.interval, ManualInterval) and None not in (self.interval.vmin, self.interval.vmax):
            # fixed limits: only the background and noise are needed, not the pixel values
            bkg, noise = self._fit_background(data, mask, max_samples)
            if bkg is None and sample_pixels(data, mask, max_samples=max_samples).size == 0:
                raise ValueError("every pixel is NaN, infinite or masked; nothing to normalize")
            return FittedNormalizer(self, bkg, noise, float(self.interval.vmin), float(self.interval.vmax))
        bkg, noise, values = self._fit_values(data, mask, max_samples)
        vmin, vmax = self._limits(values)
        return FittedNormalizer(self, bkg, noise, vmin, vmax)

    def to_image_normalize(self, data, mask=None):
        """An `~astropy.visualization.ImageNormalize` with this normalizer's limits, for plotting.

        Only the interval and stretch are carried over (no background
        subtraction), so use it on ``data`` as it is to display it in
        matplotlib the way the model sees it in the simple cases.

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import get_preset
        >>> norm = get_preset("optical").to_image_normalize(np.arange(100.0).reshape(10, 10))
        >>> type(norm).__name__
        'ImageNormalize'
        """
        from astropy.visualization import ImageNormalize

        data = np.asarray(data, dtype=float)
        valid = np.isfinite(data) if mask is None else np.isfinite(data) & ~np.asarray(mask, bool)
        vmin, vmax = self._limits(data[valid])
        return ImageNormalize(vmin=vmin, vmax=vmax, stretch=copy.deepcopy(self.stretch), clip=True)


def _mesh_type():
    from ._background import BackgroundMesh

    return BackgroundMesh


@dataclasses.dataclass(frozen=True)
class FittedNormalizer:
    """A `Normalizer` whose statistics were fixed on one image (`Normalizer.fit`); applies to any window of it.

    Attributes
    ----------
    normalizer : `Normalizer`
        The settings.
    background, noise : float, `~astrofmx.preprocess.BackgroundMesh` or None
        The fitted background and noise (a mesh for ``background='local'``;
        None when no step needs them).
    vmin, vmax : float
        The limits found by the interval.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import get_preset
    >>> image = np.random.default_rng(4).normal(1.0, 0.1, (64, 64))
    >>> fitted = get_preset("radio-snr").fit(image)
    >>> round(fitted.background, 1), round(fitted.noise, 1)
    (1.0, 0.1)
    >>> fitted(image[:8, :8]).shape
    (8, 8)
    """

    normalizer: Normalizer
    background: object
    noise: object
    vmin: float
    vmax: float

    def __call__(self, data, mask=None, *, origin=(0, 0)):
        """Normalize ``data``, the window of the fitted image whose first pixel is ``origin = (y0, x0)``.

        Parameters
        ----------
        data : array-like, 2-D
            The window's pixels (not modified).
        mask : array-like of bool, optional
            True for pixels to fill. NaN and infinite pixels always are.
        origin : (int, int), optional
            Position of ``data[0, 0]`` in the fitted image (used by a local
            background).

        Returns
        -------
        out : `~numpy.ndarray`
            float32 in [0, 1], the shape of ``data``.
        """
        x = np.array(data, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"data must be a 2-D window of the fitted image, got shape {x.shape}")
        bad = _bad_pixels(x, mask)
        bkg, noise = self.background, self.noise
        if isinstance(bkg, _mesh_type()):
            y0, x0 = (int(v) for v in origin)
            bkg, noise = bkg.window(y0, y0 + x.shape[0], x0, x0 + x.shape[1])
        x, level = self.normalizer._prepare(x, bad, bkg, noise)
        return self.normalizer._scale(x, bad, level, self.vmin, self.vmax)


class PerChannelNormalizer:
    """Apply a different normalizer to each channel of a ``(C, H, W)`` stack.

    Parameters
    ----------
    normalizers : sequence of callables
        One normalizer (a `Normalizer`, a preset name, or any callable
        ``f(data, mask=None)``) per channel.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import PerChannelNormalizer
    >>> norm = PerChannelNormalizer(["radio-snr", "optical"])
    >>> stack = np.random.default_rng(2).normal(size=(2, 32, 32))
    >>> norm(stack).shape
    (2, 32, 32)
    """

    def __init__(self, normalizers):
        self.normalizers = tuple(resolve_normalizer(n) for n in normalizers)
        if not self.normalizers:
            raise ValueError("normalizers must not be empty")

    def __repr__(self):
        return f"PerChannelNormalizer({list(self.normalizers)!r})"

    def __call__(self, data, mask=None):
        data = np.asarray(data)
        if data.ndim != 3 or data.shape[0] != len(self.normalizers):
            raise ValueError(f"data must be (C, H, W) with C = {len(self.normalizers)} channels, "
                             f"got shape {data.shape}")
        if mask is not None:
            mask = np.broadcast_to(np.asarray(mask, dtype=bool), data.shape)
        return np.stack([np.asarray(n(data[c], None if mask is None else mask[c]), dtype=np.float32)
                         for c, n in enumerate(self.normalizers)])


def _make_presets():
    return {
        "optical": Normalizer(name="optical", background="global",
                              interval=AsymmetricPercentileInterval(0.5, 99.9), stretch=AsinhStretch(0.1),
                              fill="background"),
        "radio": Normalizer(name="radio", background="global",
                            interval=AsymmetricPercentileInterval(0.5, 99.95), stretch=AsinhStretch(0.05),
                            fill="background"),
        "radio-local": Normalizer(name="radio-local", background="local", box_size=48, snr=True,
                                  interval=ManualInterval(-5.0, 1000.0), stretch=AsinhStretch(0.01),
                                  fill="background"),
        "radio-snr": Normalizer(name="radio-snr", background="global", snr=True, threshold=3.0,
                                interval=MinMaxInterval(), stretch=LinearStretch(), fill="zero"),
        "zscale": Normalizer(name="zscale", interval=ZScaleInterval(), stretch=LinearStretch(),
                             fill="background"),
        "minmax": Normalizer(name="minmax", interval=MinMaxInterval(), stretch=LinearStretch(), fill="zero"),
    }


#: Named normalizers (read-only; `get_preset` returns a fresh copy):
#:
#: - ``'optical'``: subtract the sigma-clipped median sky, limits at the 0.5 and 99.9
#:   percentiles, ``AsinhStretch(0.1)``, blanks filled with the sky level.
#: - ``'radio'``: subtract the sigma-clipped median, limits at the 0.5 and 99.95 percentiles,
#:   ``AsinhStretch(0.05)`` for the high dynamic range of radio maps, blanks filled with the
#:   background level.
#: - ``'radio-local'``: signal-to-noise against a local background and noise (a mesh of 48-pixel
#:   boxes, as SExtractor and BANE do, so noise rising towards the edge of a primary-beam-corrected
#:   map is followed), fixed limits of -5 and 1000 sigma with ``AsinhStretch(0.01)``: the noise
#:   looks the same in every image whatever its units, depth or brightest source.
#: - ``'radio-snr'``: subtract the background, divide by the robust (MAD) noise, set every
#:   pixel below 3 sigma to 0 (as Radio Galaxy Zoo and MiraBest), linear min-max, blanks 0.
#: - ``'zscale'``: IRAF zscale limits, linear (display-like).
#: - ``'minmax'``: linear min-max of the data as they are.
PRESETS = types.MappingProxyType(_make_presets())


def list_presets():
    """Names of the normalization presets.

    Examples
    --------
    >>> from astrofmx.preprocess import list_presets
    >>> list_presets()
    ['minmax', 'optical', 'radio', 'radio-local', 'radio-snr', 'zscale']
    """
    return sorted(PRESETS)


def get_preset(name):
    """A fresh copy of a named `Normalizer` (see `PRESETS` for their settings).

    Parameters
    ----------
    name : str
        One of `list_presets`.

    Returns
    -------
    normalizer : `Normalizer`

    Examples
    --------
    >>> from astrofmx.preprocess import get_preset
    >>> get_preset("radio-snr")
    Normalizer(name='radio-snr', interval=MinMaxInterval(), stretch=LinearStretch(), background='global', \
snr=True, threshold=3.0, fill='zero', per_channel=True)
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown normalization preset {name!r}; choose one of {list_presets()}")
    return copy.deepcopy(PRESETS[name])


def resolve_normalizer(normalizer):
    """Turn a preset name, a normalizer or None into a callable ``f(data, mask=None)``.

    None means the data are already in [0, 1]: they are only checked and
    NaN/masked pixels set to 0.

    Examples
    --------
    >>> from astrofmx.preprocess import resolve_normalizer
    >>> resolve_normalizer("radio").name
    'radio'
    """
    if normalizer is None:
        return _identity
    if isinstance(normalizer, str):
        return get_preset(normalizer)
    if callable(normalizer):
        return normalizer
    raise TypeError(f"normalizer must be a preset name, a callable normalizer or None, got {normalizer!r}")


def _identity(data, mask=None):
    data = np.array(data, dtype=np.float32)
    bad = ~np.isfinite(data)
    if mask is not None:
        bad |= np.broadcast_to(np.asarray(mask, dtype=bool), data.shape)
    data[bad] = 0.0
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"normalizer=None needs data already in [0, 1], got values in [{lo:g}, {hi:g}]; "
                         "pass a preset name such as 'optical' or 'radio'")
    return np.clip(data, 0.0, 1.0, out=data)
