"""The simulated radio field: container and FITS header (the FITS methods are in ``datasets._fits_field``)."""

import dataclasses

import astropy.units as u

from .._fits_field import _SimulatedField, _wcs_header

__all__ = ["SimulatedRadioField"]


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class SimulatedRadioField(_SimulatedField):
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

    _unit = u.Jy / u.beam
    _label = "simulated field"

    def _summary(self):
        return f"rms={self.header.get('SIMRMS', float('nan')):.3g} Jy/beam"

    @property
    def rms(self):
        """Target noise rms as a `~astropy.units.Quantity` in Jy/beam (at the primary beam centre, if any)."""
        return self.header["SIMRMS"] * u.Jy / u.beam

    @property
    def beam(self):
        """Beam ``(major, minor, pa)`` as Quantities (FWHM in arcsec, PA in degrees east of north)."""
        return ((self.header["BMAJ"] * u.deg).to(u.arcsec), (self.header["BMIN"] * u.deg).to(u.arcsec),
                self.header["BPA"] * u.deg)


def _make_header(shape, grid, beam):
    """The image header: celestial WCS of ``grid`` (an `ImageGrid`) and the ``beam`` (a `RadioBeam`)."""
    header = _wcs_header(shape, grid)
    header["BMAJ"] = (beam.major / 3600.0, "[deg] beam major axis FWHM")
    header["BMIN"] = (beam.minor / 3600.0, "[deg] beam minor axis FWHM")
    header["BPA"] = (beam.pa, "[deg] beam position angle, east of north")
    header["BUNIT"] = "JY/BEAM"
    header["BTYPE"] = "Intensity"
    header["TELESCOP"] = "SIMULATED"
    header["OBJECT"] = "astrofmx simulated radio field"
    header["ORIGIN"] = "astrofmx"
    return header
