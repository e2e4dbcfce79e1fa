"""Benchmarks of astrofmx.search: approximate vs exact search, the vector libraries, MiraBest retrieval, anomalies.

Sections (``--sections``, default all):

- ``ann``: ``--n`` random-but-clustered unit vectors (float32, written to a
  memmap) of each ``--dims``; the HNSW graph astrofmx builds (hnswlib, M=16,
  ef_construction=100) against the exact scan of the memmap: recall@10,
  query latency (one query at a time) and throughput (a batch), build
  throughput, graph size and peak memory.
- ``libraries``: hnswlib, faiss-cpu and usearch HNSW at the same settings on
  ``--lib-n`` vectors: how the library was chosen.
- ``mirabest``: same-class precision@10 of ``similar(row)`` over the 792
  MiraBest confident FR I/FR II images, for a random-init backbone and for
  ``astrofmx-radio`` when it is registered.
- ``anomalies``: a simulated radio survey with injected rings and giant
  doubles: their enrichment in the top 1% of ``outliers()`` over random, for
  each method, and after one round of feedback.

    python benchmarks/bench_search.py --n 100000 --sections ann libraries
    nohup nice -n 5 python benchmarks/bench_search.py --n 1000000 --sections ann > bench_ann.log 2>&1 &
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("ASTROFMX_SHARED_DATA", HERE.parent.parent / "shared" / "data"))


def _table(title, header, rows):
    print(f"\n## {title}\n")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)] if rows else \
        [len(h) for h in header]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |")
    sys.stdout.flush()


def _rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def clustered_vectors(path, n, dim, *, n_clusters=1000, spread=1.0, seed=0, chunk=100000):
    """``n`` unit vectors around ``n_clusters`` random centres, written to a float32 memmap at ``path``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_clusters, dim)).astype(np.float32)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = centres[rng.integers(0, n_clusters, m)] + spread * rng.normal(size=(m, dim)).astype(np.float32)
        out[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    queries = centres[rng.integers(0, n_clusters, 200)] + spread * rng.normal(size=(200, dim)).astype(np.float32)
    return np.load(path, mmap_mode="r"), queries / np.linalg.norm(queries, axis=1, keepdims=True)


def _recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def bench_ann(args):
    from astrofmx.search._vectors import exact_search, graph_search, update_graph

    rows = []
    for dim in args.dims:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            t0 = time.perf_counter()
            vectors, queries = clustered_vectors(Path(tmp) / "v.npy", args.n, dim, seed=dim)
            print(f"[ann] {args.n} x {dim} vectors written in {time.perf_counter() - t0:.0f} s", flush=True)
            queries = queries[:args.queries]
            t0 = time.perf_counter()
            _, truth = exact_search(vectors, queries, 10)
            exact_batch = (time.perf_counter() - t0) / len(queries)
            t0 = time.perf_counter()
            for q in queries[:5]:
                exact_search(vectors, q, 10)
            exact_one = (time.perf_counter() - t0) / 5
            t0 = time.perf_counter()
            graph = update_graph(Path(tmp) / "g.hnsw", vectors, 0, threads=args.threads, progress_bar=False)
            build = time.perf_counter() - t0
            size = (Path(tmp) / "g.hnsw").stat().st_size / 2 ** 30
            print(f"[ann] dim {dim}: graph built in {build:.0f} s", flush=True)
            graph.set_num_threads(1)
            for ef in args.efs:
                graph_search(graph, queries[:5], 10, ef)
                t0 = time.perf_counter()
                found = np.vstack([graph_search(graph, q, 10, ef)[1] for q in queries])
                one = (time.perf_counter() - t0) / len(queries)
                t0 = time.perf_counter()
                graph_search(graph, queries, 10, ef)
                batch = (time.perf_counter() - t0) / len(queries)
                rows.append([args.n, dim, ef, f"{_recall(found, truth):.3f}", f"{one * 1e3:.2f}",
                             f"{exact_one * 1e3:.0f}", f"{exact_one / one:.0f}x", f"{batch * 1e3:.2f}",
                             f"{exact_batch * 1e3:.1f}", f"{exact_batch / batch:.0f}x", f"{args.n / build:.0f}",
                             f"{size:.2f}", f"{_rss_gib():.1f}"])
            del graph
    _table("approximate (HNSW, hnswlib) vs exact search, recall@10 over "
           f"{args.queries} queries, {args.threads} build threads, query: 1 thread",
           ["n", "dim", "ef", "recall@10", "HNSW ms/query", "exact ms/query", "speed-up", "HNSW ms/q (batch)",
            "exact ms/q (batch)", "speed-up (batch)", "build vectors/s", "graph GiB", "peak RSS GiB"], rows)


def bench_libraries(args):
    from astrofmx.search._vectors import exact_search

    dim, n, ef = 384, args.lib_n, 64
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        x, q = clustered_vectors(Path(tmp) / "v.npy", n, dim, seed=1)
        x = np.asarray(x)
        q = q[:args.queries]
        _, truth = exact_search(x, q, 10)
        rows = []

        def run(name, build, search):
            t0 = time.perf_counter()
            index = build()
            tb = time.perf_counter() - t0
            t0 = time.perf_counter()
            found = np.vstack([search(index, v) for v in q])
            tq = (time.perf_counter() - t0) / len(q)
            rows.append([name, n, dim, f"{n / tb:.0f}", f"{_recall(found, truth):.3f}", f"{tq * 1e3:.3f}"])

        try:
            import hnswlib

            def hb():
                g = hnswlib.Index(space="ip", dim=dim)
                g.init_index(n, M=16, ef_construction=100, random_seed=0)
                g.set_num_threads(1)
                g.add_items(x)
                g.set_ef(ef)
                return g
            run(f"hnswlib {hnswlib.__version__ if hasattr(hnswlib, '__version__') else ''}".strip(), hb,
                lambda g, v: g.knn_query(v[None], k=10)[0][0])
        except ImportError:
            print("[libraries] hnswlib not installed")
        try:
            import faiss

            def fb():
                faiss.omp_set_num_threads(1)
                g = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
                g.hnsw.efConstruction = 100
                g.add(x)
                g.hnsw.efSearch = ef
                return g
            run(f"faiss-cpu {faiss.__version__}", fb, lambda g, v: g.search(v[None], 10)[1][0])
        except ImportError:
            print("[libraries] faiss-cpu not installed")
        try:
            import usearch
            from usearch.index import Index

            def ub():
                g = Index(ndim=dim, metric="ip", connectivity=16, expansion_add=100, dtype="f32")
                g.add(np.arange(n), x, threads=1)
                g.expansion_search = ef
                return g
            run(f"usearch {usearch.__version__}", ub, lambda g, v: g.search(v, 10, threads=1).keys)
        except ImportError:
            print("[libraries] usearch not installed")
    _table(f"HNSW libraries, M=16, ef_construction=100, ef=64, 1 thread ({args.queries} queries)",
           ["library", "n", "dim", "build vectors/s", "recall@10", "ms/query"], rows)


def _backbone(name, weights):
    import torch

    from astrofmx.backbones import get_backbone

    torch.manual_seed(0)
    return get_backbone(name, weights=weights, device="cpu", progress_bar=False)


def _pretrained_backbone(name):
    """``name`` with its own weights (a shipped or cached backbone such as astrofmx-radio; no download)."""
    from astrofmx.backbones import get_backbone

    return get_backbone(name, device="cpu", progress_bar=False)


def bench_mirabest(args):
    from astrofmx.backbones import list_backbones
    from astrofmx.search import build_index

    file = DATA / "radio" / "mirabest" / "mirabest_confident.npz"
    if not file.exists():
        print(f"[mirabest] skipped: {file} not found (set ASTROFMX_SHARED_DATA)")
        return
    data = np.load(file)
    images, labels = data["images"].astype(np.float32), data["labels"]
    if args.mirabest_n:
        images, labels = images[:args.mirabest_n], labels[:args.mirabest_n]
    chance = float(np.mean([np.mean(labels == c) ** 2 for c in np.unique(labels)]) * len(np.unique(labels)))
    rows = []
    candidates = [(f"{args.backbone} (random init)", args.backbone, None)]
    if "astrofmx-radio" in list_backbones():
        candidates.append(("astrofmx-radio", "astrofmx-radio", "pretrained"))
    else:
        print("[mirabest] astrofmx-radio is not registered (list_backbones()): its row is skipped")
    for label, name, weights in candidates:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            t0 = time.perf_counter()
            index = build_index(list(images), output=Path(tmp) / "mb", catalog="center",
                                backbone=_backbone(name, weights),
                                cutout_size=150, normalizer="radio", progress_bar=False, batch_size=32)
            took = time.perf_counter() - t0
            precision = []
            for row in range(len(index)):
                hits = index.similar(row, k=10)
                precision.append(np.mean(labels[np.asarray(hits["row"])] == labels[row]))
            rows.append([label, len(index), index.dim, f"{np.mean(precision):.3f}", f"{chance:.3f}",
                         f"{len(index) / took:.1f}"])
    _table("MiraBest confident: same-class precision@10 of similar(row) (query left out)",
           ["backbone", "images", "dim", "precision@10", "chance", "images/s indexed"], rows)


def _inject(image, x, y, kind, peak, beam_px, rng):
    """Add a ring or a giant double (two lobes and a core) centred on (x, y)."""
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
    sigma = beam_px / 2.355
    if kind == "ring":
        radius = rng.uniform(7, 12)
        r = np.hypot(xx - x, yy - y)
        image += peak * np.exp(-(r - radius) ** 2 / (2 * sigma ** 2))
    else:
        half, theta = rng.uniform(20, 28), rng.uniform(0, np.pi)
        for sign in (-1, 1):
            lx, ly = x + sign * half * np.cos(theta), y + sign * half * np.sin(theta)
            image += peak * np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (1.8 * sigma) ** 2))
        image += 0.5 * peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))


