"""`SourceIndex`: an index of source embeddings on disk, queried for similar sources and for outliers."""

import logging
from numbers import Integral
from pathlib import Path

import numpy as np

from . import _store
from ._build import resolve_backbone, run_inputs
from ._vectors import exact_search, graph_search, load_graph, update_graph

__all__ = ["SourceIndex"]

logger = logging.getLogger(__name__)


class SourceIndex:
    """Embeddings of survey sources with their provenance, for similarity search and anomaly ranking.

    Made by `build_index` or `load_index`. ``len(index)`` is the number of
    sources; a source is named by its ``row`` (0 to ``len(index) - 1``), the
    ``row`` column of every table returned.

    Parameters
    ----------
    path : str or path-like
        The index folder.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from astropy.table import QTable
    >>> from astrofmx.backbones import get_backbone
    >>> from astrofmx.search import build_index, load_index
    >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
    >>> image = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    >>> sources = QTable({"x_centroid": [16.0, 40.0, 50.0], "y_centroid": [16.0, 30.0, 50.0]})
    >>> folder = tempfile.mkdtemp() + "/idx"
    >>> _ = build_index(image, output=folder, catalog=sources, backbone=vit, cutout_size=16, progress_bar=False)
    >>> index = load_index(folder)
    >>> hits = index.similar(0, k=2)
    >>> hits["rank"].tolist(), bool(np.all(hits["distance"] >= 0)), 0 in hits["row"]
    ([1, 2], True, False)
    """

    def __init__(self, path):
        self.path = Path(path)
        self._reload()

    def _reload(self):
        self.meta = _store.read_meta(self.path)
        self._vectors = _store.open_vectors(self.path, self.meta)
        self._thumbs = _store.open_thumbs(self.path, self.meta)
        self._sources = _store.read_sources(self.path)
        self._graph = None

    def __len__(self):
        return int(self.meta["n"])

    def __repr__(self):
        return (f"SourceIndex({str(self.path)!r}, n={len(self)}, backbone={self.backbone!r}, dim={self.dim}, "
                f"cutout_size={self.cutout_size})")

    @property
    def dim(self):
        """Dimension of the vectors."""
        return int(self.meta["dim"])

    @property
    def backbone(self):
        """Registry name of the backbone the vectors come from."""
        return self.meta["backbone"]

    @property
    def cutout_size(self):
        """Side of the cutouts in pixels."""
        return int(self.meta["cutout_size"])

    @property
    def vectors(self):
        """The unit vectors, ``(len(index), dim)`` float32, memory-mapped read-only."""
        return self._vectors

    @property
    def sources(self):
        """The provenance of every source (a new QTable, with a first column ``row``)."""
        return self._table(np.arange(len(self)))

    def _table(self, rows, first=None):
        from astropy.table import QTable

        rows = np.asarray(rows, dtype=np.int64)
        table = QTable(first or {})
        table["row"] = rows
        if self._sources is not None and len(rows):
            part = self._sources[rows]
            for name in part.colnames:
                table[name] = part[name]
        else:
            for name in ("file", "hdu", "catalog_row", "x_centroid", "y_centroid"):
                table[name] = np.zeros(0, dtype=str if name == "file" else float)
        table["width"] = table["height"] = np.full(len(rows), float(self.cutout_size))
        if "size_sky" in table.colnames:
            table["width_sky"] = table["height_sky"] = table["size_sky"]
        table.meta.update(index=str(self.path), backbone=self.backbone, weights=self.meta["weights"])
        return table

    def check_backbone(self, backbone=None, weights=None):
        """The backbone of this index, built from its name or checked against the one given.

        Parameters
        ----------
        backbone : str or `~astrofmx.backbones.Backbone`, optional
            None: rebuild the index's backbone from its name (only for an
            index built with ``weights='pretrained'``).
        weights : optional
            Weights for a backbone given by name (default the index's).

        Returns
        -------
        backbone : `~astrofmx.backbones.Backbone`

        Raises
        ------
        ValueError
            If the backbone differs from the index's (name, dimension or
            weights fingerprint), or none is given for an index built with a
            backbone instance or random weights.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> index = build_index(np.zeros((16, 16), "float32"), output=tempfile.mkdtemp() + "/i", catalog="center",
        ...                     backbone=vit, cutout_size=16, progress_bar=False)
        >>> other = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> index.check_backbone(other)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: this index was built with backbone 'msn' (weights instance, fingerprint ...
        """
        meta = self.meta
        if backbone is None:
            if meta["weights"] != "pretrained":
                raise ValueError(f"this index was built with a {meta['backbone']!r} backbone with weights "
                                 f"{meta['weights']!r}, which cannot be rebuilt from its name: pass the same "
                                 "backbone=<Backbone> (or the weights file) to embed queries and new sources")
            backbone = meta["backbone"]
        if weights is None and isinstance(backbone, str):
            weights = meta["weights"] if meta["weights"] not in ("instance", None) else None
        model, identity = resolve_backbone(backbone, weights)
        if any(identity[key] != meta[key] for key in ("backbone", "dim", "fingerprint")):
            raise ValueError(f"this index was built with backbone {meta['backbone']!r} (weights {meta['weights']}, "
                             f"fingerprint {meta['fingerprint']}, dimension {meta['dim']}), not with "
                             f"{identity['backbone']!r} (weights {identity['weights']}, fingerprint "
                             f"{identity['fingerprint']}, dimension {identity['dim']}): vectors of different "
                             "backbones cannot be compared; use the index's backbone or build a new index")
        return model

    def add(self, inputs, *, catalog=None, backbone=None, ids=None, parallel=False, progress_bar=True, hdu=None,
            detect_options=None, batch_size="auto", precision="auto"):
        """Add the sources of more inputs (or finish an interrupted build): see `build_index`.

        Inputs already indexed with the same ``catalog`` are skipped, so
        calling ``add`` again with the inputs of a crashed build resumes it.

        Returns
        -------
        n_added : int
            Sources added.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> rng = np.random.default_rng(1)
        >>> stamps = [rng.normal(size=(16, 16)).astype("float32") for _ in range(3)]
        >>> index = build_index(stamps[:2], output=tempfile.mkdtemp() + "/i", catalog="center", backbone=vit,
        ...                     cutout_size=16, progress_bar=False)
        >>> index.add(stamps, catalog="center", backbone=vit, progress_bar=False), len(index)
        (1, 3)
        """
        model = self.check_backbone(backbone)
        added, _ = run_inputs(self.path, self.meta, inputs, model=model, catalog=catalog, ids=ids, parallel=parallel,
                              progress_bar=progress_bar, hdu=hdu, detect_options=detect_options,
                              batch_size=batch_size, precision=precision)
        self._reload()
        if len(self) > self.meta["exact_limit"]:
            self._update_graph(progress_bar)
        logger.info("added %d sources to %s (%d in all)", added, self.path, len(self))
        return added

    def _update_graph(self, progress_bar=False):
        if self.meta["ann_n"] == len(self) and (self.path / _store.ANN).exists():
            return
        self._graph = update_graph(self.path / _store.ANN, self._vectors, self.meta["ann_n"],
                                   progress_bar=progress_bar)
        self.meta["ann_n"] = len(self)
        _store.write_meta(self.path, self.meta)

    def search(self, queries, k=10, *, exact=None, ef=None):
        """Cosine distances and rows of the ``k`` nearest sources to unit query vectors.

        Parameters
        ----------
        queries : array-like
            ``(m, dim)`` or ``(dim,)`` vectors (normalized here).
        k : int, optional
            Neighbours per query.
        exact : bool, optional
            Force an exact scan (True) or the HNSW graph (False); default
            exact up to ``exact_limit`` sources.
        ef : int, optional
            HNSW search breadth (default 64 up to 100,000 sources, 4x more
            per decade above: 256 at a million; larger is slower and more
            exact).

        Returns
        -------
        distances, rows : `numpy.ndarray`
            ``(m, k)`` each, nearest first.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(4)]
        >>> index = build_index(stamps, output=tempfile.mkdtemp() + "/i", catalog="center", backbone=vit,
        ...                     cutout_size=16, progress_bar=False)
        >>> dist, rows = index.search(index.vectors[2], k=1)
        >>> rows.tolist(), bool(abs(dist[0, 0]) < 1e-5)
        ([[2]], True)
        """
        from ._build import normalize

        if len(self) == 0:
            raise ValueError(f"the index {str(self.path)!r} is empty: add sources with index.add(inputs) first")
        if not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"query vectors must have {self.dim} values (the index's dimension), got shape "
                             f"{queries.shape}")
        queries = normalize(queries)
        if exact if exact is not None else len(self) <= self.meta["exact_limit"]:
            return exact_search(self._vectors, queries, k)
        if self._graph is None:
            self._update_graph()
            if self._graph is None:
                self._graph = load_graph(self.path / _store.ANN, len(self), self.dim)
        return graph_search(self._graph, queries, k, ef)

    def _check_row(self, row):
        if isinstance(row, bool) or not isinstance(row, Integral):
            raise TypeError(f"a source row must be an integer, got {row!r}")
        if not 0 <= row < len(self):
            raise ValueError(f"row {row} is not in the index: rows run from 0 to {len(self) - 1}")
        return int(row)

    def _query(self, query, backbone):
        """(unit vector, query row or None, display stamp) of a row, a SkyCoord or an image."""
        from ._query import query_vector

        return query_vector(self, query, backbone)

    def similar(self, query, k=10, *, backbone=None, exact=None, ef=None, include_query=False):
        """The ``k`` indexed sources most similar to a query (cosine distance of their embeddings).

        Parameters
        ----------
        query : int, `~astropy.coordinates.SkyCoord`, array, NDData or `~astropy.nddata.Cutout2D`
            A source row; a sky position (the indexed source nearest to it);
            or a ``cutout_size`` x ``cutout_size`` image, embedded with the
            index's backbone.
        k : int, optional
            Number of hits.
        backbone : `~astrofmx.backbones.Backbone`, optional
            The index's backbone, for image queries of an index built with a
            backbone instance (checked by its weights fingerprint).
        exact, ef : optional
            See `search`.
        include_query : bool, optional
            Keep the query source itself among the hits (row and sky
            queries; it is left out by default).

        Returns
        -------
        hits : `~astropy.table.QTable`
            ``rank`` (1 = nearest), ``distance`` (``1 - cos``), ``row`` (the
            index row), ``file``, ``hdu``, ``catalog_row``, ``x_centroid``,
            ``y_centroid``, ``sky_centroid`` (NaN for images without WCS) and
            the cutout size (``width``/``height``, ``width_sky``/``height_sky``).
            ``meta['query_row']`` is the query's row (-1 for an image).

        Raises
        ------
        ValueError
            Unknown row, a query image of the wrong shape, an empty index, or
            another backbone.
        TypeError
            A query of another type.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(5)]
        >>> index = build_index(stamps, output=tempfile.mkdtemp() + "/i", catalog="center", backbone=vit,
        ...                     cutout_size=16, progress_bar=False)
        >>> index.similar(stamps[3], k=1, backbone=vit)["row"].tolist()
        [3]
        >>> index.similar(99)
        Traceback (most recent call last):
        ...
        ValueError: row 99 is not in the index: rows run from 0 to 4
        """
        if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        vector, row, _ = self._query(query, backbone)
        extra = 0 if include_query or row is None else 1
        dist, rows = self.search(vector, k + extra, exact=exact, ef=ef)
        dist, rows = dist[0], rows[0]
        if extra:
            keep = rows != row
            dist, rows = dist[keep][:k], rows[keep][:k]
        table = self._table(rows, {"rank": np.arange(1, len(rows) + 1), "distance": np.maximum(dist, 0.0)})
        table.meta["query_row"] = -1 if row is None else row
        return table

    def outliers(self, n=50, method="iforest", *, n_components=16, seed=0, n_neighbors=20, feedback_weight=0.5,
                 max_masked=0.05):
        """The ``n`` most anomalous sources, ranked: see `astrofmx.search.anomaly_scores` for the methods.

        Sources whose cutout has more than ``max_masked`` of its pixels
        masked (cut by the image edge, or blank) are left out: a half-empty
        cutout looks stranger than any source to every method
        (``meta['n_masked_out']`` counts them).

        With feedback (`feedback`), the ranking blends the anomaly score with
        the predicted interest of each source (Astronomaly's idea): ``score =
        (1 - w) * anomaly + w * relevance`` with ``w = feedback_weight``, both
        as ranks scaled to 0-1.

        Returns
        -------
        ranked : `~astropy.table.QTable`
            ``rank``, ``score``, ``anomaly`` (0-1, the method's score as a
            rank), ``relevance`` (NaN without feedback), ``label`` (the user's
            label, -1 for none), then the provenance columns of `similar`.

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(6)]
        >>> index = build_index(stamps, output=tempfile.mkdtemp() + "/i", catalog="center", backbone=vit,
        ...                     cutout_size=16, progress_bar=False)
        >>> len(index.outliers(n=3, method="knn", n_neighbors=2))
        3
        """
        from ._anomaly import rank_outliers

        return rank_outliers(self, n=n, method=method, seed=seed, n_neighbors=n_neighbors, n_components=n_components,
                             feedback_weight=feedback_weight, max_masked=max_masked)

    def feedback(self, rows, labels):
        """Mark sources interesting (1/True) or not (0/False); later outlier rankings learn from it.

        Labels are kept in ``labels.ecsv`` in the index folder (a new label
        for a row replaces the old one).

        Returns
        -------
        labels : `~astropy.table.QTable`
            All the labels given so far (``row``, ``label``).

        Examples
        --------
        >>> import tempfile
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(6)]
        >>> index = build_index(stamps, output=tempfile.mkdtemp() + "/i", catalog="center", backbone=vit,
        ...                     cutout_size=16, progress_bar=False)
        >>> index.feedback([0, 1], [True, False])["label"].tolist()
        [1, 0]
        """
        from ._anomaly import add_feedback

        return add_feedback(self, rows, labels)

    def write_regions(self, table, filename, *, overwrite=False, color="green"):
        """Write the sources of a `similar` or `outliers` table as a DS9 region file (boxes of the cutouts).

        Sky boxes when every source has a sky position, else image boxes
        (DS9 pixels), each labelled with its rank, row and distance or score.

        Returns
        -------
        regions : `~regions.Regions`

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(5)]
        >>> folder = Path(tempfile.mkdtemp())
        >>> index = build_index(stamps, output=folder / "i", catalog="center", backbone=vit, cutout_size=16,
        ...                     progress_bar=False)
        >>> regions = index.write_regions(index.similar(0, k=3), folder / "hits.reg")
        >>> len(regions), regions[0].meta["text"].startswith("#1 row")
        (3, True)
        """
        from ._figures import write_regions

        return write_regions(table, filename, overwrite=overwrite, color=color)

    def write_mosaic(self, table, filename, *, query=None, backbone=None, ncols=None, overwrite=False):
        """Write a PNG mosaic of the sources of a table, each stamp labelled; the query first for `similar` hits.

        ``query`` (a row, SkyCoord or cutout, as for `similar`) defaults to
        the query row of a `similar` table; image queries of an index built
        with a backbone instance need ``backbone``.

        Returns
        -------
        filename : path-like
            The PNG written.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> from astrofmx.backbones import get_backbone
        >>> from astrofmx.search import build_index
        >>> vit = get_backbone("msn", weights=None, device="cpu", depth=1, embed_dim=32, num_heads=2, img_size=32)
        >>> stamps = [np.random.default_rng(i).normal(size=(16, 16)).astype("float32") for i in range(5)]
        >>> folder = Path(tempfile.mkdtemp())
        >>> index = build_index(stamps, output=folder / "i", catalog="center", backbone=vit, cutout_size=16,
        ...                     progress_bar=False)
        >>> index.write_mosaic(index.outliers(n=3), folder / "strange.png").exists()
        True
        """
        from ._figures import write_mosaic

        return write_mosaic(self, table, filename, query=query, backbone=backbone, ncols=ncols, overwrite=overwrite)
