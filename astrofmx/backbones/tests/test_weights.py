"""Weight formats, safety, checksums and offline behaviour, with files the tests write themselves."""

import argparse
import dataclasses
import hashlib
import pickle

import pytest
import timm
import torch
import torchvision
from safetensors.torch import load_file, save_file

from astrofmx.backbones import (
    extract_state_dict,
    get_backbone,
    get_backbone_spec,
    load_weights,
    register_backbone,
    weights_cache_dir,
    weights_cached,
)
from astrofmx.backbones._checkpoint import read_checkpoint
from astrofmx.backbones._vit import hf_vit_to_timm
from astrofmx.utils import UnsafeCheckpointError, WeightsChecksumError, WeightsNotFoundError

from .helpers import TINY_VIT, images, randomize


def file_sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _source_vit(seed, **kwargs):
    """A timm ViT with the tiny architecture and random weights: the layout of the MSN, DINO and MAE code."""
    arch = {k: v for k, v in TINY_VIT.items() if k != "device"}
    model = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=0, **{**arch, **kwargs})
    return randomize(model, seed).eval()


def _cls(model, x):
    with torch.no_grad():
        return model.forward_features(x)[:, 0]


def test_msn_research_checkpoint(tmp_path):
    """MSN: the encoder is under 'target_encoder' with DistributedDataParallel 'module.' prefixes."""
    target, online = _source_vit(1), _source_vit(2)
    ckpt = {
        "target_encoder": {**{f"module.{k}": v for k, v in target.state_dict().items()},
                           "module.fc.fc1.weight": torch.randn(32, 64), "module.fc.fc1.bias": torch.randn(32)},
        "encoder": {f"module.{k}": v for k, v in online.state_dict().items()},
        "prototypes": torch.randn(10, 32), "epoch": 300, "lr": 0.001, "batch_size": 64,
    }
    path = tmp_path / "vitb16_600ep.pth.tar"
    torch.save(ckpt, path)
    x = images()
    vit = get_backbone("msn", weights=path, **TINY_VIT)
    torch.testing.assert_close(vit(x), _cls(target, x))
    vit = get_backbone("msn", weights=path, checkpoint_key="encoder", **TINY_VIT)
    torch.testing.assert_close(vit(x), _cls(online, x))


def test_dino_checkpoint_teacher_and_student(tmp_path):
    """DINO: 'teacher' (backbone. + head.) and 'student' (module.backbone.), plus a pickled argparse Namespace."""
    teacher, student = _source_vit(3), _source_vit(4)
    head = {"head.mlp.0.weight": torch.randn(16, 64), "head.last_layer.weight_g": torch.randn(8, 1)}
    ckpt = {
        "teacher": {**{f"backbone.{k}": v for k, v in teacher.state_dict().items()}, **head},
        "student": {**{f"module.backbone.{k}": v for k, v in student.state_dict().items()},
                    **{f"module.{k}": v for k, v in head.items()}},
        "epoch": 100, "args": argparse.Namespace(arch="vit_base", patch_size=16),
    }
    path = tmp_path / "checkpoint.pth"
    torch.save(ckpt, path)
    x = images()
    torch.testing.assert_close(get_backbone("dino", weights=path, **TINY_VIT)(x), _cls(teacher, x))
    student_vit = get_backbone("dino", weights=path, checkpoint_key="student", **TINY_VIT)
    torch.testing.assert_close(student_vit(x, pooling="mean"),
                               student.forward_features(x)[:, 1:].mean(1).detach())
    with pytest.raises(ValueError, match="checkpoint_key 'ema' is not in the checkpoint"):
        get_backbone("dino", weights=path, checkpoint_key="ema", **TINY_VIT)


