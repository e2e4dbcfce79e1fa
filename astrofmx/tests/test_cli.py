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
    by_finder = {row["finder"]: row for row in scores}
    assert set(by_finder) == {"astrofmx default", "photutils"}
    assert by_finder["astrofmx default"]["n_sources"] == len(catalog)
    # measured: default C 0.63 / P 0.59, photutils C 0.65 / P 0.85 (Aegean finds 51 components)
    assert by_finder["astrofmx default"]["completeness"] > 0.7 and by_finder["astrofmx default"]["purity"] > 0.7
    assert by_finder["photutils"]["completeness"] > 0.5 and by_finder["photutils"]["purity"] > 0.7
    from astrofmx.detection import DEFAULT_DETECTOR_PATH

    assert catalog.meta["model"] == str(DEFAULT_DETECTOR_PATH)
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


# ----------------------------------------------------------------------------- new sub-commands
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny untrained (seeded) ResNet-18 detector saved with save_detector."""
    import torch

    from astrofmx.detection import build_detector, save_detector

    torch.manual_seed(0)
    det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64, pyramid_channels=16,
                         representation_size=32)
    path = tmp_path_factory.mktemp("model") / "tiny"
    save_detector(det, path)
    return path


@pytest.fixture(scope="module")
def sim_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.fits"
    assert main(["-q", "simulate", str(path), "--shape", "96", "128", "--seed", "4", "--n-sources", "15"]) == 0
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _one_line_error(capsys, command):
    return _one_line_error_text(capsys.readouterr().err, command)


def _one_line_error_text(err, command):
    err = err.strip()
    lines = [line for line in err.splitlines() if ": warning: " not in line]
    assert len(lines) == 1 and lines[0].startswith(f"astrofmx {command}: error:"), err
    return lines[0]


def test_every_subcommand_has_help_with_examples(capsys):
    for command in ("demo", "preview", "detect", "compare", "simulate", "train-detector", "embed", "backbones"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"astrofmx {command}" in out and "examples:" in out, command


def test_simulate_writes_field_and_truth(tmp_path, capsys):
    from astrofmx.datasets import read_simulated_field

    out, truth = tmp_path / "f.fits", tmp_path / "truth.ecsv"
    assert main(["-q", "simulate", str(out), "--shape", "64", "80", "--seed", "2", "--rms", "30 uJy/beam",
                 "--beam-fwhm", "6arcsec", "--n-sources", "9", "--artefacts", "rings", "--truth", str(truth)]) == 0
    field = read_simulated_field(out)
    assert field.data.shape == (64, 80) and len(field.truth) == 9
    assert len(QTable.read(truth)) == 9
    np.testing.assert_allclose(field.rms.to_value("uJy/beam"), 30, rtol=1e-3)
    # the truth table inside the simulated FITS file is a valid reference for compare (default finders)
    scores = tmp_path / "scores.ecsv"
    assert main(["-q", "compare", str(out), "--reference", str(out), "--radius", "3pix", "-o", str(scores)]) == 0
    table = QTable.read(scores)
    assert table["finder"].tolist() == ["default", "photutils", "sep"] and all(table["n_reference"] == 9)
    assert main(["-q", "simulate", str(out)]) == 2
    assert "already exists" in _one_line_error(capsys, "simulate")
    pbc = tmp_path / "pb.fits"
    assert main(["-q", "simulate", str(pbc), "--shape", "64", "64", "--n-sources", "3", "--primary-beam-fwhm",
                 "90arcsec", "--pb-cutoff", "0.3"]) == 0
    field = read_simulated_field(pbc)
    assert np.isnan(field.data[0, 0]) and np.isfinite(field.data[32, 32]) and field.header["SIMPBCUT"] == 0.3
    assert main(["-q", "simulate", str(tmp_path / "bad.fits"), "--pb-cutoff", "0.3"]) == 2
    assert "primary_beam_fwhm" in _one_line_error(capsys, "simulate")
    assert main(["-q", "simulate", str(tmp_path / "x.png")]) == 2
    assert "FITS" in _one_line_error(capsys, "simulate")


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
    assert "--overwrite" in _one_line_error(capsys, "detect")
    assert cat.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0


def test_detect_bad_input_and_missing_detector(tmp_path, sim_file, tiny_model, capsys):
    assert main(["-q", "detect", str(tmp_path / "missing.fits"), "--model", str(tiny_model)]) == 2
    assert "missing.fits" in _one_line_error(capsys, "detect")
    assert main(["-q", "detect", str(sim_file), "--model", str(tmp_path / "no-model")]) == 2
    _one_line_error(capsys, "detect")
    assert main(["-q", "detect", str(sim_file), "--backbone", "no-such-backbone"]) == 2
    assert "no-such-backbone" in _one_line_error(capsys, "detect")
    # without --model: the default detector when it ships, else a one-line error saying what to do
    status = main(["-q", "detect", str(sim_file), "--score-threshold", "0.9", "-o", str(tmp_path / "d.ecsv")])
    if status == 0:
        assert (tmp_path / "d.ecsv").is_file()
    else:
        assert status == 2 and "--model" in _one_line_error(capsys, "detect")


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
    assert "1 of 3 images failed" in _one_line_error_text(captured.err, "detect")
    assert main(["-q", "detect", str(tmp_path / "s0.fits"), str(tmp_path / "s1.fits"), "--model",
                 str(tiny_model)]) == 2
    assert "--output-dir" in _one_line_error(capsys, "detect")


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
    assert "nope.fits" in _one_line_error(capsys, "compare")
    assert main(["-q", "compare", str(bundled_radio_image), "--reference", str(get_bundled_path("1904_comp.fits")),
                 "--radius", "5 Jy"]) == 2
    assert "radius" in _one_line_error(capsys, "compare")


def test_train_detector_on_simulations_and_catalogs(tmp_path, capsys, bundled_radio_image):
    from astrofmx.datasets import get_bundled_path
    from astrofmx.detection import load_detector

    tiny = ["--backbone", "resnet18", "--weights", "none", "--mode", "scratch", "--tile-size", "64",
            "--pyramid-channels", "16", "--representation-size", "32", "--batch-size", "2", "--steps-per-epoch",
            "2", "--precision", "fp32"]
    out = tmp_path / "det"
    assert main(["-q", "train-detector", "--simulate", "1", "--sim-shape", "64", "64", "--epochs", "1",
                 "--checkpoint-dir", str(tmp_path / "ckpt"), "-o", str(out)] + tiny) == 0
    det = load_detector(out)
    assert det.config.backbone == "resnet18" and det.config.tile_size == 64 and len(det.history) == 1
    # resume the same run for a second epoch
    assert main(["-q", "train-detector", "--simulate", "1", "--sim-shape", "64", "64", "--epochs", "2",
                 "--checkpoint-dir", str(tmp_path / "ckpt"), "--resume", "-o", str(out), "--overwrite"] + tiny) == 0
    assert len(load_detector(out).history) == 2
    # a real image and its Aegean catalog, through catalog_to_boxes
    assert main(["-q", "train-detector", str(bundled_radio_image), "--catalogs",
                 str(get_bundled_path("1904_comp.fits")), "--epochs", "1", "-o", str(tmp_path / "real")] + tiny) == 0
    assert (tmp_path / "real").is_dir()
    capsys.readouterr()
    assert main(["-q", "train-detector", str(bundled_radio_image), "-o", str(tmp_path / "x")] + tiny) == 2
    assert "--catalogs" in _one_line_error(capsys, "train-detector")
    assert main(["-q", "train-detector", "--simulate", "1", "-o", str(out)] + tiny) == 2
    assert "already exists" in _one_line_error(capsys, "train-detector")


def test_embed_files_and_survey_mode(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for i in range(3):
        fits.PrimaryHDU(rng.normal(size=(40, 40)).astype(np.float32)).writeto(tmp_path / f"c{i}.fits")
    out = tmp_path / "f.npy"
    common = ["--backbone", "resnet18", "--weights", "none", "--precision", "fp32"]
    assert main(["-q", "embed", str(tmp_path / "c*.fits"), "-o", str(out)] + common) == 0
    features = np.load(out)
    ids = np.load(tmp_path / "f_ids.npy")
    assert features.shape == (3, 512) and np.isfinite(features).all()
    assert [p.endswith(f"c{i}.fits") for i, p in enumerate(ids)] == [True] * 3
    assert main(["-q", "embed", str(tmp_path / "c0.fits"), "-o", str(out)] + common) == 2
    assert "already exists" in _one_line_error(capsys, "embed")
    assert main(["-q", "embed", str(tmp_path / "c*.fits"), "--output-dir", str(tmp_path / "feats"),
                 "--shard-size", "2"] + common) == 0
    assert "3 images in 2 shards: 2 done" in capsys.readouterr().out
    assert np.load(tmp_path / "feats" / "embed_combined.npy").shape == (3, 512)
    assert main(["-q", "embed", str(tmp_path / "none*.fits"), "-o", str(tmp_path / "g.npy")] + common) == 2
    assert "matches no file" in _one_line_error(capsys, "embed")
    assert main(["-q", "embed", str(tmp_path / "c0.fits"), "--backbone", "nope", "-o", str(tmp_path / "g.npy")]) == 2
    assert "nope" in _one_line_error(capsys, "embed")


def test_backbones_table(tmp_path, capsys):
    from astrofmx.backbones import get_backbone_spec, list_backbones, weights_cache_dir
    from astrofmx.backbones._pretrained import _sources

    # put a (fake-content) file where resnet18's weights are cached: the table must say so
    spec = get_backbone_spec("resnet18")
    folder = weights_cache_dir("resnet18", tmp_path)
    folder.mkdir(parents=True)
    (folder / _sources(spec)[0][0]).write_bytes(b"x")
    assert main(["backbones", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split() and line.split()[0] in
            list_backbones()}
    assert set(rows) == set(list_backbones())
    assert rows["resnet18"][-1] == "yes" and rows["msn"][-1] == "no"
    assert rows["resnet50"][4] == "2048" and rows["resnet18"][1] == "resnet"
    assert main(["backbones", "vit*"]) == 2
    assert "no registered backbone" in _one_line_error(capsys, "backbones")


def test_quiet_turns_progress_bars_off(tiny_model, sim_file, capsys):
    args = ["detect", str(sim_file), "--model", str(tiny_model), "--precision", "fp32"]
    assert main(args) == 0
    assert "detect_sources" in capsys.readouterr().err  # the tqdm bar over the tiles
    assert main(["--quiet"] + args) == 0
    assert "detect_sources" not in capsys.readouterr().err


def test_library_warning_is_one_line(tiny_model, sim_file, tmp_path, capsys):
    out = tmp_path / "empty.ecsv"
    assert main(["-q", "detect", str(sim_file), "--model", str(tiny_model), "--score-threshold", "1",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("astrofmx detect: warning: no sources")
    assert len(read_catalog(out)) == 0
