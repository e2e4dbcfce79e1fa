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
    assert labels == [f"sep ({len(sep_cat)})", "reference (51)", "beam (FWHM)"]
    # two scatter layers with different colours; sep also draws its boxes
    colours = {tuple(np.round(c.get_edgecolor()[0], 3)) for c in ax.collections}
    assert len(ax.collections) == 2 and len(colours) == 2
    assert len(ax.patches) == len(sep_cat) + 1  # and the beam ellipse
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


def test_overlay_for_astronomers(bundled_radio_image, tmp_path):
    """The preview's asinh stretch, a colorbar in BUNIT, hollow markers, the beam ellipse, distinct symbols for
    matched / false / missed sources, a title, and no pixel next to a blank region clipped to black."""
    from matplotlib.patches import Ellipse
    from scipy import ndimage

    image = load_image(bundled_radio_image)
    ref = read_reference_catalog(get_bundled_path("1904_comp.fits"), wcs=image.wcs)
    sep_cat = find_sources_sep(bundled_radio_image)
    fig = plot_catalogs(bundled_radio_image, {"sep": sep_cat, "reference": ref}, radius=7.2 * u.arcmin)
    ax = fig.axes[0]
    assert ax.get_title() == "1904-66_SIN.fits"
    colorbar = fig.axes[1]
    assert colorbar.get_xlabel() == "Jy / beam (asinh stretch)"
    norm = ax.images[0].norm
    assert type(norm.stretch).__name__ == "AsinhStretch" and norm.stretch.a == 0.05  # the radio preview's
    blank = image.mask
    edge = ndimage.binary_dilation(blank) & ~blank
    assert norm(np.asarray(image.data)[edge]).min() > 0  # no black edge pixels
    for layer in ax.collections:  # hollow markers
        assert len(layer.get_facecolor()) == 0 or np.all(layer.get_facecolor()[:, 3] == 0)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    from astrofmx.compare import crossmatch

    m = crossmatch(sep_cat, ref, 7.2 * u.arcmin)
    assert labels[:3] == [f"sep: matched ({m.meta['n_matched']})", f"sep: false ({m.meta['n_unmatched_catalog']})",
                          f"sep: missed ({m.meta['n_unmatched_reference']})"]
    markers = [h.get_marker() for h in ax.get_legend().legend_handles[:3]]
    assert len(set(markers)) == 3
    beams = [p for p in ax.patches if isinstance(p, Ellipse)]
    assert len(beams) == 1
    bmaj_pix = image.meta["BMAJ"] / abs(image.meta["CDELT2"])
    assert beams[0].width == pytest.approx(bmaj_pix, rel=0.05)
    plain = plot_catalogs(np.random.default_rng(0).normal(size=(32, 32)), {"mine": sep_cat[:0]})
    assert plain.axes[0].get_title() == "mine" and "no BUNIT" in plain.axes[1].get_xlabel()
