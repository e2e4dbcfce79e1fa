import types

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import NDData

from astrofmx.io import load_image
from astrofmx.preprocess import TileGrid, iter_tiles, tile_to_image, upscale

from .conftest import make_wcs


@pytest.mark.parametrize("edge", ["shift", "pad"])
def test_grid_covers_everything_with_overlap(edge, rng):
    for _ in range(30):
        shape = tuple(int(n) for n in rng.integers(1, 700, 2))
        tile = int(rng.integers(16, 300))
        overlap = int(rng.integers(0, tile))
        grid = TileGrid(shape, tile, overlap, edge=edge)
        cover = np.zeros(shape, int)
        for _, _, y0, x0 in grid:
            cover[y0:y0 + tile, x0:x0 + tile] += 1
        assert cover.min() >= 1, (shape, tile, overlap)
        assert len(grid) == len(list(grid)) == len(grid.positions)
        for starts, n in ((grid.starts_x, shape[1]), (grid.starts_y, shape[0])):
            steps = np.diff(starts)
            assert np.all(steps > 0) and np.all(steps <= tile - overlap)
            if edge == "shift" and n >= tile:
                assert starts[-1] + tile == n


def test_iter_tiles_is_lazy_and_views(rng):
    data = rng.random((300, 500)).astype(np.float32)
    tiles = iter_tiles(data, tile_size=128, overlap=16)
    assert isinstance(tiles, types.GeneratorType)
    seen = 0
    for t in tiles:
        assert np.shares_memory(t.data, data)
        np.testing.assert_array_equal(t.data, data[t.slices])
        assert t.shape == (128, 128) and not t.padded and t.wcs is None
        seen += 1
    assert seen == len(TileGrid(data.shape, 128, 16))


def test_padded_tiles_and_stacks(rng):
    stack = rng.random((3, 100, 130)).astype(np.float32)
    tiles = list(iter_tiles(stack, tile_size=64, edge="pad", fill_value=-1.0))
    last = tiles[-1]
    assert last.padded and last.data.shape == (3, 64, 64)
    ny, nx = 100 - last.y0, 130 - last.x0
    np.testing.assert_array_equal(last.data[:, :ny, :nx], stack[:, last.y0:, last.x0:])
    assert np.all(last.data[:, ny:, :] == -1.0) and last.mask[:, ny:, :].all()
    assert not last.mask[:, :ny, :nx].any()
    small = list(iter_tiles(np.ones((20, 30), np.float32), tile_size=64))
    assert len(small) == 1 and small[0].padded and small[0].mask[20:, :].all()


def test_tile_wcs_and_sky_round_trip(radio_field):
    """A sky position through tiling, 3.5x upscaling and back agrees to 1e-6 pixel."""
    wcs = radio_field.wcs
    sky = wcs.pixel_to_world(137.3, 101.8)
    for tile in iter_tiles(radio_field, tile_size=64, overlap=8):
        x_img, y_img = wcs.world_to_pixel(sky)
        if not (tile.x0 <= x_img < tile.x0 + 64 and tile.y0 <= y_img < tile.y0 + 64):
            continue
        np.testing.assert_allclose(tile.wcs.world_to_pixel(sky), (x_img - tile.x0, y_img - tile.y0), atol=1e-8)
        up, mapping = upscale(tile.data, 3.5)
        xm, ym = tile.from_sky(sky, scale=mapping.scale_x)
        xb, yb = tile.to_image(xm, ym, scale=mapping.scale_x)
        assert abs(xb - x_img) < 1e-6 and abs(yb - y_img) < 1e-6
        back = tile.to_sky(xm, ym, scale=mapping.scale_x)
        assert back.separation(sky).arcsec < 1e-6 * 1.0  # 1 arcsec pixels
        # the upscaled tile's own WCS puts the source at the same model pixel
        model_wcs = tile.mapping(mapping.scale_x).model_wcs(wcs, shape=up.shape)
        np.testing.assert_allclose(model_wcs.world_to_pixel(sky), (xm, ym), atol=1e-6)
        boxes = tile.boxes_to_image([[xm - 7, ym - 7, xm + 7, ym + 7]], scale=mapping.scale_x)
        np.testing.assert_allclose(boxes.mean(axis=0)[[0, 1]] + (boxes[0, 2:] - boxes[0, :2]) / 2,
                                   (x_img, y_img), atol=1e-6)
        break
    else:  # pragma: no cover
        pytest.fail("no tile contains the position")


