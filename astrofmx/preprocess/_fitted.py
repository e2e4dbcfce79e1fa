"""A normalizer whose statistics were fixed on one image, applied window by window."""

import dataclasses

import numpy as np

from ._background import BackgroundMesh, _bad_pixels

__all__ = ["FittedNormalizer"]


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

    normalizer: "Normalizer"  # noqa: F821 (defined in _normalize)
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
        x = np.array(data, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"data must be a 2-D window of the fitted image, got shape {x.shape}")
        bad = _bad_pixels(x, mask)
        bkg, noise = self.background, self.noise
        if isinstance(bkg, BackgroundMesh):
            y0, x0 = (int(v) for v in origin)
            bkg, noise = bkg.window(y0, y0 + x.shape[0], x0, x0 + x.shape[1])
        x, level = self.normalizer._prepare(x, bad, bkg, noise)
        return self.normalizer._scale(x, bad, level, self.vmin, self.vmax)
