"""``astrofmx demo`` and ``astrofmx preview``."""

import re
from pathlib import Path

import numpy as np
from astropy.table import QTable

from astrofmx.cli import main
from astrofmx.io import read_catalog


def test_demo_writes_everything_and_refuses_to_overwrite(tmp_path, capsys, monkeypatch):
    # as the README runs it: from a fresh folder, into the default, relative ./astrofmx-demo
    monkeypatch.chdir(tmp_path)
    out = Path("astrofmx-demo")
    assert main(["--quiet", "demo"]) == 0
    printed = capsys.readouterr().out
    for name in ("preview.png", "tiles.ecsv", "catalog.ecsv", "catalog.reg", "overlay.png", "scores.ecsv"):
        assert (out / name).stat().st_size > 0, name
        assert f"wrote {out / name}" in printed
    catalog = read_catalog(out / "catalog.ecsv")
    assert len(catalog) > 20 and "sky_centroid" in catalog.colnames
    scores = QTable.read(out / "scores.ecsv")
    # photutils on this Parkes map recovers most of Aegean's 51 components
    by_finder = {row["finder"]: row for row in scores}
    assert set(by_finder) == {"astrofmx default", "photutils"}
    assert by_finder["astrofmx default"]["n_sources"] == len(catalog)
    # measured (matching within half a beam): default C 0.80 / P 0.65, photutils C 0.65 / P 0.85 (Aegean finds 51
    # components); the radio-only previous default had C 0.82 / P 0.79
    assert by_finder["astrofmx default"]["completeness"] > 0.7 and by_finder["astrofmx default"]["purity"] > 0.6
    assert by_finder["photutils"]["completeness"] > 0.5 and by_finder["photutils"]["purity"] > 0.7
    from astrofmx.detection import DEFAULT_DETECTOR_PATH

    # the embedded detector named inside the package, not by this machine's absolute path
    assert catalog.meta["model"] == "astrofmx/" + DEFAULT_DETECTOR_PATH.relative_to(
        DEFAULT_DETECTOR_PATH.parents[2]).as_posix()
    assert catalog.meta["image"] == "astrofmx/data/1904-66_SIN.fits"
    regions_text = (out / "catalog.reg").read_text()
    assert regions_text.count("box(") == len(catalog) and regions_text.splitlines()[1].startswith("global")
    # every ECSV: descriptions, provenance, the image's name; tiles in pixels, with why they are not the
    # detection tiles; the printed summary says which tiling each step used
    tiles = QTable.read(out / "tiles.ecsv")
    assert tiles["x0"].unit == "pix" and tiles["width"].unit == "pix" and tiles["valid_fraction"].info.description
    assert tiles.meta["image"] == "astrofmx/data/1904-66_SIN.fits" and "not the detection tiles" in tiles.meta["note"]
    assert re.search(r"on its own tiling: \d+ tiles? of \d+ px", printed) and "tiling of an embedding model" in printed
    assert scores.meta["reference"].startswith("1904_comp.fits") and scores["f1"].info.description
    assert all(catalog[name].info.description for name in ("x_centroid", "score", "flux"))

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
        y0, x0, h, w = (int(row[n].to_value("pix")) for n in ("y0", "x0", "height", "width"))
        covered[y0:y0 + h, x0:x0 + w] = True
    assert covered.all()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
