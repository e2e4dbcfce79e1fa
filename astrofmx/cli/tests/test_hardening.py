"""The command line hardened (issue 12): --hdu/--plane, checks before computing, exit codes, resumes that check
their settings, time limits, defaults and wording, one saved model, and a start-up without torch."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astrofmx.cli import main

from ._util import one_line_error

HEAVY = ("torch", "timm", "torchvision", "matplotlib", "umap", "dask")


@pytest.fixture(scope="module")
def multi_files(tmp_path_factory, sim_file):
    """SCI+ERR files (the image in HDU 'SCI') and a (2, ny, nx) cube whose plane 0 is the image."""
    folder = tmp_path_factory.mktemp("multi")
    with fits.open(sim_file) as hdul:
        data, header = hdul[0].data.astype(np.float32), hdul[0].header.copy()
    sci = []
    for k in range(2):
        path = folder / f"sci{k}.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, header, name="SCI"),
                      fits.ImageHDU(np.ones_like(data), name="ERR")]).writeto(path)
        sci.append(path)
    cube = folder / "cube.fits"
    cube_header = header.copy()
    cube_header["NAXIS"] = 3
    fits.PrimaryHDU(np.stack([data, np.zeros_like(data)]), cube_header).writeto(cube)
    return sci, cube


def _hidden_missing(monkeypatch, *names):
    """Make the availability checks (importlib.util.find_spec) see ``names`` as not installed."""
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in names else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


# ----------------------------------------------------------------------------------------------
# --hdu and --plane
# ----------------------------------------------------------------------------------------------

def test_hdu_and_plane_for_every_command_that_reads_images(multi_files, sim_file, tiny_model, tmp_path, capsys):
    sci, cube = multi_files
    assert main(["-q", "preview", str(sci[0])]) == 1  # two image HDUs: the error lists them
    assert "SCI" in one_line_error(capsys, "preview")
    for hdu in ("SCI", "1", "SCI,1"):
        assert main(["-q", "preview", str(sci[0]), "--hdu", hdu, "--tiles", str(tmp_path / f"t{hdu}.ecsv")]) == 0
    assert main(["-q", "preview", str(cube), "--plane", "0", "--tile-size", "512"]) == 0
    assert "1 tile of 512 px" in capsys.readouterr().out  # "1 tile", not "1 tiles"

    tiny = ["--model", str(tiny_model), "--precision", "fp32"]
    assert main(["-q", "detect", str(cube), "--plane", "0", "-o", str(tmp_path / "c.ecsv")] + tiny) == 0
    assert main(["-q", "detect", str(sci[0]), "--hdu", "SCI", "-o", str(tmp_path / "s.ecsv")] + tiny) == 0
    from astrofmx.io import read_catalog

    assert len(read_catalog(tmp_path / "c.ecsv")) == len(read_catalog(tmp_path / "s.ecsv"))
    assert main(["-q", "detect", *map(str, sci), "--hdu", "SCI", "--output-dir", str(tmp_path / "b")] + tiny) == 0
    summary = QTable.read(tmp_path / "b" / "detect_summary.ecsv")
    assert summary["status"].tolist() == ["done", "done"]

    assert main(["-q", "compare", str(sci[0]), "--hdu", "SCI", "--reference", str(sim_file), "--radius", "3pix",
                 "--finders", "photutils"]) == 0
    capsys.readouterr()
    assert main(["-q", "embed", *map(str, sci), "--hdu", "SCI", "--backbone", "resnet18", "--weights", "none",
                 "--precision", "fp32", "-o", str(tmp_path / "f.npy")]) == 0
    out = capsys.readouterr().out
    assert "2 images -> 512-dimensional features" in out and "global average pooling" in out  # not "pooling cls"
    assert np.load(tmp_path / "f.npy").shape == (2, 512)
    survey = ["-q", "embed", *map(str, sci), "--hdu", "SCI", "--backbone", "resnet18", "--weights", "none",
              "--precision", "fp32", "--output-dir", str(tmp_path / "e"), "--shard-size", "1"]
    assert main(survey) == 0
    assert np.load(tmp_path / "e" / "embed_combined.npy").shape == (2, 512)
    capsys.readouterr()
    assert main(survey + ["--normalizer", "optical"]) == 1  # another option: the shards are not reused
    err = one_line_error(capsys, "embed")
    assert "normalizer: null -> \"optical\"" in err and "--no-resume" in err

    for bad in (["--hdu", "-1"], ["--hdu", "SCI,x"], ["--plane", "a"], ["--plane", "0,-1"]):
        with pytest.raises(SystemExit) as info:
            main(["preview", str(cube), *bad])
        assert info.value.code == 2


# ----------------------------------------------------------------------------------------------
# batch: a resume checks the options and the model; a time limit per file
# ----------------------------------------------------------------------------------------------

def test_batch_rerun_with_other_options_or_model_stops_and_no_resume_recomputes(multi_files, tiny_model, tmp_path,
                                                                                capsys):
    import torch

    from astrofmx.detection import build_detector, save_detector

    sci, _ = multi_files
    out = tmp_path / "out"
    base = ["-q", "detect", *map(str, sci), "--hdu", "SCI", "--output-dir", str(out), "--precision", "fp32"]
    assert main(base + ["--model", str(tiny_model), "--score-threshold", "0.05"]) == 0
    capsys.readouterr()
    assert main(base + ["--model", str(tiny_model), "--score-threshold", "0.95"]) == 1
    err = one_line_error(capsys, "detect")
    assert "score_threshold: 0.05 -> 0.95" in err and "--no-resume" in err and "another output folder" in err
    assert main(base + ["--model", str(tiny_model), "--score-threshold", "0.95", "--no-resume"]) == 0
    combined = QTable.read(out / "detect_combined.ecsv")
    assert len(combined) == 0 or combined["score"].min() >= 0.95  # no rows left from the 0.05 run
    # an option that does not change the catalogs resumes
    assert main(base + ["--model", str(tiny_model), "--score-threshold", "0.95", "--batch-size", "3"]) == 0
    assert "0 done, 2 already finished" in capsys.readouterr().out
    # another detector (same architecture, other weights) does not
    torch.manual_seed(1)
    other = tmp_path / "other"
    save_detector(build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64,
                                 pyramid_channels=16, representation_size=32), other)
    assert main(base + ["--model", str(other), "--score-threshold", "0.95"]) == 1
    assert "model.weights_sha1: " in one_line_error(capsys, "detect")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # a limit landing in a finalizer
def test_time_limit_reports_the_file_failed(multi_files, tiny_model, tmp_path, capsys):
    sci, _ = multi_files
    status = main(["-q", "detect", *map(str, sci), "--hdu", "SCI", "--output-dir", str(tmp_path / "o"), "--model",
                   str(tiny_model), "--precision", "fp32", "--time-limit", "0.001"])
    assert status == 1
    captured = capsys.readouterr()
    assert captured.out.count("TimeoutError: stopped after") == 2 and "time limit is 0.001 s" in captured.out
    assert "2 of 2 images failed" in captured.err
    assert main(["-q", "detect", str(sci[0]), "--time-limit", "5"]) == 2  # batch mode only
    assert "batch mode" in one_line_error(capsys, "detect")


# ----------------------------------------------------------------------------------------------
# checks before computing, exit codes
# ----------------------------------------------------------------------------------------------

def test_missing_packages_fail_at_once_with_the_pip_command(multi_files, sim_file, tmp_path, capsys, monkeypatch):
    sci, _ = multi_files
    _hidden_missing(monkeypatch, "pyarrow", "sep")
    # msn's pretrained weights are not needed to get there: the check comes first
    assert main(["-q", "embed", str(sci[0]), "--backbone", "msn", "-o", str(tmp_path / "x.parquet")]) == 1
    err = one_line_error(capsys, "embed")
    assert "needs pyarrow" in err and "not installed: pip install pyarrow" in err
    assert not (tmp_path / "x.parquet").exists()
    assert main(["-q", "detect", *map(str, sci), "--output-dir", str(tmp_path / "p"), "--format", "parquet"]) == 1
    assert "pip install pyarrow" in one_line_error(capsys, "detect")
    assert main(["-q", "compare", str(sim_file), "--reference", str(sim_file), "--radius", "3pix", "--finders",
                 "photutils", "sep"]) == 1
    assert "pip install sep" in one_line_error(capsys, "compare")
    # the default finders are the installed ones
    scores = tmp_path / "scores.ecsv"
    assert main(["-q", "compare", str(sim_file), "--reference", str(sim_file), "--radius", "3pix", "-o",
                 str(scores)]) == 0
    assert QTable.read(scores)["finder"].tolist() == ["default", "photutils"]


def test_usage_errors_exit_2_before_any_work(sim_file, tiny_model, tmp_path, capsys):
    existing = tmp_path / "cat.ecsv"
    existing.write_text("x")
    cases = [
        (["detect", str(sim_file), "--model", str(tiny_model), "-o", str(existing)], "already exists"),
        (["detect", str(sim_file), "--model", str(tiny_model), "-o", str(tmp_path / "no" / "c.ecsv")],
         "does not exist"),
        (["detect", str(sim_file), str(sim_file), "--output-dir", str(existing)], "is not a folder"),
        (["detect", str(sim_file), "--backbone", "nope"], "unknown backbone"),
        (["embed", str(sim_file), "--backbone", "resnet18", "-o", str(tmp_path / "f.txt")], "must end in"),
        (["embed", str(sim_file), "--backbone", "resnet18", "--weights", str(tmp_path / "w.pth"), "-o",
          str(tmp_path / "f.npy")], "no such file"),
        (["compare", str(sim_file), "--reference", str(tmp_path / "ref.fits")], "no such file"),
        (["compare", str(sim_file), "--reference", str(sim_file), "--radius", "5 Jy"], "radius"),
        (["train-detector", "--simulate", "1", "--backbone", "resnet18", "-o", str(existing)], "already exists"),
        (["preview", str(sim_file), "--overlap", "300", "--tile-size", "256"], "--overlap"),
    ]
    for argv, message in cases:
        assert main(["-q", *argv]) == 2, argv
        assert message in one_line_error(capsys, argv[0]), argv


def test_runtime_failures_exit_1_and_bugs_keep_their_traceback(tmp_path, capsys, monkeypatch):
    from astrofmx.cli import _backbones
    from astrofmx.cli._common import is_runtime_error

    bad = tmp_path / "bad.fits"
    bad.write_text("not a FITS file")
    assert main(["-q", "preview", str(bad)]) == 1
    assert "FITS" in one_line_error(capsys, "preview")
    assert all(is_runtime_error(e) for e in (ValueError(), FileNotFoundError(), ImportError(), RuntimeError()))
    assert not any(is_runtime_error(e) for e in (KeyError("a"), TypeError(), OSError(), AttributeError()))

    def buggy(args):
        return {}["missing"]

    monkeypatch.setattr(_backbones, "run", buggy)  # a command with a bug: the dispatcher does not hide it
    with pytest.raises(KeyError):
        main(["backbones"])


# ----------------------------------------------------------------------------------------------
# defaults, one saved model, start-up without torch
# ----------------------------------------------------------------------------------------------

def test_detect_batch_size_defaults_to_auto():
    from astrofmx.cli._parser import parse_args

    assert parse_args(["detect", "f.fits"]).batch_size == "auto"
    assert parse_args(["detect", "f.fits", "--batch-size", "4"]).batch_size == 4
    assert parse_args(["embed", "f.fits", "--backbone", "msn", "--batch-size", "auto"]).batch_size == "auto"


def test_train_detector_saves_the_model_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "det"
    assert main(["-q", "train-detector", "--simulate", "1", "--sim-shape", "64", "64", "--epochs", "1",
                 "--backbone", "resnet18", "--weights", "none", "--mode", "scratch", "--tile-size", "64",
                 "--pyramid-channels", "16", "--representation-size", "32", "--batch-size", "2",
                 "--steps-per-epoch", "1", "--precision", "fp32", "-o", str(out)]) == 0
    assert (out / "model.safetensors").is_file()
    saved = [p for p in (tmp_path / "cache").rglob("model.safetensors")] if (tmp_path / "cache").exists() else []
    assert saved == []  # not a second copy in the cache


@pytest.mark.parametrize("argv, status", [
    (["backbones"], 0),
    (["backbones", "resnet*"], 0),
    (["detect", "missing.fits"], 2),
    (["detect", "SIM", "--backbone", "nope"], 2),
    (["detect", "SIM", "SIM2", "--output-dir", "out", "--regions", "r.reg"], 2),
    (["embed", "SIM", "--backbone", "nope", "-o", "f.npy"], 2),
    (["compare", "SIM", "--reference", "missing.fits"], 2),
    (["train-detector", "--backbone", "resnet18", "-o", "x"], 2),
    (["preview", "missing.fits"], 2),
    (["detect", "SIM", "--device", "tpu"], 2),  # it loaded torch and the detector first (8 s) before
    (["embed", "SIM", "--backbone", "resnet18", "--device", "gpu0", "-o", "f.npy"], 2),
    (["detect", "SIM", "--overlap", "-3"], 2),
    (["detect", "SIM", "--tile-size", "100", "--overlap", "100"], 2),  # both loaded the detector first (6 s)
])
def test_listing_and_usage_errors_import_no_torch(argv, status, sim_file, tmp_path):
    second = tmp_path / "sim2.fits"
    second.write_bytes(sim_file.read_bytes())
    argv = [str(sim_file) if a == "SIM" else str(second) if a == "SIM2" else a for a in argv]
    code = ("import sys\nfrom astrofmx.cli import main\ntry:\n    status = main(sys.argv[1:])\n"
            "except SystemExit as exc:  # argparse's own errors\n    status = exc.code\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\nsys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == status, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout, result.stdout[-500:]
