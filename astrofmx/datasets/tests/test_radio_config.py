"""The settings groups of simulate_radio_field and their equivalence with the flat keywords."""

import dataclasses

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from astrofmx.datasets import (ArtefactModel, ImageGrid, NoiseModel, RadioBeam, SourcePopulation,
                               simulate_radio_field)


def _assert_same_field(a, b):
    np.testing.assert_array_equal(a.data, b.data)
    assert [(k, v) for k, v in a.header.items() if k != "HISTORY"] == \
        [(k, v) for k, v in b.header.items() if k != "HISTORY"]
    assert a.truth.colnames == b.truth.colnames
    for name in a.truth.colnames:
        if name == "sky_centroid":
            np.testing.assert_array_equal(a.truth[name].ra.deg, b.truth[name].ra.deg)
        else:
            np.testing.assert_array_equal(np.asarray(a.truth[name]), np.asarray(b.truth[name]))


@pytest.mark.parametrize("flat, groups", [
    ({}, {}),
    (dict(n_sources=25, extended_fraction=0.4, double_fraction=0.3, flux_max_snr=300, powerlaw_index=2.0),
     dict(population=SourcePopulation(n_sources=25, extended_fraction=0.4, double_fraction=0.3, flux_max_snr=300,
                                       powerlaw_index=2.0))),
    (dict(beam_fwhm=(9 * u.arcsec, 5 * u.arcsec), beam_pa=30 * u.deg, pixel_scale=2 * u.arcsec,
          wcs_center=SkyCoord(10, -30, unit="deg"), projection="TAN"),
     dict(beam=RadioBeam(fwhm=(9, 5), pa=30), grid=ImageGrid(pixel_scale=2, center=(10, -30), projection="TAN"))),
    (dict(rms=50 * u.uJy / u.beam, primary_beam_fwhm=4 * u.arcmin, primary_beam_center=(60, 70), pb_cutoff=0.2),
     dict(noise=NoiseModel(rms=50 * u.uJy / u.beam, primary_beam_fwhm=4 * u.arcmin, primary_beam_center=(60.0, 70.0), pb_cutoff=0.2))),
    (dict(artefacts="stripes", artefact_amplitude=0.05, artefact_min_snr=30),
     dict(artefacts=ArtefactModel("stripes", amplitude=0.05, min_snr=30))),
])
def test_groups_give_the_same_field_as_flat_keywords(flat, groups):
    a = simulate_radio_field((128, 128), seed=4, **flat)
    b = simulate_radio_field((128, 128), seed=4, **groups)
    _assert_same_field(a, b)


def test_groups_and_flat_keywords_of_other_groups_combine():
    a = simulate_radio_field((96, 96), seed=1, n_sources=8, rms=1e-4, artefacts="rings")
    b = simulate_radio_field((96, 96), seed=1, population=SourcePopulation(n_sources=8), rms=1e-4,
                             artefacts=ArtefactModel("rings"))
    _assert_same_field(a, b)


def test_settings_are_checked_and_normalised_when_made():
    assert RadioBeam(fwhm=6 * u.arcsec) == RadioBeam(fwhm=(6.0, 6.0)) == RadioBeam()
    assert RadioBeam(fwhm=(8, 5)).major == 8.0 and RadioBeam(fwhm=(8, 5)).minor == 5.0
    assert ImageGrid(center=SkyCoord(-10, 30, unit="deg")).center == (350.0, 30.0)
    assert NoiseModel(rms=20 * u.uJy / u.beam) == NoiseModel()
    assert SourcePopulation(source_density=100 / u.deg ** 2).source_density == 100.0
    # frozen; variants come from dataclasses.replace, which checks again
    with pytest.raises(dataclasses.FrozenInstanceError):
        NoiseModel().rms = 1.0
    assert dataclasses.replace(NoiseModel(), rms=1e-4).rms == 1e-4
    with pytest.raises(ValueError, match="rms must be positive"):
        dataclasses.replace(NoiseModel(), rms=-1.0)


@pytest.mark.parametrize("make, error, match", [
    (lambda: SourcePopulation(n_sources=3, source_density=10), ValueError, "not both"),
    (lambda: SourcePopulation(extended_fraction=0.8, double_fraction=0.4), ValueError, "must be <= 1"),
    (lambda: SourcePopulation(source_density=-1), ValueError, "source_density must be >= 0"),
    (lambda: RadioBeam(fwhm=(1, 2, 3)), ValueError, "a number or a"),
    (lambda: ImageGrid(projection="AIT"), ValueError, "projection must be"),
    (lambda: NoiseModel(pb_cutoff=0.3), ValueError, "need primary_beam_fwhm"),
    (lambda: ArtefactModel("ghosts"), ValueError, "artefacts must be"),
    (lambda: ArtefactModel("rings", amplitude=2), ValueError, "artefact_amplitude must be in"),
])
def test_bad_settings(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("kwargs, match", [
    (dict(noise=NoiseModel(), rms=1e-4), "give rms inside noise=NoiseModel"),
    (dict(population=SourcePopulation(), n_sources=3, flux_max_snr=50), "give flux_max_snr, n_sources inside"),
    (dict(artefacts=ArtefactModel("rings"), artefact_amplitude=0.1), "give artefact_amplitude inside"),
    (dict(beam=6.0), "beam must be a RadioBeam"),
    (dict(noise=RadioBeam()), "noise must be a NoiseModel"),
    (dict(n_source=3), "unexpected keyword argument 'n_source'"),
])
def test_conflicting_or_unknown_arguments(kwargs, match):
    with pytest.raises(TypeError, match=match):
        simulate_radio_field((32, 32), seed=0, **kwargs)
