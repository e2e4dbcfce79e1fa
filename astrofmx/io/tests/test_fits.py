"""Tests of load_image on every real FITS file in ../shared/data and on synthetic edge cases."""

import csv
import os
import re
import tracemalloc
import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import CCDData, NDData
from astropy.wcs import WCS
from astropy.wcs.utils import proj_plane_pixel_scales

from astrofmx.io import load_image, parse_bunit, require_celestial_wcs
from astrofmx.utils import AstrofmxWarning


def _read_index(shared_data):
    rows = []
    with open(shared_data / "index.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if re.search(r"\.fits(\.gz|\.bz2)?$", row["path"], flags=re.I):
                rows.append(row)
    return rows


def _expected(loaded_as):
    """Shape (numpy order), unit string, CTYPE1, pixel scale and NaN fraction from index.csv."""
    m = re.match(r"HDU(\d+) ([\dx]+) (\w+)(?: \[([^\]]+)\])? (noWCS|WCS (\S+) ([\d.]+)\"/pix)(?: NaN=([\d.]+))?",
                 loaded_as)
    if m is None:
        return None
    hdu, dims, _dtype, unit, _wcs, ctype, scale, nan = m.groups()
    shape = tuple(int(n) for n in dims.split("x"))[::-1]
    return {"hdu": int(hdu), "shape": shape, "unit": unit, "ctype": ctype,
            "scale": None if scale is None else float(scale), "nan": float(nan or 0.0)}


def test_every_shared_fits_file(shared_data):
    """Every FITS file listed in index.csv loads with the shape, unit, WCS and NaN fraction it lists."""
    rows = _read_index(shared_data)
    assert len(rows) >= 50
    n_images = 0
    for row in rows:
        path = shared_data / row["path"]
        loaded_as = row["loaded_as"]
        if "table" in loaded_as and "x" not in loaded_as.split()[1]:
            with pytest.raises(ValueError, match="no image HDU with data"):
                load_image(path)
            continue
        if len(re.findall(r"HDU\d+ \d+x\d+", loaded_as)) > 1:  # several image HDUs (statmorph slice.fits)
            with pytest.raises(ValueError, match=r"several HDUs .* hold images \(\[0, 1, 2\]\); choose one"):
                load_image(path)
            continue
        exp = _expected(loaded_as)
        assert exp is not None, loaded_as
        image = load_image(path)
        n_images += 1
        shape = tuple(n for n in exp["shape"] if n > 1) if len(exp["shape"]) > 2 else exp["shape"]
        assert image.data.shape == shape, row["path"]
        assert image.data.dtype == np.float32 and image.data.dtype.isnative
        assert image.mask.dtype == bool and image.mask.shape == shape
        np.testing.assert_array_equal(image.mask, ~np.isfinite(image.data))
        assert image.mask.mean() == pytest.approx(exp["nan"], abs=0.006), row["path"]
        if exp["unit"] is None:
            assert image.unit is None
        else:
            assert image.unit == parse_bunit(exp["unit"])
            assert image.unit is not None
        if exp["ctype"] is None:
            assert image.wcs is None, row["path"]
        else:
            assert image.wcs.naxis == 2 and image.wcs.has_celestial
            assert image.wcs.wcs.ctype[0] == exp["ctype"]
            scale = proj_plane_pixel_scales(image.wcs).mean() * 3600
            assert scale == pytest.approx(exp["scale"], rel=0.05, abs=0.006), row["path"]
            assert image.wcs.pixel_shape == shape[::-1]
        assert isinstance(image.meta, fits.Header)
    assert n_images >= 45


def test_units_of_real_files(shared_data):
    assert load_image(shared_data / "radio/aegean/1904-66_SIN.fits").unit == u.Jy / u.beam
    assert load_image(shared_data / "optical/astropy-data/reprojected_sdss_g.fits.bz2").unit == u.nanomaggy
    hst = shared_data / "optical/galsim/147246.0_150.416558_1.998697_masknoise.fits"
    assert load_image(hst).unit == u.electron


def test_pybdsf_4d_cube_drops_degenerate_axes(shared_data):
    path = shared_data / "radio/pybdsf/tbdsf_process_image.in_fits.pybdsf.ch0_I.fits"
    image = load_image(path)
    raw = fits.getdata(path)
    assert raw.shape == (1, 1, 129, 129)
    np.testing.assert_array_equal(image.data, raw[0, 0].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = WCS(fits.getheader(path))
    assert full.naxis == 4 and image.wcs.naxis == 2
    x, y = np.array([0.0, 64.0, 128.0]), np.array([5.0, 64.0, 100.0])
    ra, dec = image.wcs.pixel_to_world_values(x, y)
    ra4, dec4, _, _ = full.pixel_to_world_values(x, y, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(ra, ra4, atol=1e-10)
    np.testing.assert_allclose(dec, dec4, atol=1e-10)
    # plane=0 (or (0, 0)) on a cube of degenerate axes selects the same plane
    np.testing.assert_array_equal(load_image(path, plane=(0, 0)).data, image.data)


def test_ukidss_image_in_hdu1(shared_data):
    path = shared_data / "optical/astroquery-ukidss/image.fits"
    image = load_image(path)
    np.testing.assert_array_equal(image.data, fits.getdata(path, 1).astype(np.float32))
    np.testing.assert_array_equal(load_image(path, hdu=1).data, image.data)
    with pytest.raises(ValueError, match=r"hdu=0 .* holds no image data"):
        load_image(path, hdu=0)
    with pytest.raises(ValueError, match=r"hdu=5 is not in"):
        load_image(path, hdu=5)


def test_tile_compressed_fk4(shared_data):
    path = shared_data / "optical/astropy-wheel/comp.fits"
    image = load_image(path)
    np.testing.assert_array_equal(image.data, fits.getdata(path, 1).astype(np.float32))
    sky = image.wcs.pixel_to_world(10, 20)
    assert sky.frame.name == "fk4"
    assert sky.frame.equinox.jyear == pytest.approx(1950.0)
    # the pixel of a sky position given in ICRS comes back through the FK4 frame
    x, y = image.wcs.world_to_pixel(sky.transform_to("icrs"))
    assert (float(x), float(y)) == pytest.approx((10.0, 20.0), abs=1e-6)


def test_sdss_bz2_and_bscale_plate(shared_data):
    sdss = shared_data / "optical/astropy-data/reprojected_sdss_r.fits.bz2"
    np.testing.assert_array_equal(load_image(sdss).data, fits.getdata(sdss).astype(np.float32))
    tmass = shared_data / "optical/astropy-data/gc_2mass_k.fits"
    with fits.open(tmass, do_not_scale_image_data=True) as hdul:
        raw = hdul[0].data.copy()
        bscale, bzero = hdul[0].header["BSCALE"], hdul[0].header["BZERO"]
    assert raw.dtype.kind == "i"
    expected = (raw.astype(np.float64) * bscale + bzero).astype(np.float32)
    np.testing.assert_allclose(load_image(tmass).data, expected, rtol=1e-6)


def test_aegean_nan_fraction_and_mask(shared_data):
    image = load_image(shared_data / "radio/aegean/1904-66_SIN.fits")
    assert 0.39 < image.mask.mean() < 0.41
    assert np.isnan(image.data[image.mask]).all()
    assert np.isfinite(image.data[~image.mask]).all()


def test_mirabest_headers_with_tabs_give_centre_from_file_name(shared_data):
    files = sorted((shared_data / "radio/mirabest/FITS").glob("*.fits"))
    assert len(files) == 28
    for path in files:
        image = load_image(path)  # TAB characters in COMMENT cards: no warning escapes (filterwarnings=error)
        _, ra, dec = re.match(r"(\d+)_(\d+\.\d+)([+-]\d+\.\d+)_", path.name).group(0, 2, 3)
        centre = image.wcs.pixel_to_world((image.data.shape[1] - 1) / 2, (image.data.shape[0] - 1) / 2)
        named = SkyCoord(float(ra), float(dec), unit="deg", frame="fk5")
        assert centre.separation(named).arcsec < 3.0, path.name


def test_magpis_galactic_and_first_extra_wcs_axes(shared_data):
    magpis = load_image(shared_data / "radio/astroquery-magpis/image.fits")
    assert magpis.wcs.naxis == 2 and magpis.wcs.pixel_to_world(0, 0).frame.name == "galactic"
    first = load_image(shared_data / "radio/astroquery-first/image.fits")
    assert first.wcs.naxis == 2 and first.data.shape == (33, 33)


# -- input types ---------------------------------------------------------------------------------------


def _wcs(shape=(40, 50)):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    w.wcs.cdelt = [-1e-3, 1e-3]
    return w


def test_input_types_agree(rng, tmp_path):
    data = rng.normal(size=(40, 50)).astype(">f4")
    data[3, 4] = np.nan
    w = _wcs()
    header = w.to_header()
    header["BUNIT"] = "JY/BEAM"
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(data, header).writeto(path)
    ref = load_image(path)
    assert ref.unit == u.Jy / u.beam
    with fits.open(path) as hdul:
        variants = [load_image(hdul), load_image(hdul[0])]
    variants += [load_image((data, header)), load_image(NDData(data, wcs=w, unit="Jy/beam")),
                 load_image(CCDData(data.astype(np.float32), wcs=w, unit="Jy/beam"))]
    for image in variants:
        np.testing.assert_array_equal(image.data, ref.data)
        np.testing.assert_array_equal(image.mask, ref.mask)
        assert image.unit == u.Jy / u.beam
        assert image.data.dtype == np.float32 and image.data.dtype.isnative
        np.testing.assert_allclose(image.wcs.wcs.crval, ref.wcs.wcs.crval)
    plain = load_image(np.asarray(data))
    assert plain.wcs is None and plain.unit is None and plain.mask[3, 4]
    with_wcs = load_image((data, w))
    assert with_wcs.wcs.has_celestial and with_wcs.unit is None


def test_native_float32_memmap_is_kept(tmp_path):
    raw = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float32, shape=(64, 80))
    raw[:] = 1.0
    image = load_image((raw, _wcs((64, 80))))
    assert np.shares_memory(image.data, raw)


@pytest.mark.parametrize("scale, kept", [(1.0, False), (1e-45, True), (1e45, True)])
def test_float64_that_float32_would_lose_is_kept(tmp_path, rng, scale, kept):
    # a float64 CGS-like map at 1e-45 flushes to zero in float32 (and 1e45 overflows): it keeps its type
    data = rng.normal(0.0, 1.0, (32, 40)) * scale
    path = tmp_path / "tiny.fits"
    fits.PrimaryHDU(data).writeto(path)
    image = load_image(path)
    assert (image.data.dtype == np.float64) is kept
    np.testing.assert_allclose(image.data, data, rtol=1e-6 if not kept else 0, atol=0)


def test_gzip_and_blank_integer_plate(tmp_path):
    raw = np.arange(12, dtype=np.int16).reshape(3, 4)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BLANK"] = 5
    hdu.header["BSCALE"] = 0.5
    hdu.header["BZERO"] = 10.0
    path = tmp_path / "plate.fits.gz"
    hdu.writeto(path)
    image = load_image(path)
    expected = raw * 0.5 + 10.0
    assert image.mask[1, 1] and image.mask.sum() == 1 and np.isnan(image.data[1, 1])
    np.testing.assert_allclose(image.data[~image.mask], expected[~image.mask])


def test_big_files_need_no_float64_copy(tmp_path, rng):
    shape = (2048, 2048)
    for dtype, bscale in ((np.float32, None), (np.int32, 1e-3), (np.float64, None)):
        path = tmp_path / f"big_{np.dtype(dtype).name}.fits"
        hdu = fits.PrimaryHDU(rng.integers(-1000, 1000, shape).astype(dtype))
        if bscale:
            hdu.header["BSCALE"] = bscale
        hdu.writeto(path)
        tracemalloc.start()
        image = load_image(path)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        f32 = np.prod(shape) * 4
        # one float32 image + a bool mask (0.25) + small blocks; a float64 copy alone would be 2.0
        assert peak < 1.6 * f32, (dtype, peak / f32)
        assert image.data.dtype == np.float32
        del image


def _cube_file(tmp_path, shape=(2, 3, 20, 30)):
    w = WCS(naxis=4)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    w.wcs.crval = [10.0, -30.0, 1.4e9, 1.0]
    w.wcs.crpix = [15.0, 10.0, 1.0, 1.0]
    w.wcs.cdelt = [-1e-3, 1e-3, 1e6, 1.0]
    data = np.zeros(shape, dtype=np.float32)
    for s in range(shape[0]):
        for f in range(shape[1]):
            data[s, f] = 10 * s + f
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(data, w.to_header()).writeto(path)
    return path


def test_cube_planes(tmp_path):
    path = _cube_file(tmp_path)
    image = load_image(path, plane=(1, 2))
    assert image.data.shape == (20, 30) and np.all(image.data == 12)
    assert image.wcs.naxis == 2 and image.wcs.wcs.ctype[0] == "RA---SIN"
    assert np.all(load_image(path, plane=(-1, 0)).data == 10)
    # an int indexes the only non-degenerate extra axis
    (tmp_path / "deg").mkdir()
    single = _cube_file(tmp_path / "deg", shape=(1, 3, 20, 30))
    assert np.all(load_image(single, plane=2).data == 2)
    assert np.all(load_image(single, plane=(1,)).data == 1)


def test_cube_errors(tmp_path):
    path = _cube_file(tmp_path)
    with pytest.raises(ValueError, match=r"cube that needs plane= .* extra axes of shape \(2, 3\)"):
        load_image(path)
    with pytest.raises(ValueError, match=r"plane=1 is ambiguous"):
        load_image(path, plane=1)
    with pytest.raises(ValueError, match=r"plane=\(2, 0\) is out of range"):
        load_image(path, plane=(2, 0))
    with pytest.raises(ValueError, match=r"has 3 indices"):
        load_image(path, plane=(0, 0, 0))
    with pytest.raises(TypeError, match="plane must be an int or a tuple of ints"):
        load_image(path, plane="first")
    data = np.ones((1, 4, 10, 10), dtype=np.float32)
    assert np.all(load_image(data, plane=3).data == 1)
    with pytest.raises(ValueError, match=r"plane=4 is out of range"):
        load_image(data, plane=4)
    with pytest.raises(ValueError, match="already 2-D"):
        load_image(np.ones((5, 5)), plane=0)


def test_errors(tmp_path, shared_data):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_image(tmp_path / "missing.fits")
    notfits = tmp_path / "notes.fits"
    notfits.write_text("this is not a FITS file\n" * 200)
    with pytest.raises(OSError, match="is not a readable FITS file"):
        load_image(notfits)
    with pytest.raises(ValueError, match=r"no image HDU with data .* BinTableHDU"):
        load_image(shared_data / "radio/aegean/1904_comp.fits")
    with pytest.raises(ValueError, match="at least 2-D, got 1-D"):
        load_image(np.arange(10.0))
    one_d = tmp_path / "spectrum.fits"
    fits.PrimaryHDU(np.arange(10.0)).writeto(one_d)
    with pytest.raises(ValueError, match="holds 1-D data"):
        load_image(one_d)
    with pytest.raises(ValueError, match="every pixel of the image .* is NaN"):
        load_image(np.full((8, 8), np.nan))
    with pytest.raises(TypeError, match="source must be a path"):
        load_image([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match=r"\(array, WCS or Header\)"):
        load_image((np.ones((3, 3)), None, None))
    with pytest.raises(ValueError, match=r"several HDUs .* choose one with hdu="):
        load_image(shared_data / "optical/statmorph/slice.fits")
    seg = load_image(shared_data / "optical/statmorph/slice.fits", hdu=1)
    assert seg.data.shape == (162, 162) and seg.wcs is None


def test_unparseable_bunit_warns():
    header = _wcs((5, 5)).to_header()
    header["BUNIT"] = "furlongs per fortnight"
    with pytest.warns(AstrofmxWarning, match="BUNIT 'furlongs per fortnight' is not a unit"):
        image = load_image((np.ones((5, 5)), header))
    assert image.unit is None
    assert parse_bunit("MJy/sr") == u.MJy / u.sr and parse_bunit("  ") is None


def test_require_celestial_wcs(shared_data):
    with pytest.raises(ValueError, match="sky positions need a celestial WCS, but the image has none"):
        require_celestial_wcs(None, purpose="sky positions")
    linear = WCS(naxis=2)
    linear.wcs.ctype = ["LINEAR", "LINEAR"]
    with pytest.raises(ValueError, match=r"has no celestial axes \(CTYPE = \['LINEAR', 'LINEAR'\]\)"):
        require_celestial_wcs(linear)
    with pytest.raises(TypeError, match="wcs must be an astropy.wcs.WCS"):
        require_celestial_wcs("RA---TAN")
    image = load_image(shared_data / "optical/sep/image.fits")  # blank CTYPE: no celestial WCS
    assert image.wcs is None
    assert require_celestial_wcs(load_image(shared_data / "radio/aegean/1904-66_SIN.fits").wcs).naxis == 2


def test_page_release_and_extname(tmp_path, rng, monkeypatch):
    """Large files release their mapped pages block by block; the result is unchanged. HDUs by EXTNAME."""
    import astrofmx.io._pixels as pixels_module

    data = rng.normal(size=(300, 200)).astype(np.float32)
    data[7, 9] = np.nan
    path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI"),
                  fits.ImageHDU(np.zeros((3, 3)), name="WHT")]).writeto(path)
    with pytest.raises(ValueError, match=r"several HDUs .*\(\[1, 2\]\).*'SCI'.*'WHT'"):
        load_image(path)
    expected = load_image(path, hdu="SCI")
    # release after every block of 16 rows, even for this small file: the pixels read are the same
    monkeypatch.setattr(pixels_module, "_RELEASE_BYTES", 1024)
    monkeypatch.setattr(pixels_module, "_BLOCK_BYTES", 8 * 200 * 16)
    image = load_image(path, hdu=("SCI", 1))
    np.testing.assert_array_equal(image.data, expected.data)
    np.testing.assert_array_equal(image.mask, expected.mask)
    np.testing.assert_array_equal(image.data[np.isfinite(data)], data[np.isfinite(data)])
    assert image.mask[7, 9] and image.mask.sum() == 1


def test_memmap_keeps_the_pixels_on_disk(tmp_path, rng, caplog):
    import logging

    import dask.array as da

    data = rng.normal(size=(3, 40, 50)).astype(np.float32)
    w = WCS(naxis=3)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN", "FREQ"]
    w.wcs.crval = [150.0, 2.0, 1.4e9]
    w.wcs.cdelt = [-1 / 3600, 1 / 3600, 1e6]
    header = w.to_header()
    header["BUNIT"] = "Jy/beam"
    path = tmp_path / "cube.fits"
    fits.PrimaryHDU(data, header=header).writeto(path)
    eager, lazy = load_image(path, plane=1), load_image(path, plane=1, memmap=True)
    assert isinstance(lazy.data, np.memmap) and lazy.data.dtype == np.dtype(">f4") and lazy.mask is None
    np.testing.assert_array_equal(np.asarray(lazy.data, dtype=np.float32), eager.data)
    np.testing.assert_array_equal(lazy.data, data[1])
    assert lazy.unit == eager.unit and lazy.wcs.wcs.ctype[0] == "RA---SIN" and lazy.wcs.naxis == 2
    # scaled integers and compressed files cannot stay mapped: read into memory as usual, with a note
    scaled = tmp_path / "scaled.fits"
    hdu = fits.PrimaryHDU((data[0] * 100).astype(np.int16))
    hdu.header["BSCALE"], hdu.header["BZERO"] = 0.01, 0.0
    hdu.writeto(scaled)
    gz = tmp_path / "plain.fits.gz"
    fits.PrimaryHDU(data[0]).writeto(gz)
    for p in (scaled, gz):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="astrofmx.io._fits"):
            img = load_image(p, memmap=True)
        assert type(img.data) is np.ndarray and img.data.dtype == np.float32 and img.mask is not None
        assert "cannot stay memory-mapped" in caplog.text
    # arrays that are already lazy are kept as they are
    lazy_dask = load_image((da.from_array(data[2], chunks=16), w.celestial), memmap=True)
    assert isinstance(lazy_dask.data, da.Array)
    np.testing.assert_array_equal(lazy_dask.data.compute(), data[2])
    assert type(load_image(da.from_array(data[2]), memmap=False).data) is np.ndarray
    with pytest.raises(ValueError, match="needs plane="):
        load_image(path, memmap=True)


