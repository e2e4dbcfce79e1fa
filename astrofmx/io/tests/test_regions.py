"""Tests of DS9 region output: regions round trips, 1-based pixels, and a real SAOImage DS9 under Xvfb."""

import os
import re
import shutil
import subprocess
import time

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.wcs import WCS
from regions import RectanglePixelRegion, RectangleSkyRegion, Regions

from astrofmx.io import load_image, make_source_catalog, to_regions, write_ds9


def _tan_wcs(ra=150.0, dec=2.0, scale_arcsec=1.0, npix=100):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [npix / 2 + 0.5, npix / 2 + 0.5]
    return wcs


def _random_catalog(rng, n=12, wcs=None, size=100):
    x0 = rng.uniform(5, size - 20, n)
    y0 = rng.uniform(5, size - 20, n)
    w = rng.uniform(2, 12, n)
    h = rng.uniform(2, 12, n)
    boxes = np.stack([x0, y0, x0 + w, y0 + h], axis=1)
    return make_source_catalog(boxes, scores=rng.uniform(0.3, 1.0, n), wcs=wcs)


def test_pixel_regions_match_boxes(rng):
    cat = _random_catalog(rng)
    regs = to_regions(cat)
    assert len(regs) == len(cat)
    for reg, row in zip(regs, cat):
        assert isinstance(reg, RectanglePixelRegion)
        assert reg.center.x == pytest.approx(0.5 * (row["bbox_xmin"] + row["bbox_xmax"]).value)
        assert reg.center.y == pytest.approx(0.5 * (row["bbox_ymin"] + row["bbox_ymax"]).value)
        assert reg.width == pytest.approx(row["width"].value)
        assert reg.height == pytest.approx(row["height"].value)
        assert reg.meta["text"] == f"{row['score']:.2f}"


def test_ds9_file_is_one_based_exact_string(tmp_path):
    cat = make_source_catalog([[0.5, 1.5, 4.5, 7.5]], scores=[0.875])  # centre (2.5, 4.5) astropy 0-based
    fname = tmp_path / "one.reg"
    write_ds9(cat, fname)
    text = fname.read_text()
    assert text.splitlines()[-1] == "box(3.50000000,5.50000000,4.00000000,6.00000000,0.00000000)"
    assert "text={0.88}" in text
    back = Regions.read(str(fname), format="ds9")[0]
    assert (back.center.x, back.center.y) == pytest.approx((2.5, 4.5))


def test_ds9_round_trip_pixel(tmp_path, rng):
    cat = _random_catalog(rng, n=25)
    fname = tmp_path / "pix.reg"
    written = write_ds9(cat, fname, color="red")
    back = Regions.read(str(fname), format="ds9")
    assert len(back) == len(cat) == len(written)
    for reg, orig in zip(back, written):
        assert (reg.center.x, reg.center.y) == pytest.approx((orig.center.x, orig.center.y), abs=1e-6)
        assert (reg.width, reg.height) == pytest.approx((orig.width, orig.height), abs=1e-6)
        assert reg.visual["edgecolor"] == "red"
        assert float(reg.meta["text"]) == pytest.approx(float(orig.meta["text"]))


def test_ds9_round_trip_sky_with_wcs(tmp_path, rng):
    wcs = _tan_wcs()
    cat = _random_catalog(rng, n=20, wcs=wcs)
    regs = to_regions(cat, wcs=wcs)
    assert all(isinstance(r, RectangleSkyRegion) for r in regs)
    fname = tmp_path / "sky.reg"
    write_ds9(cat, fname, wcs=wcs)
    back = Regions.read(str(fname), format="ds9")
    assert len(back) == len(cat)
    for reg, row in zip(back, cat):
        pix = reg.to_pixel(wcs)
        assert pix.center.x == pytest.approx(0.5 * (row["bbox_xmin"] + row["bbox_xmax"]).value, abs=1e-4)
        assert pix.center.y == pytest.approx(0.5 * (row["bbox_ymin"] + row["bbox_ymax"]).value, abs=1e-4)
        assert pix.width == pytest.approx(row["width"].value, rel=1e-4)
        assert pix.height == pytest.approx(row["height"].value, rel=1e-4)
        # 1 arcsec pixels: the sky size is the pixel size in arcsec
        assert reg.width.to_value(u.arcsec) == pytest.approx(row["width_sky"].to_value(u.arcsec), rel=1e-3)