def test_mae_checkpoint_with_decoder(tmp_path):
    """MAE: weights under 'model', the decoder and mask token are dropped."""
    encoder = _source_vit(5)
    ckpt = {"model": {**encoder.state_dict(), "mask_token": torch.randn(1, 1, 32),
                      "decoder_embed.weight": torch.randn(32, 64), "decoder_pos_embed": torch.randn(1, 17, 32),
                      "decoder_blocks.0.norm1.weight": torch.randn(32)},
            "epoch": 799, "args": argparse.Namespace(model="mae_vit_base_patch16")}
    path = tmp_path / "mae_pretrain.pth"
    torch.save(ckpt, path)
    x = images()
    vit = get_backbone("mae", weights=path, **TINY_VIT)
    torch.testing.assert_close(vit(x), _cls(encoder, x))
    torch.testing.assert_close(vit.forward_feature_maps(x)["last"].flatten(2).transpose(1, 2),
                               encoder.forward_features(x)[:, 1:].detach())


def test_timm_safetensors(tmp_path):
    src = _source_vit(6)
    path = tmp_path / "model.safetensors"
    save_file(src.state_dict(), str(path))
    x = images()
    torch.testing.assert_close(get_backbone("dino", weights=path, **TINY_VIT)(x), _cls(src, x))
    # a folder holding model.safetensors works too
    torch.testing.assert_close(get_backbone("dino", weights=tmp_path, **TINY_VIT)(x), _cls(src, x))


def test_dinov2_original_layout(tmp_path):
    """DINOv2's own release (mask_token, layer scale ls1/ls2, 37x37 grid) loads into the 224-px entry."""
    src = _source_vit(7, patch_size=14, init_values=1e-5, img_size=70)
    sd = {**src.state_dict(), "mask_token": torch.zeros(1, 64)}
    path = tmp_path / "dinov2_vitb14_pretrain.pth"
    torch.save(sd, path)
    vit = get_backbone("dinov2", weights=path, **{**TINY_VIT, "img_size": 70})
    x = images(2, 70)
    torch.testing.assert_close(vit(x), _cls(src, x))


def test_torchvision_pth(tmp_path):
    src = randomize(torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1]), 8).eval()
    path = tmp_path / "resnet18-00000000.pth"
    torch.save(src.state_dict(), path)
    net = get_backbone("resnet18", weights=path, device="cpu", layers=(1, 1, 1, 1))
    x = images()
    src.fc = torch.nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(net(x), src(x))
        torch.testing.assert_close(net.forward_feature_maps(x)["c3"], src.layer2(src.layer1(
            src.maxpool(src.relu(src.bn1(src.conv1(x)))))))


def test_timm_cnn_safetensors(tmp_path):
    src = randomize(timm.create_model("resnet18", pretrained=False, num_classes=0), 9).eval()
    path = tmp_path / "model.safetensors"
    save_file(src.state_dict(), str(path))
    net = get_backbone("timm:resnet18", weights=path, device="cpu")
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(net(x), src(x))


@pytest.fixture(scope="module")
def hf_msn(tmp_path_factory):
    """A tiny transformers ViTMSNModel with random weights, saved with save_pretrained."""
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTMSNConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       intermediate_size=256, image_size=64, patch_size=16, layer_norm_eps=1e-12)
    model = transformers.ViTMSNModel(config)
    randomize(model, 10).eval()
    folder = tmp_path_factory.mktemp("vit-msn-tiny")
    model.save_pretrained(folder)
    return model, folder


