"""Intensity scaling applied before pixels are cast to float32, so that results do not depend on the data's units.

The statistics of the normalizers and of the background mesh are computed in
float32 (astropy's sigma clipping squares values, which overflows above
about 1e19 and underflows below 1e-19), and float32 cannot hold values past
``FLT_MAX`` (3.4e38) nor tell ``2**62`` from ``2**62 + 255``. So every read
of pixels first subtracts an offset (only where the median dwarfs the
spread, e.g. integers near ``2**62``; computed in int64 or float64) and
divides by the power of two nearest the robust spread of the image. Dividing
by a power of two is exact in floating point, so for ordinary images every
result is bit-identical to computing on the data as they are, while an image
multiplied by 1e-30 or 1e30 gives the same normalized values.
"""

import collections
import dataclasses
import logging
import math

import numpy as np

from ..io import FLT_MAX, is_blank_value

__all__ = ["PixelScale"]

logger = logging.getLogger(__name__)

#: Pixels looked at to find the scale (a regular grid of rows and columns).
_SCALE_SAMPLES = 2**16
#: Below this factor (2**-100, 7.9e-31: the noise of the image in data units) `PixelScale.to_data` returns
#: float64: 2**26 below it float32's normal numbers end (as `astrofmx.io.fits_float32` keeps such images float64)
_SMALL_FACTOR = 2.0**-100
#: An offset is subtracted only where ``|median| > _OFFSET_RATIO * spread`` (float32 would keep < 16 levels per sigma).
_OFFSET_RATIO = 2.0**20


def _power_of_two(value):
    """The power of two nearest ``value`` (> 0, finite) on a log scale, as a float."""
    m, e = math.frexp(value)  # value = m * 2**e, 0.5 <= m < 1
    e = e if m >= math.sqrt(0.5) else e - 1
    return math.ldexp(1.0, max(min(e, 1000), -1000))


_blank_values = is_blank_value


def _spread(d):
    """Robust spread of float64 deviations ``d`` (1-D, finite): MAD, else standard deviation, else max |d|."""
    mad = float(np.median(np.abs(d - np.median(d))))
    if mad > 0 and math.isfinite(mad):
        return mad
    q = float(np.max(np.abs(d)))
    if q > 0 and math.isfinite(q):
        std = float(np.std(d / q)) * q
        return std if std > 0 else q
    return 0.0


