"""Train a small source detector on a simulated radio field and run it on a new field.

Offline and CPU-only (about a minute on 2 cores): the ResNet-18 backbone
starts from random weights here; with pretrained weights in the cache use
``weights="pretrained"`` and ``mode="frozen"`` or ``"finetune"`` instead.

    python examples/train_detector_simulated.py [output_dir]
"""

import sys
import tempfile
from pathlib import Path

import astropy.units as u
import torch

from astrofmx.compare import match_metrics
from astrofmx.datasets import simulate_radio_field
from astrofmx.detection import detect_sources, load_detector, save_detector, train_detector
from astrofmx.io import write_ds9


def main(out_dir):
    torch.set_num_threads(1)
    out_dir = Path(out_dir)
    kw = dict(n_sources=80, extended_fraction=0.1, double_fraction=0.0, flux_min_snr=8)
    train = simulate_radio_field((256, 256), seed=1, **kw)  # 4-pixel beam, truth boxes included
    new = simulate_radio_field((256, 256), seed=2, **kw)

    detector = train_detector(train.to_nddata(), train.truth, backbone="resnet18", weights=None, mode="scratch",
                              tile_size=64, epochs=4, steps_per_epoch=15, batch_size=4, learning_rate=1e-3,
                              pyramid_channels=32, representation_size=128, anchor_sizes=(4, 8, 16, 32, 64),
                              checkpoint_dir=out_dir / "checkpoints", progress_bar=False)
    print("loss per epoch:", [round(h["loss"], 3) for h in detector.history])
    print("trainable parameters:", detector.count_parameters())

    path = save_detector(detector, out_dir / "detector", overwrite=True)  # config.json + model.safetensors
    catalog = detect_sources(new.to_nddata(), model=load_detector(path), tile_size=64, overlap=16,
                             progress_bar=False)
    catalog.write(out_dir / "catalog.ecsv", overwrite=True)
    write_ds9(catalog, out_dir / "catalog.reg", overwrite=True)
    m = match_metrics(catalog, new.truth, 4 * u.pix)  # one beam FWHM
    print(f"{len(catalog)} sources found, {len(new.truth)} true: completeness {m['completeness']:.2f}, "
          f"purity {m['purity']:.2f}, F1 {m['f1']:.2f}")
    print(catalog["id", "x_centroid", "y_centroid", "sky_centroid", "score"][:5])
    print("written to", out_dir)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="astrofmx-detector-"))