def test_sky_regions_without_wcs_use_sky_columns(rng):
    wcs = _tan_wcs()
    cat = _random_catalog(rng, n=5, wcs=wcs)
    regs = to_regions(cat)
    assert all(isinstance(r, RectangleSkyRegion) for r in regs)
    sep = SkyCoord([r.center for r in regs]).separation(cat["sky_centroid"])
    assert np.all(sep < 1e-6 * u.arcsec)
    assert regs[0].width.to_value(u.arcsec) == pytest.approx(cat["width_sky"][0].to_value(u.arcsec))
    # frame='image' forces exact pixel boxes
    assert all(isinstance(r, RectanglePixelRegion) for r in to_regions(cat, frame="image"))


def test_polar_wide_field_boxes_survive_sky_conversion(bundled_radio_image, rng):
    """1904-66 is a 13-degree SIN field near the south pole: north turns across the image."""
    image = load_image(bundled_radio_image)
    cat = _random_catalog(rng, n=10, wcs=image.wcs, size=180)
    for reg, row in zip(to_regions(cat, wcs=image.wcs), cat):
        pix = reg.to_pixel(image.wcs)
        assert pix.center.x == pytest.approx(0.5 * (row["bbox_xmin"] + row["bbox_xmax"]).value, abs=1e-3)
        assert pix.width == pytest.approx(row["width"].value, rel=1e-3)
        assert pix.angle.to_value(u.deg) % 360 == pytest.approx(0, abs=1e-3) or \
            pix.angle.to_value(u.deg) % 360 == pytest.approx(360, abs=1e-3)


def test_label_format_and_nan_scores(rng):
    cat = make_source_catalog([[0, 0, 4, 4], [10, 10, 12, 14]], scores=[0.5, np.nan], labels=["agn", "star"])
    regs = to_regions(cat)
    assert regs[0].meta["text"] == "0.50"
    assert "text" not in regs[1].meta  # classical finders have no score: no label rather than 'nan'
    regs = to_regions(cat, label_format="{id}:{label}")
    assert [r.meta["text"] for r in regs] == ["1:agn", "2:star"]
    assert all("text" not in r.meta for r in to_regions(cat, label_format=None))
    with pytest.raises(ValueError, match="label_format .*'flux'"):
        to_regions(cat, label_format="{flux:.1f}")


def test_point_sources_get_a_positive_box():
    cat = make_source_catalog([[5, 5, 5, 5]], scores=[0.9])
    reg = to_regions(cat)[0]
    assert reg.width == 1.0 and reg.height == 1.0


def test_refuses_to_overwrite(tmp_path):
    cat = make_source_catalog([[0, 0, 4, 4]], scores=[0.5])
    fname = tmp_path / "a.reg"
    fname.write_text("precious")
    with pytest.raises(FileExistsError, match="already exists.*overwrite=True"):
        write_ds9(cat, fname)
    assert fname.read_text() == "precious"
    write_ds9(cat, fname, overwrite=True)
    assert fname.read_text().startswith("# Region file format: DS9")


def test_empty_catalog_writes_valid_empty_file(tmp_path):
    with pytest.warns(Warning, match="no sources"):
        cat = make_source_catalog(np.zeros((0, 4)))
    assert len(to_regions(cat)) == 0
    fname = tmp_path / "empty.reg"
    write_ds9(cat, fname)
    assert fname.exists()
    assert len(Regions.read(str(fname), format="ds9")) == 0


