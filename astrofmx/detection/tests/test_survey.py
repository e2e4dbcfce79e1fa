"""detect_sources over many files: serial and Dask runs agree, reruns resume, failures are reported."""

import os

import numpy as np
import pytest

from astrofmx.detection import build_detector, detect_sources, save_detector
from astrofmx.utils import BatchResult

from .conftest import SMALL_HEADS, simulated_field


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    """Three small simulated fields on disk and a tiny saved (untrained, seeded) detector."""
    import torch

    folder = tmp_path_factory.mktemp("survey")
    files = []
    for seed in range(3):
        path = folder / f"field{seed}.fits"
        simulated_field((96, 96), seed=10 + seed, n_sources=12).write(path)
        files.append(path)
    torch.manual_seed(0)
    det = build_detector(backbone="resnet18", weights=None, mode="scratch", tile_size=64, **SMALL_HEADS)
    model = folder / "tiny-detector"
    save_detector(det, model)
    return files, model


OPTS = dict(score_threshold=0.0, precision="fp32", progress_bar=False)


def _rows(catalog):
    def values(name):
        return np.round(np.asarray(getattr(catalog[name], "value", catalog[name]), dtype=float), 3).tolist()

    return sorted(zip(catalog["input"].tolist(), values("x_centroid"), values("y_centroid"), values("score")))


def test_serial_equals_dask_and_single_calls(survey, tmp_path):
    from distributed import Client, LocalCluster

    files, model = survey
    serial = detect_sources([str(f) for f in files], model=model, output_dir=tmp_path / "serial", **OPTS)
    assert isinstance(serial, BatchResult) and serial.n_done == 3 and serial.ok
    assert len(serial.catalog) > 0
    # the batch is the concatenation of the per-file calls
    for f in files:
        one = detect_sources(str(f), model=model, **OPTS)
        mine = serial.catalog[serial.catalog["input"] == str(f)]
        assert len(mine) == len(one)
        np.testing.assert_allclose(mine["x_centroid"], one["x_centroid"], atol=1e-6)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        par = detect_sources(str(files[0].parent / "field*.fits"), model=model, output_dir=tmp_path / "par",
                             parallel=client, **OPTS)
    assert par.n_done == 3 and par.summary["status"].tolist() == ["done"] * 3
    assert _rows(par.catalog) == _rows(serial.catalog)
    assert (tmp_path / "par" / "detect_combined.ecsv").is_file()


def test_resume_skips_finished_files_and_reports_failures(survey, tmp_path):
    files, model = survey
    broken = tmp_path / "broken.fits"
    broken.write_text("not a FITS file")
    out = tmp_path / "out"
    first = detect_sources([str(files[0]), str(broken)], model=model, output_dir=out, **OPTS)
    assert first.summary["status"].tolist() == ["done", "failed"]
    assert "FITS" in first.failed["error"][0] or "fits" in first.failed["error"][0].lower()
    done_file = first.summary["output"][0]
    mtime = os.stat(done_file).st_mtime_ns
    again = detect_sources([str(f) for f in files] + [str(broken)], model=model, output_dir=out, **OPTS)
    assert again.summary["status"].tolist() == ["skipped", "done", "done", "failed"]
    assert os.stat(done_file).st_mtime_ns == mtime  # not recomputed
    n_per_file = [int((again.catalog["input"] == str(f)).sum()) for f in files]
    assert sum(n_per_file) == len(again.catalog)  # nothing duplicated


def test_many_inputs_need_output_dir(survey):
    files, model = survey
    with pytest.raises(ValueError, match="output_dir"):
        detect_sources([str(f) for f in files], model=model, **OPTS)
    with pytest.raises(ValueError, match="matched no files"):
        detect_sources("/nonexistent-dir/*.fits", model=model, output_dir="/tmp/unused-astrofmx", **OPTS)
