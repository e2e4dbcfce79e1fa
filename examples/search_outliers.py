"""Find the strangest sources of a small simulated radio survey, then re-rank them with feedback.

Simulates a few radio fields, injects one ring into one of them, indexes the
truth positions of all sources (64 x 64 px cutouts), ranks the outliers with
IsolationForest, marks the top-ranked sources interesting or not (here: by
whether they are the injected ring, as a user looking at the mosaic would)
and ranks again. Writes the mosaic of the top outliers.

    python examples/search_outliers.py --fields 4
"""

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from astropy.nddata import NDData
from astropy.table import QTable

from astrofmx.backbones import get_backbone
from astrofmx.datasets import simulate_radio_field
from astrofmx.search import build_index


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=3)
    parser.add_argument("--backbone", default="resnet18")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    torch.manual_seed(0)
    backbone = get_backbone(args.backbone, weights=None, device="cpu")  # random init: offline and reproducible
    folder = Path(tempfile.mkdtemp())
    index, ring_row = None, None
    for i in range(args.fields):
        field = simulate_radio_field((192, 192), seed=i, n_sources=25)
        data, xs, ys = field.data.copy(), list(field.truth["x_centroid"]), list(field.truth["y_centroid"])
        if i == 0:  # a ring of radius 9 px at (96, 96)
            yy, xx = np.mgrid[:192, :192]
            data += 5 * np.median(field.truth["peak_flux"].value) * np.exp(-(np.hypot(xx - 96, yy - 96) - 9) ** 2 / 4)
            xs.append(96.0), ys.append(96.0)
        image = NDData(data, wcs=field.wcs, meta=dict(field.header))
        catalog = QTable({"x_centroid": xs, "y_centroid": ys})
        options = dict(catalog=catalog, backbone=backbone, ids=[f"field{i}"], progress_bar=False)
        if index is None:
            index = build_index(image, output=folder / "sim.idx", cutout_size=64, normalizer="radio", **options)
            ring_row = len(index) - 1
        else:
            index.add(image, **options)
    ranked = index.outliers(n=5, method="iforest")
    print(f"{len(index)} sources; the injected ring is row {ring_row}")
    print(ranked["rank", "row", "score", "file", "x_centroid", "y_centroid"])
    index.feedback(ranked["row"], [int(r == ring_row) for r in ranked["row"]])
    print("\nafter feedback on the top 5:")
    print(index.outliers(n=5, method="iforest")["rank", "row", "score", "relevance", "label"])
    index.write_mosaic(ranked, folder / "outliers.png")
    print(f"wrote {folder / 'outliers.png'}")


if __name__ == "__main__":
    main()
