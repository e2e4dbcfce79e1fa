"""embed_survey over many files: a glob, shards written to a folder, resume and Dask; embed streams tiles."""

import numpy as np
import pytest
from astropy.io import fits

from astrofmx.backbones import embed, embed_survey, get_backbone
from astrofmx.survey import BatchResult

from .helpers import TINY_VIT


@pytest.fixture(scope="module")
def cutouts(tmp_path_factory):
    """Five 48 x 48 FITS cutouts of different Gaussian blobs in noise."""
    folder = tmp_path_factory.mktemp("cutouts")
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:48, :48]
    for i in range(5):
        cx, cy, sigma = rng.uniform(15, 33), rng.uniform(15, 33), rng.uniform(2, 6)
        data = rng.normal(0, 0.05, (48, 48)) + np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2))
        fits.PrimaryHDU(data.astype(np.float32)).writeto(folder / f"cutout{i}.fits")
    return folder


@pytest.fixture(scope="module")
def vit():
    import torch

    torch.manual_seed(0)
    return get_backbone("msn", weights=None, **TINY_VIT)


OPTS = dict(precision="fp32", progress_bar=False)


def test_glob_equals_one_by_one_and_survey_mode(cutouts, vit, tmp_path):
    files = sorted(str(p) for p in cutouts.glob("*.fits"))
    one_by_one = np.concatenate([embed(f, backbone=vit, **OPTS) for f in files])
    assert one_by_one.shape == (5, 64) and np.ptp(one_by_one, axis=0).max() > 0
    from_list = embed(files, backbone=vit, batch_size=2, **OPTS)
    np.testing.assert_allclose(from_list, one_by_one, rtol=1e-4, atol=1e-5)

    out = tmp_path / "features"
    result = embed_survey(str(cutouts / "*.fits"), out, backbone=vit, shard_size=2, **OPTS)
    assert isinstance(result, BatchResult) and result.n_done == 3 and result.ok
    np.testing.assert_allclose(np.asarray(result.features), one_by_one, rtol=1e-4, atol=1e-5)
    assert (out / "embed_combined.npy").is_file()

    again = embed_survey(files, out, backbone=vit, shard_size=2, **OPTS)  # same shards: all resumed
    assert again.n_skipped == 3 and again.n_done == 0
    np.testing.assert_allclose(np.asarray(again.features), one_by_one, rtol=1e-4, atol=1e-5)


def test_survey_mode_with_dask_and_a_failing_file(cutouts, vit, tmp_path):
    from distributed import Client, LocalCluster

    files = sorted(str(p) for p in cutouts.glob("*.fits"))
    broken = tmp_path / "broken.fits"
    broken.write_text("not FITS")
    serial = embed_survey(files, tmp_path / "a", backbone=vit, shard_size=2, **OPTS)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        par = embed_survey(files + [str(broken)], tmp_path / "b", backbone=vit, shard_size=2, parallel=client,
                           **OPTS)
    # the shard holding the broken file fails; the others equal the serial run
    assert par.summary["status"].tolist() == ["done", "done", "failed"]
    np.testing.assert_allclose(np.asarray(par.features), np.asarray(serial.features)[:4], rtol=1e-4, atol=1e-5)


def test_survey_mode_bad_input(cutouts, vit):
    with pytest.raises(ValueError, match="matches no files"):
        embed_survey(str(cutouts / "*.nothing"), cutouts / "x", backbone=vit, **OPTS)
    with pytest.raises(ValueError, match="shard_size"):
        embed_survey(str(cutouts / "*.fits"), cutouts / "x", backbone=vit, shard_size=0, **OPTS)
    with pytest.raises(TypeError, match="a list of them"):
        embed_survey(np.zeros((2, 8, 8)), cutouts / "x", backbone=vit, **OPTS)
    with pytest.raises(TypeError, match=r"does not take \['ids', 'output'\]"):
        embed_survey(str(cutouts / "*.fits"), cutouts / "x", backbone=vit, output="f.npy", ids=[1], **OPTS)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        embed_survey(str(cutouts / "*.fits"), cutouts / "x", backbone=vit, batch_size=0, **OPTS)


def test_embed_returns_an_array_only(cutouts, vit):
    """A glob is not expanded by embed (that is embed_survey's job): it is one (missing) path."""
    with pytest.raises(FileNotFoundError):
        embed(str(cutouts / "cutout*.fits"), backbone=vit, **OPTS)


def test_embed_output_dir_is_deprecated(cutouts, vit, tmp_path):
    files = sorted(str(p) for p in cutouts.glob("*.fits"))
    with pytest.warns(DeprecationWarning, match="use astrofmx.backbones.embed_survey"):
        old = embed(files, backbone=vit, output_dir=tmp_path / "old", shard_size=2, **OPTS)
    new = embed_survey(files, tmp_path / "new", backbone=vit, shard_size=2, **OPTS)
    np.testing.assert_array_equal(np.asarray(old.features), np.asarray(new.features))
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="needs output_dir"):
        embed(files, backbone=vit, parallel=2, **OPTS)


def test_tiles_of_a_memory_mapped_image_stream_through_embed(vit, tmp_path):
    """embed(iter_tiles(...)) reads one batch of tiles at a time and equals embedding the tiles' arrays."""
    from astrofmx.io import load_image
    from astrofmx.preprocess import iter_tiles
    from astrofmx.tests.helpers import LiveCounter

    rng = np.random.default_rng(8)
    data = rng.normal(0.0, 1.0, (512, 640)).astype(np.float32)
    data[100:140, 200:260] += 30.0
    fits.PrimaryHDU(data).writeto(tmp_path / "big.fits")
    image = load_image(tmp_path / "big.fits", memmap=True)
    counter = LiveCounter()
    streamed = embed(counter.wrap(iter_tiles(image, tile_size=128, overlap=0)), backbone=vit, batch_size=4,
                     normalizer="radio", **OPTS)
    assert streamed.shape[0] == counter.total == 20
    assert counter.peak <= 4 + 4  # a batch being embedded plus one being prepared, never all 20
    arrays = [data[y:y + 128, x:x + 128] for y in range(0, 512, 128) for x in range(0, 640, 128)]
    np.testing.assert_allclose(streamed, embed(arrays, backbone=vit, batch_size=4, normalizer="radio", **OPTS),
                               atol=1e-5)