def test_bad_inputs():
    cat = make_source_catalog([[0, 0, 4, 4]], scores=[0.5])
    with pytest.raises(TypeError, match="celestial"):
        to_regions(cat, wcs=WCS(naxis=2))
    with pytest.raises(ValueError, match="frame must be"):
        to_regions(cat, frame="galactic")
    with pytest.raises(ValueError, match="frame='sky' needs a WCS"):
        to_regions(cat, frame="sky")
    cat.remove_column("width")
    with pytest.raises(ValueError, match="pixel columns"):
        to_regions(cat)


# --- real client: SAOImage DS9 under Xvfb, driven through XPA -------------------------------------------

def _free_display():
    for n in range(91, 200):
        if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return n
    pytest.skip("no free X display number for Xvfb")


class _DS9:
    def __init__(self, name, env):
        self.name, self.env = name, env

    def get(self, *args):
        out = subprocess.run(["xpaget", self.name, *args], env=self.env, capture_output=True, text=True, timeout=30)
        if out.returncode:
            raise RuntimeError(f"xpaget {args} failed: {out.stderr}")
        return out.stdout

    def set(self, *args):
        out = subprocess.run(["xpaset", "-p", self.name, *args], env=self.env, capture_output=True, text=True,
                             timeout=30)
        if out.returncode:
            raise RuntimeError(f"xpaset {args} failed: {out.stderr}")