@dataclasses.dataclass(frozen=True)
class PixelScale:
    """The map ``(data - offset) / factor`` applied to pixels before they are cast to float32.

    ``factor`` is a power of two (so the division is exact) and ``offset`` is
    0 except for data whose median dwarfs their spread (integers near
    ``2**62``, or a float64 image of ``1e10 + noise``), where it is subtracted
    in int64 or float64 first. `from_data` picks both from a sample of the
    image.

    Attributes
    ----------
    offset : int or float
        Subtracted first (an int for integer data, so that it is exact).
    factor : float
        A power of two; the scaled pixels are in units of it.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.preprocess import PixelScale
    >>> data = np.random.default_rng(0).normal(0.0, 1e-22, (64, 64))
    >>> scale = PixelScale.from_data(data)
    >>> float(np.log2(scale.factor)), scale.offset  # the power of two nearest the MAD (6.7e-23)
    (-74.0, 0)
    >>> scaled = scale.apply(data)
    >>> scaled.dtype, bool(0.5 < np.std(scaled) < 2)
    (dtype('float32'), True)
    >>> ints = 2**62 + np.arange(256, dtype=np.int64).reshape(16, 16)
    >>> s = PixelScale.from_data(ints)
    >>> s.offset - 2**62, float(s.apply(ints).max() - s.apply(ints).min()) * s.factor
    (128, 255.0)
    """

    offset: object = 0
    factor: float = 1.0

    @classmethod
    def from_data(cls, data, mask=None, *, max_samples=_SCALE_SAMPLES):
        """The scale of an image, from a regular sample of its valid pixels (in int64/float64).

        Parameters
        ----------
        data : array-like, 2-D or 3-D
            Numpy array, `numpy.memmap` or dask array; only the sampled rows
            and columns are read.
        mask : array-like of bool, optional
            True for pixels to leave out (NaN, infinite and +-FLT_MAX pixels
            always are).
        max_samples : int, optional
            Largest number of pixels looked at.

        Returns
        -------
        scale : `PixelScale`
            The identity for an image without a valid pixel.

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import PixelScale
        >>> PixelScale.from_data(np.full((8, 8), 3e38, np.float32)).factor == 2.0**128
        True
        """
        shape = tuple(int(n) for n in data.shape)
        step = max(1, math.ceil(math.sqrt(math.prod(shape[-2:]) / max_samples)))
        index = (Ellipsis, slice(None, None, step), slice(None, None, step))
        sample = np.asarray(data[index])
        valid = np.ones(sample.shape, dtype=bool)
        if sample.dtype.kind == "f":
            valid = np.isfinite(sample) & ~_blank_values(sample)
        if mask is not None:
            m = np.asarray(mask[index] if len(mask.shape) == len(shape) else mask[index[1:]], dtype=bool)
            valid &= ~np.broadcast_to(m, sample.shape)
        v = sample[valid]
        if v.size == 0:
            return cls()
        if v.dtype.kind in "iub":
            return cls._from_integers(v)
        d = v.astype(np.float64)
        med = float(np.median(d))
        spread = _spread(d)
        offset = med if spread > 0 and abs(med) > _OFFSET_RATIO * spread else 0
        if offset:
            spread = _spread(d - offset)
        return cls(offset, _power_of_two(spread if spread > 0 else (abs(med) or 1.0)))

    @classmethod
    def _from_integers(cls, v):
        v = v.astype(np.int64) if v.dtype.kind != "u" or v.dtype.itemsize < 8 else v
        k = v.size // 2
        med = int(np.partition(v, k)[k])
        d = _int_minus(v, med).astype(np.float64)
        spread = _spread(d)
        offset = med if spread > 0 and abs(med) > _OFFSET_RATIO * spread else 0
        if not offset:
            d = v.astype(np.float64)
            spread = _spread(d)
        return cls(offset, _power_of_two(spread if spread > 0 else (abs(float(med)) or 1.0)))

    @property
    def is_identity(self):
        """Whether the map does nothing (offset 0, factor 1)."""
        return self.offset == 0 and self.factor == 1.0

    def apply(self, values):
        """``(values - offset) / factor`` as float32 (values beyond the float32 range become +-inf).

        Parameters
        ----------
        values : array-like
            Pixels of any numeric type, as stored.

        Returns
        -------
        scaled : `~numpy.ndarray`
            float32.

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import PixelScale
        >>> PixelScale(0, 2.0**130).apply(np.array([1e39, -2e39])).tolist()
        [0.7346..., -1.469...]
        """
        x = np.asarray(values)
        with np.errstate(over="ignore"):
            if self.offset == 0:
                inv = 1.0 / self.factor  # a power of two: multiplying by it is exact
                if x.dtype.kind == "f" and x.dtype.itemsize > 4:  # float64: scale first, then cast
                    out = np.empty(x.shape, dtype=np.float32)
                    return np.multiply(x, inv, out=out, casting="same_kind")
                out = np.array(x, dtype=np.float32)
                if self.factor != 1.0:
                    if 2.0**-149 <= inv <= 2.0**127:
                        np.multiply(out, np.float32(inv), out=out)
                    else:  # pragma: no cover - factor beyond float32: never for float32 or integer data
                        out = (x.astype(np.float64) * inv).astype(np.float32)
                return out
            if x.dtype.kind in "iu":
                d = _int_minus(x, int(self.offset)).astype(np.float64)
            else:
                d = np.asarray(x, dtype=np.float64) - float(self.offset)
            return (d / self.factor).astype(np.float32)

    def to_data(self, scaled):
        """Scaled values back in data units: float32 where that holds them, else float64 (values beyond
        +-3.4e38, or a ``factor`` below ``2**-100``, where float32 would lose the noise to subnormals).

        Parameters
        ----------
        scaled : array-like
            Values in units of ``factor`` (offset removed).

        Returns
        -------
        values : `~numpy.ndarray`

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import PixelScale
        >>> PixelScale(0, 2.0**130).to_data(np.float32([1.0])).dtype, PixelScale(0, 2.0**-200).to_data([1.0]).dtype
        (dtype('float64'), dtype('float64'))
        """
        s = np.asarray(scaled)
        if self.is_identity:
            return s.astype(np.float32, copy=False)
        out = s.astype(np.float64) * self.factor + float(self.offset)
        if self.factor < _SMALL_FACTOR:
            return out  # noise below 7.9e-31: float32 would hold it in subnormals, or flush it to zero
        finite = out[np.isfinite(out)]
        if finite.size and float(np.max(np.abs(finite))) > FLT_MAX:
            return out
        return out.astype(np.float32)

    def to_data_noise(self, scaled):
        """A scaled spread (no offset) back in data units, float32 where that holds it, else float64.

        Parameters
        ----------
        scaled : array-like
            Spreads in units of ``factor``.

        Returns
        -------
        values : `~numpy.ndarray`

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import PixelScale
        >>> PixelScale(2**62, 2.0**6).to_data_noise(np.float32([1.5])).tolist()
        [96.0]
        """
        return dataclasses.replace(self, offset=0).to_data(scaled)


def _int_minus(x, offset):
    """``x - offset`` for integer arrays, exact wherever the difference fits in int64 (modular arithmetic)."""
    x = np.asarray(x)
    if x.dtype == np.uint64:
        return (x - np.uint64(offset % 2**64)).view(np.int64)
    return x.astype(np.int64, copy=False) - np.int64(offset) if -2**63 <= offset < 2**63 else \
        (x.astype(np.int64).view(np.uint64) - np.uint64(offset % 2**64)).view(np.int64)


#: Recent overflow warnings (the same pixels are read by several steps: warn once).
_RECENT = collections.deque(maxlen=16)


def _warn_overflow(raw, scaled, what):
    """Warn about pixels finite as stored but beyond the float32 range after scaling (they are masked)."""
    raw = np.asarray(raw)
    if raw.dtype.kind != "f" or raw.dtype.itemsize <= 4:
        return
    big = np.isfinite(raw) & ~np.isfinite(scaled)
    if not big.any():
        return
    msg = (f"{int(big.sum())} finite pixel(s) of the image (largest |value| {float(np.max(np.abs(raw[big]))):.3g}) "
           "lie beyond the float32 range even after scaling the image to its noise level "
           f"(more than 3.4e38 times it); they are masked (treated as blank) by {what}")
    if msg not in _RECENT:
        _RECENT.append(msg)
        logger.warning(msg)
