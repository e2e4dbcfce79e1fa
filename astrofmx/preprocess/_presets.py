"""Named normalizers, per-channel normalization and the resolution of a ``normalizer=`` argument."""

import copy
import types

import numpy as np
from astropy.visualization import (AsinhStretch, AsymmetricPercentileInterval, LinearStretch, ManualInterval,
                                   MinMaxInterval, ZScaleInterval)

from ._normalize import Normalizer

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "PerChannelNormalizer", "PRESETS", "get_preset", "list_presets",
           "resolve_normalizer"]

#: ImageNet channel means and standard deviations (timm/torchvision defaults) applied by
#: `~astrofmx.preprocess.to_model_input` after normalization to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

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
        """Normalize each channel of ``data`` with its own normalizer.

        Parameters
        ----------
        data : array-like, shape (C, H, W)
            One channel per normalizer.
        mask : array-like of bool, optional
            True for pixels to ignore; a 2-D mask applies to every channel.

        Returns
        -------
        out : `~numpy.ndarray`
            float32, shape ``(C, H, W)``, values in [0, 1].

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import PerChannelNormalizer
        >>> out = PerChannelNormalizer(["minmax", "minmax"])(np.arange(8.0).reshape(2, 2, 2))
        >>> out.dtype, out[0].astype(float).round(3).tolist(), out[1].astype(float).round(3).tolist()
        (dtype('float32'), [[0.0, 0.333], [0.667, 1.0]], [[0.0, 0.333], [0.667, 1.0]])
        """
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

    Returns
    -------
    names : list of str
        Sorted; each is accepted by `get_preset` and wherever a
        ``normalizer=`` is expected.

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

    Parameters
    ----------
    normalizer : str, callable or None
        A preset name (`list_presets`), a `~astrofmx.preprocess.Normalizer`
        or any callable ``f(data, mask=None)``, or None.

    Returns
    -------
    normalize : callable
        ``f(data, mask=None)`` returning float32 values in [0, 1].

    Raises
    ------
    ValueError
        For an unknown preset name (and, when called, for data outside
        [0, 1] with ``normalizer=None``).
    TypeError
        For anything else.

    Examples
    --------
    >>> from astrofmx.preprocess import resolve_normalizer
    >>> resolve_normalizer("radio").name
    'radio'
    >>> import numpy as np
    >>> resolve_normalizer(None)(np.array([[0.2, np.nan]])).tolist()
    [[0.20000000298023224, 0.0]]
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
