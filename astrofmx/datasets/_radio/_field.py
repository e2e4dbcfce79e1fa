"""The simulated field as a FITS image with its truth catalog (container, header, read/write)."""

import dataclasses
import logging

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import NDData
from astropy.table import QTable
from astropy.wcs import WCS

from ...utils import atomic_write

__all__ = ["SimulatedRadioField"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, eq=False)
class SimulatedRadioField:
    """A simulated radio image, its FITS header and its truth catalog.

    Made by `simulate_radio_field`; `read_simulated_field` reads one back.

    Attributes
    ----------
    data : `~numpy.ndarray`
        float32 image in Jy/beam, shape ``(ny, nx)``.
    header : `~astropy.io.fits.Header`
        Celestial WCS, ``BMAJ``/``BMIN``/``BPA`` (degrees), ``BUNIT`` and the
        simulation parameters (``SIM*`` keywords, ``HISTORY``).
    truth : `~astropy.table.QTable` or None
        One row per source (see `simulate_radio_field`), or None when the
        field was made with ``return_truth=False``.

    Examples
    --------
    >>> from astrofmx.datasets import simulate_radio_field
    >>> field = simulate_radio_field((64, 64), seed=1, n_sources=3)
    >>> field
    <SimulatedRadioField shape=(64, 64) rms=2e-05 Jy/beam seed=1 3 sources>
    >>> field.beam[0], field.to_hdulist()[1].name
    (<Quantity 6. arcsec>, 'TRUTH')
    """

    data: np.ndarray
    header: fits.Header
    truth: QTable = None

    def __repr__(self):
        n = "no truth" if self.truth is None else f"{len(self.truth)} sources"
        return (f"<SimulatedRadioField shape={self.data.shape} rms={self.header.get('SIMRMS', float('nan')):.3g} "
                f"Jy/beam seed={self.header.get('SIMSEED')} {n}>")

    @property
    def wcs(self):
        """The celestial `~astropy.wcs.WCS` of the image."""
        return WCS(self.header)

    @property
    def rms(self):
        """Target noise rms as a `~astropy.units.Quantity` in Jy/beam (at the primary beam centre, if any)."""
        return self.header["SIMRMS"] * u.Jy / u.beam

    @property
    def beam(self):
        """Beam ``(major, minor, pa)`` as Quantities (FWHM in arcsec, PA in degrees east of north)."""
        return ((self.header["BMAJ"] * u.deg).to(u.arcsec), (self.header["BMIN"] * u.deg).to(u.arcsec),
                self.header["BPA"] * u.deg)

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
        """The image as `~astropy.nddata.NDData` with its WCS, unit Jy/beam and header as ``meta``.

        Examples
        --------
        >>> from astrofmx.datasets import simulate_radio_field
        >>> simulate_radio_field((32, 32), seed=0, n_sources=1).to_nddata().unit
        Unit("Jy / beam")
        """
        return NDData(self.data, wcs=self.wcs, unit=u.Jy / u.beam, meta=dict(self.header))

    def to_hdulist(self):
        """`~astropy.io.fits.HDUList`: the image, then the truth catalog in a ``TRUTH`` table HDU.

        Examples
        --------
        >>> from astrofmx.datasets import simulate_radio_field
        >>> [hdu.name for hdu in simulate_radio_field((32, 32), seed=0, n_sources=1).to_hdulist()]
        ['PRIMARY', 'TRUTH']
        """
        hdus = [self.to_hdu()]
        if self.truth is not None:
            hdus.append(_truth_to_hdu(self.truth))
        return fits.HDUList(hdus)

    def write(self, path, *, overwrite=False):
        """Write the image and the truth catalog to one FITS file.

        Parameters
        ----------
        path : str or `pathlib.Path`
            Output file.
        overwrite : bool, optional
            Replace an existing file; otherwise `FileExistsError`.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> from astrofmx.datasets import simulate_radio_field
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "field.fits"
        >>> simulate_radio_field((32, 32), seed=0, n_sources=1).write(path)
        >>> path.is_file()
        True
        """
        with atomic_write(path, overwrite=overwrite, suffix=".fits") as tmp:
            self.to_hdulist().writeto(tmp, overwrite=True)
        logger.info("wrote simulated field to %s", path)


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


def _make_header(shape, grid, beam):
    """The image header: celestial WCS of ``grid`` (an `ImageGrid`) and the ``beam`` (a `RadioBeam`)."""
    ny, nx = shape
    ra0, dec0 = grid.center
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = nx
    header["NAXIS2"] = ny
    header["CTYPE1"] = f"RA---{grid.projection}"
    header["CTYPE2"] = f"DEC--{grid.projection}"
    header["CRVAL1"] = ra0
    header["CRVAL2"] = dec0
    header["CRPIX1"] = nx / 2.0 + 0.5
    header["CRPIX2"] = ny / 2.0 + 0.5
    header["CDELT1"] = -grid.pixel_scale / 3600.0
    header["CDELT2"] = grid.pixel_scale / 3600.0
    header["CUNIT1"] = "deg"
    header["CUNIT2"] = "deg"
    header["RADESYS"] = "ICRS"
    header["EQUINOX"] = 2000.0
    header["BMAJ"] = (beam.major / 3600.0, "[deg] beam major axis FWHM")
    header["BMIN"] = (beam.minor / 3600.0, "[deg] beam minor axis FWHM")
    header["BPA"] = (beam.pa, "[deg] beam position angle, east of north")
    header["BUNIT"] = "JY/BEAM"
    header["BTYPE"] = "Intensity"
    header["TELESCOP"] = "SIMULATED"
    header["OBJECT"] = "astrofmx simulated radio field"
    header["ORIGIN"] = "astrofmx"
    return header
