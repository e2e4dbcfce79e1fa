"""``astrofmx index``, ``similar`` and ``outliers`` on a small simulated field (default detector, random weights)."""

import numpy as np
from astropy.io import fits

from astrofmx.cli import main


def _error(capsys):
    return " ".join(capsys.readouterr().err.split())


def test_index_similar_outliers(tmp_path, fields, capsys):
    (file1, truth1), (file2, _) = fields
    idx = tmp_path / "f.idx"
    common = ["--backbone", "resnet18", "--weights", "none"]
    assert main(["-q", "index", str(file1), "-o", str(idx), "--cutout-size", "32", "--normalizer", "radio"]
                + common) == 0
    out = capsys.readouterr().out
    assert "sources from 1 images (resnet18, 512 dimensions)" in out
    n = int(out.split()[1])
    assert n > 3
    assert main(["-q", "index", str(file1), "-o", str(idx)] + common) == 2
    assert "already exists" in _error(capsys)
    assert main(["-q", "index", str(file2), "-o", str(idx), "--add"] + common) == 0
    assert "added" in capsys.readouterr().out
    assert main(["-q", "similar", str(idx), "--row", "0", "-k", "3", "-o", str(tmp_path / "h.ecsv"),
                 "--regions", str(tmp_path / "h.reg"), "--mosaic", str(tmp_path / "h.png")]) == 0
    assert all((tmp_path / name).exists() for name in ("h.ecsv", "h.reg", "h.png"))
    # an image query with the same (seeded) random backbone: a source's own cutout comes first
    from astrofmx.search import load_index

    index = load_index(idx)
    src = index.sources[1]
    x, y = int(round(src["x_centroid"])), int(round(src["y_centroid"]))
    data = fits.getdata(file1)
    if 16 <= x <= 112 and 16 <= y <= 112:
        fits.PrimaryHDU(data[y - 16:y + 16, x - 16:x + 16]).writeto(tmp_path / "q.fits")
        assert main(["-q", "similar", str(idx), "--image", str(tmp_path / "q.fits"), "-k", "2"] + common) == 0
        assert capsys.readouterr().out.count("\n") >= 4
    assert main(["-q", "similar", str(idx), "--row", "99999"]) == 1  # found out on reading the index
    assert "row 99999 is not in the index" in _error(capsys)
    assert main(["-q", "outliers", str(idx), "-n", "3", "--method", "knn", "--interesting", "1", "--boring", "0",
                 "-o", str(tmp_path / "o.ecsv")]) == 0
    from astropy.table import QTable

    ranked = QTable.read(tmp_path / "o.ecsv")
    assert len(ranked) == 3 and np.all(np.diff(ranked["score"]) <= 0)
