"""The overlay figure: WCSAxes, blank NaNs, one colour per finder, PNG output."""

import astropy.units as u
import numpy as np
import pytest
from astropy.visualization.wcsaxes import WCSAxes
from matplotlib.image import imread

from astrofmx.compare import compare_catalogs, find_sources_sep, plot_catalogs, read_reference_catalog
from astrofmx.datasets import get_bundled_path
from astrofmx.io import load_image, make_source_catalog


def test_overlay_on_real_radio_image(bundled_radio_image, tmp_path):
    image = load_image(bundled_radio_image)
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    sep_cat = find_sources_sep(bundled_radio_image)
    fname = tmp_path / "overlay.png"
    fig = plot_catalogs(bundled_radio_image, {"sep": sep_cat, "reference": ref}, filename=fname)
    ax = fig.axes[0]
    assert isinstance(ax, WCSAxes)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [f"sep ({len(sep_cat)})", "reference (51)"]
    # two scatter layers with different colours; sep also draws its boxes
    colours = {tuple(np.round(c.get_edgecolor()[0], 3)) for c in ax.collections}
    assert len(ax.collections) == 2 and len(colours) == 2
    assert len(ax.patches) == len(sep_cat)
    # the NaN area (40% of the image) is masked, i.e. drawn transparent
    shown = ax.images[0].get_array()
    assert np.ma.is_masked(shown) and shown.mask.mean() == pytest.approx(image.mask.mean())
    png = imread(fname)
    assert png.ndim == 3 and png.shape[0] > 300 and png.shape[1] > 300
    with pytest.raises(FileExistsError, match="overwrite=True"):
        plot_catalogs(bundled_radio_image, {"sep": sep_cat}, filename=fname)


def test_compare_catalogs_writes_plot(bundled_radio_image, tmp_path):
    image = load_image(bundled_radio_image)
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    t = compare_catalogs({"sep": find_sources_sep(image)}, ref, 7.2 * u.arcmin, image=image,
                         plot=tmp_path / "cmp.png")
    assert (tmp_path / "cmp.png").stat().st_size > 10_000
    assert 0 < t["f1"][0] <= 1


def test_pixel_axes_without_wcs_and_bad_options(rng):
    img = rng.normal(size=(40, 50))
    cat = make_source_catalog([[3, 3, 9, 9], [20, 20, 20, 20]], warn_empty=False)
    fig = plot_catalogs(img, {"a": cat}, stretch="linear", interval="99.5%")
    ax = fig.axes[0]
    assert not isinstance(ax, WCSAxes)
    assert ax.get_xlim() == (-0.5, 49.5)
    assert len(ax.patches) == 1  # the zero-size box is only a marker
    with pytest.raises(ValueError, match="stretch must be one of"):
        plot_catalogs(img, {"a": cat}, stretch="cubic")
    with pytest.raises(ValueError, match="interval must be one of"):
        plot_catalogs(img, {"a": cat}, interval="auto")
    with pytest.raises(TypeError, match="catalogs must be a dict"):
        plot_catalogs(img, [cat])