def simulated_survey(n_fields, n_sources, n_inject, seed=0, shape=(256, 256)):
    """Radio fields with ``n_inject`` rings / giant doubles spread over them: (images, catalogs, is_injected)."""
    from astropy.nddata import NDData
    from astropy.table import QTable

    from astrofmx.datasets import simulate_radio_field

    rng = np.random.default_rng(seed)
    per_field = np.bincount(rng.integers(0, n_fields, n_inject), minlength=n_fields)
    images, catalogs, injected = [], [], []
    for i in range(n_fields):
        field = simulate_radio_field(shape, seed=seed + i, n_sources=n_sources)
        data = field.data.astype(np.float64)
        truth = field.truth
        beam_px = float((field.beam[0] / (abs(field.header["CDELT1"]) * 3600 * field.beam[0].unit)).value)
        xs, ys = list(truth["x_centroid"]), list(truth["y_centroid"])
        peaks = np.asarray(truth["peak_flux"].value if hasattr(truth["peak_flux"], "value") else truth["peak_flux"])
        flags = [False] * len(xs)
        for _ in range(per_field[i]):
            x, y = rng.uniform(40, shape[1] - 40), rng.uniform(40, shape[0] - 40)
            kind = rng.choice(["ring", "giant double"])
            _inject(data, x, y, kind, float(np.median(peaks)) * rng.uniform(1, 3), beam_px, rng)
            xs.append(x), ys.append(y), flags.append(True)
        images.append(NDData(data.astype(np.float32), wcs=field.wcs, meta=dict(field.header)))
        catalogs.append(QTable({"x_centroid": xs, "y_centroid": ys}))
        injected.extend(flags)
    return images, catalogs, np.array(injected)


