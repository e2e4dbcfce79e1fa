import os

import numpy as np
import pytest
import torch

from astrofmx.utils import (atomic_write, autocast, check_overwrite, cpu_supports_bf16, get_cache_dir, get_meta,
                            progress_bar, resolve_device, resolve_precision)


def test_progress_bar_disabled_is_silent(capsys):
    from tqdm.auto import tqdm

    bar = progress_bar(range(5), enabled=False, desc="x")
    assert isinstance(bar, tqdm) and bar.disable
    assert list(bar) == [0, 1, 2, 3, 4]
    with progress_bar(total=3, enabled=False) as manual:
        manual.update(2)
        manual.set_postfix(done=2)
        manual.set_description("y")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_enabled_uses_tqdm():
    from tqdm.auto import tqdm

    bar = progress_bar(range(3), enabled=True, desc="tiles")
    assert isinstance(bar, tqdm)
    assert list(bar) == [0, 1, 2]


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in {"cpu", "cuda"}
    with pytest.raises(ValueError, match="device must be"):
        resolve_device("tpu:7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_precision_and_autocast():
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_supports_bf16() else "fp32")
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int4", "cpu")
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu")
    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with autocast("cpu", "bf16"):
        y = layer(x)
    assert y.dtype == torch.bfloat16
    with autocast("cpu", "fp32"):
        assert layer(x).dtype == torch.float32


def test_meta_has_date_and_versions():
    meta = get_meta()
    assert meta["date"].endswith("+00:00")
    from importlib.metadata import version

    assert meta["version"]["torch"] == version("torch")
    assert meta["version"]["astrofmx"] == __import__("astrofmx").__version__


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path / "c"))
    assert get_cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()
    assert get_cache_dir(tmp_path / "explicit") == tmp_path / "explicit"


def test_check_overwrite_and_atomic_write(tmp_path):
    target = tmp_path / "cat.ecsv"
    with atomic_write(target) as tmp:
        tmp.write_text("first")
    assert target.read_text() == "first"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(FileExistsError, match="overwrite=True"):
        check_overwrite(target, overwrite=False)
    with pytest.raises(FileExistsError, match="already exists"):
        with atomic_write(target) as tmp:
            tmp.write_text("second")
    # a failure inside the block leaves the old file and no temporary behind
    with pytest.raises(RuntimeError):
        with atomic_write(target, overwrite=True) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash")
    assert target.read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["cat.ecsv"]
    with atomic_write(target, overwrite=True) as tmp:
        np.save(tmp, np.arange(3)) if tmp.suffix == ".npy" else tmp.write_text("second")
    assert target.read_text() == "second"


def test_batch_size_fitted_to_device_memory():
    import torch

    from astrofmx.utils import fit_batch_size, resolve_batch_size

    mib, gib = 2**20, 2**30
    # ViT-B at 224 px in bf16 needs ~100 MiB per image of activations: an H200 with 130 GiB free is capped
    assert fit_batch_size(100 * mib, 130 * gib) == 512
    assert fit_batch_size(100 * mib, 10 * gib) == 64  # 0.7 * 10 GiB / 100 MiB = 71 -> 64
    assert fit_batch_size(100 * mib, 10 * gib, fraction=0.3) == 16
    assert fit_batch_size(5 * gib, 1 * gib) == 1  # never 0
    calls = []
    assert resolve_batch_size("auto", torch.device("cpu"), calls.append, cpu_default=8) == 8
    assert resolve_batch_size(3, torch.device("cpu"), calls.append, cpu_default=8) == 3
    assert calls == []  # no probe on a CPU
    for bad in (0, -2, 1.5, True, "big"):
        with pytest.raises(ValueError, match=r"batch_size must be a positive integer or 'auto', got"):
            resolve_batch_size(bad, torch.device("cpu"), None, cpu_default=8)
    with pytest.raises(ValueError, match="per_item_bytes must be positive, got 0"):
        fit_batch_size(0, gib)


@pytest.mark.gpu
def test_auto_batch_size_probes_the_gpu():
    import torch

    from astrofmx.utils import resolve_batch_size

    dev = torch.device("cuda")
    layer = torch.nn.Conv2d(3, 64, 3, padding=1).to(dev)

    def probe(n):
        with torch.inference_mode():
            layer(torch.zeros(n, 3, 512, 512, device=dev))

    n = resolve_batch_size("auto", dev, probe, cpu_default=8)
    free, _ = torch.cuda.mem_get_info(dev)
    assert 1 <= n <= 512 and n * 64 * 512 * 512 * 4 <= free
