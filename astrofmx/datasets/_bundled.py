"""Files shipped inside the package, usable offline."""

from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED_FILES", "get_bundled_path"]

#: Files in ``astrofmx/data`` and what they are (licences in ``LICENSE-data.rst`` there).
BUNDLED_FILES = {
    "1904-66_SIN.fits": "Parkes multibeam 1.4 GHz continuum map near RA 19h, Dec -66 (192x192, SIN, Jy/beam, "
                        "beam 14.4 arcmin, ~40% blank); from the Aegean test suite (AFL-3.0)",
    "1904_comp.fits": "Aegean component catalog of 1904-66_SIN.fits: 51 Gaussian components (AFL-3.0)",
}


def get_bundled_path(name):
    """Path of a file shipped in ``astrofmx/data``.

    Parameters
    ----------
    name : str
        One of `BUNDLED_FILES`.

    Returns
    -------
    path : `pathlib.Path`

    Examples
    --------
    >>> from astrofmx.datasets import get_bundled_path
    >>> get_bundled_path("1904-66_SIN.fits").name
    '1904-66_SIN.fits'
    """
    if name not in BUNDLED_FILES:
        raise ValueError(f"name must be one of {sorted(BUNDLED_FILES)}, got {name!r}")
    path = Path(str(resources.files("astrofmx") / "data" / name))
    if not path.is_file():  # pragma: no cover - broken installation
        raise FileNotFoundError(f"bundled file {path} is missing; reinstall astrofmx")
    return path
