"""Building, reloading, extending and querying a real index (hnswlib, memory-mapped vectors) of simulated fields."""

import json

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from astrofmx.preprocess import make_cutouts
from astrofmx.search import SourceIndex, build_index, load_index

from .conftest import gaussian_stamps, tiny_backbone

OPTIONS = dict(cutout_size=32, progress_bar=False, precision="fp32", batch_size=16)


@pytest.fixture(scope="module")
def built(tmp_path_factory, fields, vit):
    path = tmp_path_factory.mktemp("idx") / "survey.idx"
    (file1, truth1), _ = fields
    index = build_index(file1, output=path, catalog=truth1, backbone=vit, **OPTIONS)
    return path, index


def test_build_reload_and_provenance(built, fields):
    path, index = built
    (file1, truth1), _ = fields
    reloaded = load_index(path)
    assert isinstance(reloaded, SourceIndex) and len(reloaded) == len(index) > 0
    assert isinstance(reloaded.vectors, np.memmap) and reloaded.vectors.shape == (len(index), 32)
    np.testing.assert_allclose(np.linalg.norm(reloaded.vectors, axis=1), 1.0, rtol=1e-5)
    meta = json.loads((path / "index.json").read_text())
    assert meta["backbone"] == "msn" and meta["n"] == len(index) and meta["dim"] == 32
    src = reloaded.sources
    inside = (truth1["x_centroid"] > -0.5) & (truth1["x_centroid"] < 127.5) & (truth1["y_centroid"] > -0.5) & \
        (truth1["y_centroid"] < 127.5)
    assert len(src) == int(inside.sum())
    assert set(src["file"]) == {str(file1)} and set(src["hdu"]) == {0}
    rows = np.asarray(src["catalog_row"])
    np.testing.assert_allclose(src["x_centroid"], truth1["x_centroid"][rows], atol=1e-6)
    sep = src["sky_centroid"].separation(truth1["sky_centroid"][rows])
    assert np.all(sep < 0.01 * u.arcsec)


def test_similar_by_row_sky_and_image(built, fields, vit):
    path, _ = built
    index = load_index(path)
    hits = index.similar(3, k=5)
    assert hits["rank"].tolist() == [1, 2, 3, 4, 5] and 3 not in hits["row"]
    assert np.all(np.diff(hits["distance"]) >= 0) and hits.meta["query_row"] == 3
    # the same distances as a direct computation on the stored vectors
    expected = 1 - index.vectors[hits["row"]] @ index.vectors[3]
    np.testing.assert_allclose(hits["distance"], expected, atol=1e-5)
    for name in ("distance", "sky_centroid", "x_centroid", "y_centroid", "file", "hdu", "row"):
        assert name in hits.colnames
    # a sky position slightly off source 7 queries source 7
    target = index.sources["sky_centroid"][7]
    near = SkyCoord(target.ra + 1 * u.arcsec, target.dec)
    assert index.similar(near, k=3).meta["query_row"] == 7
    assert index.similar(7, k=3, include_query=True)["row"][0] == 7
    # an image query: the cutout of source 5, embedded again, finds source 5 first
    (file1, _), _ = fields
    src = index.sources
    cutout = make_cutouts(str(file1), [(src["x_centroid"][5], src["y_centroid"][5])], 32)[0]
    hit = index.similar(cutout, k=1, backbone=vit)
    assert hit["row"][0] == 5 and hit["distance"][0] < 1e-4 and hit.meta["query_row"] == -1


def test_bad_queries(built):
    path, _ = built
    index = load_index(path)
    with pytest.raises(ValueError, match="row 9999 is not in the index"):
        index.similar(9999)
    with pytest.raises(ValueError, match="must be a 32 x 32 cutout"):
        index.similar(np.zeros((20, 20), np.float32), backbone=tiny_backbone(0))
    with pytest.raises(TypeError, match="query must be a row number"):
        index.similar("row 3")
    with pytest.raises(ValueError, match="cannot be rebuilt from its name"):
        index.similar(np.zeros((32, 32), np.float32))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.similar(0, k=0)


def test_other_backbone_and_overwrite(built, fields, tmp_path):
    path, index = built
    (file1, truth1), (file2, truth2) = fields
    other = tiny_backbone(seed=1)
    with pytest.raises(ValueError, match="fingerprint"):
        index.add(file2, catalog=truth2, backbone=other, progress_bar=False)
    with pytest.raises(ValueError, match="fingerprint"):
        index.similar(np.zeros((32, 32), np.float32), backbone=other)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        build_index(file1, output=path, catalog=truth1, backbone=other, **OPTIONS)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="is not a source index"):
        build_index(file1, output=tmp_path / "mine", catalog=truth1, backbone=other, overwrite=True, **OPTIONS)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    again = build_index(file1, output=tmp_path / "new", catalog=truth1[:4], backbone=other, **OPTIONS)
    replaced = build_index(file1, output=tmp_path / "new", catalog=truth1[:2], backbone=other, overwrite=True,
                           **OPTIONS)
    assert (len(again), len(replaced)) == (4, 2)