def _proc_status_mib(key):
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith(key + ":")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="reads RssFile and VmHWM from Linux /proc")
def test_release_mapped_pages_drops_what_was_read(tmp_path):
    """Pages of a memory-mapped file leave the resident set after a pass (RSS stays bounded on huge files)."""
    import gc

    from astrofmx.io import release_mapped_pages

    data = np.random.default_rng(0).normal(size=(4200, 4200)).astype(np.float32)  # 67 MiB
    path = tmp_path / "big.fits"
    fits.PrimaryHDU(data).writeto(path)
    del data
    gc.collect()
    # an eager load converts the big-endian pixels block by block, releasing the pages already read:
    # the peak is one float32 image and its mask (~85 MiB), not also the whole file (~150 MiB)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak resident set size (VmHWM)
    except OSError:
        pytest.skip("cannot reset VmHWM here")
    base = _proc_status_mib("VmRSS")
    eager = load_image(path)
    assert _proc_status_mib("VmHWM") - base < 120
    total = float(np.asarray(eager.data, dtype=np.float64).sum())
    del eager
    gc.collect()

    image = load_image(path, memmap=True)
    before = _proc_status_mib("RssFile")
    assert float(np.asarray(image.data, dtype=np.float64).sum()) == total  # reads every page
    assert _proc_status_mib("RssFile") - before > 50
    release_mapped_pages(image.data)
    assert _proc_status_mib("RssFile") - before < 10
    # the data are still there, read again from the file
    assert float(np.asarray(image.data, dtype=np.float64).sum()) == total
    plain = np.arange(6.0)
    release_mapped_pages(plain)  # not a memory map: nothing happens
    assert plain.sum() == 15.0


