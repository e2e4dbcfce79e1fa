"""A normalizer whose statistics were fixed on one image, applied window by window."""

import dataclasses

import numpy as np

from ._background import BackgroundMesh
from ._sampling import _bad_pixels
from ._scale import PixelScale, _warn_overflow

__all__ = ["FittedNormalizer"]


@dataclasses.dataclass(frozen=True)
class FittedNormalizer:
    """A `Normalizer` whose statistics were fixed on one image (`Normalizer.fit`); applies to any window of it.

    Attributes
    ----------
    normalizer : `Normalizer`
        The settings.
    background, noise : float, `~astrofmx.preprocess.BackgroundMesh` or None
        The fitted background and noise in data units (a mesh for
        ``background='local'``; None when no step needs them).
    vmin, vmax : float
        The limits found by the interval (in data units, or in units of the
        noise with ``snr=True``).
    pixel_scale : `~astrofmx.preprocess.PixelScale`
        How windows are scaled before they are cast to float32 (the
        statistics are computed in these units, so that results do not
        depend on the data's units).

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

    normalizer: "Normalizer"  # noqa: F821 (defined in _normalize)
    background: object
    noise: object
    vmin: float
    vmax: float
    pixel_scale: PixelScale = PixelScale()
    #: (background, noise, vmin, vmax) in the units of ``pixel_scale`` (exact where data units are not)
    scaled: tuple = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def _from_scaled(cls, normalizer, scale, bkg, noise, vmin, vmax):
        """From statistics in the units of ``scale`` (floats, a mesh or None); data-unit attributes derived."""
        fitted = cls(normalizer, bkg, noise, vmin, vmax, scale, (bkg, noise, vmin, vmax))
        if not isinstance(bkg, BackgroundMesh) and bkg is not None:
            object.__setattr__(fitted, "background", float(scale.offset) + bkg * scale.factor)
            object.__setattr__(fitted, "noise", noise * scale.factor)
        vmin, vmax = fitted._limits_to_data(scale, vmin, vmax)
        object.__setattr__(fitted, "vmin", vmin)
        object.__setattr__(fitted, "vmax", vmax)
        return fitted

    def _limits_unit(self):
        """How the limits relate to pixels: 'snr' (unitless), 'diff' (background removed) or 'data'."""
        norm = self.normalizer
        if norm._needs_background and norm.snr:
            return "snr"
        return "diff" if norm._needs_background and norm.background is not None else "data"

    def _limits_to_data(self, scale, vmin, vmax):
        unit = self._limits_unit()
        if unit == "snr":
            return vmin, vmax
        off = float(scale.offset) if unit == "data" else 0.0
        return off + vmin * scale.factor, off + vmax * scale.factor

    def _limits_to_scaled(self, scale):
        unit = self._limits_unit()
        if unit == "snr":
            return self.vmin, self.vmax
        off = float(scale.offset) if unit == "data" else 0.0
        return (self.vmin - off) / scale.factor, (self.vmax - off) / scale.factor

    def _scaled_stats(self):
        """(background, noise, vmin, vmax) in the units of ``pixel_scale``."""
        if self.scaled is not None:
            return self.scaled
        scale, bkg, noise = self.pixel_scale, self.background, self.noise
        if bkg is not None and not isinstance(bkg, BackgroundMesh):
            bkg, noise = (bkg - float(scale.offset)) / scale.factor, noise / scale.factor
        return (bkg, noise) + self._limits_to_scaled(scale)

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

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.preprocess import get_preset
        >>> image = np.random.default_rng(5).normal(0.0, 1.0, (96, 96))
        >>> fitted = get_preset("radio-local").fit(image)
        >>> window = fitted(image[32:64, 48:96], origin=(32, 48))
        >>> bool(np.allclose(window, get_preset("radio-local")(image)[32:64, 48:96], atol=1e-6))
        True
        """
        raw = np.asarray(data)
        x = self.pixel_scale.apply(raw)
        if x.ndim != 2:
            raise ValueError(f"data must be a 2-D window of the fitted image, got shape {x.shape}")
        bad = _bad_pixels(x, mask, raw)
        _warn_overflow(raw, x, "the normalizer")
        bkg, noise, vmin, vmax = self._scaled_stats()
        if isinstance(bkg, BackgroundMesh):
            y0, x0 = (int(v) for v in origin)
            bkg, noise = bkg._scaled_window(y0, y0 + x.shape[0], x0, x0 + x.shape[1])
        x, level = self.normalizer._prepare(x, bad, bkg, noise)
        return self.normalizer._scale(x, bad, level, vmin, vmax)