def bench_anomalies(args):
    from astrofmx.search import build_index

    images, catalogs, injected = simulated_survey(args.fields, args.sources, args.inject, seed=7,
                                                  shape=(args.field_size, args.field_size))
    model = _pretrained_backbone(args.backbone) if args.pretrained else _backbone(args.backbone, None)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        index = None
        t0 = time.perf_counter()
        for i, (image, catalog) in enumerate(zip(images, catalogs)):
            if index is None:
                index = build_index(image, output=Path(tmp) / "sim", catalog=catalog, backbone=model, cutout_size=64,
                                    normalizer="radio", progress_bar=False, ids=[f"field{i}"],
                                    rotation_invariant=args.rotation_invariant)
            else:
                index.add(image, catalog=catalog, backbone=model, ids=[f"field{i}"], progress_bar=False)
        print(f"[anomalies] indexed {len(index)} sources in {time.perf_counter() - t0:.0f} s", flush=True)
        flags = injected[np.asarray(index.sources["catalog_row"]) + _offsets(index, catalogs)]
        masked = np.asarray(index.sources["masked_fraction"])
        ranked_set = masked <= 0.05  # outliers() leaves out cutouts cut by the image edge
        top = max(1, int(round(0.01 * ranked_set.sum())))
        base = flags[ranked_set].mean()
        rows = []
        for method in ("iforest", "lof", "knn"):
            for nc in args.n_components:
                ranked = index.outliers(n=top, method=method, n_components=nc)
                hit = flags[np.asarray(ranked["row"])].mean()
                rows.append([method, nc, int(ranked_set.sum()), int(flags.sum()), top, int(round(hit * top)),
                             f"{hit / base:.1f}x"])
        # one round of feedback on the top 1% of iforest: injected ones interesting, the others not
        nc = args.n_components[0]
        ranked = index.outliers(n=top, method="iforest", n_components=nc)
        index.feedback(ranked["row"], flags[np.asarray(ranked["row"])].astype(int))
        ranked = index.outliers(n=3 * top, method="iforest", n_components=nc)
        unseen = ranked[ranked["label"] < 0][:top]
        hit = flags[np.asarray(unseen["row"])].mean()
        rows.append(["iforest + feedback (next 1%, unlabelled)", nc, int(ranked_set.sum()), int(flags.sum()),
                     len(unseen), int(round(hit * len(unseen))), f"{hit / base:.1f}x"])
    state = "its shipped/cached weights" if args.pretrained else "random init"
    if args.rotation_invariant:
        state += ", embeddings averaged over the 8 flips and rotations"
    _table(f"anomalies: injected rings / giant doubles in the top 1% of outliers() ({args.backbone} {state}, "
           "64-px cutouts at the true positions)",
           ["method", "PCA dims", "sources ranked", "injected", "top 1%", "injected in top", "enrichment vs random"],
           rows)