@pytest.mark.parametrize("short", [1, 20000])
@pytest.mark.parametrize("memmap", [False, True])
def test_truncated_file_names_sizes(tmp_path, short, memmap):
    """A FITS file cut short (download or copy interrupted) is refused with the expected and actual sizes,
    in place of numpy's 'buffer is too small for requested array'; a file missing only its final padding
    still reads."""
    path = tmp_path / "field.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((64, 64), np.float32)),
                  fits.ImageHDU(np.zeros((50, 70), ">f8"), name="SCI")]).writeto(path)
    raw = path.read_bytes()
    with fits.open(path) as full:
        end = full[1].fileinfo()["datLoc"] + 50 * 70 * 8  # where the data of HDU 1 end
    assert end < len(raw)  # the rest is padding to 2880-byte blocks
    unpadded = tmp_path / "unpadded.fits"
    unpadded.write_bytes(raw[:end])
    assert load_image(unpadded, hdu=1, memmap=memmap).data.shape == (50, 70)
    cut_path = tmp_path / "cut.fits"
    cut_path.write_bytes(raw[:end - short])
    msg = (rf"'.*cut.fits' is truncated: HDU 1 \(SCI\) declares data up to byte {end:,} but the file holds "
           rf"{end - short:,} bytes \({short:,} missing\)")
    with pytest.raises(OSError, match=msg):
        load_image(cut_path, hdu=1, memmap=memmap)
    with pytest.raises(OSError, match="is truncated"):  # whichever HDU is asked for
        load_image(cut_path, hdu=0, memmap=memmap)


def test_check_fits_file_and_simulated_field_reader(tmp_path):
    """check_fits_file passes a whole file and names a cut one; read_simulated_field (which opens files itself)
    says the same instead of numpy's 'buffer is too small'."""
    from astrofmx.datasets import read_simulated_field, simulate_radio_field
    from astrofmx.io import check_fits_file

    path = tmp_path / "field.fits"
    simulate_radio_field((64, 64), seed=1, n_sources=3).write(path)
    check_fits_file(path)
    assert len(read_simulated_field(path).truth) == 3
    raw = path.read_bytes()
    path.write_bytes(raw[:6000])  # inside the image data of the primary HDU
    for call in (check_fits_file, read_simulated_field):
        with pytest.raises(OSError, match=r"field.fits' is truncated: HDU 0 \(PRIMARY\) .* holds 6,000 bytes"):
            call(path)
