"""Input checks shared by the radio-field simulator and its settings (private)."""

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord

__all__ = []


def _as_quantity(name, value, default_unit, physical_type_unit):
    """Convert ``value`` (Quantity or number in ``default_unit``) to a float in ``default_unit``."""
    if isinstance(value, u.Quantity):
        try:
            value = value.to_value(default_unit)
        except u.UnitConversionError as exc:
            raise ValueError(f"{name} must have units of {physical_type_unit}, got {value!r}") from exc
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number or a Quantity, got {value!r}") from exc
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def _positive(name, value, default_unit, physical_type_unit):
    value = _as_quantity(name, value, default_unit, physical_type_unit)
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return value


def _positive_number(name, value):
    """A positive dimensionless float."""
    return _positive(name, value, u.dimensionless_unscaled, "dimensionless")


def _fraction(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}") from exc
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _is_int(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def _check_shape(shape):
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a 2-tuple of positive integers (ny, nx), got {shape!r}") from exc
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D (ny, nx), got {shape!r} with {len(shape)} dimensions")
    if min(shape) < 8:
        raise ValueError(f"shape must be at least (8, 8), got {shape!r}")
    _check_memory(shape)
    return shape


#: peak memory of a simulation per pixel (measured: 31 bytes for a radio field, 26 for an optical one, at
#: 2048^2 and 4096^2: the float32 image, the noise's FFTs and the truth boxes' work arrays)
_BYTES_PER_PIXEL = 32


def _check_memory(shape):
    """ValueError before a field that cannot fit in the free memory is allocated (a MemoryError half-way)."""
    from ...utils import available_memory

    need, free = _BYTES_PER_PIXEL * shape[0] * shape[1], available_memory()
    if free is not None and need > free:
        raise ValueError(f"simulating a {shape[1]} x {shape[0]} field needs about {need / 2 ** 30:.1f} GiB "
                         f"({_BYTES_PER_PIXEL} bytes per pixel at its peak), more than the {free / 2 ** 30:.1f} GiB "
                         "free; simulate a smaller field, or several fields with different seeds")


def _check_center(wcs_center):
    if isinstance(wcs_center, SkyCoord):
        icrs = wcs_center.icrs
        return float(icrs.ra.deg), float(icrs.dec.deg)
    try:
        ra, dec = wcs_center
        ra = _as_quantity("wcs_center RA", ra, u.deg, "angle")
        dec = _as_quantity("wcs_center Dec", dec, u.deg, "angle")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"wcs_center must be a SkyCoord or an (ra, dec) pair in degrees, got {wcs_center!r}") from exc
    if not -90.0 <= dec <= 90.0:
        raise ValueError(f"wcs_center Dec must be in [-90, 90] degrees, got {dec!r}")
    return ra % 360.0, dec


def _check_pixel_pair(name, value):
    """An ``(x, y)`` pair of finite pixel coordinates as floats."""
    try:
        x, y = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be None, a SkyCoord or an (x, y) pair of pixel coordinates, "
                        f"got {value!r}") from exc
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x, y


def _check_rng(seed, n_streams=3):
    """Return ``n_streams`` independent Generators and the seed for the header.

    The radio simulator uses the streams for the population, artefacts,
    noise and diffuse emission: separate streams keep the sources and the
    noise identical whether or not artefacts or diffuse emission are added.
    The first streams do not depend on ``n_streams``.
    """
    if isinstance(seed, np.random.Generator):
        return tuple(seed.spawn(n_streams)), -1
    if seed is None:
        # draw a seed so that even an unseeded field can be regenerated from its header
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    if not _is_int(seed) or seed < 0:
        raise TypeError(f"seed must be None, a non-negative int or a numpy Generator, got {seed!r}")
    streams = np.random.SeedSequence(int(seed)).spawn(n_streams)
    return tuple(np.random.default_rng(s) for s in streams), int(seed)