def test_hf_vitmsn_folder_matches_transformers(hf_msn):
    """The key mapping reproduces transformers' ViTMSNModel on the same random weights."""
    model, folder = hf_msn
    x = images()
    with torch.no_grad():
        ref = model(pixel_values=x).last_hidden_state
    vit = get_backbone("msn", weights=folder, **TINY_VIT)
    assert vit.model.norm.eps == 1e-12  # taken from config.json
    torch.testing.assert_close(vit(x), ref[:, 0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(vit(x, pooling="mean"), ref[:, 1:].mean(1), atol=1e-5, rtol=1e-4)
    fmap = vit.forward_feature_maps(x)["last"]
    torch.testing.assert_close(fmap.flatten(2).transpose(1, 2), ref[:, 1:], atol=1e-5, rtol=1e-4)


def test_hf_vitmsn_pytorch_model_bin(hf_msn, tmp_path):
    """pytorch_model.bin (the file facebook/vit-msn-base publishes), in the file layout and in the
    in-memory layout of transformers >= 5, with a 'vit.' prefix as ViTMSNForImageClassification saves."""
    model, folder = hf_msn
    x = images()
    with torch.no_grad():
        ref = model(pixel_values=x).last_hidden_state[:, 0]
    file_layout = load_file(str(folder / "model.safetensors"))
    assert any("attention.attention.query" in k for k in file_layout)
    for i, sd in enumerate([file_layout, {f"vit.{k}": v for k, v in model.state_dict().items()}]):
        sub = tmp_path / str(i)
        sub.mkdir()
        (sub / "config.json").write_text((folder / "config.json").read_text())
        torch.save(sd, sub / "pytorch_model.bin")
        vit = get_backbone("msn", weights=sub / "pytorch_model.bin", **TINY_VIT)
        torch.testing.assert_close(vit(x), ref, atol=1e-5, rtol=1e-4)


def test_hf_vit_to_timm_incomplete():
    with pytest.raises(ValueError, match="lacks a query, key or value"):
        hf_vit_to_timm({"encoder.layer.0.attention.attention.query.weight": torch.zeros(2, 2)})


def test_wrong_architecture_is_explained(tmp_path):
    src = _source_vit(11, depth=3)
    path = tmp_path / "model.safetensors"
    save_file(src.state_dict(), str(path))
    with pytest.raises(ValueError, match=r"do not fit backbone 'msn'.*unexpected entries.*blocks\.2"):
        get_backbone("msn", weights=path, **TINY_VIT)
    with pytest.raises(ValueError, match="shape mismatches"):
        get_backbone("msn", weights=path, **{**TINY_VIT, "depth": 3, "embed_dim": 32})
    with pytest.raises(WeightsNotFoundError, match="do not exist"):
        get_backbone("msn", weights=tmp_path / "nope.pth", **TINY_VIT)
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match=r"no state dict of tensors.*\['epoch', 'lr'\]"):
        get_backbone("msn", weights=tmp_path / "empty.pth", **TINY_VIT)
    (tmp_path / "truncated.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(OSError, match="truncated or corrupted"):
        read_checkpoint(tmp_path / "truncated.pth")


def test_extract_state_dict_prefixes():
    sd = extract_state_dict({"state_dict": {"module._orig_mod.w": torch.zeros(1)}})
    assert list(sd) == ["w"]
    with pytest.raises(ValueError, match="a checkpoint must hold a dict"):
        extract_state_dict([1])


class _Evil:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    payload = {"model": {"cls_token": torch.zeros(1)}, "extra": _Evil(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as fh:
            pickle.dump(payload, fh)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load .*evil.pth"):
        get_backbone("msn", weights=path, **TINY_VIT)
    with pytest.raises(UnsafeCheckpointError):
        read_checkpoint(path)
    assert not marker.exists()
    # the file really is malicious: an unrestricted load runs its code
    if writer == "torch.save":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as fh:
            pickle.load(fh)
    assert marker.exists()


def _register_tiny(name, **spec_changes):
    spec = dataclasses.replace(get_backbone_spec("msn"), name=name, **spec_changes)
    register_backbone(spec, lambda **kw: get_backbone("msn", weights=None, **{**TINY_VIT, **kw}), overwrite=True)
    return spec


def test_pretrained_from_cache_and_checksum(tmp_path, monkeypatch):
    """A file in the cache is used offline; a corrupted one gives WeightsChecksumError and is removed."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = _source_vit(12)
    good = tmp_path / "good.safetensors"
    save_file(src.state_dict(), str(good))
    _register_tiny("test-checksum-vit", weights_source="hf-hub:astrofmx/test-tiny",
                   weights_filename="model.safetensors", sha256=file_sha256(good))
    target = weights_cache_dir("test-checksum-vit", tmp_path / "cache") / "model.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(good.read_bytes())
    x = images()
    vit = get_backbone("test-checksum-vit", cache_dir=tmp_path / "cache", device="cpu")
    torch.testing.assert_close(vit(x), _cls(src, x))
    data = bytearray(good.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError, match="corrupted .* removed from the cache"):
        get_backbone("test-checksum-vit", cache_dir=tmp_path / "cache")
    assert not target.exists()
    with pytest.raises(WeightsNotFoundError):
        get_backbone("test-checksum-vit", cache_dir=tmp_path / "cache")


def test_torchvision_checksum_prefix(tmp_path, monkeypatch):
    """The built-in resnet18 entry checks the sha256 prefix torchvision publishes in the file name."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = get_backbone_spec("resnet18")
    target = weights_cache_dir("resnet18", tmp_path) / spec.weights_filename
    target.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18().state_dict(), target)  # right format, wrong (random) weights
    with pytest.raises(WeightsChecksumError, match=f"does not match the known {spec.sha256}"):
        get_backbone("resnet18", cache_dir=tmp_path)
    assert not target.exists()


@pytest.mark.parametrize("name, filename, url", [
    ("msn", "pytorch_model.bin", "https://huggingface.co/facebook/vit-msn-base/resolve/main/pytorch_model.bin"),
    ("dino", "model.safetensors",
     "https://huggingface.co/timm/vit_base_patch16_224.dino/resolve/main/model.safetensors"),
    ("resnet50", None, "https://download.pytorch.org/models/resnet50-"),
])
def test_offline_missing_weights_fail_fast(tmp_path, monkeypatch, name, filename, url):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    filename = filename or get_backbone_spec(name).weights_filename
    with pytest.raises(WeightsNotFoundError) as info:
        get_backbone(name, cache_dir=tmp_path)
    message = str(info.value)
    assert url in message
    assert str(weights_cache_dir(name, tmp_path) / filename) in message
    assert "HF_HUB_OFFLINE" in message and "weights=<path" in message
    assert "backbone='astrofmx-radio'" in message  # the way to go on offline: the shipped backbone


def test_offline_check_builds_no_model(tmp_path, monkeypatch):
    """Resolving missing weights offline fails before any model is built."""
    from astrofmx.backbones import _registry, resolve_pretrained_file

    monkeypatch.setenv("ASTROFMX_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="msn"):
        resolve_pretrained_file(get_backbone_spec("msn"), cache_dir=tmp_path)

    def no_build(*args, **kwargs):
        raise AssertionError("a model was built")

    spec, _ = _registry._REGISTRY["msn"]
    monkeypatch.setitem(_registry._REGISTRY, "msn", (spec, no_build))
    with pytest.raises(WeightsNotFoundError, match="msn"):
        get_backbone("msn", cache_dir=tmp_path)


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTROFMX_CACHE", str(tmp_path / "envcache"))
    assert weights_cache_dir("msn") == tmp_path / "envcache" / "weights" / "msn"


def test_load_weights_directly(tmp_path):
    src = _source_vit(13)
    save_file(src.state_dict(), str(tmp_path / "w.safetensors"))
    vit = get_backbone("mae", weights=None, **TINY_VIT)
    assert load_weights(vit, tmp_path / "w.safetensors") == tmp_path / "w.safetensors"
    torch.testing.assert_close(vit(images()), _cls(src, images()))
    (tmp_path / "other.safetensors").write_bytes((tmp_path / "w.safetensors").read_bytes())
    with pytest.raises(ValueError, match="holds several weight files"):
        load_weights(vit, tmp_path)


def test_unreachable_host_fails_fast(tmp_path, monkeypatch):
    """Without the offline switch, an unreachable host is detected by a short connection probe."""
    from astrofmx.backbones import resolve_pretrained_file

    for var in ("HF_HUB_OFFLINE", "ASTROFMX_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    spec = _register_tiny("test-unreachable-vit", weights_source="https://weights.invalid/tiny-vit.pth",
                          weights_filename=None)
    with pytest.raises(WeightsNotFoundError, match=r"(?s)weights.invalid cannot be reached.*https://weights.invalid/"
                                                   r"tiny-vit.pth"):
        resolve_pretrained_file(spec, cache_dir=tmp_path)


def test_download_verify_and_cache(tmp_path, monkeypatch, http_server):
    """weights='pretrained' downloads into the cache, verifies sha256, then reuses the cached file."""
    for var in ("HF_HUB_OFFLINE", "ASTROFMX_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    root, url = http_server
    src = _source_vit(14)
    save_file(src.state_dict(), str(root / "tiny.safetensors"))
    digest = file_sha256(root / "tiny.safetensors")
    _register_tiny("test-download-vit", weights_source=f"{url}/tiny.safetensors", weights_filename=None,
                   sha256=digest)
    cache = tmp_path / "cache"
    vit = get_backbone("test-download-vit", cache_dir=cache, progress_bar=False, device="cpu")
    cached = weights_cache_dir("test-download-vit", cache) / "tiny.safetensors"
    assert cached.is_file() and file_sha256(cached) == digest
    x = images()
    torch.testing.assert_close(vit(x), _cls(src, x))
    (root / "tiny.safetensors").unlink()  # the cached copy is used from now on
    torch.testing.assert_close(get_backbone("test-download-vit", cache_dir=cache, device="cpu")(x), _cls(src, x))
    # a download that does not match its checksum is refused and not kept
    save_file(_source_vit(15).state_dict(), str(root / "tiny.safetensors"))
    cached.unlink()
    with pytest.raises(WeightsChecksumError, match="removed from the cache"):
        get_backbone("test-download-vit", cache_dir=cache, progress_bar=False)
    assert not cached.exists()


def test_builtin_specs_match_the_libraries():
    """The specs are written out (listing imports neither library); they agree with timm and torchvision."""
    for name in ("resnet18", "resnet50"):
        spec = get_backbone_spec(name)
        enum_name, member = spec.weights_source[len("torchvision:"):].split(".")
        url = getattr(getattr(torchvision.models, enum_name), member).url
        assert url.rsplit("/", 1)[-1] == spec.weights_filename and spec.sha256 in spec.weights_filename
    for name in ("dino", "dinov2", "mae"):
        spec = get_backbone_spec(name)
        cfg = timm.models.get_pretrained_cfg(spec.weights_source[len("timm:"):])
        assert cfg.license == spec.license and (cfg.hf_hub_filename or "model.safetensors") == spec.weights_filename


def test_weights_cached(tmp_path):
    assert weights_cached("resnet18", tmp_path) is False
    folder = weights_cache_dir("resnet18", tmp_path)
    folder.mkdir(parents=True)
    (folder / get_backbone_spec("resnet18").weights_filename).write_bytes(b"x")
    assert weights_cached("resnet18", tmp_path) is True
    _register_tiny("test-no-source-vit", weights_source="")
    assert weights_cached("test-no-source-vit", tmp_path) is None


def test_timm_loads_its_own_weights_from_the_cache(tmp_path, monkeypatch):
    """A timm source: the cached safetensors file goes through timm.models.load_pretrained (timm's filter)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls = []
    original = timm.models.load_pretrained
    monkeypatch.setattr(timm.models, "load_pretrained", lambda *a, **k: calls.append(k) or original(*a, **k))
    src = _source_vit(16)
    _register_tiny("test-timm-vit", weights_source="timm:vit_base_patch16_224.dino",
                   weights_filename="model.safetensors")
    target = weights_cache_dir("test-timm-vit", tmp_path) / "model.safetensors"
    target.parent.mkdir(parents=True)
    save_file(src.state_dict(), str(target))
    vit = get_backbone("test-timm-vit", cache_dir=tmp_path, device="cpu")
    assert calls and calls[0]["pretrained_cfg"]["file"] == str(target)
    x = images()
    torch.testing.assert_close(vit(x), _cls(src, x))


def test_torchvision_loads_its_own_weights_from_the_cache(tmp_path, monkeypatch):
    """A torchvision source: Weights.get_state_dict(check_hash=True, weights_only=True) reads the cached file."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    src = randomize(torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock, [1, 1, 1, 1]), 17).eval()
    spec = dataclasses.replace(get_backbone_spec("resnet18"), name="test-tv-resnet")
    target = weights_cache_dir("test-tv-resnet", tmp_path) / spec.weights_filename
    target.parent.mkdir(parents=True)
    torch.save(src.state_dict(), target)
    spec = dataclasses.replace(spec, sha256=file_sha256(target))  # the tiny file's own digest, not the prefix
    register_backbone(spec, lambda **kw: get_backbone("resnet18", weights=None, device="cpu", layers=(1, 1, 1, 1),
                                                      **kw), overwrite=True)
    net = get_backbone("test-tv-resnet", cache_dir=tmp_path, device="cpu")
    src.fc = torch.nn.Identity()
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(net(x), src(x))


def test_bad_weight_files_are_explained(tmp_path):
    """A text file named .pth, a half-written .safetensors and a corrupted config.json: OSError/ValueError
    naming the file, the problem and the fix (not KeyError '101', SafetensorError or JSONDecodeError)."""
    vit = get_backbone("mae", weights=None, **TINY_VIT)
    text = tmp_path / "model.pth"
    text.write_text("these are not weights\n" * 20)
    with pytest.raises(OSError, match=r"model.pth' is not a checkpoint: .* starts with b'these are no'"):
        get_backbone("mae", weights=text, **TINY_VIT)
    save_file(_source_vit(3).state_dict(), str(tmp_path / "full.safetensors"))
    raw = (tmp_path / "full.safetensors").read_bytes()
    for cut in (len(raw) // 2, 20):  # half-written: data or header cut short
        half = tmp_path / "half.safetensors"
        half.write_bytes(raw[:cut])
        with pytest.raises(OSError, match=rf"half.safetensors' \({cut:,} bytes\): it is truncated, half-written "
                                          r"or not safetensors .*save it again"):
            load_weights(vit, half)
    torch.save({"w": torch.ones(3)}, tmp_path / "ok.pth")
    raw = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(raw[:len(raw) // 2])
    with pytest.raises(OSError, match=r"cut.pth' \(.* bytes\): it is truncated or corrupted"):
        read_checkpoint(tmp_path / "cut.pth")
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes((tmp_path / "full.safetensors").read_bytes())
    (folder / "config.json").write_text('{"model_type": "vit", "hidden_size": ')
    with pytest.raises(ValueError, match=r"config.json' is corrupted: not valid JSON"):
        load_weights(vit, folder)


@pytest.mark.parametrize("name", ["mae", "resnet18"])
def test_own_state_dict_reloads_with_weights(tmp_path, name):
    """``torch.save(backbone.state_dict(), f)`` (keys prefixed 'model.' by the wrapper) reloads with weights=f,
    from .pth and .safetensors, giving the same features."""
    kwargs = TINY_VIT if name == "mae" else {}
    src = get_backbone(name, weights=None, **kwargs)
    randomize(src.model, 5)
    sd = src.state_dict()
    assert all(k.startswith("model.") for k in sd)
    torch.save(sd, tmp_path / "own.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "own.safetensors"))
    for f in ("own.pth", "own.safetensors"):
        again = get_backbone(name, weights=tmp_path / f, **kwargs)
        torch.testing.assert_close(again(images()), src(images()))
