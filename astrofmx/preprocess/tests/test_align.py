import astropy.units as u
import numpy as np
import pytest
from astropy.nddata import NDData
from astropy.wcs.utils import proj_plane_pixel_scales

from astrofmx.io import load_image
from astrofmx.preprocess import align_images, get_preset, resample_to_pixel_scale


def test_sdss_bands_on_one_grid(shared_data):
    paths = [shared_data / f"optical/astropy-data/reprojected_sdss_{b}.fits.bz2" for b in "gri"]
    stack = align_images(paths)
    assert stack.data.shape == (3, 496, 682) and stack.data.dtype == np.float32
    assert stack.unit == u.nanomaggy and stack.meta["units"] == [u.nanomaggy] * 3
    ref = load_image(paths[1]).data
    inner = (slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(stack.data[1][inner], ref[inner], rtol=1e-4, atol=1e-4)
    rgb = get_preset("optical").replace(per_channel=False)(stack.data, stack.mask)
    assert rgb.shape == (3, 496, 682) and 0 <= rgb.min() and rgb.max() <= 1


def test_ait_onto_sin_grid_matches(shared_data):
    sin = load_image(shared_data / "radio/aegean/1904-66_SIN.fits")
    stack = align_images([sin, shared_data / "radio/aegean/1904-66_AIT.fits"])
    both = ~stack.mask.any(axis=0)
    assert both.mean() > 0.4
    a, b = stack.data[0][both], stack.data[1][both]
    assert np.corrcoef(a, b)[0, 1] > 0.97
    bright = a > 1.0
    np.testing.assert_allclose(np.median(b[bright] / a[bright]), 1.0, atol=0.05)


def test_optimal_grid_and_explicit_grid(shared_data):
    paths = [shared_data / "radio/aegean/1904-66_SIN.fits", shared_data / "radio/aegean/1904-66_AIT.fits"]
    opt = align_images(paths, wcs_out="optimal")
    assert opt.data.shape[0] == 2 and opt.wcs.naxis == 2
    sin = load_image(paths[0])
    out = align_images(paths[1:], wcs_out=sin.wcs, shape_out=(100, 100), method="exact")
    assert out.data.shape == (1, 100, 100)
    with pytest.raises(ValueError, match="wcs_out must be a WCS, a Header, 'optimal' or None"):
        align_images(paths, wcs_out="best")
    with pytest.raises(ValueError, match=r"aligning images \(image 1\) need a celestial WCS"):
        align_images([paths[0], np.ones((10, 10))])
    with pytest.raises(TypeError, match="images must be a list of images"):
        align_images(paths[0])
    with pytest.raises(ValueError, match="method must be one of"):
        align_images(paths, method="drizzle")


def test_resample_to_pixel_scale_units_and_flux(bundled_radio_image):
    image = load_image(bundled_radio_image)
    beam = image.meta["BMAJ"] * u.deg
    out = resample_to_pixel_scale(image, beam / 5)
    scale = proj_plane_pixel_scales(out.wcs) * u.deg
    np.testing.assert_allclose(scale.to_value(u.arcsec), (beam / 5).to_value(u.arcsec), rtol=1e-6)
    assert out.unit == image.unit
    # the field is kept: the centre of the image stays at the same sky position
    c_old = image.wcs.pixel_to_world((192 - 1) / 2, (192 - 1) / 2)
    ny, nx = out.data.shape
    assert out.wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2).separation(c_old).arcsec < 1.0
    # surface brightness (Jy/beam) is preserved: peak values agree
    assert np.nanmax(out.data) == pytest.approx(np.nanmax(image.data), rel=0.05)
    flux = resample_to_pixel_scale(image, beam / 5, conserve_flux=True)
    ratio = (proj_plane_pixel_scales(out.wcs).prod() / proj_plane_pixel_scales(image.wcs).prod())
    np.testing.assert_allclose(flux.data[~flux.mask], out.data[~out.mask] * ratio, rtol=1e-5)
    with pytest.raises(TypeError, match="pixel_scale must be an angle Quantity"):
        resample_to_pixel_scale(image, 2.0)
    with pytest.raises(ValueError, match="pixel_scale must be positive"):
        resample_to_pixel_scale(image, -2 * u.arcsec)
    with pytest.raises(ValueError, match="need a celestial WCS"):
        resample_to_pixel_scale(NDData(np.ones((5, 5))), 1 * u.arcsec)
