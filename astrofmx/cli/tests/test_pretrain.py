"""``astrofmx pretrain``."""

from astrofmx.cli import main

from ._util import one_line_error


def test_pretrain_files_then_embed_by_name(tmp_path, capsys):
    from astrofmx.backbones import get_backbone
    from astrofmx.datasets import random_radio_field

    for seed in range(2):
        random_radio_field((64, 64), seed=seed, return_truth=False).write(tmp_path / f"f{seed}.fits")
    args = ["-q", "pretrain", str(tmp_path / "*.fits"), "--backbone", "resnet18", "--layers", "1", "1", "1", "1",
            "--steps", "2", "--batch-size", "4", "--crop-size", "16", "--tile-size", "32", "--local-crops", "1",
            "--precision", "fp32", "--device", "cpu", "--name", "cli-radio", "-o", str(tmp_path / "run")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "for 2 steps" in out and "'cli-radio'" in out
    assert get_backbone("cli-radio").spec.input_size == 16
    assert main(["-q", "embed", str(tmp_path / "f0.fits"), "--backbone", "cli-radio", "-o",
                 str(tmp_path / "f.npy")]) == 0
    capsys.readouterr()
    # other settings for an existing checkpoint: a runtime failure (1), as a batch rerun with other options
    assert main(args[:-6] + ["--steps", "3", "--name", "cli-radio", "-o", str(tmp_path / "run")]) == 1
    assert "other settings" in one_line_error(capsys, "pretrain")
