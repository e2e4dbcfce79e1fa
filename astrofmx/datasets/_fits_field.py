"""What the simulated radio and optical fields share: the FITS container methods, WCS header and TRUTH HDU (private)."""

import dataclasses
import logging

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import NDData
from astropy.table import QTable
from astropy.wcs import WCS

from ..utils import atomic_write, get_meta

__all__ = []

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class _SimulatedField:
    """Base of the simulated-field dataclasses: an image, its header and its truth catalog.

    A subclass sets ``_unit`` (the image unit) and ``_label`` (how the log
    names it), and gives ``_summary`` (the noise and PSF part of the repr).
    """

    data: np.ndarray
    header: fits.Header
    truth: QTable = None

    _unit = u.dimensionless_unscaled
    _label = "simulated field"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the API reference (automodapi, inherited members off) lists a class's own members only: give each
        # public field class the shared ones, unless it overrides them
        for name in ("wcs", "to_hdu", "to_nddata", "to_hdulist", "write"):
            if name not in cls.__dict__:
                setattr(cls, name, _SimulatedField.__dict__[name])

    def _summary(self):
        return ""

    def __repr__(self):
        n = "no truth" if self.truth is None else f"{len(self.truth)} sources"
        return f"<{type(self).__name__} shape={self.data.shape} {self._summary()} seed={self.header.get('SIMSEED')} {n}>"

    @property
    def wcs(self):
        """The celestial `~astropy.wcs.WCS` of the image."""
        return WCS(self.header)

    def to_hdu(self):
        """The image as a `~astropy.io.fits.PrimaryHDU` (data and header are copied).

        Examples
        --------
        >>> from astrofmx.datasets import simulate_radio_field
        >>> simulate_radio_field((32, 32), seed=0, n_sources=1).to_hdu().header["BUNIT"]
        'JY/BEAM'
        """
        return fits.PrimaryHDU(self.data.copy(), header=self.header.copy())

    def to_nddata(self):
        """The image as `~astropy.nddata.NDData` with its WCS, its unit and the header as ``meta``.

        Examples
        --------
        >>> from astrofmx.datasets import simulate_optical_field, simulate_radio_field
        >>> simulate_radio_field((32, 32), seed=0, n_sources=1).to_nddata().unit
        Unit("Jy / beam")
        >>> simulate_optical_field((32, 32), seed=0, n_stars=1, n_galaxies=0).to_nddata().unit
        Unit("adu")
        """
        return NDData(self.data, wcs=self.wcs, unit=self._unit, meta=dict(self.header))

    def to_hdulist(self):
        """`~astropy.io.fits.HDUList`: the image, then the truth catalog in a ``TRUTH`` table HDU.

        Examples
        --------
        >>> from astrofmx.datasets import simulate_optical_field
        >>> [h.name for h in simulate_optical_field((32, 32), seed=0, n_stars=1, n_galaxies=0).to_hdulist()]
        ['PRIMARY', 'TRUTH']
        """
        hdus = [self.to_hdu()]
        if self.truth is not None:
            hdus.append(_truth_to_hdu(self.truth))
        return fits.HDUList(hdus)

    def write(self, path, *, overwrite=False):
        """Write the image and the truth catalog to one FITS file (`read_simulated_field` reads it).

        Parameters
        ----------
        path : str or `pathlib.Path`
            Output file.
        overwrite : bool, optional
            Replace an existing file; otherwise `FileExistsError`.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from astrofmx.datasets import read_simulated_field, simulate_optical_field
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "optical.fits"
        >>> simulate_optical_field((32, 32), seed=0, n_stars=2, n_galaxies=0).write(path)
        >>> type(read_simulated_field(path)).__name__
        'SimulatedOpticalField'
        """
        with atomic_write(path, overwrite=overwrite, suffix=".fits") as tmp:
            self.to_hdulist().writeto(tmp, overwrite=True)
        logger.info("wrote %s to %s", self._label, path)


def _wcs_header(shape, grid):
    """A 2-d float32 image header with the celestial WCS of ``grid`` (an `ImageGrid`), reference pixel at the centre."""
    ny, nx = shape
    header = fits.Header()
    for key, value in (("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 2), ("NAXIS1", nx), ("NAXIS2", ny),
                       ("CTYPE1", f"RA---{grid.projection}"), ("CTYPE2", f"DEC--{grid.projection}"),
                       ("CRVAL1", grid.center[0]), ("CRVAL2", grid.center[1]),
                       ("CRPIX1", nx / 2.0 + 0.5), ("CRPIX2", ny / 2.0 + 0.5),
                       ("CDELT1", -grid.pixel_scale / 3600.0), ("CDELT2", grid.pixel_scale / 3600.0),
                       ("CUNIT1", "deg"), ("CUNIT2", "deg"), ("RADESYS", "ICRS"), ("EQUINOX", 2000.0)):
        header[key] = value
    return header


def _stamp_header(header, params, simulator):
    """Write the ``SIM*`` keywords ``params`` (name -> (value, comment)) and a ``HISTORY`` card; return `get_meta`."""
    for key, (value, comment) in params.items():
        header[key] = (value, comment)
    meta = get_meta()
    header["HISTORY"] = f"simulated by astrofmx {meta['version']['astrofmx']} {simulator} on {meta['date']}"
    return meta


def _truth_to_hdu(truth):
    table = QTable(truth, copy=True)
    # the parameters are in the image header; nested provenance dicts do not fit a FITS header
    table.meta = {}
    for name in table.colnames:
        if isinstance(table[name], SkyCoord):  # FITS tables hold plain columns: store RA/Dec in degrees
            index = table.colnames.index(name)
            icrs = table[name].icrs
            table.remove_column(name)
            table.add_column(icrs.dec.to(u.deg), name=f"{name}_dec", index=index)
            table.add_column(icrs.ra.to(u.deg), name=f"{name}_ra", index=index)
    hdu = fits.table_to_hdu(table)
    hdu.name = "TRUTH"
    return hdu


def _truth_from_hdu_table(table):
    for name in list(table.colnames):
        if name.endswith("_ra") and f"{name[:-3]}_dec" in table.colnames:
            base = name[:-3]
            index = table.colnames.index(name)
            sky = SkyCoord(table[name], table[f"{base}_dec"], frame="icrs")
            table.remove_columns([name, f"{base}_dec"])
            table.add_column(sky, name=base, index=index)
    table.meta = {}
    return table
