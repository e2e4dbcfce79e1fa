import numpy as np
import pytest
import torch

import astrofmx
from astrofmx.backbones import embed, get_backbone

from astrofmx.preprocess import to_model_input

from .helpers import TINY_VIT, images


@pytest.fixture(scope="module")
def vit():
    return get_backbone("msn", weights=None, **TINY_VIT)


@pytest.fixture(scope="module")
def resnet():
    return get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1))


def _cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_embed_tensors_shapes_and_determinism(vit):
    x = images(7)
    a = embed(x, backbone=vit, batch_size=3, precision="fp32", progress_bar=False)
    assert a.shape == (7, 64) and a.dtype == np.float32
    b = embed(x, backbone=vit, batch_size=3, precision="fp32", progress_bar=False)
    np.testing.assert_array_equal(a, b)
    # batching does not change the result; features equal the backbone's own forward
    c = embed(list(x), backbone=vit, batch_size=7, precision="fp32", progress_bar=False)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(a, vit(x).numpy(), rtol=1e-5, atol=1e-6)
    single = embed(x[0], backbone=vit, precision="fp32", progress_bar=False)
    np.testing.assert_allclose(single, a[:1], rtol=1e-5, atol=1e-6)
    mean = embed(x, backbone=vit, pooling="mean", precision="fp32", progress_bar=False)
    with torch.no_grad():
        np.testing.assert_allclose(mean, vit(x, pooling="mean").numpy(), rtol=1e-5, atol=1e-6)


def test_embed_generator_and_mixed_sizes(vit):
    x64, x96 = images(3, 64), images(2, 96, seed=2)
    stream = (t for t in [x64[0], x64[1], x96[0], x64[2], x96[1]])
    out = embed(stream, backbone=vit, batch_size=4, precision="fp32", progress_bar=True)
    with torch.no_grad():
        ref = torch.cat([vit(x64[:2]), vit(x96[:1]), vit(x64[2:]), vit(x96[1:])]).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_embed_by_name_cnn_channels_last():
    x = images(3)
    out = embed(x, backbone="resnet18", weights=None, device="cpu", precision="fp32", progress_bar=False)
    assert out.shape == (3, 512)
    assert np.isfinite(out).all()


def test_embed_keeps_training_state(vit):
    vit.train()
    embed(images(2), backbone=vit, precision="fp32", progress_bar=False)
    assert vit.training
    vit.eval()


@pytest.mark.parametrize("which", ["vit", "resnet"])
def test_fast_mode_matches_fp32(which, vit, resnet):
    """bf16 autocast (the fast path where the hardware supports it) keeps cosine >= 0.999 to fp32."""
    model = vit if which == "vit" else resnet
    x = images(8, 64, seed=3)
    ref = embed(x, backbone=model, precision="fp32", progress_bar=False)
    fast = embed(x, backbone=model, precision="bf16", progress_bar=False)
    assert _cosine(ref, fast).min() >= 0.999
    auto = embed(x, backbone=model, precision="auto", progress_bar=False)
    assert _cosine(ref, auto).min() >= 0.999


def test_embed_outputs(tmp_path, vit):
    h5py = pytest.importorskip("h5py")
    pq = pytest.importorskip("pyarrow.parquet")
    x = images(4)
    ids = ["src-a", "src-b", "src-c", "src-d"]
    feats = embed(x, backbone=vit, precision="fp32", progress_bar=False, output=tmp_path / "f.npy", ids=ids)
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), feats)
    assert np.load(tmp_path / "f_ids.npy").tolist() == ids
    embed(x, backbone=vit, precision="fp32", progress_bar=False, output=tmp_path / "f.npz")
    with np.load(tmp_path / "f.npz") as npz:
        np.testing.assert_array_equal(npz["features"], feats)
        assert npz["ids"].tolist() == [0, 1, 2, 3]
    embed(x, backbone=vit, precision="fp32", progress_bar=False, output=tmp_path / "f.h5", ids=ids)
    with h5py.File(tmp_path / "f.h5") as fh:
        np.testing.assert_array_equal(fh["features"][:], feats)
        assert [s.decode() for s in fh["ids"][:]] == ids
    embed(x, backbone=vit, precision="fp32", progress_bar=False, output=tmp_path / "f.parquet", ids=ids)
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.column("id").to_pylist() == ids
    np.testing.assert_array_equal(np.array(table.column("features").to_pylist(), dtype=np.float32), feats)
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        embed(x, backbone=vit, progress_bar=False, output=tmp_path / "f.parquet")
    embed(x[:2], backbone=vit, precision="fp32", progress_bar=False, output=tmp_path / "f.parquet",
          overwrite=True)
    assert pq.read_table(tmp_path / "f.parquet").num_rows == 2


def test_embed_cache(tmp_path, vit):
    x = images(3)
    first = embed(x, backbone=vit, precision="fp32", progress_bar=False, cache=True, cache_dir=tmp_path)
    files = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(files) == 1
    np.testing.assert_array_equal(np.load(files[0]), first)
    # a second call reads the cache file (proved by planting different values in it)
    np.save(files[0], first + 1.0)
    again = embed(x, backbone=vit, precision="fp32", progress_bar=False, cache=True, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, first + 1.0)
    # other inputs, pooling or weights are other keys
    embed(x[:2], backbone=vit, precision="fp32", progress_bar=False, cache=True, cache_dir=tmp_path)
    embed(x, backbone=vit, pooling="mean", precision="fp32", progress_bar=False, cache=True, cache_dir=tmp_path)
    other = get_backbone("msn", weights=None, **TINY_VIT)
    fresh = embed(x, backbone=other, precision="fp32", progress_bar=False, cache=True, cache_dir=tmp_path)
    assert len(list((tmp_path / "embeddings").glob("*.npy"))) == 4
    assert not np.allclose(fresh, first)


