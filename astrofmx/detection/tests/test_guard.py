"""Image and tile sizes: tiny crops padded with noise, huge tiles clamped to the image, memory checked."""

import numpy as np
import pytest

from astrofmx.detection import detect_sources
from astrofmx.detection._guard import MIN_SIDE, _check_memory, _pad_small

from .conftest import simulated_field


@pytest.mark.parametrize("size", [16, 24, 32])
def test_small_crops_find_their_sources(size):
    """Tiny crops holding three clear sources (S/N >= 30): each found within 2 px, nothing found in the padding
    (every detection on the image), about one detection per source."""
    from astrofmx.datasets import simulate_radio_field

    matched = n_truth = n_found = 0
    for seed in (0, 1, 3):
        field = simulate_radio_field((size, size), seed=seed, n_sources=3, extended_fraction=0.0,
                                     double_fraction=0.0, flux_min_snr=30)
        cat = detect_sources(field.to_nddata(), progress_bar=False)
        assert "padded with noise to 64x64" in cat.meta["preprocessing"]
        x, y = np.asarray(cat["x_centroid"].value), np.asarray(cat["y_centroid"].value)
        assert np.all((x > -0.5) & (x < size - 0.5) & (y > -0.5) & (y < size - 0.5))
        tx, ty = np.asarray(field.truth["x_centroid"]), np.asarray(field.truth["y_centroid"])
        d = np.hypot(tx[:, None] - x[None], ty[:, None] - y[None]) if len(x) else np.full((len(tx), 1), np.inf)
        matched += int((d.min(axis=1) < 2).sum())
        n_truth += len(tx)
        n_found += len(x)
    assert matched == n_truth == 9
    assert n_found <= n_truth + 1


def test_padding_is_noise_around_the_image():
    """The image sits unchanged in the middle; the padding has the image's background level and noise."""
    from astropy.nddata import NDData

    rng = np.random.default_rng(4)
    data = (5.0 + 0.2 * rng.standard_normal((20, 70))).astype(np.float32)
    data[10, 30] = 50.0  # a source does not bias the noise estimate
    work, (py, px) = _pad_small(NDData(data))
    assert work.data.shape == (MIN_SIDE, 70) and (py, px) == (22, 0)
    np.testing.assert_array_equal(work.data[py:py + 20], data)
    pad = np.concatenate([work.data[:py].ravel(), work.data[py + 20:].ravel()])
    assert abs(np.median(pad) - 5.0) < 0.03 and abs(np.std(pad) - 0.2) < 0.02 and pad.max() < 6.5
    same, pad_none = _pad_small(NDData(np.ones((MIN_SIDE, MIN_SIDE))))
    assert pad_none is None


def test_huge_tile_is_clamped_to_the_image():
    """tile_size=100000 on a 256x256 image runs as one tile, clamped to the larger of the image and the
    detector's own tile (no 37 GiB allocation), with the catalog of that tile size."""
    from astrofmx.detection import get_default_detector

    field = simulated_field((256, 256), seed=2, n_sources=15)
    clamped = max(256, get_default_detector().config.inference_tile_size)
    huge = detect_sources(field.to_nddata(), tile_size=100000, progress_bar=False)
    assert huge.meta["n_tiles"] == 1 and f"tile_size={clamped};" in huge.meta["preprocessing"]
    same = detect_sources(field.to_nddata(), tile_size=clamped, progress_bar=False)
    assert len(huge) == len(same) > 0
    np.testing.assert_array_equal(np.asarray(huge["bbox_xmin"]), np.asarray(same["bbox_xmin"]))


def test_memory_is_checked_before_allocating():
    """A tile too large for the free memory is refused before anything is allocated (API), and the error says
    what to change; an 'auto' batch is lowered to what fits, a given one refused."""
    rng = np.random.default_rng(0)
    strip = rng.standard_normal((64, 60000)).astype(np.float32)
    with pytest.raises(ValueError, match=r"one tile of 60000x60000 model pixels .* GiB of memory on cpu, but only "
                                         r".* GiB is free; use a smaller tile_size"):
        detect_sources(strip, tile_size=60000, progress_bar=False, device="cpu")
    gib = 2 ** 30
    assert _check_memory("cpu", 256, 1.0, 8, auto=True, available=gib) == 8  # 8 x 66 MB fit in 1 GiB
    fit = int(0.8 * 4 * gib // (1000 * 1024 ** 2))  # 1024-px tiles of ~1 GB in 4 GiB
    assert fit == 3 and _check_memory("cpu", 1024, 1.0, 8, auto=True, available=4 * gib) == fit
    with pytest.raises(ValueError, match=r"batch_size=8 tiles of 1024x1024 model pixels need about 7.8 GiB of "
                                         r"memory on cpu, but only 4.0 GiB is free; use batch_size=3 or less"):
        _check_memory("cpu", 1024, 1.0, 8, available=4 * gib)
