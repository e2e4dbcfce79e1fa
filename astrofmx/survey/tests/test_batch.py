"""Tests of the survey-scale batch engine: parallel == serial, resume after failures and kill -9."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from astrofmx.survey import BatchResult, run_batch

N_FILES = 4
# ----------------------------------------------------------------------------------------------
# fixtures and per-input functions (module level, so that worker processes can import them)
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def field_files(tmp_path_factory):
    """Four small simulated radio fields (seeded), as FITS files."""
    from astrofmx.datasets import simulate_radio_field

    folder = tmp_path_factory.mktemp("fields")
    paths = []
    for seed in range(N_FILES):
        path = folder / f"field_{seed:02d}.fits"
        simulate_radio_field((192, 192), seed=seed, n_sources=25).write(path)
        paths.append(path)
    return paths


def photutils_finder(path, n_sigma=5.0):
    """The real per-file work: the photutils finder of astrofmx.compare."""
    from astrofmx.compare import find_sources_photutils

    return find_sources_photutils(path, n_sigma=n_sigma)


def pixel_stats(path):
    """A cheap per-file function: one row of pixel statistics read from the FITS file."""
    data = fits.getdata(path).astype(np.float64)
    return QTable({"peak": [data.max()], "median": [np.median(data)], "n_bright": [int((data > 1e-4).sum())]})


def fails_on_02(path, n_sigma=5.0):
    if "field_02" in os.fspath(path):
        raise ValueError("corrupt header in field_02")
    return photutils_finder(path, n_sigma=n_sigma)


def _mtimes(paths):
    return {p: os.stat(p).st_mtime_ns for p in paths}


def _check_done(result, n):
    assert isinstance(result, BatchResult)
    assert result.summary["status"].tolist() == ["done"] * n
    assert result.ok and result.n_done == n and result.n_failed == 0


# ----------------------------------------------------------------------------------------------
# serial vs parallel
# ----------------------------------------------------------------------------------------------

def test_serial_batch_writes_one_result_per_file_and_a_combined_catalog(field_files, tmp_path):
    result = run_batch(photutils_finder, field_files, output_dir=tmp_path / "out", progress_bar=False)
    _check_done(result, N_FILES)
    # each per-file result equals a direct call on that file
    for path, output, n_rows in zip(field_files, result.summary["output"], result.summary["n_rows"]):
        direct = photutils_finder(path)
        stored = QTable.read(output)
        assert len(stored) == len(direct) == n_rows > 0
        np.testing.assert_allclose(stored["x_centroid"], direct["x_centroid"])
        assert os.path.abspath(path) in result.summary["input"].tolist()
    # the combined catalog stacks them in input order with an input column, and is on disk
    cat = result.catalog
    assert cat.colnames[0] == "input"
    assert len(cat) == int(result.summary["n_rows"].sum())
    starts = np.r_[0, np.cumsum(result.summary["n_rows"])]
    for k, path in enumerate(field_files):
        assert set(cat["input"][starts[k]:starts[k + 1]]) == {os.path.abspath(path)}
    assert result.combined_path == tmp_path / "out" / "combined.ecsv"
    assert len(QTable.read(result.combined_path)) == len(cat)
    summary = QTable.read(tmp_path / "out" / "summary.ecsv")
    assert summary["status"].tolist() == ["done"] * N_FILES
    assert summary["seconds"].unit == "s"


def _assert_same_catalog(a, b):
    assert a.colnames == b.colnames
    assert a["input"].tolist() == b["input"].tolist()
    for name in ("id", "x_centroid", "y_centroid", "bbox_xmin", "bbox_ymax", "flux", "peak"):
        np.testing.assert_allclose(np.asarray(a[name].value if hasattr(a[name], "unit") else a[name]),
                                   np.asarray(b[name].value if hasattr(b[name], "unit") else b[name]))
    np.testing.assert_allclose(a["sky_centroid"].ra.deg, b["sky_centroid"].ra.deg)


def test_local_cluster_batch_equals_serial(field_files, tmp_path):
    from distributed import Client, LocalCluster

    serial = run_batch(photutils_finder, field_files, output_dir=tmp_path / "serial", progress_bar=False,
                       func_kwargs={"n_sigma": 6.0})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        parallel = run_batch(photutils_finder, field_files, output_dir=tmp_path / "cluster", parallel=client,
                             progress_bar=True, func_kwargs={"n_sigma": 6.0})
        # 'current-scheduler' finds the active client
        current = run_batch(photutils_finder, field_files[:2], output_dir=tmp_path / "current",
                            parallel="current-scheduler", progress_bar=False, func_kwargs={"n_sigma": 6.0})
        assert client.submit(sum, [1, 2]).result() == 3
    _check_done(parallel, N_FILES)
    _check_done(current, 2)
    assert parallel.summary["n_rows"].tolist() == serial.summary["n_rows"].tolist()
    _assert_same_catalog(parallel.catalog, serial.catalog)
    _assert_same_catalog(current.catalog, serial.catalog[:len(current.catalog)])
    # file names are the same for the same inputs, whatever the executor
    assert [os.path.basename(p) for p in parallel.summary["output"]] == \
        [os.path.basename(p) for p in serial.summary["output"]]


def dies_on_01(path):
    if "field_01" in os.fspath(path):
        os._exit(3)  # the worker process dies (segfault, OOM kill...)
    return pixel_stats(path)


def test_parallel_int_worker_processes_survive_a_dying_worker(field_files, tmp_path):
    import dask
    import distributed  # noqa: F401 -- load its config defaults before overriding one of them

    serial = run_batch(pixel_stats, field_files, output_dir=tmp_path / "serial", progress_bar=False)
    out = tmp_path / "procs"
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        result = run_batch(dies_on_01, field_files, output_dir=out, parallel=2, progress_bar=False)
    status, error = result.summary["status"].tolist(), result.summary["error"].tolist()
    assert status[1] == "failed" and error[1].startswith("KilledWorker: ")
    # the other inputs finished (or, if they shared the dying worker too often, failed the same way)
    assert status[0] == "done" or error[0].startswith("KilledWorker: ")
    assert status.count("done") >= 1
    # a rerun completes the batch, and the results written by the worker processes equal the serial ones
    rerun = run_batch(pixel_stats, field_files, output_dir=out, progress_bar=False)
    assert [s for s, before in zip(rerun.summary["status"], status) if before == "done"] == \
        ["skipped"] * status.count("done")
    assert rerun.n_failed == 0
    assert rerun.summary["input"].tolist() == serial.summary["input"].tolist()
    np.testing.assert_array_equal(rerun.catalog["peak"], serial.catalog["peak"])
    np.testing.assert_array_equal(rerun.catalog["n_bright"], serial.catalog["n_bright"])


def test_current_scheduler_with_local_dask_scheduler(field_files, tmp_path):
    import dask

    serial = run_batch(pixel_stats, field_files, output_dir=tmp_path / "serial", progress_bar=False)
    with dask.config.set(scheduler="threads", num_workers=2):
        threaded = run_batch(pixel_stats, field_files, output_dir=tmp_path / "threads",
                             parallel="current-scheduler", progress_bar=False)
    _check_done(threaded, N_FILES)
    np.testing.assert_array_equal(threaded.catalog["median"], serial.catalog["median"])


# ----------------------------------------------------------------------------------------------
# failures and resume
# ----------------------------------------------------------------------------------------------

def test_failure_is_recorded_and_rerun_resumes(field_files, tmp_path, caplog):
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="astrofmx.survey"):
        first = run_batch(fails_on_02, field_files, output_dir=out, progress_bar=False)
    assert first.summary["status"].tolist() == ["done", "done", "failed", "done"]
    assert first.summary["error"][2] == "ValueError: corrupt header in field_02"
    assert first.n_failed == 1 and not first.ok and len(first.failed) == 1
    assert "corrupt header" in caplog.text
    assert not os.path.exists(first.summary["output"][2])
    # the combined catalog holds the three files that finished
    assert len(first.catalog) == int(first.summary["n_rows"].sum())
    assert os.path.abspath(field_files[2]) not in set(first.catalog["input"])
    finished = [first.summary["output"][k] for k in (0, 1, 3)]
    before = _mtimes(finished)

    calls = []

    def counting_finder(path, n_sigma=5.0):
        calls.append(os.fspath(path))
        return photutils_finder(path, n_sigma=n_sigma)

    second = run_batch(counting_finder, field_files, output_dir=out, progress_bar=False)
    assert calls == [os.fspath(field_files[2])]  # only the failed file runs again
    assert second.summary["status"].tolist() == ["skipped", "skipped", "done", "skipped"]
    assert second.summary["n_rows"][[0, 1, 3]].tolist() == first.summary["n_rows"][[0, 1, 3]].tolist()
    assert _mtimes(finished) == before  # finished results untouched
    assert len(second.catalog) == int(second.summary["n_rows"].sum())
    assert len(set(second.catalog["input"])) == N_FILES
    # resume=False recomputes everything
    calls.clear()
    third = run_batch(counting_finder, field_files, output_dir=out, progress_bar=False, resume=False)
    assert len(calls) == N_FILES and third.n_done == N_FILES


_KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from astropy.io import fits
    from astropy.table import QTable
    from astrofmx.survey import run_batch

    when, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]

    def stats(path):
        if when == "in-func" and "field_02" in path:
            os.kill(os.getpid(), signal.SIGKILL)  # kill -9 in the middle of the batch
        data = fits.getdata(path)
        return QTable({"peak": [float(data.max())]})

    if when == "before-rename":  # kill -9 once field_02's temporary file is written, before the rename
        real_replace = os.replace

        def replace(src, dst):
            if "field_02" in os.fspath(dst):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)

        os.replace = replace
    run_batch(stats, files, output_dir=out, progress_bar=False)
""")


