"""The command line, run in-process through ``astrofmx.cli.main`` and once as a real subprocess."""

import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astrofmx.cli import main
from astrofmx.io import read_catalog


def test_demo_writes_everything_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["--quiet", "demo", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("preview.png", "tiles.ecsv", "catalog.ecsv", "catalog.reg", "overlay.png", "scores.ecsv"):
        assert (out / name).stat().st_size > 0, name
        assert f"wrote {out / name}" in printed
    catalog = read_catalog(out / "catalog.ecsv")
    assert len(catalog) > 20 and "sky_centroid" in catalog.colnames
    scores = QTable.read(out / "scores.ecsv")
    # photutils on this Parkes map recovers most of Aegean's 51 components
    assert scores["completeness"][0] > 0.5 and scores["purity"][0] > 0.7
    regions_text = (out / "catalog.reg").read_text()
    assert regions_text.count("box(") == len(catalog)

    before = (out / "catalog.ecsv").read_bytes()
    assert main(["--quiet", "demo", "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert (out / "catalog.ecsv").read_bytes() == before
    assert main(["--quiet", "demo", "--output-dir", str(out), "--overwrite"]) == 0


def test_preview_tiles_cover_image(tmp_path, capsys, bundled_radio_image):
    tiles_path = tmp_path / "tiles.ecsv"
    png = tmp_path / "p.png"
    assert main(["-q", "preview", str(bundled_radio_image), "--tile-size", "100", "--overlap", "10",
                 "-o", str(png), "--tiles", str(tiles_path)]) == 0
    tiles = QTable.read(tiles_path)
    covered = np.zeros((192, 192), bool)
    for row in tiles:
        covered[row["y0"]:row["y0"] + row["height"], row["x0"]:row["x0"] + row["width"]] = True
    assert covered.all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("make_input, message", [
    (lambda p: p / "missing.fits", "no such file"),
    (lambda p: (p / "notfits.fits").write_text("hello") and p / "notfits.fits", "FITS"),
    (lambda p: fits.PrimaryHDU(np.zeros((2, 3, 8, 8), np.float32)).writeto(p / "cube.fits") or p / "cube.fits",
     "plane"),
])
def test_bad_input_is_one_line_error(tmp_path, capsys, make_input, message):
    path = make_input(tmp_path)
    assert main(["-q", "preview", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("astrofmx preview: error:")
    assert __import__("re").search(message, err)


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "astrofmx", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert "demo" in result.stdout and "examples:" in result.stdout
