"""``astrofmx detect``: one image, and batch mode over many."""

from astrofmx.cli import main
from astrofmx.io import read_catalog

from ._util import one_line_error, one_line_error_text


def test_detect_writes_catalog_regions_plot(tiny_model, sim_file, tmp_path, capsys):
    cat, reg, png = tmp_path / "c.vot", tmp_path / "c.reg", tmp_path / "o.png"
    args = ["-q", "detect", str(sim_file), "--model", str(tiny_model), "--score-threshold", "0", "--precision",
            "fp32", "-o", str(cat), "--regions", str(reg), "--plot", str(png)]
    assert main(args) == 0
    catalog = read_catalog(cat)
    assert len(catalog) > 0 and "sky_centroid" in catalog.colnames
    assert reg.read_text().count("box(") == len(catalog)
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert f"{len(catalog)} sources" in capsys.readouterr().out
    before = cat.read_bytes()
    assert main(args) == 2  # no overwriting
    assert "--overwrite" in one_line_error(capsys, "detect")
    assert cat.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0


def test_detect_bad_input_and_missing_detector(tmp_path, sim_file, tiny_model, capsys):
    assert main(["-q", "detect", str(tmp_path / "missing.fits"), "--model", str(tiny_model)]) == 2
    assert "missing.fits" in one_line_error(capsys, "detect")
    assert main(["-q", "detect", str(sim_file), "--model", str(tmp_path / "no-model")]) == 2
    one_line_error(capsys, "detect")
    assert main(["-q", "detect", str(sim_file), "--backbone", "no-such-backbone"]) == 2
    assert "no-such-backbone" in one_line_error(capsys, "detect")
    # without --model: the default detector when it ships, else a one-line error saying what to do
    status = main(["-q", "detect", str(sim_file), "--score-threshold", "0.9", "-o", str(tmp_path / "d.ecsv")])
    if status == 0:
        assert (tmp_path / "d.ecsv").is_file()
    else:
        assert status == 2 and "--model" in one_line_error(capsys, "detect")


def test_detect_batch_mode_resumes(tmp_path, tiny_model, capsys):
    for seed in range(2):
        assert main(["-q", "simulate", str(tmp_path / f"s{seed}.fits"), "--shape", "64", "64", "--seed", str(seed),
                     "--n-sources", "5"]) == 0
    args = ["-q", "detect", str(tmp_path / "s*.fits"), "--model", str(tiny_model), "--score-threshold", "0",
            "--precision", "fp32", "--output-dir", str(tmp_path / "cats")]
    assert main(args) == 0
    assert "2 done" in capsys.readouterr().out
    assert (tmp_path / "cats" / "detect_combined.ecsv").is_file()
    assert main(args) == 0
    assert "0 done, 2 already finished" in capsys.readouterr().out
    (tmp_path / "s9.fits").write_text("not FITS")  # a failing file is reported, the others are kept: exit 1
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "1 failed" in captured.out and "s9.fits" in captured.out
    assert "1 of 3 images failed" in one_line_error_text(captured.err, "detect")
    assert main(["-q", "detect", str(tmp_path / "s0.fits"), str(tmp_path / "s1.fits"), "--model",
                 str(tiny_model)]) == 2
    assert "--output-dir" in one_line_error(capsys, "detect")


def test_detect_beam_and_kind_options(tiny_model, sim_file, capsys):
    base = ["-q", "detect", str(sim_file), "--model", str(tiny_model), "--score-threshold", "0", "--precision", "fp32"]
    assert main(base + ["--beam", "none", "--kind", "optical"]) == 0
    out = capsys.readouterr().out
    assert "kind optical (given (kind=...)); beam none; no resampling" in out
    assert main(base + ["--beam", "12"]) == 0  # a 12 arcsec FWHM: 8 px with the simulated 1.5 arcsec pixels
    out = capsys.readouterr().out
    assert "kind radio (BUNIT=JY/BEAM)" in out and "(given); resampled x0.75" in out
    assert main(base) == 0  # auto: the header's 4 px beam, in range
    assert "(header); no resampling" in capsys.readouterr().out
    assert main(base + ["--beam", "0.01"]) == 1  # 0.0067 px: an impossible upsampling, named with the fix
    err = one_line_error(capsys, "detect")
    assert "upsampled" in err and "--beam none" in err and "train-detector" not in err