def kill_free_stats(path):
    data = fits.getdata(path)
    return QTable({"peak": [float(data.max())]})


@pytest.mark.parametrize("when", ["in-func", "before-rename"])
def test_kill_9_mid_batch_loses_nothing_and_duplicates_nothing(field_files, tmp_path, when):
    out = tmp_path / "out"
    files = [os.fspath(p) for p in field_files]
    proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, when, os.fspath(out), *files],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.name != "settings.json")
    assert len(written) == 2 and all(name.startswith(("field_00-", "field_01-")) for name in written)
    partial = [p.name for p in out.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")]
    assert len(partial) == (1 if when == "before-rename" else 0)  # field_02's complete but unrenamed temp file
    # the killed process left field_02's lock; its pid is dead, so the rerun takes it over
    assert len(list(out.glob(".field_02-*.lock"))) == 1
    before = _mtimes(out / name for name in written)

    calls = []

    def counting(path):
        calls.append(path)
        return kill_free_stats(path)

    result = run_batch(counting, files, output_dir=out, progress_bar=False)
    assert calls == files[2:]  # each unfinished input exactly once
    assert result.summary["status"].tolist() == ["skipped", "skipped", "done", "done"]
    assert _mtimes(out / name for name in written) == before
    cat = result.catalog
    assert len(cat) == N_FILES  # one row per file: nothing lost, nothing twice
    assert sorted(cat["input"].tolist()) == sorted(os.path.abspath(f) for f in files)
    expected = [float(fits.getdata(f).max()) for f in files]
    np.testing.assert_allclose(cat["peak"], expected)
    assert not list(out.glob(".*.lock"))


# ----------------------------------------------------------------------------------------------
# arrays, objects with ids, formats
# ----------------------------------------------------------------------------------------------

def _features(image):
    return np.percentile(image, [5, 50, 95, 99]).astype(np.float32)


def test_feature_arrays_for_objects_with_ids(tmp_path, rng):
    from astrofmx.datasets import simulate_radio_field

    images = {f"cutout-{k}": simulate_radio_field((64, 64), seed=k, n_sources=5).data for k in range(5)}
    result = run_batch(_features, images, output_dir=tmp_path, output_format="npy", progress_bar=False)
    _check_done(result, 5)
    assert result.catalog is None and result.features.shape == (5, 4)
    assert result.ids.tolist() == list(images)
    for k, image in enumerate(images.values()):
        np.testing.assert_allclose(result.features[k], _features(image))
    assert result.combined_path.name == "combined.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "combined_ids.npy"), result.ids)
    # ids= for a list of objects; per-input (n_i, D) arrays are concatenated, ids repeated per row
    arrays = [rng.normal(size=(n, 3)) for n in (2, 0, 4)]
    res = run_batch(lambda a: a, arrays, ids=["a", "b", "c"], output_dir=tmp_path / "rows",
                    output_format="npy", progress_bar=False)
    assert res.features.shape == (6, 3) and res.ids.tolist() == ["a", "a", "c", "c", "c", "c"]
    np.testing.assert_array_equal(res.features, np.concatenate(arrays))
    assert res.summary["n_rows"].tolist() == [2, 0, 4]
    # arrays that cannot be combined: the per-input results and the summary stay, then a clear error
    with pytest.raises(ValueError, match=r"cannot be combined: shapes .* differ beyond the first axis"):
        run_batch(lambda a: a, [np.zeros((2, 3)), np.zeros((2, 4))], ids=["x", "y"], output_dir=tmp_path / "bad",
                  output_format="npy", progress_bar=False)
    summary = QTable.read(tmp_path / "bad" / "summary.ecsv")
    assert summary["status"].tolist() == ["done", "done"] and summary["n_rows"].tolist() == [2, 2]


def test_fits_output_and_name(field_files, tmp_path):
    det = run_batch(photutils_finder, field_files[:2], output_dir=tmp_path, output_format="fits", name="det",
                    progress_bar=False)
    stats = run_batch(pixel_stats, field_files[:2], output_dir=tmp_path, name="stats", progress_bar=False)
    _check_done(det, 2)
    _check_done(stats, 2)  # same folder, same inputs: separate files thanks to name
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "det_combined.fits" in names and "stats_combined.ecsv" in names and "det_summary.ecsv" in names
    assert sum(n.endswith(".det.fits") for n in names) == 2
    assert "sky_centroid" in det.catalog.colnames  # ra/dec columns read back into a SkyCoord
    assert len(det.catalog) == int(det.summary["n_rows"].sum())
    again = run_batch(photutils_finder, field_files[:2], output_dir=tmp_path, output_format="fits", name="det",
                      progress_bar=False)
    assert again.n_skipped == 2 and again.summary["n_rows"].tolist() == det.summary["n_rows"].tolist()


def test_glob_input_is_sorted_and_stems_are_stable(field_files, tmp_path):
    pattern = os.fspath(field_files[0].parent / "field_*.fits")
    result = run_batch(pixel_stats, pattern, output_dir=tmp_path / "a", progress_bar=False)
    assert result.summary["input"].tolist() == sorted(os.path.abspath(p) for p in field_files)
    again = run_batch(pixel_stats, list(reversed(field_files)), output_dir=tmp_path / "b", progress_bar=False)
    assert sorted(os.path.basename(p) for p in again.summary["output"]) == \
        sorted(os.path.basename(p) for p in result.summary["output"])
    assert all(os.path.basename(p).startswith("field_0") for p in result.summary["output"])
    # resume without combining still reports the rows of the skipped results
    resumed = run_batch(pixel_stats, pattern, output_dir=tmp_path / "a", progress_bar=False, combine=False)
    assert resumed.n_skipped == N_FILES and resumed.catalog is None and resumed.combined_path is None
    assert resumed.summary["n_rows"].tolist() == [1] * N_FILES


def test_parquet_output(field_files, tmp_path):
    pytest.importorskip("pyarrow")
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="output_format='parquet' needs pandas"):
            run_batch(pixel_stats, field_files, output_dir=tmp_path, output_format="parquet")
        return
    result = run_batch(pixel_stats, field_files, output_dir=tmp_path, output_format="parquet",
                       progress_bar=False)
    _check_done(result, N_FILES)
    assert len(result.catalog) == N_FILES


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors(field_files, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="matches no files"):
        run_batch(pixel_stats, os.fspath(tmp_path / "*.nothing"), output_dir=out)
    with pytest.raises(ValueError, match="inputs is empty"):
        run_batch(pixel_stats, [], output_dir=out)
    with pytest.raises(ValueError, match="is a directory; pass a glob pattern"):
        run_batch(pixel_stats, tmp_path, output_dir=out)
    with pytest.raises(FileNotFoundError, match="neither an existing file nor a glob"):
        run_batch(pixel_stats, os.fspath(tmp_path / "missing.fits"), output_dir=out)
    with pytest.raises(ValueError, match="parallel must be False, True, a positive int.*got 'bogus'"):
        run_batch(pixel_stats, field_files, output_dir=out, parallel="bogus")
    with pytest.raises(ValueError, match="parallel must be .* got 0"):
        run_batch(pixel_stats, field_files, output_dir=out, parallel=0)
    with pytest.raises(TypeError, match="parallel must be .* got float"):
        run_batch(pixel_stats, field_files, output_dir=out, parallel=2.5)
    afile = tmp_path / "afile.txt"
    afile.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="afile.txt' exists and is not a directory"):
        run_batch(pixel_stats, field_files, output_dir=afile)
    with pytest.raises(ValueError, match="output_format must be one of .* got 'csv'"):
        run_batch(pixel_stats, field_files, output_dir=out, output_format="csv")
    with pytest.raises(TypeError, match="func must be callable, got str"):
        run_batch("pixel_stats", field_files, output_dir=out)
    with pytest.raises(TypeError, match="func_kwargs must be a dict"):
        run_batch(pixel_stats, field_files, output_dir=out, func_kwargs=[1])
    with pytest.raises(TypeError, match="input 0 is a ndarray, not a path: give objects an id"):
        run_batch(_features, [np.zeros((4, 4))], output_dir=out)
    with pytest.raises(ValueError, match="ids must have one entry per input"):
        run_batch(_features, [np.zeros((4, 4))], ids=["a", "b"], output_dir=out)
    with pytest.raises(ValueError, match="inputs must be unique, got 1 repeated"):
        run_batch(pixel_stats, [field_files[0], os.fspath(field_files[0])], output_dir=out)
    with pytest.raises(ValueError, match="pass either a mapping {id: input} or ids=, not both"):
        run_batch(_features, {"a": np.zeros(3)}, ids=["b"], output_dir=out)
    with pytest.raises(TypeError, match="ids must be strings or integers, got 1.5"):
        run_batch(_features, [np.zeros(3)], ids=[1.5], output_dir=out)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        run_batch(pixel_stats, field_files, output_dir=out, name=" ")
    with pytest.raises(TypeError, match="inputs must be a list of paths"):
        run_batch(pixel_stats, 42, output_dir=out)
    assert not out.exists()  # nothing was created for rejected calls


def test_wrong_result_type_stops_the_batch(field_files, tmp_path):
    with pytest.raises(TypeError, match=r"func returned a table, which cannot be written as "
                                        r"output_format='npy'; use output_format='ecsv'"):
        run_batch(pixel_stats, field_files, output_dir=tmp_path, output_format="npy", progress_bar=False)
    with pytest.raises(TypeError, match="func must return an astropy Table/QTable or a numpy array, got dict"):
        run_batch(lambda p: {"a": 1}, field_files, output_dir=tmp_path, progress_bar=False)
