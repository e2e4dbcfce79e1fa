"""The entry point: help, global options, one-line errors and warnings, and a real subprocess."""

import re
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from astrofmx.cli import main
from astrofmx.io import read_catalog


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "astrofmx", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0
    assert "demo" in result.stdout and "examples:" in result.stdout


@pytest.mark.parametrize("argv", [["--help"], ["detect", "--help"], ["embed", "--help"], [], ["detect"],
                                  ["simulate", "x.fits", "--shape", "0", "1"], ["nope"]])
def test_listing_help_and_usage_errors_do_not_import_torch(argv):
    code = ("import sys\nfrom astrofmx.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    code = e.code\nheavy = [m for m in ('torch', 'timm', 'torchvision', 'matplotlib', 'dask', 'astropy.table')"
            " if m in sys.modules]\nprint('HEAVY', heavy)\nsys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == (0 if "--help" in argv else 2), result.stderr
    assert "HEAVY []" in result.stdout, result.stdout[-300:]


def test_global_options_before_or_after_the_command():
    from astrofmx.cli._parser import parse_args

    for argv in (["-q", "detect", "f.fits"], ["detect", "f.fits", "--quiet"], ["detect", "-q", "f.fits"]):
        args = parse_args(argv)
        assert args.quiet is True and args.verbose == 0 and args.image == ["f.fits"], argv
    args = parse_args(["detect", "f.fits"])
    assert args.quiet is False and args.verbose == 0
    assert parse_args(["-v", "embed", "a.fits", "--backbone", "msn", "-v"]).verbose == 2
    assert parse_args(["backbones", "-vv"]).verbose == 2
    assert not any(name.startswith("after_") for name in vars(parse_args(["demo", "-q", "-v"])))


def test_every_subcommand_has_help_with_examples(capsys):
    for command in ("demo", "preview", "detect", "compare", "simulate", "train-detector", "embed", "backbones"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert f"astrofmx {command}" in out and "examples:" in out, command


@pytest.mark.parametrize("make_input, message, status", [
    (lambda p: p / "missing.fits", "no such file", 2),  # the command line names no file: a usage error
    (lambda p: (p / "notfits.fits").write_text("hello") and p / "notfits.fits", "FITS", 1),  # the file's content
    (lambda p: fits.PrimaryHDU(np.zeros((2, 3, 8, 8), np.float32)).writeto(p / "cube.fits") or p / "cube.fits",
     "plane", 1),
])
def test_bad_input_isone_line_error(tmp_path, capsys, make_input, message, status):
    path = make_input(tmp_path)
    assert main(["-q", "preview", str(path)]) == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("astrofmx preview: error:")
    assert re.search(message, err)


@pytest.mark.parametrize("content", [b"", b"hello", "truncated"])
def test_embed_of_an_unreadable_file_is_one_line_error(tmp_path, capsys, content):
    # embed streams its files through the library (no up-front read, as detect has): the same one line
    path = tmp_path / "bad.fits"
    if content == "truncated":
        fits.PrimaryHDU(np.zeros((64, 64), np.float32)).writeto(path)
        content = path.read_bytes()[:8000]
    path.write_bytes(content)
    status = main(["-q", "embed", str(path), "--backbone", "astrofmx-radio", "-o", str(tmp_path / "f.npz")])
    err = capsys.readouterr().err.strip()
    assert status == 1 and len(err.splitlines()) == 1 and err.startswith("astrofmx embed: error:"), err
    assert re.search("truncated|not a readable FITS file", err)


def test_embed_of_a_truncated_file_fails_before_torch(tmp_path):
    path = tmp_path / "cut.fits"
    fits.PrimaryHDU(np.zeros((64, 64), np.float32)).writeto(path)
    path.write_bytes(path.read_bytes()[:8000])
    code = ("import sys\nfrom astrofmx.cli import main\nstatus = main(sys.argv[1:])\n"
            "print('TORCH', 'torch' in sys.modules)\nsys.exit(status)")
    result = subprocess.run([sys.executable, "-c", code, "-q", "embed", str(path), "--backbone", "astrofmx-radio",
                             "-o", str(tmp_path / "f.npz")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "truncated" in result.stderr, result.stderr
    assert "TORCH False" in result.stdout


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


def test_a_repeated_library_warning_prints_once(tiny_model, sim_file, tmp_path, capsys):
    # an unparseable BUNIT is met by every read of the header (the kind choice, the load): one line
    path = tmp_path / "furlongs.fits"
    with fits.open(sim_file) as hdul:
        hdul[0].header["BUNIT"] = "furlongs"
        hdul.writeto(path)
    assert main(["-q", "detect", str(path), "--model", str(tiny_model), "-o", str(tmp_path / "c.ecsv")]) == 0
    err = capsys.readouterr().err
    assert err.count("'furlongs' is not a unit astropy can parse") == 1, err


def test_closed_stdout_pipe_stops_quietly():
    """``astrofmx backbones | head -0``: the reader is gone before anything is printed; exit 1 and no
    BrokenPipeError traceback, whether the write fails in the command (unbuffered) or, block-buffered, in the
    final flush (exit status 120 and "Exception ignored ... BrokenPipeError" before)."""
    import os

    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # block-buffered, as in a shell
    try:
        result = subprocess.run([sys.executable, "-c", "import sys\nfrom astrofmx.cli import main\n"
                                 "sys.exit(main(['backbones', 'resnet1*']))"], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120, env=env)
    finally:
        os.close(write)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr
