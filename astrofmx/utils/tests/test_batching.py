"""Memory bound of tile-by-tile processing of one huge image: `map_batches`, proven with LiveCounter."""

import gc
import os
import tracemalloc

import numpy as np
import pytest
from astropy.io import fits

from astrofmx.tests.helpers import LiveCounter
from astrofmx.utils import map_batches

# ----------------------------------------------------------------------------------------------
# memory: one huge memory-mapped image, tile by tile
# ----------------------------------------------------------------------------------------------

def _write_big_fits(path, n, *, rows_per_block=512, seed=0):
    """An n x n float32 FITS image written block by block (never all in memory): noise + 9-pixel sources."""
    header = fits.Header()
    header["SIMPLE"] = True
    header["BITPIX"] = -32
    header["NAXIS"] = 2
    header["NAXIS1"] = n
    header["NAXIS2"] = n
    rng = np.random.default_rng(seed)
    hdu = fits.StreamingHDU(path, header)
    n_sources = 0
    for y0 in range(0, n, rows_per_block):
        block = rng.normal(0.0, 1.0, size=(rows_per_block, n)).astype(np.float32)
        for x in range(64, n, 256):  # one 3x3 source every 256 px along a row in the middle of each block
            block[rows_per_block // 2 - 1:rows_per_block // 2 + 2, x - 1:x + 2] = 100.0
            n_sources += 1
        hdu.write(block)
    hdu.close()
    return n_sources


def _tile_sources(batch):
    """Per-batch work: stack the tiles and count 3x3 blocks above 50 sigma (their centre pixels)."""
    stack = np.stack([t.data for t in batch])
    bright = stack > 50.0
    centre = bright[:, 1:-1, 1:-1] & bright[:, :-2, 1:-1] & bright[:, 2:, 1:-1] \
        & bright[:, 1:-1, :-2] & bright[:, 1:-1, 2:]
    return int(centre.sum())


def _process_memmapped(path, *, batch_size, tile_size=512):
    from astrofmx.preprocess import TileGrid, iter_tiles

    counter = LiveCounter()
    with fits.open(path, memmap=True) as hdul:
        data = hdul[0].data  # a memory map: big-endian float32 on disk, nothing read yet
        n_tiles = len(TileGrid(data.shape, tile_size, 0))
        gc.collect()
        tracemalloc.start()
        try:
            found = sum(map_batches(_tile_sources, counter.wrap(iter_tiles(data, tile_size=tile_size)),
                                    batch_size=batch_size))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        del data
    return counter, n_tiles, found, peak


def test_memory_bound_on_large_memmapped_image(tmp_path):
    batch_size = 4
    small, big = tmp_path / "small.fits", tmp_path / "big.fits"
    n_small = _write_big_fits(small, 2048)
    n_big = _write_big_fits(big, 8192)  # 256 MiB on disk
    try:
        assert os.path.getsize(big) >= 8192 * 8192 * 4
        results = {}
        for name, path, n_src in (("small", small, n_small), ("big", big, n_big)):
            counter, n_tiles, found, peak = _process_memmapped(path, batch_size=batch_size)
            assert counter.total == n_tiles  # every tile was seen...
            assert found == n_src  # ...and processed
            assert counter.live == 0
            results[name] = (counter.peak, peak, os.path.getsize(path))
        tile_bytes = 512 * 512 * 4
        for name, (live_peak, py_peak, size) in results.items():
            # a few tiles at a time, never the image
            assert live_peak <= batch_size + 2, (name, live_peak)
            assert py_peak < (batch_size + 4) * tile_bytes * 3, (name, py_peak)
        # the bound does not grow with the image: 16x more pixels, same live tiles and Python memory
        assert results["big"][0] == results["small"][0]
        assert results["big"][1] < 2 * results["small"][1]
        assert results["big"][1] < results["big"][2] / 20
    finally:
        for path in (small, big):
            path.unlink(missing_ok=True)


def test_live_counter_detects_materialized_tiles():
    """Negative control: the counter sees it when all tiles are held at once (the bound can fail)."""
    from astrofmx.preprocess import iter_tiles

    image = np.zeros((1024, 1024), dtype=np.float32)
    counter = LiveCounter()
    tiles = list(counter.wrap(iter_tiles(image, tile_size=128)))
    assert counter.peak == counter.live == len(tiles) == 64
    del tiles
    assert counter.live == 0
    lazy = LiveCounter()
    assert sum(map_batches(len, lazy.wrap(iter_tiles(image, tile_size=128)), batch_size=8)) == 64
    assert lazy.peak <= 8 + 2 and lazy.total == 64


def test_map_batches_and_live_counter_bad_input():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        list(map_batches(len, range(3), batch_size=0))
    with pytest.raises(TypeError, match="func must be callable"):
        list(map_batches(None, range(3), batch_size=2))
    with pytest.raises(TypeError, match="cannot track a int: it does not support weak references"):
        LiveCounter().track(3)
    assert repr(LiveCounter()) == "LiveCounter(live=0, peak=0, total=0)"
