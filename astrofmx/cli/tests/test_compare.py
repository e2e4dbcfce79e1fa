"""``astrofmx simulate`` and ``astrofmx compare``."""

import numpy as np
from astropy.table import QTable

from astrofmx.cli import main

from ._util import one_line_error


def test_simulate_writes_field_and_truth(tmp_path, capsys):
    from astrofmx.datasets import read_simulated_field

    out, truth = tmp_path / "f.fits", tmp_path / "truth.ecsv"
    assert main(["-q", "simulate", str(out), "--shape", "64", "80", "--seed", "2", "--rms", "30 uJy/beam",
                 "--beam-fwhm", "6arcsec", "--n-sources", "9", "--artefacts", "rings", "--truth", str(truth)]) == 0
    field = read_simulated_field(out)
    assert field.data.shape == (64, 80) and len(field.truth) == 9
    written = QTable.read(truth)
    assert len(written) == 9
    for name in ("x_centroid", "y_centroid", "bbox_xmin", "bbox_ymax"):  # pixel columns carry units
        assert written[name].unit == "pix" and written[name].info.description
    assert written.meta["version"]["astrofmx"] and "date" in written.meta
    np.testing.assert_allclose(field.rms.to_value("uJy/beam"), 30, rtol=1e-3)
    # the truth table inside the simulated FITS file is a valid reference for compare (default finders)
    scores = tmp_path / "scores.ecsv"
    assert main(["-q", "compare", str(out), "--reference", str(out), "--radius", "3pix", "-o", str(scores)]) == 0
    table = QTable.read(scores)
    assert table["finder"].tolist() == ["default", "photutils", "sep"] and all(table["n_reference"] == 9)
    assert table.meta["image"] == "f.fits" and table.meta["finders"] == ["default", "photutils", "sep"]
    assert table["completeness"].info.description and table.meta["version"]["astrofmx"]
    assert main(["-q", "simulate", str(out)]) == 2
    assert "already exists" in one_line_error(capsys, "simulate")
    pbc = tmp_path / "pb.fits"
    assert main(["-q", "simulate", str(pbc), "--shape", "64", "64", "--n-sources", "3", "--primary-beam-fwhm",
                 "90arcsec", "--pb-cutoff", "0.3"]) == 0
    field = read_simulated_field(pbc)
    assert np.isnan(field.data[0, 0]) and np.isfinite(field.data[32, 32]) and field.header["SIMPBCUT"] == 0.3
    assert main(["-q", "simulate", str(tmp_path / "bad.fits"), "--pb-cutoff", "0.3"]) == 2
    assert "--primary-beam-fwhm" in one_line_error(capsys, "simulate")
    assert main(["-q", "simulate", str(tmp_path / "x.png")]) == 2
    assert "FITS" in one_line_error(capsys, "simulate")


def test_compare_scores_finders_against_real_reference(tmp_path, capsys, bundled_radio_image):
    from astrofmx.datasets import get_bundled_path

    scores, png = tmp_path / "s.ecsv", tmp_path / "o.png"
    assert main(["-q", "compare", str(bundled_radio_image), "--reference", str(get_bundled_path("1904_comp.fits")),
                 "--radius", "7.2arcmin", "--finders", "photutils", "sep", "-o", str(scores), "--plot", str(png),
                 "--catalog-dir", str(tmp_path / "cats")]) == 0
    table = QTable.read(scores)
    assert table["finder"].tolist() == ["photutils", "sep"]
    assert all(table["n_reference"] == 51) and table["f1"].max() > 0.5
    assert png.stat().st_size > 0 and (tmp_path / "cats" / "sep.ecsv").is_file()
    assert main(["-q", "compare", str(bundled_radio_image), "--reference", str(tmp_path / "nope.fits")]) == 2
    assert "nope.fits" in one_line_error(capsys, "compare")
    assert main(["-q", "compare", str(bundled_radio_image), "--reference", str(get_bundled_path("1904_comp.fits")),
                 "--radius", "5 Jy"]) == 2
    assert "radius" in one_line_error(capsys, "compare")
