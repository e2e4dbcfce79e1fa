"""Reading back a simulated field of either kind (`read_simulated_field`)."""

import numpy as np
from astropy.io import fits
from astropy.table import QTable

from ._optical import SimulatedOpticalField
from ._radio import SimulatedRadioField
from ._fits_field import _truth_from_hdu_table

__all__ = ["read_simulated_field"]


def read_simulated_field(path):
    """Read a field written by `SimulatedRadioField.write` or `SimulatedOpticalField.write`.

    Parameters
    ----------
    path : str or `pathlib.Path`

    Returns
    -------
    field : `SimulatedRadioField` or `SimulatedOpticalField`
        An optical field (header ``SIMKIND = 'optical'``) comes back as a
        `SimulatedOpticalField`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrofmx.datasets import simulate_radio_field, read_simulated_field
    >>> field = simulate_radio_field((64, 64), seed=1, n_sources=3)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "field.fits"
    >>> field.write(path)
    >>> len(read_simulated_field(path).truth)
    3
    """
    from ..io import check_fits_file

    check_fits_file(path)  # a truncated file: its sizes, not numpy's 'buffer is too small'
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=np.float32).copy()
        header = hdul[0].header.copy()
        has_truth = "TRUTH" in hdul
    truth = _truth_from_hdu_table(QTable.read(path, hdu="TRUTH")) if has_truth else None
    if header.get("SIMKIND") == "optical":
        return SimulatedOpticalField(data=data, header=header, truth=truth)
    return SimulatedRadioField(data=data, header=header, truth=truth)