@pytest.fixture(scope="module")
def ds9(bundled_radio_image, tmp_path_factory):
    """A headless SAOImage DS9 showing the bundled 1904-66 image; killed at the end."""
    missing = [b for b in ("Xvfb", "ds9", "xpaget", "xpaset") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"DS9 integration needs {missing} (Debian: apt-get install saods9 xvfb xpa-tools)")
    display = _free_display()
    name = f"afmx{os.getpid()}"
    env = {**os.environ, "DISPLAY": f":{display}", "XPA_METHOD": "local"}
    logdir = tmp_path_factory.mktemp("ds9")
    procs, logs = [], [open(logdir / "xvfb.log", "w"), open(logdir / "ds9.log", "w")]
    try:
        xvfb = subprocess.Popen(["Xvfb", f":{display}", "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                                stdout=logs[0], stderr=subprocess.STDOUT)
        procs.append(xvfb)
        time.sleep(0.5)
        proc = subprocess.Popen(["ds9", str(bundled_radio_image), "-title", name, "-xpa", "local"], env=env,
                                stdout=logs[1], stderr=subprocess.STDOUT)
        procs.append(proc)
        client = _DS9(name, env)
        deadline = time.time() + 90
        while True:
            try:
                if client.get("version").strip():
                    break
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"DS9 did not answer on XPA: {(logdir / 'ds9.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield client
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for fh in logs:
            fh.close()


_BOX = re.compile(r"^box\(([^)]*)\)")


def _ds9_boxes(client, system):
    args = ["regions", "-format", "ds9", "-system", system]
    if system == "wcs":
        args += ["-sky", "fk5", "-skyformat", "degrees"]
    boxes = []
    for line in client.get(*args).splitlines():
        m = _BOX.match(line.strip())
        if m:
            boxes.append([float(v.rstrip('"')) for v in m.group(1).split(",")])
    return np.array(boxes).reshape(-1, 5)


def test_ds9_loads_pixel_regions(ds9, tmp_path, rng):
    cat = _random_catalog(rng, n=15, size=180)
    fname = tmp_path / "pix.reg"
    write_ds9(cat, fname, frame="image")
    ds9.set("regions", "delete", "all")
    ds9.set("regions", "load", str(fname))
    got = _ds9_boxes(ds9, "image")
    assert len(got) == len(cat)
    xc = 0.5 * (cat["bbox_xmin"] + cat["bbox_xmax"]).value
    yc = 0.5 * (cat["bbox_ymin"] + cat["bbox_ymax"]).value
    # DS9 image pixels are 1-based: astropy (x, y) is DS9 (x + 1, y + 1)
    np.testing.assert_allclose(got[:, 0], xc + 1, atol=1e-3)
    np.testing.assert_allclose(got[:, 1], yc + 1, atol=1e-3)
    np.testing.assert_allclose(got[:, 2], cat["width"].value, atol=1e-3)
    np.testing.assert_allclose(got[:, 3], cat["height"].value, atol=1e-3)


def test_ds9_loads_sky_regions(ds9, tmp_path, rng, bundled_radio_image):
    image = load_image(bundled_radio_image)
    cat = _random_catalog(rng, n=15, wcs=image.wcs, size=180)
    fname = tmp_path / "sky.reg"
    write_ds9(cat, fname, wcs=image.wcs)
    frame = [line for line in fname.read_text().splitlines() if not line.startswith(("#", "global"))][0]
    assert frame in ("fk5", "j2000", "icrs")  # a sky frame, not "image"
    ds9.set("regions", "delete", "all")
    ds9.set("regions", "load", str(fname))
    got = _ds9_boxes(ds9, "image")
    assert len(got) == len(cat)
    xc = 0.5 * (cat["bbox_xmin"] + cat["bbox_xmax"]).value
    yc = 0.5 * (cat["bbox_ymin"] + cat["bbox_ymax"]).value
    np.testing.assert_allclose(got[:, 0], xc + 1, atol=0.02)
    np.testing.assert_allclose(got[:, 1], yc + 1, atol=0.02)
    sky = _ds9_boxes(ds9, "wcs")
    centres = SkyCoord(sky[:, 0], sky[:, 1], unit="deg", frame="fk5")
    expected = SkyCoord.from_pixel(xc, yc, image.wcs)
    assert np.all(centres.separation(expected) < 2 * u.arcsec)  # pixels are 4 arcmin


def test_ds9_loads_empty_region_file(ds9, tmp_path):
    with pytest.warns(Warning, match="no sources"):
        cat = make_source_catalog(np.zeros((0, 4)))
    fname = tmp_path / "empty.reg"
    write_ds9(cat, fname)
    ds9.set("regions", "delete", "all")
    ds9.set("regions", "load", str(fname))
    assert len(_ds9_boxes(ds9, "image")) == 0


def test_nan_boxes_are_refused_not_written(tmp_path):
    """write_ds9 never writes box(nan, ...): the rows are named and nothing is written."""
    from astrofmx.io import make_source_catalog, write_ds9

    cat = make_source_catalog([[10, 20, 14, 26], [30, 30, 34, 36]], scores=[0.9, 0.8])
    cat["x_centroid"][1] = np.nan * cat["x_centroid"].unit
    cat["bbox_xmin"][1] = np.nan * cat["bbox_xmin"].unit
    with pytest.raises(ValueError, match=r"row\(s\) have a NaN.*\[1\]"):
        write_ds9(cat, tmp_path / "bad.reg")
    assert not (tmp_path / "bad.reg").exists()


@pytest.mark.parametrize("n", [1, 3])
def test_ds9_file_has_global_line_and_reads_back(tmp_path, n):
    """DS9's own files start with a 'global' line of defaults; ours too (after the header comment), for one
    source or many, and the file still reads back with regions."""
    boxes = [[10 + 10 * k, 20, 14 + 10 * k, 26] for k in range(n)]
    cat = make_source_catalog(boxes, scores=[0.9, 0.8, 0.7][:n])
    fname = tmp_path / "s.reg"
    write_ds9(cat, fname, color="cyan")
    lines = fname.read_text().splitlines()
    assert lines[0].startswith("# Region file format: DS9")
    assert lines[1].startswith("global") and sum(line.startswith("global") for line in lines) == 1
    assert n == 1 or "color=cyan" in lines[1]
    back = Regions.read(str(fname), format="ds9")
    assert len(back) == n
    assert back[0].center.x == pytest.approx(12.0) and back[0].width == pytest.approx(4.0)
