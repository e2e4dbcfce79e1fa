"""Embed radio-source cutouts with a foundation-model backbone and find look-alikes.

Cuts 32 x 32 px stamps around the 51 Aegean components of the Parkes image
shipped with astrofmx, turns them into feature vectors with
``astrofmx.embed`` (upscaled to the backbone's 224 px, radio normalization),
writes them with their source ids to a Parquet file and prints each of a few
sources' nearest neighbour in feature space.

Runs offline: the pretrained weights are used if they are in the cache (see
the "Using astrofmx offline" page), otherwise a randomly initialised backbone
stands in (``--weights none``), which shows the mechanics only.

    python examples/embed_cutouts.py --backbone resnet18
    python examples/embed_cutouts.py --backbone msn --output /tmp/features.parquet
"""

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np
from astropy.coordinates import SkyCoord
from astropy.table import Table

import astrofmx
from astrofmx.datasets import get_bundled_path
from astrofmx.preprocess import make_cutouts
from astrofmx.utils import WeightsNotFoundError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18", help="registry name (default resnet18)")
    parser.add_argument("--weights", default="pretrained", choices=["pretrained", "none"])
    parser.add_argument("--output", default=None, help="feature file (.parquet, .h5, .npz, .npy)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    image = get_bundled_path("1904-66_SIN.fits")
    catalog = Table.read(get_bundled_path("1904_comp.fits"))
    positions = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    cutouts = make_cutouts(image, positions, 32, mode="pad", fill_value=np.nan)
    ids = [f"{isl}-{src}" for isl, src in zip(catalog["island"], catalog["source"])]

    weights = None if args.weights == "none" else "pretrained"
    try:
        backbone = astrofmx.get_backbone(args.backbone, weights=weights, device="cpu")
    except WeightsNotFoundError as exc:
        print(f"{exc}\n-> using random weights instead (features are not meaningful)\n")
        backbone = astrofmx.get_backbone(args.backbone, weights=None, device="cpu")

    output = Path(args.output) if args.output else Path(tempfile.mkdtemp()) / "features.parquet"
    feats = astrofmx.embed(cutouts, backbone=backbone, normalizer="radio", batch_size=16,
                           output=output, ids=ids, overwrite=True, progress_bar=False)
    print(f"{len(feats)} cutouts -> features {feats.shape} ({backbone.spec.name}), written to {output}")

    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    brightest = np.argsort(catalog["peak_flux"])[::-1][:5]
    for i in brightest:
        j = int(np.argmax(sim[i]))
        print(f"  {ids[i]:>6} (peak {catalog['peak_flux'][i]:.3f} Jy/beam) is most like {ids[j]:>6} "
              f"(peak {catalog['peak_flux'][j]:.3f}), cosine {sim[i, j]:.3f}")


if __name__ == "__main__":
    main()