def test_tiles_of_real_image_with_mask(shared_data):
    image = load_image(shared_data / "radio/aegean/1904-66_SIN.fits")
    total = 0
    for tile in iter_tiles(image, tile_size=100, overlap=10):
        np.testing.assert_array_equal(tile.mask, image.mask[tile.slices])
        ra, dec = tile.wcs.pixel_to_world_values(5.0, 7.0)
        np.testing.assert_allclose(image.wcs.pixel_to_world_values(tile.x0 + 5.0, tile.y0 + 7.0), (ra, dec))
        total += 1
    assert total == 9
    assert isinstance(tile.to_sky(0, 0), SkyCoord)


def test_tile_to_image():
    out = tile_to_image([[0.0, 0.0], [10.0, 5.0]], x0=512, y0=256, scale=2.0)
    np.testing.assert_allclose(out, [[511.75, 255.75], [516.75, 258.25]])
    boxes = tile_to_image([[0.0, 0.0, 20.0, 10.0]], x0=512, y0=256, scale=2.0, convention="edge")
    np.testing.assert_allclose(boxes, [[511.5, 255.5, 521.5, 260.5]])
    with pytest.raises(ValueError, match=r"coords must have shape \(N, 2\) for positions or \(N, 4\)"):
        tile_to_image(np.zeros((2, 3)), x0=0, y0=0)


def test_tiling_errors():
    with pytest.raises(ValueError, match=r"overlap must be >= 0 and smaller than tile_size \(64\), got 64"):
        TileGrid((100, 100), 64, 64)
    with pytest.raises(ValueError, match="tile_size must be positive, got 0"):
        TileGrid((100, 100), 0)
    with pytest.raises(ValueError, match="edge must be one of"):
        TileGrid((100, 100), 64, edge="wrap")
    with pytest.raises(ValueError, match="tile_size must be an int or a"):
        TileGrid((100, 100), 6.5)
    with pytest.raises(ValueError, match=r"image must be 2-D \(H, W\) or 3-D"):
        next(iter_tiles(np.zeros(10), tile_size=4))
    with pytest.raises(TypeError, match="image must be an NDData"):
        next(iter_tiles([1, 2, 3], tile_size=4))
    with pytest.raises(ValueError, match="sky positions of model pixels need a celestial WCS"):
        next(iter_tiles(NDData(np.ones((8, 8))), tile_size=4)).to_sky(0, 0)
    assert make_wcs((4, 4)).naxis == 2


def test_huge_padded_tile_is_refused_before_allocating():
    """A tile_size far beyond the image (100000 on 256x256 padded one tile to 37 GiB) is refused, with the size
    to use, before any allocation; a tile a little larger than the image is still padded as before."""
    from astrofmx.preprocess import iter_tiles
    from astrofmx.preprocess._tiling import _check_padded_tile

    image = np.ones((256, 256), np.float32)
    with pytest.raises(ValueError, match=r"tile_size 1000000x1000000 on a 256x256 image would allocate 4656.6 GiB "
                                         r"per padded tile, .* use a tile_size no larger than the image \(<= 256\)"):
        next(iter(iter_tiles(image, tile_size=1_000_000)))
    tile = next(iter(iter_tiles(image, tile_size=300)))
    assert tile.data.shape == (300, 300) and tile.mask[256:].all() and not tile.mask[:256, :256].any()
    with pytest.raises(ValueError, match="more than half of the 0.0 GiB free"):
        _check_padded_tile((300, 300), 4, (256, 256), free=10_000)
