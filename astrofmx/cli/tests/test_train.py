"""``astrofmx train-detector``."""

from astrofmx.cli import main

from ._util import one_line_error


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
    assert "--catalogs" in one_line_error(capsys, "train-detector")
    assert main(["-q", "train-detector", "--simulate", "1", "-o", str(out)] + tiny) == 2
    assert "already exists" in one_line_error(capsys, "train-detector")