def test_embed_bad_input(vit):
    with pytest.raises(ValueError, match="batch_size must be a positive integer or 'auto', got 0"):
        embed(images(1), backbone=vit, batch_size=0)
    with pytest.raises(ValueError, match="pooling must be one of"):
        embed(images(1), backbone=vit, pooling="max")
    with pytest.raises(ValueError, match="output must end in one of"):
        embed(images(1), backbone=vit, output="features.csv")
    with pytest.raises(ValueError, match=r"ids must have one entry per image \(2\), got 3"):
        embed(images(2), backbone=vit, ids=[1, 2, 3])
    with pytest.raises(ValueError, match="weights='w.pth' is only used with a backbone name"):
        embed(images(1), backbone=vit, weights="w.pth")
    with pytest.raises(ValueError, match=r"a tensor input must be \(C, H, W\) or \(N, C, H, W\)"):
        embed(torch.zeros(1, 1, 3, 8, 8), backbone=vit)
    with pytest.raises(ValueError, match="must be preprocessed .C, H, W. tensors"):
        embed([torch.zeros(8, 8)], backbone=vit, progress_bar=False)
    with pytest.raises(TypeError, match="images must be an NDData, a path"):
        embed(3.0, backbone=vit)
    with pytest.raises(TypeError, match="each image must be"):
        embed([{"a": 1}], backbone=vit, progress_bar=False)
    with pytest.raises(ValueError, match="images is empty"):
        embed([], backbone=vit, progress_bar=False)
    with pytest.raises(TypeError, match="backbone must be a registered name or a Backbone"):
        embed(images(1), backbone=3)
    with pytest.raises(ValueError, match=r"precision must be one of"):
        embed(images(1), backbone=vit, precision="int8", progress_bar=False)
    with pytest.raises(ValueError, match="an array input must be"):
        embed(np.zeros(5), backbone=vit)


def test_embed_cpu_device(vit):
    out = embed(images(2), backbone=vit, device="cpu", precision="fp32", progress_bar=False)
    assert out.shape == (2, 64)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            embed(images(2), backbone=vit, device="cuda")
        with pytest.raises(ValueError, match="fp16' is only supported on CUDA"):
            embed(images(2), backbone=vit, precision="fp16", progress_bar=False)


def test_top_level_reexport():
    assert astrofmx.embed is embed
    assert astrofmx.get_backbone is get_backbone


def test_embed_arrays_and_nddata(vit, rng):
    from astropy.nddata import Cutout2D, NDData

    stack = rng.normal(100.0, 5.0, size=(4, 80, 80)).astype(np.float32)
    from_stack = embed(stack, backbone=vit, precision="fp32", progress_bar=False)
    assert from_stack.shape == (4, 64)
    expected = torch.stack([to_model_input(img, size=64, mean=vit.spec.mean, std=vit.spec.std, channels=3)
                            for img in stack])
    with torch.no_grad():
        np.testing.assert_allclose(from_stack, vit(expected).numpy(), rtol=1e-4, atol=1e-5)
    from_list = embed([NDData(stack[0]), stack[1], Cutout2D(stack[2], (40, 40), 80)], backbone=vit,
                      precision="fp32", progress_bar=False)
    np.testing.assert_allclose(from_list, from_stack[:3], rtol=1e-4, atol=1e-5)


def test_embed_fits_paths(tmp_path, vit, bundled_radio_image):
    out = embed([bundled_radio_image, str(bundled_radio_image)], backbone=vit, precision="fp32",
                normalizer="radio", progress_bar=False, output=tmp_path / "radio.npz")
    assert out.shape == (2, 64) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[0], out[1])
    with np.load(tmp_path / "radio.npz") as npz:
        assert npz["ids"].tolist() == [str(bundled_radio_image)] * 2


@pytest.mark.gpu
def test_embed_on_gpu(vit):
    x = images(6)
    cpu = embed(x, backbone=vit, device="cpu", precision="fp32", progress_bar=False)
    gpu = embed(x, backbone=vit, device="cuda", precision="auto", progress_bar=False)
    assert _cosine(cpu, gpu).min() >= 0.999
    compiled = embed(x, backbone=vit, device="cuda", precision="fp32", compile=True, progress_bar=False)
    assert _cosine(cpu, compiled).min() >= 0.9999
    vit.cpu()
    named = embed(x, backbone="resnet18", weights=None, device="cuda", progress_bar=False)
    assert named.shape == (6, 512)


def test_embed_worker_processes(vit, rng):
    """Preprocessing in DataLoader worker processes gives the same features, in input order."""
    stack = list(rng.normal(0.0, 1.0, size=(5, 70, 70)).astype(np.float32))
    one = embed(stack, backbone=vit, batch_size=2, precision="fp32", progress_bar=False, num_workers=0)
    two = embed(stack, backbone=vit, batch_size=2, precision="fp32", progress_bar=False, num_workers=2)
    np.testing.assert_allclose(one, two, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="num_workers must be 'auto' or an integer >= 0, got -1"):
        embed(stack, backbone=vit, num_workers=-1)
