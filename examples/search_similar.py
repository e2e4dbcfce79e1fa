"""Index the 51 Aegean components of the bundled Parkes image and find the sources most like one of them.

Builds a `astrofmx.search` index (one 32 x 32 px cutout per component,
embedded with a backbone, radio normalization), reloads it, queries it by
row and by sky position, and writes the hits as a DS9 region file and a
labelled mosaic PNG.

Runs offline: the pretrained weights are used if they are in the cache (see
the "Using astrofmx offline" page), otherwise a randomly initialised backbone
stands in, which shows the mechanics only.

    python examples/search_similar.py --backbone resnet18 --output /tmp/parkes.idx
"""

import argparse
import logging
import tempfile
from pathlib import Path

from astropy.coordinates import SkyCoord
from astropy.table import Table

from astrofmx.backbones import get_backbone
from astrofmx.datasets import get_bundled_path
from astrofmx.search import build_index, load_index
from astrofmx.utils import WeightsNotFoundError


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18", help="registry name (default resnet18)")
    parser.add_argument("--output", default=None, help="index folder (default: a temporary one)")
    parser.add_argument("-k", type=int, default=6)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    catalog = Table.read(get_bundled_path("1904_comp.fits"))
    positions = SkyCoord(catalog["ra"], catalog["dec"], unit="deg")
    try:
        backbone = get_backbone(args.backbone, device="cpu")
    except WeightsNotFoundError as exc:
        print(f"{exc}\n-> using random weights instead (similarities are not meaningful)\n")
        backbone = get_backbone(args.backbone, weights=None, device="cpu")
    output = Path(args.output) if args.output else Path(tempfile.mkdtemp()) / "parkes.idx"
    build_index(get_bundled_path("1904-66_SIN.fits"), output=output, catalog=positions, backbone=backbone,
                cutout_size=32, normalizer="radio", overwrite=True, progress_bar=False)

    index = load_index(output)
    print(index)
    hits = index.similar(0, k=args.k)
    print(hits["rank", "row", "distance", "catalog_row", "sky_centroid"])
    near = index.similar(positions[10], k=3)
    print(f"\nnearest indexed source to component 10 is row {near.meta['query_row']}; its look-alikes: "
          f"{near['row'].tolist()}")
    index.write_regions(hits, output / "hits.reg", overwrite=True)
    index.write_mosaic(hits, output / "hits.png", overwrite=True)
    print(f"wrote {output / 'hits.reg'} and {output / 'hits.png'}")


if __name__ == "__main__":
    main()