def _offsets(index, catalogs):
    starts = np.cumsum([0] + [len(c) for c in catalogs])
    field = np.array([int(f.replace("field", "")) for f in index.sources["file"]])
    return starts[field]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["ann", "libraries", "mirabest", "anomalies"],
                   choices=["ann", "libraries", "mirabest", "anomalies"])
    p.add_argument("--n", type=int, default=1000000, help="vectors of the ann section (default 1M)")
    p.add_argument("--dims", type=int, nargs="+", default=[384, 768])
    p.add_argument("--efs", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--threads", type=int, default=2, help="threads building the graph")
    p.add_argument("--lib-n", type=int, default=50000, help="vectors of the libraries section")
    p.add_argument("--backbone", default="resnet18", help="random-init backbone (mirabest, anomalies)")
    p.add_argument("--pretrained", action="store_true",
                   help="anomalies: the backbone with its own weights (e.g. --backbone astrofmx-radio)")
    p.add_argument("--rotation-invariant", action="store_true",
                   help="anomalies: embed each cutout as the mean of its 8 flips and rotations")
    p.add_argument("--mirabest-n", type=int, default=0, help="use the first N MiraBest images (0: all)")
    p.add_argument("--fields", type=int, default=8)
    p.add_argument("--field-size", type=int, default=512, help="pixels on a side of each simulated field")
    p.add_argument("--sources", type=int, default=200, help="simulated sources per field")
    p.add_argument("--inject", type=int, default=24, help="rings / giant doubles injected over the survey")
    p.add_argument("--n-components", type=int, nargs="+", default=[16], help="PCA dims of outliers()")
    p.add_argument("--tmp", default=None, help="folder for the temporary memmaps")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    print(f"# bench_search: {args.sections}, n={args.n}, dims={args.dims}; machine: {os.cpu_count()} CPUs "
          f"(shared with other jobs: compare the ratios, not absolute times)")
    for section in args.sections:
        globals()[f"bench_{section}"](args)


if __name__ == "__main__":
    main()