def test_add_incrementally_and_resume(tmp_path, fields, vit):
    (file1, truth1), (file2, truth2) = fields
    index = build_index(file1, output=tmp_path / "i", catalog=truth1, backbone=vit, **OPTIONS)
    n1 = len(index)
    before = np.array(index.vectors)
    added = index.add([file1, file2], catalog=truth2, backbone=vit, progress_bar=False, precision="fp32")
    # truth2's sky positions are used with each image's WCS: the second field's sources fall in file2
    assert added > 0 and len(index) == n1 + added
    np.testing.assert_array_equal(np.asarray(index.vectors[:n1]), before)
    assert index.add([file1, file2], catalog=truth2, backbone=vit, progress_bar=False, precision="fp32") == 0
    reloaded = load_index(tmp_path / "i")
    assert len(reloaded) == n1 + added and str(file2) in set(reloaded.sources["file"])
    # bytes written after the last commit (a crash mid-add) are ignored and cut off by the next add
    with open(tmp_path / "i" / "vectors.f32", "ab") as fh:
        fh.write(b"\0" * 4 * 32 * 3)
    assert len(load_index(tmp_path / "i")) == n1 + added


def test_empty_index(tmp_path, vit):
    from astropy.table import QTable

    far = QTable({"x_centroid": [500.0], "y_centroid": [500.0]})
    index = build_index(np.zeros((64, 64), np.float32), output=tmp_path / "e", catalog=far, backbone=vit, **OPTIONS)
    assert len(index) == 0
    with pytest.raises(ValueError, match="is empty"):
        index.similar(0)
    with pytest.raises(ValueError, match="is empty"):
        index.outliers()


def test_approximate_graph_matches_exact(tmp_path, vit):
    stamps = gaussian_stamps(60, size=32, seed=3)
    index = build_index(stamps, output=tmp_path / "a", catalog="center", backbone=vit, exact_limit=20, **OPTIONS)
    assert (tmp_path / "a" / "ann.hnsw").exists() and index.meta["ann_n"] == 60
    queries = np.asarray(index.vectors[:10])
    d_exact, r_exact = index.search(queries, 5, exact=True)
    d_graph, r_graph = load_index(tmp_path / "a").search(queries, 5, ef=100)
    np.testing.assert_array_equal(r_graph, r_exact)
    np.testing.assert_allclose(d_graph, d_exact, atol=1e-5)
    index.add(gaussian_stamps(5, size=32, seed=4), catalog="center", backbone=vit, progress_bar=False)
    assert load_index(tmp_path / "a").meta["ann_n"] == 65


def test_identical_images_are_two_sources(tmp_path, vit):
    stamp = gaussian_stamps(1, size=32, seed=5)[0]
    index = build_index([stamp, stamp.copy()], output=tmp_path / "d", catalog="center", backbone=vit, **OPTIONS)
    assert len(index) == 2 and len(set(index.sources["file"])) == 2
    hit = index.similar(0, k=1)
    assert hit["row"][0] == 1 and hit["distance"][0] < 1e-5


def test_default_search_breadth_grows_with_the_graph(tmp_path):
    """64 up to 100k vectors, 4x per decade above (256 at 1M, where 64 gave recall@10 0.78 and 256 gave 0.96)."""
    from astrofmx.search._vectors import default_ef, graph_search, update_graph

    assert [default_ef(n) for n in (1, 100_000, 1_000_000, 10_000_000)] == [64, 64, 256, 1024]
    assert default_ef(10**12) == 2048 and default_ef(316_228) == 129
    vectors = np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    graph = update_graph(tmp_path / "g.hnsw", vectors, 0, threads=1)
    _, rows = graph_search(graph, vectors[:3], 5)
    assert graph.ef == 64 and rows[:, 0].tolist() == [0, 1, 2]
    graph_search(graph, vectors[:1], 100)  # never narrower than k
    assert graph.ef == 100


def test_rotation_invariant_index(tmp_path, vit):
    """Averaged over the 8 flips and rotations, a source and its rotated copy get one vector; by default not."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:32, :32]
    # an asymmetric source: a core and one lobe to its upper right
    stamp = (np.exp(-((xx - 15.5) ** 2 + (yy - 15.5) ** 2) / 4.0)
             + 0.6 * np.exp(-((xx - 24) ** 2 + (yy - 9) ** 2) / 6.0)
             + 0.02 * rng.normal(size=(32, 32))).astype(np.float32)
    turned = np.rot90(stamp).copy()
    stamps = [stamp, turned, np.fliplr(stamp).copy()] + gaussian_stamps(5, size=32, seed=8)
    plain = build_index(stamps, output=tmp_path / "plain", catalog="center", backbone=vit, **OPTIONS)
    inv = build_index(stamps, output=tmp_path / "inv", catalog="center", backbone=vit, rotation_invariant=True,
                      **OPTIONS)
    assert plain.meta["orientations"] == 1 and load_index(tmp_path / "inv").meta["orientations"] == 8
    v = np.asarray(inv.vectors)
    np.testing.assert_allclose(v[1], v[0], atol=1e-5)
    np.testing.assert_allclose(v[2], v[0], atol=1e-5)
    p = np.asarray(plain.vectors)
    assert 1 - float(p[0] @ p[1]) > 1e-3  # the plain vectors do depend on the orientation
    # a query image is embedded as the index was: the rotated source is at distance 0 from the original
    hits = load_index(tmp_path / "inv").similar(np.rot90(stamp, 2).copy(), k=3, backbone=vit)
    assert set(np.asarray(hits["row"])[:3].tolist()) == {0, 1, 2}
    assert float(np.max(hits["distance"][:3])) < 1e-4
    with pytest.raises(TypeError, match="rotation_invariant must be True or False, got 'yes'"):
        build_index(stamps, output=tmp_path / "bad", catalog="center", backbone=vit, rotation_invariant="yes",
                    **OPTIONS)
    assert not (tmp_path / "bad").exists()
