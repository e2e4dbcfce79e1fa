"""Warning and exception classes used throughout astrofmx."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = [
    "AstrofmxWarning",
    "NoDetectionsWarning",
    "WeightsNotFoundError",
    "WeightsChecksumError",
    "UnsafeCheckpointError",
]


class AstrofmxWarning(AstropyUserWarning):
    """Base class for warnings issued by astrofmx."""


class NoDetectionsWarning(AstrofmxWarning):
    """A finder or detector found no sources; an empty catalog is returned."""


class WeightsNotFoundError(FileNotFoundError):
    """Model weights are not available locally and cannot be downloaded.

    The message names the exact file to obtain and where to put it.
    """


class WeightsChecksumError(OSError):
    """A weight file does not match the sha256 checksum the registry knows."""


class UnsafeCheckpointError(OSError):
    """A checkpoint would need arbitrary code execution (a pickle) to load."""
