"""Queries of `SourceIndex.similar`: a row, a sky position (the nearest indexed source) or a cutout."""

import logging
from numbers import Integral

import numpy as np

from ._build import _thumb, embed_cutouts

__all__ = []

logger = logging.getLogger(__name__)


def query_vector(index, query, backbone):
    """(unit vector, query row or None, display stamp) of a row, a SkyCoord or an image."""
    from astropy.coordinates import SkyCoord
    from astropy.nddata import NDData

    if len(index) == 0:
        raise ValueError(f"the index {str(index.path)!r} is empty: add sources with index.add(inputs) first")
    if isinstance(query, SkyCoord):
        if not query.isscalar:
            raise ValueError(f"query must be one position, got a SkyCoord of shape {query.shape}")
        sky = index._sources["sky_centroid"]
        sep = query.separation(sky).deg
        if not np.isfinite(sep).any():
            raise ValueError("no source of this index has a sky position (its images had no celestial WCS): "
                             "query by row or by image")
        row = int(np.nanargmin(sep))
        logger.info("query %s: nearest indexed source is row %d, %.2f arcsec away", query, row, sep[row] * 3600)
        return index._vectors[row], row, index._thumbs[row]
    if isinstance(query, (Integral, np.integer)) and not isinstance(query, bool):
        row = index._check_row(query)
        return index._vectors[row], row, index._thumbs[row]
    data = query.data if isinstance(query, NDData) or hasattr(query, "data") and hasattr(query, "wcs") else query
    if not isinstance(data, np.ndarray):
        raise TypeError(f"query must be a row number, a SkyCoord or a 2-D image (array, NDData or Cutout2D), "
                        f"got {type(query).__name__}")
    size = index.cutout_size
    if data.shape != (size, size):
        raise ValueError(f"a query image must be a {size} x {size} cutout (the index's cutout_size), got shape "
                         f"{data.shape}; cut one with astrofmx.preprocess.make_cutouts(image, position, {size})")
    model = index.check_backbone(backbone)
    vector = embed_cutouts([data.astype(np.float32)], model, dict(normalizer=index.meta["normalizer"],
                                                                  orientations=index.meta.get("orientations", 1),
                                                                  precision="fp32"))[0]
    return vector, None, _thumb(data, index.meta["thumb_size"])

