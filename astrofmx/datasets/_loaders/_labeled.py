"""The container that every data-set loader returns."""

import dataclasses

import numpy as np
from astropy.table import QTable

__all__ = ["LabeledImages"]


@dataclasses.dataclass(frozen=True, eq=False)
class LabeledImages:
    """Images (or only labels) of a labelled data set.

    Attributes
    ----------
    images : `~numpy.ndarray` or None
        ``(N, H, W)`` for one band, ``(N, C, H, W)`` for several; None where
        the data set has labels only (Radio Galaxy Zoo catalogue).
    labels : `~numpy.ndarray` or None
        int64 class indices into ``class_names``; None for unlabelled cutouts.
    class_names : tuple of str
        Name of each class index.
    catalog : `~astropy.table.QTable` or None
        One row per item: file names, sky positions and other per-item metadata.
    meta : dict
        Provenance: data-set name, source path, download address, versions.

    Raises
    ------
    ValueError
        If ``images`` and ``labels`` differ in length or a label is not an
        index into ``class_names``.

    Examples
    --------
    >>> import numpy as np
    >>> from astrofmx.datasets import LabeledImages
    >>> data = LabeledImages(images=np.zeros((3, 8, 8)), labels=np.array([0, 1, 1]), class_names=("a", "b"))
    >>> len(data), data.label_names.tolist()
    (3, ['a', 'b', 'b'])
    >>> data.subset(data.labels == 1).images.shape
    (2, 8, 8)
    """

    images: np.ndarray = None
    labels: np.ndarray = None
    class_names: tuple = ()
    catalog: QTable = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        n_img = None if self.images is None else len(self.images)
        n_lab = None if self.labels is None else len(self.labels)
        if n_img is not None and n_lab is not None and n_img != n_lab:
            raise ValueError(f"images and labels must have the same length, got {n_img} and {n_lab}")
        if self.labels is not None and len(self.labels) and self.class_names:
            lo, hi = int(np.min(self.labels)), int(np.max(self.labels))
            if lo < 0 or hi >= len(self.class_names):
                raise ValueError(f"labels must be in [0, {len(self.class_names) - 1}], got values in [{lo}, {hi}]")

    def __repr__(self):
        images = "no images" if self.images is None else f"images {self.images.shape} {self.images.dtype}"
        name = self.meta.get("dataset") or self.meta.get("source") or ""
        return f"<LabeledImages {name!r}: {len(self)} items, {images}, classes {self.class_names}>"

    def __len__(self):
        if self.labels is not None:
            return len(self.labels)
        return 0 if self.images is None else len(self.images)

    @property
    def label_names(self):
        """Class name of each item (`~numpy.ndarray` of str), or None without labels."""
        if self.labels is None:
            return None
        return np.asarray(self.class_names)[self.labels]

    def subset(self, index):
        """A new `LabeledImages` with the items selected by ``index`` (integer array or boolean mask).

        Examples
        --------
        >>> import numpy as np
        >>> from astrofmx.datasets import LabeledImages
        >>> data = LabeledImages(labels=np.array([0, 1, 0]), class_names=("a", "b"))
        >>> data.subset([0, 2]).label_names.tolist()
        ['a', 'a']
        """
        index = np.asarray(index)
        return LabeledImages(images=None if self.images is None else self.images[index],
                             labels=None if self.labels is None else self.labels[index],
                             class_names=self.class_names,
                             catalog=None if self.catalog is None else self.catalog[index],
                             meta=dict(self.meta))
