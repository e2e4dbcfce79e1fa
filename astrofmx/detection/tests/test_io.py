import json

import numpy as np
import pytest
import torch

from astrofmx.detection import detect_sources, load_detector, save_detector
from astrofmx.utils import UnsafeCheckpointError, WeightsNotFoundError


@pytest.mark.parametrize("name", ["saved_detector", "saved_detector.safetensors"])
def test_reloaded_detector_gives_identical_outputs(trained_detector, heldout_field, tmp_path, name):
    path = save_detector(trained_detector, tmp_path / name)
    again = load_detector(path, device="cpu")
    assert again.config == trained_detector.config
    assert again.history == trained_detector.history
    assert again.source == str(path)
    torch.manual_seed(0)
    batch = torch.rand(2, 3, 64, 64)
    for a, b in zip(trained_detector.predict(batch), again.predict(batch)):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(a[key], b[key])
    kwargs = dict(progress_bar=False, precision="fp32", tile_size=64, overlap=16)
    cat1 = detect_sources(heldout_field.to_nddata(), model=trained_detector, **kwargs)
    cat2 = detect_sources(heldout_field.to_nddata(), model=path, **kwargs)  # reload by path, no other argument
    assert len(cat1) == len(cat2) > 0
    for col in ("bbox_xmin", "bbox_ymin", "bbox_xmax", "bbox_ymax", "score"):
        np.testing.assert_array_equal(np.asarray(cat1[col]), np.asarray(cat2[col]))
    assert cat2.meta["model"] == str(path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_detector(trained_detector, path)
    save_detector(trained_detector, path, overwrite=True)


def test_bad_files(trained_detector, tmp_path):
    with pytest.raises(WeightsNotFoundError, match="no detector at"):
        load_detector(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotFoundError, match="lacks"):
        load_detector(tmp_path / "empty")
    pickle = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(1)}, pickle)
    with pytest.raises(UnsafeCheckpointError, match="looks like a pickle"):
        load_detector(pickle)
    from safetensors.torch import save_file

    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(1)}, str(plain))
    with pytest.raises(ValueError, match="holds no astrofmx detector configuration"):
        load_detector(plain)
    folder = save_detector(trained_detector, tmp_path / "det")
    data = json.loads((folder / "config.json").read_text())
    data["config"]["pyramid_channels"] = 16  # weights no longer fit
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="do not fit the configured detector"):
        load_detector(folder)
    with pytest.raises(TypeError, match="must be a FasterRCNNDetector"):
        save_detector(torch.nn.Linear(2, 2), tmp_path / "x")


def test_corrupted_detector_files_are_explained(trained_detector, tmp_path):
    """A corrupted config.json, a half-written model.safetensors or .safetensors detector: errors naming the
    file, the problem and the fix, never a bare JSONDecodeError or SafetensorError."""
    folder = save_detector(trained_detector, tmp_path / "det")
    good = (folder / "config.json").read_text()
    (folder / "config.json").write_text(good[:len(good) // 2])
    with pytest.raises(ValueError, match=r"det/config.json' is corrupted: not valid JSON .* save the detector "
                                         r"again"):
        load_detector(folder)
    (folder / "config.json").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(ValueError, match=r"config.json' is not a text \(JSON\) file"):
        load_detector(folder)
    (folder / "config.json").write_text('{"format": "astrofmx-detector/1", "config": {"tile_size": -3}}')
    with pytest.raises(ValueError, match=r"config.json' does not describe a valid detector"):
        load_detector(folder)
    (folder / "config.json").write_text(good)
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[:len(weights) // 2])
    with pytest.raises(OSError, match=r"model.safetensors': the safetensors file is truncated or corrupted"):
        load_detector(folder)
    single = save_detector(trained_detector, tmp_path / "one.safetensors")
    raw = single.read_bytes()
    single.write_bytes(raw[:len(raw) // 2])
    with pytest.raises(ValueError, match=r"one.safetensors' is not a safetensors file, or is truncated .* again"):
        load_detector(single)
