"""``astrofmx embed`` and ``astrofmx backbones``."""

import numpy as np
from astropy.io import fits

from astrofmx.cli import main

from ._util import one_line_error


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
    assert "already exists" in one_line_error(capsys, "embed")
    assert main(["-q", "embed", str(tmp_path / "c*.fits"), "--output-dir", str(tmp_path / "feats"),
                 "--shard-size", "2"] + common) == 0
    assert "3 images in 2 shards: 2 done" in capsys.readouterr().out
    assert np.load(tmp_path / "feats" / "embed_combined.npy").shape == (3, 512)
    assert main(["-q", "embed", str(tmp_path / "none*.fits"), "-o", str(tmp_path / "g.npy")] + common) == 2
    assert "matches no file" in one_line_error(capsys, "embed")
    assert main(["-q", "embed", str(tmp_path / "c0.fits"), "--backbone", "nope", "-o", str(tmp_path / "g.npy")]) == 2
    assert "nope" in one_line_error(capsys, "embed")


def test_backbones_table(tmp_path, capsys):
    from astrofmx.backbones import get_backbone_spec, list_backbones, weights_cache_dir

    # put a (fake-content) file where resnet18's weights are cached: the table must say so
    spec = get_backbone_spec("resnet18")
    folder = weights_cache_dir("resnet18", tmp_path)
    folder.mkdir(parents=True)
    (folder / spec.weights_filename).write_bytes(b"x")  # the file name the spec gives
    assert main(["backbones", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.split() and line.split()[0] in
            list_backbones()}
    assert set(rows) == set(list_backbones())
    assert rows["resnet18"][-1] == "yes" and rows["msn"][-1] == "no"
    assert rows["resnet50"][4] == "2048" and rows["resnet18"][1] == "resnet"
    assert main(["backbones", "vit*"]) == 2
    assert "no registered backbone" in one_line_error(capsys, "backbones")
